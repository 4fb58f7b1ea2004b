"""Inline SVG scatter plot of GQ^kn against GQ^uk (no JavaScript, no CDN).

Values come in as fractions 0..1 (the API's unit); the axes, tick labels and
tooltips show percent with a % sign, like every human-facing number.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup


def scatter_svg(
    points: list[tuple[float, float, str, bool]],
    *,
    width: int = 420,
    height: int = 320,
    xlabel: str = "GQ^kn (%)",
    ylabel: str = "GQ^uk (%)",
) -> Markup:
    """points: (x in [0,1], y in [0,1], label, highlighted).  Returns an <svg>."""
    m = 44
    pw, ph = width - m - 12, height - m - 12

    def px(x: float) -> float:
        return m + max(0.0, min(1.0, x)) * pw

    def py(y: float) -> float:
        return 12 + (1 - max(0.0, min(1.0, y))) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(ylabel)} against '
        f'{escape(xlabel)}" class="plot">',
        f'<rect x="{m}" y="12" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>',
    ]
    for i in range(0, 11, 2):
        t = i / 10
        parts.append(
            f'<line x1="{px(t):.1f}" y1="{12 + ph}" x2="{px(t):.1f}" y2="{12 + ph + 4}" stroke="#666"/>'
            f'<text x="{px(t):.1f}" y="{12 + ph + 16}" font-size="10" text-anchor="middle">{100 * t:.0f}%</text>'
            f'<line x1="{m - 4}" y1="{py(t):.1f}" x2="{m}" y2="{py(t):.1f}" stroke="#666"/>'
            f'<text x="{m - 6}" y="{py(t) + 3:.1f}" font-size="10" text-anchor="end">{100 * t:.0f}%</text>'
        )
    parts.append(
        f'<text x="{m + pw / 2:.0f}" y="{height - 4}" font-size="12" text-anchor="middle">'
        f"{escape(xlabel)}</text>"
        f'<text x="12" y="{12 + ph / 2:.0f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {12 + ph / 2:.0f})">{escape(ylabel)}</text>'
    )
    xname, yname = escape(xlabel.removesuffix(" (%)")), escape(ylabel.removesuffix(" (%)"))
    for x, y, label, hi in sorted(points, key=lambda p: p[3]):
        color = "#d62728" if hi else "#1f77b4"
        r = 6 if hi else 4
        parts.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{r}" fill="{color}" '
            f'fill-opacity="0.8"><title>{escape(label)}: {xname} {100 * x:.2f}%, '
            f"{yname} {100 * y:.2f}%</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def curves_svg(curve: dict[str, list[float]], *, size: int = 260) -> Markup:
    """ROC (fpr, tpr) and precision-recall (recall, precision) side by side, as one <svg>.

    ``curve`` holds lists of fractions 0..1 (goss_bench.diagnostics.published.curve_points).
    """
    m, gap = 40, 30
    pw = size - m - 8
    width, height = 2 * size + gap, size + 10

    def panel(x0: int, xs: list[float], ys: list[float], title: str, xl: str, yl: str) -> str:
        def px(v: float) -> float:
            return x0 + m + max(0.0, min(1.0, v)) * pw

        def py(v: float) -> float:
            return 14 + (1 - max(0.0, min(1.0, v))) * pw

        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
        ticks = "".join(
            f'<text x="{px(t / 2):.1f}" y="{14 + pw + 14}" font-size="10" text-anchor="middle">{50 * t}%</text>'
            f'<text x="{x0 + m - 4}" y="{py(t / 2) + 3:.1f}" font-size="10" text-anchor="end">{50 * t}%</text>'
            for t in range(3)
        )
        return (
            f'<rect x="{x0 + m}" y="14" width="{pw}" height="{pw}" fill="#fafafa" stroke="#999"/>'
            f'<text x="{x0 + m + pw / 2:.0f}" y="10" font-size="12" text-anchor="middle">{escape(title)}</text>'
            f"{ticks}"
            f'<text x="{x0 + m + pw / 2:.0f}" y="{height - 2}" font-size="11" text-anchor="middle">{escape(xl)}</text>'
            f'<text x="{x0 + 10}" y="{14 + pw / 2:.0f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 {x0 + 10} {14 + pw / 2:.0f})">{escape(yl)}</text>'
            f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>'
        )

    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="ROC and precision-recall '
        'curves of the unknown scores" class="plot curves">'
        + panel(0, curve["fpr"], curve["tpr"], "ROC", "false positive rate", "true positive rate")
        + panel(size + gap, curve["recall"], curve["precision"], "precision-recall",
                "recall (unknown)", "precision")
        + "</svg>"
    )
