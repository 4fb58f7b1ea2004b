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
from goss_bench.metrics.segments import compact_ids, fixed_sum, match_pairs, pair_counts, to_fixed


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
    valid = gflat != 0
    gcomp, kg = compact_ids(gflat, valid)
    gseg = np.full(gflat.size, kg, dtype=np.int32)  # index kg = void
    gseg[valid] = gcomp
    pseg, kp = compact_ids(pred_clusters.ravel())
    gi, pi, inter = pair_counts(gseg, pseg, kg + 1, max(kp, 1))

    gt_area = np.bincount(gi, weights=inter, minlength=kg + 1).astype(np.int64)
    pred_area = np.bincount(pi, weights=inter, minlength=max(kp, 1)).astype(np.int64)
    on_void = gi == kg
    pred_on_void = np.bincount(pi[on_void], weights=inter[on_void], minlength=max(kp, 1)).astype(
        np.int64
    )
    cand = ~on_void
    cg, cp, ci = gi[cand], pi[cand], inter[cand]
    iou, matched = match_pairs(cg, cp, ci, gt_area, pred_area, pred_on_void)

    tp = int(matched.sum())
    iou_fixed = fixed_sum(to_fixed(iou[matched]))
    p_matched = np.zeros(max(kp, 1), dtype=bool)
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
        cover_pixels=int(valid.sum()),
    )
