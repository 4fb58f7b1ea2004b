"""Per-image GOSS panoptic statistics (the parts of GQ that are summed over images).

Segments of one image (N = number of known classes):

* GT: one segment per known class k present (``sem == k``) and one per distinct
  group id among pixels with ``sem == N``; ``sem == 255`` is void.
* Prediction: the same; ``sem == 255`` belongs to no segment.

A GT and a predicted segment of the same class match iff IoU > 0.5 where the
predicted pixels on GT void are removed from the union.  An unmatched GT
segment is a false negative; an unmatched predicted segment is a false
positive unless more than half of its pixels lie on GT void.

Internally every pixel gets a compact segment index: ``0..N-1`` known classes,
``N`` "no segment" (void / no prediction), ``N+1..N+K`` unknown groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.metrics.segments import (
    compact_ids,
    fixed_sum,
    match_pairs,
    pair_counts,
    to_fixed,
)

VOID = 255


class LabelValueError(GossInputError):
    """A semantic map holds values outside 0..N and 255; ``side`` is "gt" or "pred"."""

    def __init__(self, side: str, message: str) -> None:
        super().__init__(message)
        self.side = side


@dataclass
class PQImageStats:
    """Integer statistics of one image.

    Attributes:
        tp, fp, fn: int64 (N+1,) per class; index N is the unknown class.
        iou_fixed: (N+1,) Python ints, sum of matched IoUs in units of 2**-53.
        conf: int64 (N+2, N+2) semantic confusion matrix indexed [gt, pred];
            rows/columns 0..N-1 known, N unknown, N+1 void (GT) / no prediction.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    iou_fixed: list[int]
    conf: np.ndarray


def _segment_index(
    sem: np.ndarray, grp: np.ndarray | None, n: int, side: str
) -> tuple[np.ndarray, int]:
    """Compact segment index per pixel (int32 (H*W,)) and the number of unknown groups."""
    sem = sem.ravel()
    lut = np.full(256, -1, dtype=np.int32)
    lut[:n] = np.arange(n, dtype=np.int32)
    lut[VOID] = n
    lut[n] = n  # overwritten below for unknown pixels
    seg = lut[sem]
    if int(seg.min(initial=0)) < 0:
        bad = np.unique(sem[seg < 0])
        shown = ", ".join(str(int(v)) for v in bad[:8])
        label = "ground-truth" if side == "gt" else "prediction"
        raise LabelValueError(
            side,
            f"{label} semantic map has values outside 0..{n} and 255: {shown}"
            + (" ..." if bad.size > 8 else ""),
        )
    unk = sem == n
    if grp is None:
        if unk.any():
            raise GossInputError(f"{side} has unknown pixels but no group map")
        return seg, 0
    comp, k = compact_ids(grp.ravel(), unk)
    seg[unk] = comp + (n + 1)
    return seg, k


def _semantic_category(idx: np.ndarray, n: int) -> np.ndarray:
    """Segment index -> semantic confusion index (known k, N unknown, N+1 void)."""
    return np.where(idx < n, idx, np.where(idx == n, n + 1, n))


def image_pq_stats(
    gt_sem: np.ndarray,
    gt_grp: np.ndarray | None,
    pred_sem: np.ndarray,
    pred_grp: np.ndarray | None,
    num_known: int,
) -> PQImageStats:
    """Panoptic statistics of one image.

    Args:
        gt_sem: uint8 (H, W); 0..N-1 known, N unknown, 255 void.
        gt_grp: integer (H, W) group ids, read where ``gt_sem == N`` (None if no unknown).
        pred_sem: uint8 (H, W); 0..N-1 known, N unknown, 255 no prediction.
        pred_grp: integer (H, W) group ids, read where ``pred_sem == N``.
        num_known: N.
    """
    n = num_known
    if gt_sem.shape != pred_sem.shape:
        raise GossInputError(
            f"shape mismatch: ground truth {gt_sem.shape}, prediction {pred_sem.shape}"
        )
    gseg, kg = _segment_index(gt_sem, gt_grp, n, "gt")
    pseg, kp = _segment_index(pred_sem, pred_grp, n, "pred")
    num_g, num_p = n + 1 + kg, n + 1 + kp
    gi, pi, inter = pair_counts(gseg, pseg, num_g, num_p)

    gt_area = np.bincount(gi, weights=inter, minlength=num_g).astype(np.int64)
    pred_area = np.bincount(pi, weights=inter, minlength=num_p).astype(np.int64)
    pred_on_void = np.bincount(pi[gi == n], weights=inter[gi == n], minlength=num_p).astype(
        np.int64
    )

    known_pair = (gi == pi) & (gi < n)
    unk_pair = (gi > n) & (pi > n)
    cand = known_pair | unk_pair
    cg, cp, ci = gi[cand], pi[cand], inter[cand]
    iou, matched = match_pairs(cg, cp, ci, gt_area, pred_area, pred_on_void)

    tp = np.zeros(n + 1, dtype=np.int64)
    fp = np.zeros(n + 1, dtype=np.int64)
    fn = np.zeros(n + 1, dtype=np.int64)
    iou_fixed = [0] * (n + 1)

    mg, mp, miou = cg[matched], cp[matched], iou[matched]
    fixed = to_fixed(miou)
    is_known = mg < n
    for cls, val in zip(mg[is_known].tolist(), fixed[is_known].tolist(), strict=True):
        tp[cls] = 1
        iou_fixed[cls] = int(val)
    tp[n] = int((~is_known).sum())
    iou_fixed[n] = fixed_sum(fixed[~is_known])

    g_matched = np.zeros(num_g, dtype=bool)
    g_matched[mg] = True
    p_matched = np.zeros(num_p, dtype=bool)
    p_matched[mp] = True

    # false negatives: present, unmatched GT segments (index n is void)
    g_fn = (gt_area > 0) & ~g_matched
    g_fn[n] = False
    fn[:n] = g_fn[:n]
    fn[n] = int(g_fn[n + 1 :].sum())
    # false positives: present, unmatched predicted segments not mostly on GT void
    p_fp = (pred_area > 0) & ~p_matched & ~(2 * pred_on_void > pred_area)
    p_fp[n] = False
    fp[:n] = p_fp[:n]
    fp[n] = int(p_fp[n + 1 :].sum())

    size = n + 2
    key = _semantic_category(gi, n) * size + _semantic_category(pi, n)
    conf = (
        np.bincount(key, weights=inter, minlength=size * size).astype(np.int64).reshape(size, size)
    )
    return PQImageStats(tp=tp, fp=fp, fn=fn, iou_fixed=iou_fixed, conf=conf)
