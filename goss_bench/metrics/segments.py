"""Segment labelling and pair counting shared by the PQ and GS metrics.

A *segment map* gives every pixel a compact segment index in ``0..S-1`` plus
one extra index ``S`` for "no segment" (GT void, or "no prediction").  The
joint statistics of a GT and a predicted segment map are returned as sparse
triplets ``(g, p, count)``: one entry per (GT segment, predicted segment) pair
that shares at least one pixel, including the "no segment" indices.

Hot path (per image, no sort over the pixels): :func:`runs` finds the runs of
pixels along which every map is constant, :func:`small_ids` turns group or
cluster ids into small indices (as they are when below a bound, else ranked
through a table), and :func:`pair_counts` counts (GT, predicted) code pairs with
one ``np.bincount`` over a combined key, weighted by the run lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Pixel runs are used when there are at most 1/RUN_FRACTION as many as pixels.
RUN_FRACTION = 4

# When G*P is at most this many times the pixel count, one dense bincount is
# cheaper than sorting; otherwise fall back to np.unique on int64 keys.
_DENSE_FACTOR = 4
_DENSE_MIN = 1 << 18

# FIXED_SCALE: IoU-like values are accumulated as integers in units of 2**-53.
# IoU values in [0.5, 1] are exact multiples of 2**-53, so PQ sums are exact;
# integer sums are associative, so results do not depend on image order or on
# how images are split across processes.
FIXED_BITS = 53
FIXED_SCALE = float(1 << FIXED_BITS)


def to_fixed(values: np.ndarray) -> np.ndarray:
    """float64 values in [0, 1] -> int64 in units of 2**-53 (round to nearest)."""
    return np.rint(np.asarray(values, dtype=np.float64) * FIXED_SCALE).astype(np.int64)


def fixed_sum(values: np.ndarray) -> int:
    """Exact Python-int sum of an int64 fixed-point array (no overflow)."""
    if values.size < 1000:  # 1000 * 2**53 < 2**63
        return int(values.sum())
    return sum(int(v) for v in np.add.reduceat(values, np.arange(0, values.size, 512)))


def compact_ids(ids: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Map the distinct values of ``ids`` (where ``mask``) to 0..K-1 in increasing order.

    Args:
        ids: integer array (any shape), e.g. uint16 group ids.
        mask: optional bool array of the same shape; only these pixels are labelled.

    Returns:
        ``(compact, K)``: int32 array of shape ``ids[mask].shape`` (1-D) when a mask
        is given, else of ``ids.shape``; and the number K of distinct values.
    """
    vals = ids[mask] if mask is not None else ids.ravel()
    if vals.size == 0:
        return np.zeros(0, dtype=np.int32), 0
    if vals.dtype.kind in "ub" and vals.dtype.itemsize <= 2:
        present = np.bincount(vals, minlength=1) > 0
        lut = np.cumsum(present, dtype=np.int32) - 1
        out = lut[vals]
        k = int(present.sum())
    else:
        uniq, out = np.unique(vals, return_inverse=True)
        out = out.astype(np.int32, copy=False)
        k = int(uniq.size)
    if mask is None:
        out = out.reshape(ids.shape)
    return out, k


def dense_limit(num_pixels: int) -> int:
    """Largest joint histogram (bins) counted densely for an image of ``num_pixels``.

    Above it, :func:`pair_counts` falls back to a sort (``np.unique``) so that
    memory and time stay proportional to the pixel count.
    """
    return max(_DENSE_FACTOR * num_pixels, _DENSE_MIN)


def small_ids(ids: np.ndarray, raw_below: int) -> tuple[np.ndarray, int]:
    """Injective, order-preserving map of flat integer ids to ``0..size-1``.

    Ids that are unsigned (8/16-bit) and all below ``raw_below`` are returned as
    they are (no copy; ``size = max + 1``, bounded by their maximum).  Other
    16-bit ids are ranked without a sort over the pixels: the distinct values are
    found among the starts of runs of equal ids (every value starts a run), and
    a 65,536-entry table maps each id to its rank.  Wider or negative ids are
    ranked with ``np.unique``.  Every value of ``ids`` gets an index, so callers
    may pass a superset of the pixels they care about.

    Args:
        ids: integer array, 1-D.
        raw_below: use the ids as they are when their maximum is below this.

    Returns:
        ``(index, size)``: unsigned or intp array of ``ids.shape``, values < size.
    """
    if ids.size == 0:
        return np.zeros(0, dtype=np.uint16), 0
    if ids.dtype.kind not in "ub" or ids.dtype.itemsize > 2:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi > 0xFFFF:
            uniq, inv = np.unique(ids, return_inverse=True)
            return inv.reshape(ids.shape), int(uniq.size)
        ids = ids.astype(np.uint16)
    elif ids.dtype.kind == "b":
        ids = ids.view(np.uint8)
    top = int(ids.max())
    if top < raw_below:
        return ids, top + 1
    starts = np.flatnonzero(ids[1:] != ids[:-1])
    values = np.unique(np.r_[ids[:1], ids[starts + 1]])
    lut = np.zeros(top + 1, dtype=np.uint16 if values.size <= 1 << 16 else np.intp)
    lut[values] = np.arange(values.size)
    return np.take(lut, ids.astype(np.intp)), int(values.size)


def runs(maps: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Runs of consecutive pixels (row-major) along which every map is constant.

    Label maps are piecewise constant, so an image of 307,200 pixels typically
    has a few thousand runs; per-pixel statistics can then be computed on one
    pixel per run weighted by the run length.

    Args:
        maps: flat arrays of equal size (any dtypes).

    Returns:
        ``(starts, lengths)``: intp arrays, or None when there are more than
        ``1 / RUN_FRACTION`` as many runs as pixels (noise-like maps: callers
        then work on every pixel).
    """
    size = maps[0].size
    if size < 2:
        return None
    change = np.not_equal(maps[0][1:], maps[0][:-1])
    tmp = np.empty_like(change)
    for m in maps[1:]:
        np.not_equal(m[1:], m[:-1], out=tmp)
        change |= tmp
    starts = np.flatnonzero(change)
    if starts.size + 1 > size // RUN_FRACTION:
        return None
    starts = np.r_[0, starts + 1]
    return starts, np.diff(starts, append=size)


def pair_counts(
    g: np.ndarray,
    p: np.ndarray,
    num_g: int,
    num_p: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse joint histogram of two label maps (one ``np.bincount`` when dense).

    Args:
        g: non-negative integers (H, W) or flat, values in 0..num_g-1.
        p: non-negative integers, same shape, values in 0..num_p-1.
        weights: optional integer count of each element (run lengths, see :func:`runs`).

    Returns:
        ``(gi, pi, count)``: int64 arrays, one entry per pair with count > 0,
        sorted by (gi, pi).
    """
    g = g.ravel()
    p = p.ravel()
    total = num_g * num_p
    key = np.multiply(g, num_p, dtype=np.intp)
    np.add(key, p, out=key)
    if total <= dense_limit(g.size):
        counts = np.bincount(key, weights=weights, minlength=total)
        nz = np.flatnonzero(counts)
        return nz // num_p, nz % num_p, counts[nz].astype(np.int64)
    if weights is None:
        uniq, cnt = np.unique(key, return_counts=True)
    else:
        uniq, inv = np.unique(key, return_inverse=True)
        cnt = np.bincount(inv, weights=weights, minlength=uniq.size)
    return uniq // num_p, uniq % num_p, cnt.astype(np.int64)


def areas_from_pairs(idx: np.ndarray, count: np.ndarray, n: int) -> np.ndarray:
    """Total pixel count of each index 0..n-1 from sparse pair triplets (int64 (n,))."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, idx, count)
    return out


def match_pairs(
    gi: np.ndarray,
    pi: np.ndarray,
    inter: np.ndarray,
    gt_area: np.ndarray,
    pred_area: np.ndarray,
    pred_on_void: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """IoU of candidate pairs with GT void removed from the union.

    ``IoU = inter / (|p| - |p on GT void| + |g| - inter)``.

    Returns:
        ``(iou, matched)``: float64 IoU per pair and bool ``IoU > 0.5`` (strict,
        decided in exact integer arithmetic: ``2 * inter > union``).
    """
    union = pred_area[pi] - pred_on_void[pi] + gt_area[gi] - inter
    iou = inter / union
    return iou, 2 * inter > union
