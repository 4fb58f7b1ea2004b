"""Segment labelling and pair counting shared by the PQ and GS metrics.

A *segment map* gives every pixel a compact segment index in ``0..S-1`` plus
one extra index ``S`` for "no segment" (GT void, or "no prediction").  The
joint statistics of a GT and a predicted segment map are returned as sparse
triplets ``(g, p, count)``: one entry per (GT segment, predicted segment) pair
that shares at least one pixel, including the "no segment" indices.
"""

from __future__ import annotations

import numpy as np

# When G*P is at most this many times the pixel count, one dense bincount is
# cheaper than sorting; otherwise fall back to np.unique on int64 keys.
_DENSE_FACTOR = 4
_DENSE_MIN = 1 << 20

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


def pair_counts(
    g: np.ndarray, p: np.ndarray, num_g: int, num_p: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse joint histogram of two label maps.

    Args:
        g: int32 (H, W) or flat, values in 0..num_g-1.
        p: int32, same shape, values in 0..num_p-1.

    Returns:
        ``(gi, pi, count)``: int64 arrays, one entry per pair with count > 0,
        sorted by (gi, pi).
    """
    g = g.ravel()
    p = p.ravel()
    total = num_g * num_p
    if total <= max(_DENSE_FACTOR * g.size, _DENSE_MIN):
        key = g.astype(np.int64) * num_p + p if total >= (1 << 31) else g * np.int32(num_p) + p
        counts = np.bincount(key, minlength=total)
        nz = np.flatnonzero(counts)
        return nz // num_p, nz % num_p, counts[nz].astype(np.int64)
    key64 = g.astype(np.int64) * num_p + p
    uniq, cnt = np.unique(key64, return_counts=True)
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
