"""Matplotlib figures of the report, returned as PNG bytes (optional extra ``report``).

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no global
state, no display needed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.metrics.oss import OSSCurve


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GossInputError(
            "goss-bench report needs matplotlib: pip install 'goss-bench[report]'"
        ) from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def oracle_bars(actual: dict[str, float], oracles: dict[str, dict[str, float]]) -> bytes:
    """Grouped bars of GQ, GQ_kn, GQ_uk (percent) for the actual prediction and each oracle.

    Args:
        actual: {"GQ": .., "GQ_kn": .., "GQ_uk": ..} in [0, 1].
        oracles: oracle name -> the same keys.
    """
    fig = _figure(7.5, 3.4)
    ax = fig.subplots()
    parts = ("GQ", "GQ_kn", "GQ_uk")
    series = {"actual": actual, **oracles}
    x = np.arange(len(parts))
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series.items()):
        heights = [100 * vals[p] for p in parts]
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, parts)
    ax.set_ylabel("percent")
    ax.set_ylim(0, 105)
    ax.set_title("GQ under each oracle (one stage made perfect)")
    ax.legend(fontsize=8, ncols=2)
    return _png(fig)


def oss_curves(hist: np.ndarray) -> bytes:
    """ROC and precision-recall curves of the OSS scores.

    Args:
        hist: int (2, bins) score histogram (row 0 known, row 1 unknown), bins in
            increasing score order.
    """
    curve = OSSCurve.from_histogram(hist)
    fig = _figure(7.5, 3.4)
    roc, pr = fig.subplots(1, 2)
    if curve.defined():
        tpr = np.r_[0.0, curve.tps / curve.num_pos]
        fpr = np.r_[0.0, curve.fps / curve.num_neg]
        roc.plot(fpr, tpr, lw=1.5)
        roc.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        precision = curve.tps / np.maximum(curve.tps + curve.fps, 1)
        pr.step(curve.tps / curve.num_pos, precision, where="post", lw=1.5)
        pr.axhline(curve.num_pos / (curve.num_pos + curve.num_neg), ls=":", c="grey", lw=1)
    roc.set(xlabel="false positive rate (known called unknown)", ylabel="true positive rate",
            title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    pr.set(xlabel="recall (unknown)", ylabel="precision", title="precision-recall",
           xlim=(0, 1), ylim=(0, 1.01))
    return _png(fig)


def class_bars(names: Sequence[str], pq: Sequence[float], unknown_index: int) -> bytes:
    """Horizontal bars of PQ per class (percent); the unknown class highlighted."""
    k = len(names)
    fig = _figure(7.5, max(2.0, 0.22 * k + 0.8))
    ax = fig.subplots()
    y = np.arange(k)
    colors = ["#d95f02" if i == unknown_index else "#1b9e77" for i in range(k)]
    ax.barh(y, [100 * v for v in pq], color=colors)
    ax.set_yticks(y, list(names), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("PQ (percent)")
    ax.set_title("PQ per class (known green, unknown orange)")
    return _png(fig)
