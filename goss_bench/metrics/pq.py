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

import functools
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


# Unknown-group ids below this are used as they are (bounded by their maximum);
# larger ones are ranked first (FORMAT.md allows any 16-bit value).
_RAW_GROUP_IDS = 256


@functools.lru_cache(maxsize=16)
def _code_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables of the compact segment codes of one side (see :func:`_segment_codes`).

    ``sem_code`` (uint16 (256,)): semantic value -> code (k -> k for known k,
    255 -> N, N and invalid values -> N as well; invalid values are rejected
    before the codes are used).  ``conf_of`` maps a code to its confusion-matrix
    index for codes clipped to N + 1: known k -> k, N (void / no prediction) -> N+1,
    N + 1 (groups) -> N.
    """
    sem_code = np.full(256, n, dtype=np.uint16)
    sem_code[:n] = np.arange(n, dtype=np.uint16)
    conf_of = np.r_[np.arange(n), n + 1, n]
    sem_code.flags.writeable = conf_of.flags.writeable = False
    return sem_code, conf_of


def _segment_codes(sem: np.ndarray, grp: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Compact segment code of each element of one side and the number of codes.

    Code k (0..N-1) = known class k; code N = GT void / no prediction; code
    N + 1 + j = unknown group j (the group id, or its rank among the ids present,
    see :func:`small_ids`) where ``sem == N``; ``grp`` is None when no element is
    unknown.  uint16 or intp.
    """
    sem_code, _ = _code_tables(n)
    code = sem_code[sem]
    if grp is None:
        return code, n + 1
    gid, k = small_ids(grp, _RAW_GROUP_IDS)
    size = n + 1 + k
    if size > 1 << 16:
        code = code.astype(np.intp)
    np.add(gid, code.dtype.type(n + 1), out=code, where=sem == n, casting="unsafe")
    return code, size


def _flat_groups(sem: np.ndarray, grp: np.ndarray | None, n: int, label: str):  # noqa: ANN202
    """(flat semantic, flat groups or None) of one side."""
    flat = sem.ravel()
    if not np.count_nonzero(flat == n):
        return flat, None
    if grp is None:
        raise GossInputError(f"{label} has unknown pixels but no group map")
    if grp.shape != sem.shape:
        raise GossInputError(f"shape mismatch: {label} semantic {sem.shape}, groups {grp.shape}")
    return flat, grp.ravel()


def _check_samples(gs: np.ndarray, ps: np.ndarray, weights: np.ndarray | None, n: int) -> None:
    """Raise LabelValueError when a side holds values outside 0..N and 255 (on samples)."""
    for side, s in (("gt", gs), ("pred", ps)):
        bad = (s > n) & (s != VOID)
        if np.count_nonzero(bad):
            hist = np.bincount(s, weights=weights, minlength=256)
            _check_values(hist, n, side)


def _check_values(counts: np.ndarray, n: int, side: str) -> None:
    """Raise LabelValueError naming the values outside 0..N and 255 of a 256-bin histogram."""
    bad = np.flatnonzero(counts[n + 1 : VOID]) + n + 1
    if bad.size:
        shown = ", ".join(str(int(v)) for v in bad[:8])
        label = "ground-truth" if side == "gt" else "prediction"
        raise LabelValueError(
            side,
            f"{label} semantic map has values outside 0..{n} and 255: {shown}"
            + (" ..." if bad.size > 8 else ""),
        )


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

    Every pixel gets a compact segment code on each side (its known class, N
    for void / no prediction, or N + 1 + its group index where it is unknown)
    and one ``np.bincount`` over the combined code counts every (GT segment,
    predicted segment) pair.  Known classes, unknown groups, void overlaps and
    the confusion matrix are all read from those pair counts.  The codes are
    computed on one pixel per run of identical labels (weighted by the run
    length) unless the maps are noise-like.
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
    _check_samples(gs, ps, weights, n)
    gcode, num_g = _segment_codes(gs, gg, n)
    pcode, num_p = _segment_codes(ps, pg, n)
    gi, pi, cnt = pair_counts(gcode, pcode, num_g, num_p, weights)

    # semantic confusion matrix [gt, pred] ((N+2) x (N+2)) from the pair counts
    _, conf_of = _code_tables(n)
    gc = conf_of[np.minimum(gi, n + 1)]
    pc = conf_of[np.minimum(pi, n + 1)]
    m = n + 2
    conf = np.bincount(gc * m + pc, weights=cnt, minlength=m * m).astype(np.int64).reshape(m, m)

    tp = np.zeros(n + 1, dtype=np.int64)
    fp = np.zeros(n + 1, dtype=np.int64)
    fn = np.zeros(n + 1, dtype=np.int64)
    iou_fixed = [0] * (n + 1)

    # known classes: one segment per class on each side
    inter = np.diagonal(conf)[:n]
    gt_area = conf[:n].sum(axis=1)
    pred_area = conf[:, :n].sum(axis=0)
    pred_void = conf[n + 1, :n]
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

    # unknown groups: GT codes > N against predicted codes > N
    if num_g > n + 1 or num_p > n + 1:
        g_area = areas_from_pairs(gi, cnt, num_g)
        p_area = areas_from_pairs(pi, cnt, num_p)
        on_void = gi == n
        p_void = areas_from_pairs(pi[on_void], cnt[on_void], num_p)
        cand = (gi > n) & (pi > n)
        cg, cp = gi[cand], pi[cand]
        iou, hit = match_pairs(cg, cp, cnt[cand], g_area, p_area, p_void)
        tp[n] = int(np.count_nonzero(hit))
        iou_fixed[n] = fixed_sum(to_fixed(iou[hit]))
        fn[n] = int(np.count_nonzero(g_area[n + 1 :])) - tp[n]
        p_matched = np.zeros(num_p, dtype=bool)
        p_matched[cp[hit]] = True
        p_fp = (p_area > 0) & ~p_matched & ~(2 * p_void > p_area)
        fp[n] = int(np.count_nonzero(p_fp[n + 1 :]))

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
