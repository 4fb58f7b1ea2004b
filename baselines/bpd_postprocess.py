"""Super-BPD post-processing: direction field -> region labels (numpy/scipy, CPU).

A reimplementation of the Super-BPD segmentation algorithm (Wan et al., CVPR 2020)
with an edge list instead of the dense N x N matrices of the CUDA original:

1. **Parents.** The angle of every pixel, theta = atan2(field[1], field[0]) in
   [0, 2*pi) (channel 0 = row displacement, channel 1 = column displacement), is
   quantised to one of 8 neighbours; that neighbour is the pixel's parent unless it
   lies outside the image or its angle differs by more than ``theta_a`` (then the
   pixel is a *root*, its own parent).
2. **Super-BPDs.** Connected components of the parent forest.
3. **Root merging.** Root pixels within rows [0, +3] x cols [-3, +3] of each other
   are joined (this glues the medial axis of a region into one super-BPD).
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
is recorded symmetrically, an edge whose two ends already share a root is skipped
(the original double-counts the area), and sorting is stable (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
    before_dilation: int32 (H, W), super-BPDs (parent-forest components) 0..M-1.
    after_dilation: int32 (H, W), super-BPDs after root merging 0..R-1.
    roots: bool (H, W), root pixels.
    """

    labels: np.ndarray
    before_dilation: np.ndarray
    after_dilation: np.ndarray
    roots: np.ndarray

    @property
    def num_regions(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


_TWO_PI = np.float32(2 * np.pi)


def field_to_angle(field: np.ndarray) -> np.ndarray:
    """(2, H, W) direction field (row, col) -> float32 (H, W) angle in [0, 2*pi)."""
    ang = np.arctan2(field[1].astype(np.float32), field[0].astype(np.float32))
    ang[ang < 0] += _TWO_PI
    ang[ang >= _TWO_PI] = 0
    return ang


def _circ_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, _TWO_PI - d)


def _compact(labels: np.ndarray, size: int | None = None) -> np.ndarray:
    """Renumber non-negative integer labels to 0..K-1, keeping their order."""
    flat = labels.ravel()
    n = int(flat.max()) + 1 if size is None else size
    present = np.bincount(flat, minlength=n) > 0
    lut = (np.cumsum(present) - 1).astype(np.int32)
    return lut[flat].reshape(labels.shape)


def _parents(ang: np.ndarray, theta_a: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat parent index (int64, H*W) and root mask (bool, H, W)."""
    h, w = ang.shape
    k = ((ang + np.float32(np.pi / 8)) * np.float32(4 / np.pi)).astype(np.intp)
    k[k >= 8] -= 8
    # pad by one pixel so every neighbour index is valid; padded pixels are "outside"
    wp = w + 2
    own = (np.arange(h)[:, None] + 1) * wp + (np.arange(w)[None, :] + 1)
    step = (DIRECTIONS[:, 0] * wp + DIRECTIONS[:, 1]).astype(np.intp)
    nxt = own + step[k]
    ang_p = np.full((h + 2, wp), np.nan, dtype=np.float32)
    ang_p[1:-1, 1:-1] = ang
    # NaN (outside) compares False, so "not (diff <= theta_a)" marks roots
    with np.errstate(invalid="ignore"):
        ok = _circ_diff(ang, ang_p.ravel()[nxt]) <= np.float32(np.deg2rad(theta_a))
    flat = np.arange(h * w).reshape(h, w)
    step_u = (DIRECTIONS[:, 0] * w + DIRECTIONS[:, 1]).astype(np.intp)
    parent = np.where(ok, flat + step_u[k], flat)
    return parent.ravel(), ~ok


def _forest_roots(parent: np.ndarray) -> np.ndarray:
    """For every pixel the root of its tree in the parent forest (pointer jumping)."""
    r = parent[parent]
    for _ in range(3):
        r = r[r]
    active = np.flatnonzero(r[r] != r)
    while active.size:
        r[active] = r[r[active]]
        active = active[r[r[active]] != r[active]]
    return r


def _root_pairs(
    roots: np.ndarray, root_idx: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs into ``root_idx`` of root pixels within rows [0, window] x cols
    [-window, window] of each other (each unordered pair once)."""
    h, w = roots.shape
    rr, cc = np.divmod(root_idx, w)
    slot = np.full((h + window, w + 2 * window), -1, dtype=np.int64)
    slot[rr, cc + window] = np.arange(root_idx.size)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for dr in range(0, window + 1):
        for dc in range(-window, window + 1):
            if dr == 0 and dc <= 0:
                continue
            other = slot[rr + dr, cc + dc + window]
            hit = np.flatnonzero(other >= 0)
            src.append(hit)
            dst.append(other[hit])
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component id (0..C-1) of n nodes joined by edges a[i]-b[i]."""
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _rag(
    labels: np.ndarray, parent: np.ndarray, ang: np.ndarray, steps: int, num: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge list (lo, hi, mean angle difference) over 4-adjacent super-BPD pairs."""
    h, w = labels.shape
    p_far = np.arange(h * w)
    for _ in range(steps):
        p_far = parent[p_far]
    far_ang = ang.ravel()[p_far].reshape(h, w)
    keys: list[np.ndarray] = []
    diffs: list[np.ndarray] = []
    for la, lb, aa, ab in (
        (labels[:, :-1], labels[:, 1:], far_ang[:, :-1], far_ang[:, 1:]),
        (labels[:-1, :], labels[1:, :], far_ang[:-1, :], far_ang[1:, :]),
    ):
        m = la != lb
        x, y = la[m].astype(np.int64), lb[m].astype(np.int64)
        keys.append(np.minimum(x, y) * num + np.maximum(x, y))
        diffs.append(_circ_diff(aa[m], ab[m]))
    key = np.concatenate(keys)
    diff = np.concatenate(diffs)
    if key.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    uniq, inv = np.unique(key, return_inverse=True)
    count = np.bincount(inv)
    total = np.bincount(inv, weights=diff)
    return uniq // num, uniq % num, total / count


def _find(parent: list[int], x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def _greedy_merge(
    num: int,
    area: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    diff: np.ndarray,
    params: BPDParams,
) -> np.ndarray:
    """Two-pass greedy merging; returns the root (0..num-1) of every region."""
    repulsive = diff > np.pi - np.deg2rad(params.s_o)
    rep: dict[int, set[int]] = {}
    for a, b in zip(lo[repulsive].tolist(), hi[repulsive].tolist(), strict=True):
        rep.setdefault(a, set()).add(b)
        rep.setdefault(b, set()).add(a)
    cand = np.flatnonzero(~repulsive)
    cand = cand[np.argsort(diff[cand], kind="stable")]
    c_lo, c_hi, c_d = lo[cand].tolist(), hi[cand].tolist(), diff[cand].tolist()
    parent = list(range(num))
    areas = area.astype(np.int64).tolist()
    thr_large = np.pi - np.deg2rad(params.theta_l)
    thr_small = np.pi - np.deg2rad(params.theta_s)
    a_small, a_large = params.area_small, params.area_large

    def repel(ra: int, rb: int) -> bool:
        sa = rep.get(ra)
        if sa is not None and rb in sa:
            return True
        sb = rep.get(rb)
        return sb is not None and ra in sb

    def union(ra: int, rb: int) -> None:
        parent[ra] = rb
        areas[rb] += areas[ra]
        sa = rep.pop(ra, None)
        if sa is not None:
            sb = rep.get(rb)
            if sb is None:
                rep[rb] = sa
            elif len(sb) >= len(sa):
                sb |= sa
            else:
                sa |= sb
                rep[rb] = sa

    merged = [False] * len(c_lo)
    for i in range(len(c_lo)):
        d = c_d[i]
        if d >= thr_small:
            break  # sorted: no later candidate can pass either threshold
        ra, rb = _find(parent, c_lo[i]), _find(parent, c_hi[i])
        if ra == rb:
            merged[i] = True
            continue
        m = min(areas[ra], areas[rb])
        if m <= a_small or repel(ra, rb):
            continue
        if d < (thr_large if m > a_large else thr_small):
            union(ra, rb)
            merged[i] = True
    for i in range(len(c_lo)):
        if merged[i]:
            continue
        ra, rb = _find(parent, c_lo[i]), _find(parent, c_hi[i])
        if ra == rb:
            continue
        if min(areas[ra], areas[rb]) <= a_small and not repel(ra, rb):
            union(ra, rb)
    return np.array([_find(parent, i) for i in range(num)], dtype=np.int64)


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
    h, w = f.shape[1:]
    ang = field_to_angle(f)
    parent, roots = _parents(ang, p.theta_a)
    tree_root = _forest_roots(parent)
    before = _compact(tree_root.reshape(h, w), h * w)

    # root merging on the (small) graph of root pixels
    root_idx = np.flatnonzero(roots.ravel())
    slot = np.full(h * w, -1, dtype=np.int64)
    slot[root_idx] = np.arange(root_idx.size)
    a, b = _root_pairs(roots, root_idx, p.root_window)
    comp = _components(root_idx.size, a, b)
    after_flat = comp[slot[tree_root]]
    num = int(comp.max()) + 1 if comp.size else 1
    after = after_flat.reshape(h, w)

    lo, hi, diff = _rag(after, parent, ang, p.steps, num)
    area = np.bincount(after_flat, minlength=num)
    final_root = _greedy_merge(num, area, lo, hi, diff, p)
    labels = _compact(final_root[after])
    return SuperBPDResult(
        labels=labels,
        before_dilation=before,
        after_dilation=after.astype(np.int32),
        roots=roots,
    )


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


def segment_field(
    field: np.ndarray, params: BPDParams | None = None, stride: int = 1
) -> np.ndarray:
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
