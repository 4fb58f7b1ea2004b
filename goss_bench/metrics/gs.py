"""Generic-segmentation (GS) statistics of the class-agnostic clustering.

Defined by goss-bench (the paper's supplement that defines GQ^clu is not public):

* GT clusters: ``test/clusters/<stem>.png``, uint16, one id per connected region
  of every original class, 0 = void.
* Predicted clusters: ``clusters/<stem>.png``, uint8/uint16; every value,
  0 included, is a cluster id (there is no void in a clustering).
* IoU between a GT cluster g and a predicted cluster p removes the predicted
  pixels on GT void from the union, as in GQ.
* GQ^clu: PQ of one class-agnostic category (match iff IoU > 0.5; an unmatched
  predicted cluster is a false positive unless more than half of it is on GT void).
* mIoU^clu: mean over all GT clusters of the dataset of their best IoU with
  any predicted cluster.
* Covering: sum over GT clusters of |g| * best IoU, divided by the number of
  non-void GT pixels (segmentation covering of the GT by the prediction).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.metrics.segments import (
    areas_from_pairs,
    fixed_sum,
    match_pairs,
    pair_counts,
    runs,
    small_ids,
    to_fixed,
)

_RAW_IDS = 1024  # cluster ids below this are used as they are (bounded by their maximum)


@dataclass
class GSImageStats:
    """Integer statistics of one image (fixed-point sums in units of 2**-53)."""

    tp: int
    fp: int
    fn: int
    iou_fixed: int
    best_iou_fixed: int
    num_gt: int
    cover_fixed: int
    cover_pixels: int


def image_gs_stats(gt_clusters: np.ndarray, pred_clusters: np.ndarray) -> GSImageStats:
    """GS statistics of one image.

    Args:
        gt_clusters: integer (H, W), 0 = void, other values = GT cluster ids.
        pred_clusters: integer (H, W), every value a predicted cluster id.
    """
    if gt_clusters.shape != pred_clusters.shape:
        raise GossInputError(
            f"shape mismatch: ground-truth clusters {gt_clusters.shape}, "
            f"predicted clusters {pred_clusters.shape}"
        )
    gflat = gt_clusters.ravel()
    pflat = pred_clusters.ravel()
    weights = None
    rl = runs([gflat, pflat])
    if rl is not None:
        starts, weights = rl
        gflat, pflat = gflat[starts], pflat[starts]
    # GT: index 0 = void when 0 is present; every other id is a GT cluster
    gseg, num_g = small_ids(gflat, _RAW_IDS)
    pseg, num_p = small_ids(pflat, _RAW_IDS)
    low = int(gflat.min()) if gflat.size else 1
    if low < 0:
        raise GossInputError(f"ground-truth cluster ids must be non-negative, got {low}")
    has_void = low == 0
    void = 0 if has_void else num_g  # num_g: an index no pixel has
    gi, pi, inter = pair_counts(gseg, pseg, num_g + (not has_void), max(num_p, 1), weights)
    kg = int(np.count_nonzero(areas_from_pairs(gi, inter, num_g))) - has_void
    num_g += not has_void

    gt_area = areas_from_pairs(gi, inter, num_g)
    pred_area = areas_from_pairs(pi, inter, max(num_p, 1))
    on_void = gi == void
    pred_on_void = areas_from_pairs(pi[on_void], inter[on_void], max(num_p, 1))
    cand = ~on_void
    cg, cp, ci = gi[cand], pi[cand], inter[cand]
    iou, matched = match_pairs(cg, cp, ci, gt_area, pred_area, pred_on_void)

    tp = int(matched.sum())
    iou_fixed = fixed_sum(to_fixed(iou[matched]))
    p_matched = np.zeros(max(num_p, 1), dtype=bool)
    p_matched[cp[matched]] = True
    fp = int(((pred_area > 0) & ~p_matched & ~(2 * pred_on_void > pred_area)).sum())
    fn = kg - tp

    # best IoU per GT cluster: pairs are sorted by gi, so reduce over runs of cg
    if cg.size:
        starts = np.flatnonzero(np.r_[True, cg[1:] != cg[:-1]])
        best = np.maximum.reduceat(iou, starts)
        best_fixed = to_fixed(best)
        areas = gt_area[cg[starts]]
        best_sum = fixed_sum(best_fixed)
        cover = sum(map(operator.mul, areas.tolist(), best_fixed.tolist()))
    else:
        best_sum, cover = 0, 0
    return GSImageStats(
        tp=tp,
        fp=fp,
        fn=fn,
        iou_fixed=iou_fixed,
        best_iou_fixed=best_sum,
        num_gt=kg,
        cover_fixed=cover,
        cover_pixels=int(gt_area.sum() - gt_area[void]) if has_void else int(gt_area.sum()),
    )
