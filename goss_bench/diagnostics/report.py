"""A self-contained HTML report of one prediction set (``goss-bench report``).

:func:`build_report` scores the prediction keeping per-image statistics, draws
bootstrap intervals, runs the oracle breakdown and renders the worst images;
:func:`render_html` turns that into one HTML page whose figures (matplotlib
PNGs) and image panels are embedded as ``data:`` URIs, so the page opens from
disk with no network (no CDN, no script).
"""

from __future__ import annotations

import base64
import html
import io
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.diagnostics import figures
from goss_bench.diagnostics.bootstrap import Interval, confidence_intervals
from goss_bench.diagnostics.collect import score_with_stats
from goss_bench.diagnostics.image_stats import ImageStats
from goss_bench.diagnostics.oracle import OracleBreakdown, oracle_breakdown
from goss_bench.diagnostics.summary import image_scores
from goss_bench.result import ScoreResult

ORACLE_LABELS = {
    "identification": "(a) perfect identification",
    "grouping": "(b) perfect grouping",
    "classification": "(c) perfect known classification",
}


@dataclass
class ReportData:
    """Everything the page shows (values in [0, 1])."""

    result: ScoreResult
    stats: ImageStats
    intervals: dict[str, Interval]
    breakdown: OracleBreakdown
    worst: list[tuple[str, float | None, bytes]]  # stem, image score, panel PNG
    command: str
    settings: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("goss-bench", "numpy", "matplotlib", "pillow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def build_report(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    command: str,
    num_known: int | None = None,
    workers: int = 1,
    average: str = "all",
    lam: float = 0.5,
    allow_missing: bool = False,
    void_as_unknown: bool = False,
    fpr95: str = "first",
    oss_per_image: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    worst: int = 6,
    progress: Any = False,
) -> ReportData:
    """Compute the report's content (reads every image twice: scores, oracles)."""
    from goss_bench.cli.show import render_stem
    from goss_bench.scoring import resolve_gt
    from goss_bench.visualize import photo_paths

    res, stats = score_with_stats(
        pred_dir, gt_dir, num_known=num_known, workers=workers, average=average, lam=lam,
        allow_missing=allow_missing, void_as_unknown=void_as_unknown, fpr95=fpr95,
        oss_per_image=oss_per_image, progress=progress,
    )
    intervals = confidence_intervals(stats, bootstrap, seed)
    exact = res.summary()
    intervals = {
        k: Interval(exact.get(k, v.value), v.low, v.high) for k, v in intervals.items()
    }
    bd = oracle_breakdown(
        pred_dir, gt_dir, num_known=num_known, workers=workers, average=average, lam=lam,
        allow_missing=allow_missing, progress=progress,
    )
    scores = image_scores(stats)
    order = np.argsort(np.where(np.isnan(scores), np.inf, scores), kind="stable")
    gt = resolve_gt(gt_dir, num_known)
    photos = photo_paths(gt)
    pred_root = Path(pred_dir)
    panels: list[tuple[str, float | None, bytes]] = []
    for i in order[: max(0, worst)].tolist():
        stem = stats.stems[i]
        if np.isnan(scores[i]) or not (pred_root / "semantic" / f"{stem}.png").is_file():
            continue  # no segment at all, or no prediction (--allow-missing)
        buf = io.BytesIO()
        render_stem(pred_root, gt, stem, photos).save(buf, format="PNG")
        panels.append((stem, float(scores[i]), buf.getvalue()))
    settings = {
        "images": res.num_images, "N": res.num_known, "average": average, "lam": lam,
        "FPR95 rule": fpr95, "OSS pooling": "per-image" if oss_per_image else "pooled",
        "void as unknown": void_as_unknown, "bootstrap resamples": bootstrap, "seed": seed,
    }
    return ReportData(res, stats, intervals, bd, panels, command, settings)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{_data_uri(png)}" alt="{html.escape(alt)}">'


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
code{background:#f4f4f4;padding:.1em .3em}
"""


def render_html(data: ReportData) -> str:
    """The page as one string (UTF-8, no external resource)."""
    res, bd = data.result, data.breakdown
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>goss-bench report: {e(str(res.options.get('pred_dir', '')))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>goss-bench report</h1><p>Prediction <code>{e(str(res.options.get('pred_dir')))}</code>"
        f" against <code>{e(str(res.options.get('gt_dir')))}</code>.</p>",
    ]
    level = 95
    parts.append(f"<h2>Scores with {level}% bootstrap intervals</h2>")
    parts.append('<table id="scores"><thead><tr><th>metric</th><th>value</th>'
                 "<th>interval</th></tr></thead><tbody>")
    for name, iv in data.intervals.items():
        interval = "n/a" if iv.low is None else f"[{_pct(iv.low)}, {_pct(iv.high)}]"
        parts.append(f'<tr><td>{e(name)}</td><td class="n">{_pct(iv.value)}</td>'
                     f'<td class="n">{interval}</td></tr>')
    parts.append("</tbody></table><p>Percentile bootstrap over images "
                 "(METRICS.md, &ldquo;Confidence intervals&rdquo;).</p>")

    # oracle breakdown
    def parts_of(r: ScoreResult) -> dict[str, float]:
        return {"GQ": r.gq, "GQ_kn": r.gq_known, "GQ_uk": r.gq_unknown}

    parts.append("<h2>Where GQ is lost: oracle breakdown</h2>")
    parts.append('<table id="oracles"><thead><tr><th></th><th>GQ</th><th>GQ_kn</th>'
                 "<th>GQ_uk</th><th>gain in GQ (points)</th></tr></thead><tbody>")
    rows = [("actual prediction", res, None)] + [
        (ORACLE_LABELS[k], r, r.gq - res.gq) for k, r in bd.oracles.items()
    ]
    for label, r, gain in rows:
        g = "" if gain is None else f"{100 * gain:+.2f}"
        parts.append(f'<tr><td>{e(label)}</td><td class="n">{_pct(r.gq)}</td>'
                     f'<td class="n">{_pct(r.gq_known)}</td><td class="n">{_pct(r.gq_unknown)}</td>'
                     f'<td class="n">{g}</td></tr>')
    parts.append("</tbody></table>")
    png = figures.oracle_bars(
        parts_of(res), {ORACLE_LABELS[k]: parts_of(r) for k, r in bd.oracles.items()}
    )
    parts.append(f"<figure>{_img(png, 'oracle breakdown bar chart')}<figcaption>Each oracle "
                 "fixes one stage with the ground truth (METRICS.md, &ldquo;Oracle "
                 "breakdown&rdquo;).</figcaption></figure>")
    er = bd.errors
    names = [c.name for c in res.per_class]
    parts.append('<h3>Errors by kind</h3><table id="errors"><tbody>')
    for label, a, b in (
        ("unknown pixels predicted known", er.unknown_as_known, er.unknown_pixels),
        ("unknown pixels not predicted", er.unknown_as_none, er.unknown_pixels),
        ("known pixels predicted unknown", er.known_as_unknown, er.known_pixels),
        ("GT unknown groups split", er.split_groups, er.gt_groups),
        ("predicted unknown groups merging GT groups", er.merged_groups, er.pred_groups),
    ):
        parts.append(f'<tr><td>{e(label)}</td><td class="n">{a} of {b}</td></tr>')
    for gi, pi, px in er.top_confusions(5):
        parts.append(f"<tr><td>confusion {e(names[gi])} &rarr; {e(names[pi])}</td>"
                     f'<td class="n">{px} px</td></tr>')
    parts.append("</tbody></table>")

    # OSS curves
    if data.stats.oss is not None:
        hist = data.stats.oss.sum(axis=0, dtype=np.int64)
        parts.append("<h2>Open-set scores</h2>")
        parts.append(f"<figure>{_img(figures.oss_curves(hist), 'ROC and precision-recall')}"
                     "<figcaption>Unknown is the positive class; curves drawn from the "
                     "per-image histograms (scores above 255 in bins 64 values wide).</figcaption>"
                     "</figure>")
    # per class
    pcs = res.per_class
    parts.append("<h2>PQ per class</h2>")
    png = figures.class_bars([c.name for c in pcs], [c.pq for c in pcs], res.num_known)
    parts.append(f"<figure>{_img(png, 'PQ per class')}</figure>")
    # worst images
    if data.worst:
        parts.append("<h2>Worst images</h2><p>Lowest image score (METRICS.md): image | "
                     "ground truth | prediction | errors.</p>")
        for stem, score, png in data.worst:
            parts.append(f'<figure class="worst">{_img(png, stem)}<figcaption>{e(stem)}: '
                         f"image score {_pct(score)}</figcaption></figure>")
    # provenance
    parts.append("<h2>How this page was made</h2>")
    parts.append(f"<p><code>{e(data.command)}</code></p><table id='settings'><tbody>")
    for k, v in {**data.settings, **versions()}.items():
        parts.append(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>")
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"
