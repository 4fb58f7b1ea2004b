"""Super-BPD post-processing: direction field -> region labels (numba kernels, CPU).

A reimplementation of the Super-BPD segmentation algorithm (Wan et al., CVPR 2020)
with an edge list instead of the dense N x N matrices of the CUDA original.  The
compiled kernels are in :mod:`baselines._bpd_numba` (the only implementation; an
obvious, slow pure-Python reference lives in ``tests/bpd_reference.py`` and the
tests check that both give identical labels).

1. **Parents.** The direction of every pixel, theta = atan2(field[1], field[0]) in
   [0, 2*pi) as float32 (channel 0 = row displacement, channel 1 = column
   displacement), is quantised to one of 8 neighbours, k = int((theta + pi/8) /
   (pi/4)) mod 8; that neighbour is the pixel's parent unless it lies outside the
   image or the circular difference of the two float32 angles exceeds ``theta_a``
   (then the pixel is a *root*, its own parent).  Angles and their differences are
   compared exactly as in the CUDA original, so a clean field with exact 45-degree
   differences gives the original's partition.
2. **Super-BPDs.** The trees of the parent forest (a cycle of parent links,
   possible in a vortex of a predicted field, is broken at its smallest pixel).
3. **Root merging.** Root pixels within rows [0, +3] x cols [-3, +3] of each other
   are joined (this glues the medial axis of a region into one super-BPD),
   computed as the connected components of 3 x 3 boxes grown from the roots.
4. **Region adjacency graph.** For each pair of 4-adjacent pixels in different
   super-BPDs, both pixels follow their parents ``steps`` times (into each region's
   interior) and the circular angle difference of the two end points is averaged
   per region pair.
5. **Edges.** A pair whose mean difference exceeds ``pi - s_o`` is *repulsive*;
   the others are candidates, sorted by mean difference (most similar first).
6. **Greedy merging.** Pass 1 merges candidates whose smaller region has more than
   ``area_small`` pixels when the difference is below ``pi - theta_l`` (smaller
   region > ``area_large``) or ``pi - theta_s`` (otherwise); pass 2 merges tiny
   regions (<= ``area_small``) unconditionally.  Two regions never merge when one
   has a repulsive edge to the other (repulsion sets are united on merging).

Differences from the CUDA original (documented in baselines/README.md): repulsion
is checked between whole components (the original tests one bit of the root's
bitset, so a repulsion is forgotten once its partner is merged into another
region), an edge whose two ends already share a root is skipped (the original
double-counts the area), the RAG walk of the bottom neighbour starts from the
bottom pixel (the original reuses the coordinates moved by the right neighbour's
walk), ``theta_a`` and ``s_o`` are parameters (the CUDA kernel hard-codes
theta_a = 45 degrees and a repulsion angle of 170 degrees), and sorting is
stable (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# (row, col) offsets of the 8 quantised directions, angle 0 = +row, pi/2 = +col
DIRECTIONS = np.array(
    [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)], dtype=np.int64
)


@dataclass(frozen=True)
class BPDParams:
    """Super-BPD thresholds; angles in degrees, areas in pixels at the processed scale.

    The defaults are the published ones, (theta_a, theta_l, theta_s, s_o) = (45, 116, 68, 5),
    and the area cut-offs 250 / 1500 of the authors' CPU merging step.
    """

    theta_a: float = 45.0
    theta_l: float = 116.0
    theta_s: float = 68.0
    s_o: float = 5.0
    area_small: int = 250
    area_large: int = 1500
    steps: int = 3
    root_window: int = 3


@dataclass
class SuperBPDResult:
    """Output of :func:`super_bpd`.

    labels: int32 (H, W), final regions numbered 0..K-1.
    after_dilation: int32 (H, W), super-BPDs after root merging 0..R-1.
    roots: bool (H, W), root pixels.
    tree_root: int64 (H*W,), flat index of the root of every pixel's parent tree.
    before_dilation (property): int32 (H, W), super-BPDs (parent-forest trees)
        numbered 0..M-1 in raster order of their root; computed on access.
    """

    labels: np.ndarray
    after_dilation: np.ndarray
    roots: np.ndarray
    tree_root: np.ndarray

    @property
    def num_regions(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    @property
    def before_dilation(self) -> np.ndarray:
        return _compact(self.tree_root.reshape(self.labels.shape), self.tree_root.size)


_TWO_PI = np.float32(2 * np.pi)


def field_to_angle(field: np.ndarray) -> np.ndarray:
    """(2, H, W) direction field (row, col) -> float32 (H, W) angle in [0, 2*pi)."""
    ang = np.arctan2(field[1].astype(np.float32), field[0].astype(np.float32))
    ang[ang < 0] += _TWO_PI
    ang[ang >= _TWO_PI] = 0
    return ang


def _compact(labels: np.ndarray, size: int | None = None) -> np.ndarray:
    """Renumber non-negative integer labels to 0..K-1, keeping their order."""
    flat = labels.ravel()
    n = int(flat.max()) + 1 if size is None else size
    present = np.bincount(flat, minlength=n) > 0
    lut = (np.cumsum(present) - 1).astype(np.int32)
    return lut[flat].reshape(labels.shape)


_EIGHT = np.ones((3, 3), dtype=bool)


def merge_roots(dilated: np.ndarray) -> tuple[np.ndarray, int]:
    """Root merging as connected components of the dilated root mask.

    Two root pixels at Chebyshev distance <= s (the original's window: rows
    [0, +s] x cols [-s, +s], joined symmetrically) are exactly those whose s x s
    boxes (rows and cols [0, s-1] from the root) touch or overlap, so the
    8-connected components of the union of the boxes are the merged super-BPDs.
    Components are numbered 1..R in raster order of their first pixel, which is
    their first root pixel (boxes extend only down and right).

    Returns (int32 (H, W) component image, R).
    """
    comp, num = ndimage.label(dilated, structure=_EIGHT)
    return comp.astype(np.int32, copy=False), int(num)


def _thresholds(params: BPDParams) -> tuple[float, float, float]:
    """(repulsive, large-region, small-region) angle thresholds in radians."""
    return (
        np.pi - np.deg2rad(params.s_o),
        np.pi - np.deg2rad(params.theta_l),
        np.pi - np.deg2rad(params.theta_s),
    )


def numba_available() -> bool:
    """True when numba (needed by the Super-BPD kernels) is installed."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _super_bpd(field: np.ndarray, p: BPDParams) -> SuperBPDResult:
    if not numba_available():
        raise ImportError("Super-BPD needs numba (pip install 'goss-bench[baselines]')")
    from baselines import _bpd_numba as nb

    f = np.ascontiguousarray(field, dtype=np.float32)
    h, w = f.shape[1:]
    ux, uy = nb.unit_vectors(f)
    parent, roots = nb.parents_and_roots(f, ux, uy, float(np.deg2rad(p.theta_a)))
    tree = nb.forest(parent, roots)
    comp, num = merge_roots(nb.box_dilate(roots, p.root_window))
    after, area = nb.after_and_area(comp.ravel(), tree, num)
    after2 = after.reshape(h, w)
    lo, hi, diff = nb.rag(after2, parent, f, p.steps, num)
    thr_rep, thr_large, thr_small = _thresholds(p)
    final_root = nb.greedy_merge(
        num, area, lo, hi, diff, thr_rep, thr_large, thr_small, p.area_small, p.area_large
    )
    labels = nb.relabel(after, final_root, num).reshape(h, w)
    return SuperBPDResult(labels=labels, after_dilation=after2, roots=roots, tree_root=tree)


def super_bpd(field: np.ndarray, params: BPDParams | None = None) -> SuperBPDResult:
    """Segment an image from its direction field.

    Args:
        field: float (2, H, W); channel 0 = row and channel 1 = column component of
            the vector pointing away from the nearest region boundary.  Only the
            direction matters.
        params: thresholds (:class:`BPDParams`, the published defaults when None).

    Returns:
        :class:`SuperBPDResult` with int32 (H, W) region labels 0..K-1.
    """
    p = params or BPDParams()
    f = np.asarray(field)
    if f.ndim != 3 or f.shape[0] != 2 or f.shape[1] == 0 or f.shape[2] == 0:
        raise ValueError(f"direction field must have shape (2, H, W) with H, W > 0, got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("direction field contains NaN or infinite values")
    return _super_bpd(f, p)


def downsample_field(field: np.ndarray, stride: int) -> np.ndarray:
    """Average the (2, H, W) vectors over stride x stride blocks (vectors, not angles).

    Returns float32 (2, ceil(H/stride), ceil(W/stride)); edge blocks are averaged
    over their valid pixels.
    """
    if stride == 1:
        return np.asarray(field, dtype=np.float32)
    c, h, w = field.shape
    hp, wp = -(-h // stride) * stride, -(-w // stride) * stride
    pad = np.zeros((c, hp, wp), dtype=np.float64)
    pad[:, :h, :w] = field
    cnt = np.zeros((hp, wp))
    cnt[:h, :w] = 1
    s = pad.reshape(c, hp // stride, stride, wp // stride, stride).sum(axis=(2, 4))
    n = cnt.reshape(hp // stride, stride, wp // stride, stride).sum(axis=(1, 3))
    return (s / n).astype(np.float32)


def segment_field(field: np.ndarray, params: BPDParams | None = None, stride: int = 1) -> np.ndarray:
    """Super-BPD regions of a (2, H, W) field, optionally computed at 1/stride resolution.

    At ``stride > 1`` the vectors are block-averaged, the area cut-offs are divided
    by stride**2 (so they keep their meaning in full-resolution pixels) and the labels
    are nearest-upsampled.  Returns int32 (H, W) labels 0..K-1.
    """
    p = params or BPDParams()
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if stride == 1:
        return super_bpd(field, p).labels
    h, w = field.shape[1:]
    scaled = BPDParams(
        theta_a=p.theta_a,
        theta_l=p.theta_l,
        theta_s=p.theta_s,
        s_o=p.s_o,
        area_small=max(1, round(p.area_small / stride**2)),
        area_large=max(1, round(p.area_large / stride**2)),
        steps=p.steps,
        root_window=p.root_window,
    )
    small = super_bpd(downsample_field(field, stride), scaled).labels
    up = np.repeat(np.repeat(small, stride, axis=0), stride, axis=1)[:h, :w]
    return _compact(up)
