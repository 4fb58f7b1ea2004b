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
    areas_from_pairs,
    compact_ids,
    fixed_sum,
    match_pairs,
    pair_counts,
    runs,
    small_ids,
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


# Unknown-group ids below this are used as they are (bounded by their maximum);
# larger ones are ranked first (FORMAT.md allows any 16-bit value).
_RAW_GROUP_IDS = 256
_GROUP_BASE = 256  # segment code of group index j: 256 + j (codes 0..255 = semantic values)


def _segment_codes(
    sem: np.ndarray, unk: np.ndarray, grp: np.ndarray | None
) -> tuple[np.ndarray, int]:
    """Segment code of each element of one side and the number of codes.

    Code = the semantic value (0..255) where ``sem != N``; ``256 + j`` where
    ``sem == N`` (``unk``), j being the group id (or its rank among the ids
    present, see :func:`small_ids`).  uint8 (no unknown element), uint16 or int32.
    """
    if grp is None:
        return sem, 256
    gid, k = small_ids(grp, _RAW_GROUP_IDS)
    size = _GROUP_BASE + k
    code = sem.astype(np.uint16 if size <= 1 << 16 else np.int32)
    np.add(gid, code.dtype.type(_GROUP_BASE), out=code, where=unk, casting="unsafe")
    return code, size


def _flat_groups(sem: np.ndarray, grp: np.ndarray | None, n: int, label: str):  # noqa: ANN202
    """(flat semantic, flat unknown mask or None, flat groups or None) of one side."""
    flat = sem.ravel()
    if not (flat == n).any():
        return flat, None
    if grp is None:
        raise GossInputError(f"{label} has unknown pixels but no group map")
    if grp.shape != sem.shape:
        raise GossInputError(f"shape mismatch: {label} semantic {sem.shape}, groups {grp.shape}")
    return flat, grp.ravel()


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

    Every pixel gets a segment code on each side (its semantic value, or
    256 + its group index where it is unknown) and one ``np.bincount`` over the
    combined code counts every (GT segment, predicted segment) pair.  Known
    classes, unknown groups, void overlaps and the confusion matrix are all read
    from those pair counts.  The codes are computed on one pixel per run of
    identical labels (weighted by the run length) unless the maps are noise-like.
    """
    n = num_known
    if gt_sem.shape != pred_sem.shape:
        raise GossInputError(
            f"shape mismatch: ground truth {gt_sem.shape}, prediction {pred_sem.shape}"
        )
    gs, gg = _flat_groups(gt_sem, gt_grp, n, "ground truth")
    ps, pg = _flat_groups(pred_sem, pred_grp, n, "prediction")
    weights = None
    rl = runs([m for m in (gs, ps, gg, pg) if m is not None])
    if rl is not None:
        starts, weights = rl
        gs, ps = gs[starts], ps[starts]
        gg = None if gg is None else gg[starts]
        pg = None if pg is None else pg[starts]
    gcode, num_g = _segment_codes(gs, gs == n, gg)
    pcode, num_p = _segment_codes(ps, ps == n, pg)
    gi, pi, cnt = pair_counts(gcode, pcode, num_g, num_p, weights)

    # semantic joint histogram [gt, pred] (256 x 256) from the pair counts
    g_unk = gi >= _GROUP_BASE
    p_unk = pi >= _GROUP_BASE
    sem_key = np.where(g_unk, n, gi) * 256 + np.where(p_unk, n, pi)
    c256 = areas_from_pairs(sem_key, cnt, 1 << 16).reshape(256, 256)
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

    # unknown groups: GT codes >= 256 against predicted codes >= 256
    if g_unk.any() or p_unk.any():
        g_area = areas_from_pairs(gi, cnt, num_g)
        p_area = areas_from_pairs(pi, cnt, num_p)
        on_void = gi == VOID
        p_void = areas_from_pairs(pi[on_void], cnt[on_void], num_p)
        cand = g_unk & p_unk
        cg, cp = gi[cand], pi[cand]
        iou, hit = match_pairs(cg, cp, cnt[cand], g_area, p_area, p_void)
        tp[n] = int(hit.sum())
        iou_fixed[n] = fixed_sum(to_fixed(iou[hit]))
        fn[n] = int(np.count_nonzero(g_area[_GROUP_BASE:])) - tp[n]
        p_matched = np.zeros(num_p, dtype=bool)
        p_matched[cp[hit]] = True
        p_fp = (p_area > 0) & ~p_matched & ~(2 * p_void > p_area)
        fp[n] = int(p_fp[_GROUP_BASE:].sum())

    sel = np.r_[np.arange(n + 1), VOID]
    conf = c256[np.ix_(sel, sel)]
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
