"""What a leaderboard may publish about a submission: aggregates only, never per-image data.

* :func:`public_diagnostics`: the bootstrap intervals, the oracle breakdown and
  ROC / precision-recall curve points (at most ``max_points`` each) of one
  scored submission, as a JSON-able dict.
* :func:`gq_significance`: whether two submissions' GQ differ, by a paired
  bootstrap over the images of the (possibly hidden) ground truth; only the
  difference, its interval and p leave the function.

The per-image statistics themselves stay where the scorer ran (the server keeps
them in its data folder).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from goss_bench.diagnostics.bootstrap import confidence_intervals, paired_comparison
from goss_bench.diagnostics.image_stats import ImageStats
from goss_bench.diagnostics.oracle import OracleBreakdown
from goss_bench.metrics.oss import OSSCurve
from goss_bench.result import ScoreResult

SIGNIFICANCE_LEVEL = 0.05


def curve_points(stats: ImageStats, max_points: int = 200) -> dict[str, list[float]] | None:
    """ROC (fpr, tpr) and precision-recall (recall, precision) points, or None without scores.

    Computed from the summed coarse histograms; thinned to at most ``max_points``
    points per curve (evenly spaced along the thresholds, ends kept).
    """
    if stats.oss is None:
        return None
    curve = OSSCurve.from_histogram(stats.oss.sum(axis=0, dtype=np.int64))
    if not curve.defined():
        return None
    keep = np.unique(np.linspace(0, curve.tps.size - 1, min(max_points, curve.tps.size)).round())
    idx = keep.astype(np.int64)
    tps, fps = curve.tps[idx].astype(np.float64), curve.fps[idx].astype(np.float64)
    return {
        "fpr": np.r_[0.0, fps / curve.num_neg].round(6).tolist(),
        "tpr": np.r_[0.0, tps / curve.num_pos].round(6).tolist(),
        "recall": (tps / curve.num_pos).round(6).tolist(),
        "precision": (tps / (tps + fps)).round(6).tolist(),
    }


def public_diagnostics(
    res: ScoreResult,
    stats: ImageStats,
    breakdown: OracleBreakdown | None,
    *,
    num: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Intervals, oracle breakdown and curves of one submission (fractions 0..1)."""
    ci = confidence_intervals(stats, num, seed)
    exact = res.summary()
    out: dict[str, Any] = {
        "ci": {
            "method": "percentile bootstrap over images",
            "resamples": num,
            "seed": seed,
            "level": 0.95,
            "metrics": {
                k: {**asdict(v), "value": exact.get(k, v.value)} for k, v in ci.items()
            },
        },
        "oss_curve": curve_points(stats),
    }
    if breakdown is not None:
        out["oracle"] = breakdown.to_dict()
    return out


def gq_significance(a: ImageStats, b: ImageStats, num: int = 1000, seed: int = 0) -> dict[str, Any]:
    """GQ of B - A with its paired-bootstrap 95% interval and p (significant when p < 0.05)."""
    d = paired_comparison(a, b, num=num, seed=seed, metrics=("GQ",))[0]
    return {
        "diff": d.diff,
        "low": d.low,
        "high": d.high,
        "p_value": d.p_value,
        "significant": d.p_value is not None and d.p_value < SIGNIFICANCE_LEVEL,
    }
