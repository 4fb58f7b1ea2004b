"""Metrics of many resamples at once, from summed :class:`ImageStats` columns.

``summarise(stats, totals, oss_totals)`` takes B rows of column sums (for
example ``weights @ stats.rows`` for B bootstrap resamples) and returns every
headline metric as a float64 (B,) array, computed with the same formulas as
:meth:`goss_bench.metrics.accumulator.GossAccumulator.result` (METRICS.md).
An undefined value (mIoU with no class, AUROC without positives, ...) is NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from goss_bench.diagnostics.image_stats import COVER_BITS, GS_FIELDS, IOU_BITS, ImageStats
from goss_bench.metrics.oss import OSSCurve

# Headline metrics in display order; the names match ScoreResult.summary().
PQ_METRICS = ("GQ", "GQ_kn", "GQ_uk", "SQ_kn", "RQ_kn", "SQ_uk", "RQ_uk", "mIoU")
OSS_METRICS = ("AUROC", "AUPR", "FPR95")
GS_METRICS = ("GQ_clu", "mIoU_clu", "SC")
LOWER_IS_BETTER = frozenset({"FPR95"})


def metric_names(stats: ImageStats) -> list[str]:
    out = list(PQ_METRICS)
    if stats.layout.has_oss:
        out += OSS_METRICS
    if stats.layout.has_gs:
        out += GS_METRICS
    return out


def _safe_div(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def class_pq(stats: ImageStats, totals: np.ndarray) -> dict[str, np.ndarray]:
    """PQ, SQ, RQ per class (B, N+1) and the support mask (TP+FP+FN > 0)."""
    b = stats.layout.blocks
    tp, fp, fn = totals[:, b["tp"]], totals[:, b["fp"]], totals[:, b["fn"]]
    iou = totals[:, b["iou"]] / float(1 << IOU_BITS)
    den = tp + 0.5 * fp + 0.5 * fn
    return {
        "pq": _safe_div(iou, den),
        "sq": _safe_div(iou, tp),
        "rq": _safe_div(tp, den),
        "present": (tp + fp + fn) > 0,
    }


def summarise(
    stats: ImageStats,
    totals: np.ndarray,
    oss_totals: np.ndarray | None = None,
    *,
    skip_oss: bool = False,
) -> dict[str, np.ndarray]:
    """Every headline metric of B resamples.

    Args:
        stats: the table (for its layout and options).
        totals: float64 (B, width): column sums of each resample (integers).
        oss_totals: float64 (B, 2, OSS_BINS) summed coarse score histograms.
        skip_oss: leave out AUROC, AUPR and FPR95 (their per-resample curves are
            the costly part).

    Returns:
        metric name -> float64 (B,) in [0, 1], NaN where undefined.
    """
    opt = stats.options
    lam = float(opt.get("lam", 0.5))
    average = opt.get("average", "all")
    n = stats.layout.num_known
    totals = np.atleast_2d(totals)
    c = class_pq(stats, totals)
    if average == "present":
        used = c["present"][:, :n]
        k = used.sum(axis=1)
        gq_kn, sq_kn, rq_kn = (
            _safe_div((c[m][:, :n] * used).sum(axis=1), k) for m in ("pq", "sq", "rq")
        )
    else:
        gq_kn, sq_kn, rq_kn = (c[m][:, :n].mean(axis=1) for m in ("pq", "sq", "rq"))
    out: dict[str, np.ndarray] = {
        "GQ": lam * gq_kn + (1.0 - lam) * c["pq"][:, n],
        "GQ_kn": gq_kn,
        "GQ_uk": c["pq"][:, n],
        "SQ_kn": sq_kn,
        "RQ_kn": rq_kn,
        "SQ_uk": c["sq"][:, n],
        "RQ_uk": c["rq"][:, n],
        "mIoU": _miou(stats, totals),
    }
    if stats.layout.has_oss and not skip_oss:
        out.update(_oss(stats, totals, oss_totals))
    if stats.layout.has_gs:
        out.update(_gs(stats, totals))
    return out


def _miou(stats: ImageStats, totals: np.ndarray) -> np.ndarray:
    b = stats.layout.blocks
    tp = totals[:, b["sem_tp"]]
    den = tp + totals[:, b["sem_fn"]] + totals[:, b["sem_fp"]]
    valid = den > 0
    iou = _safe_div(tp, den)
    cnt = valid.sum(axis=1)
    return _safe_div((iou * valid).sum(axis=1), cnt, empty=np.nan)


def _oss(stats: ImageStats, totals: np.ndarray, oss_totals: Any) -> dict[str, np.ndarray]:
    rule = stats.options.get("fpr95", "first")
    nb = totals.shape[0]
    if stats.options.get("oss_per_image"):
        s = totals[:, stats.layout.blocks["oss_img"]]
        cnt = s[:, 4]
        unit = float(1 << IOU_BITS)
        fpr_col = 2 if rule == "first" else 3
        return {
            "AUROC": _safe_div(s[:, 0] / unit, cnt, np.nan),
            "AUPR": _safe_div(s[:, 1] / unit, cnt, np.nan),
            "FPR95": _safe_div(s[:, fpr_col] / unit, cnt, np.nan),
        }
    vals = np.full((3, nb), np.nan)
    if oss_totals is not None:
        for i in range(nb):
            curve = OSSCurve.from_histogram(oss_totals[i])
            if curve.defined():
                vals[:, i] = (curve.auroc(), curve.aupr(), curve.fpr_at_tpr(0.95, rule))
    return dict(zip(OSS_METRICS, vals, strict=True))


def _gs(stats: ImageStats, totals: np.ndarray) -> dict[str, np.ndarray]:
    g = dict(zip(GS_FIELDS, totals[:, stats.layout.blocks["gs"]].T, strict=True))
    unit = float(1 << IOU_BITS)
    den = g["tp"] + 0.5 * g["fp"] + 0.5 * g["fn"]
    return {
        "GQ_clu": _safe_div(g["iou"] / unit, den),
        "mIoU_clu": _safe_div(g["best_iou"] / unit, g["num_gt"], np.nan),
        "SC": _safe_div(g["cover"] / float(1 << COVER_BITS), g["cover_pixels"], np.nan),
    }


def image_scores(stats: ImageStats) -> np.ndarray:
    """A per-image quality for ranking images (float64 (images,), NaN if no segment).

    ``lam * (mean PQ over the known classes with a segment in the image)
    + (1 - lam) * PQ_uk``, where a part with no segment in the image is left
    out and the other takes the full weight.  A diagnostic for sorting images,
    never used for the dataset metrics.
    """
    n = stats.layout.num_known
    lam = float(stats.options.get("lam", 0.5))
    c = class_pq(stats, stats.rows.astype(np.float64))
    present = c["present"]
    k = present[:, :n].sum(axis=1)
    kn = _safe_div((c["pq"][:, :n] * present[:, :n]).sum(axis=1), k, np.nan)
    uk = np.where(present[:, n], c["pq"][:, n], np.nan)
    both = (k > 0) & present[:, n]
    return np.where(both, lam * kn + (1 - lam) * uk, np.where(k > 0, kn, uk))
