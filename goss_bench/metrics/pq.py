"""Per-image GOSS panoptic statistics (the parts of GQ that are summed over images).

Segments of one image (N = number of known classes):

* GT: one segment per known class k present (``sem == k``) and one per distinct
  group id among pixels with ``sem == N``; ``sem == 255`` is void.
* Prediction: the same; ``sem == 255`` belongs to no segment.

A GT and a predicted segment of the same class match iff IoU > 0.5 where the
predicted pixels on GT void are removed from the union.  An unmatched GT
segment is a false negative; an unmatched predicted segment is a false
positive unless more than half of its pixels lie on GT void.

Known classes are scored from the joint histogram of the two semantic maps;
unknown groups from the joint histogram of compact group indices over the
pixels that are unknown in the GT or the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.io import VOID
from goss_bench.metrics.segments import (
    compact_ids,
    fixed_sum,
    match_pairs,
    pair_counts,
    to_fixed,
)


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


def _check_values(conf256: np.ndarray, n: int) -> None:
    """Raise LabelValueError when a semantic map holds values outside 0..N and 255."""
    for side, counts in (("gt", conf256.sum(axis=1)), ("pred", conf256.sum(axis=0))):
        bad = np.flatnonzero(counts[n + 1 : VOID]) + n + 1
        if bad.size:
            shown = ", ".join(str(int(v)) for v in bad[:8])
            label = "ground-truth" if side == "gt" else "prediction"
            raise LabelValueError(
                side,
                f"{label} semantic map has values outside 0..{n} and 255: {shown}"
                + (" ..." if bad.size > 8 else ""),
            )


def _group_index(
    sem: np.ndarray, grp: np.ndarray | None, n: int, side: str
) -> tuple[np.ndarray, int]:
    """Compact group index of the given pixels: 1..K where ``sem == N``, else 0.

    Args:
        sem: uint8 (M,) semantic values of a subset of pixels.
        grp: integer (M,) group ids of the same pixels, or None.
    """
    is_unk = sem == n
    out = np.zeros(sem.size, dtype=np.int32)
    if not is_unk.any():
        return out, 0
    if grp is None:
        label = "ground truth" if side == "gt" else "prediction"
        raise GossInputError(f"{label} has unknown pixels but no group map")
    comp, k = compact_ids(grp, is_unk)
    out[is_unk] = comp + 1
    return out, k


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

    Known classes are scored from one 256x256 joint histogram of the two
    semantic maps; unknown groups from a second joint histogram over only the
    pixels that are unknown in the GT or in the prediction.
    """
    n = num_known
    if gt_sem.shape != pred_sem.shape:
        raise GossInputError(
            f"shape mismatch: ground truth {gt_sem.shape}, prediction {pred_sem.shape}"
        )
    gs = gt_sem.ravel()
    ps = pred_sem.ravel()
    key = (gs.astype(np.uint16) << 8) | ps
    c256 = np.bincount(key, minlength=1 << 16).reshape(256, 256)  # [gt, pred]
    _check_values(c256, n)

    tp = np.zeros(n + 1, dtype=np.int64)
    fp = np.zeros(n + 1, dtype=np.int64)
    fn = np.zeros(n + 1, dtype=np.int64)
    iou_fixed = [0] * (n + 1)

    # known classes: one segment per class on each side
    k = np.arange(n)
    inter = c256[k, k]
    gt_area = c256[:n].sum(axis=1)
    pred_area = c256[:, :n].sum(axis=0)
    pred_void = c256[VOID, :n]
    union = pred_area - pred_void + gt_area - inter
    matched = 2 * inter > union
    matched &= inter > 0
    tp[:n] = matched
    fn[:n] = (gt_area > 0) & ~matched
    fp[:n] = (pred_area > 0) & ~matched & ~(2 * pred_void > pred_area)
    if matched.any():
        cls = np.flatnonzero(matched)
        fixed = to_fixed(inter[cls] / union[cls])
        for c, v in zip(cls.tolist(), fixed.tolist(), strict=True):
            iou_fixed[c] = int(v)

    # unknown groups, over the pixels that are unknown on either side
    if c256[n].any() or c256[:, n].any():
        idx = np.flatnonzero((gs == n) | (ps == n))
        gsub, psub = gs[idx], ps[idx]
        gg, kg = _group_index(gsub, None if gt_grp is None else gt_grp.ravel()[idx], n, "gt")
        gg[gsub == VOID] = kg + 1  # row kg+1: GT void under predicted unknown pixels
        pg, kp = _group_index(psub, None if pred_grp is None else pred_grp.ravel()[idx], n, "pred")
        gi, pi, cnt = pair_counts(gg, pg, kg + 2, kp + 1)
        g_area = np.bincount(gi, weights=cnt, minlength=kg + 2).astype(np.int64)
        p_area = np.bincount(pi, weights=cnt, minlength=kp + 1).astype(np.int64)
        on_void = gi == kg + 1
        p_void = np.bincount(pi[on_void], weights=cnt[on_void], minlength=kp + 1).astype(np.int64)
        cand = (gi >= 1) & (gi <= kg) & (pi >= 1)
        cg, cp, ci = gi[cand], pi[cand], cnt[cand]
        iou, hit = match_pairs(cg, cp, ci, g_area, p_area, p_void)
        tp[n] = int(hit.sum())
        iou_fixed[n] = fixed_sum(to_fixed(iou[hit]))
        p_matched = np.zeros(kp + 1, dtype=bool)
        p_matched[cp[hit]] = True
        fn[n] = kg - tp[n]
        p_fp = (p_area > 0) & ~p_matched & ~(2 * p_void > p_area)
        fp[n] = int(p_fp[1:].sum())

    sel = np.r_[np.arange(n + 1), VOID]
    conf = c256[np.ix_(sel, sel)].astype(np.int64)
    return PQImageStats(tp=tp, fp=fp, fn=fn, iou_fixed=iou_fixed, conf=conf)


# Pixel status codes returned by segment_status.
STATUS_NONE = 0  # GT void / no prediction
STATUS_MATCHED = 1  # part of a matched (TP) segment
STATUS_ERROR = 2  # GT: false negative; prediction: false positive
STATUS_IGNORED = 3  # prediction only: unmatched but more than half on GT void


def _segment_index(sem: np.ndarray, grp: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Per-pixel segment index (int32 (H*W,)): 0..N-1 known, N none, N+1.. unknown groups."""
    flat = sem.ravel()
    seg = flat.astype(np.int32)
    seg[flat == VOID] = n
    unk = flat == n
    if unk.any():
        if grp is None:
            raise GossInputError("unknown pixels but no group map")
        comp, k = compact_ids(grp.ravel(), unk)
        seg[unk] = comp + n + 1
        return seg, k
    return seg, 0


def segment_status(
    gt_sem: np.ndarray,
    gt_grp: np.ndarray | None,
    pred_sem: np.ndarray,
    pred_grp: np.ndarray | None,
    num_known: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels belong to matched, missed and false segments (for visualisation).

    Uses the same matching rules as :func:`image_pq_stats`.

    Returns:
        ``(gt_status, pred_status)``: uint8 (H, W) each, with STATUS_NONE,
        STATUS_MATCHED, STATUS_ERROR (FN for GT, FP for the prediction) and,
        for the prediction, STATUS_IGNORED.
    """
    n = num_known
    shape = gt_sem.shape
    g, kg = _segment_index(gt_sem, gt_grp, n)
    p, kp = _segment_index(pred_sem, pred_grp, n)
    num_g, num_p = n + 1 + kg, n + 1 + kp
    gi, pi, inter = pair_counts(g, p, num_g, num_p)
    g_area = np.bincount(gi, weights=inter, minlength=num_g).astype(np.int64)
    p_area = np.bincount(pi, weights=inter, minlength=num_p).astype(np.int64)
    on_void = gi == n
    p_void = np.bincount(pi[on_void], weights=inter[on_void], minlength=num_p).astype(np.int64)
    cand = ((gi == pi) & (gi < n)) | ((gi > n) & (pi > n))
    _, hit = match_pairs(gi[cand], pi[cand], inter[cand], g_area, p_area, p_void)
    g_state = np.full(num_g, STATUS_ERROR, dtype=np.uint8)
    g_state[gi[cand][hit]] = STATUS_MATCHED
    g_state[n] = STATUS_NONE
    p_state = np.full(num_p, STATUS_ERROR, dtype=np.uint8)
    p_state[2 * p_void > p_area] = STATUS_IGNORED
    p_state[pi[cand][hit]] = STATUS_MATCHED
    p_state[n] = STATUS_NONE
    return g_state[g].reshape(shape), p_state[p].reshape(shape)
