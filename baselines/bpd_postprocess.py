"""Super-BPD post-processing: direction field -> region labels (numpy/scipy, CPU).

A reimplementation of the Super-BPD segmentation algorithm (Wan et al., CVPR 2020)
with an edge list instead of the dense N x N matrices of the CUDA original:

1. **Parents.** The direction of every pixel, theta = atan2(field[1], field[0])
   (channel 0 = row displacement, channel 1 = column displacement), is quantised
   to one of 8 neighbours; that neighbour is the pixel's parent unless it lies
   outside the image or its direction differs by more than ``theta_a`` (then the
   pixel is a *root*, its own parent).  Directions are handled as float32 unit
   vectors: differences are compared through dot products and only the region
   adjacency graph takes an arccos (no per-pixel arctangent).
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

Two backends give identical labels: compiled numba kernels (``_bpd_numba``, the
default when numba is installed; 20-35 ms for a 641 x 641 field on one core) and
vectorised numpy with a pure-Python merging loop (the reference).

Differences from the CUDA original (documented in baselines/README.md): repulsion
is checked between whole components (the original tests one bit of the root's
bitset, so a repulsion is forgotten once its partner is merged into another
region), an edge whose two ends already share a root is skipped (the original
double-counts the area), the RAG walk of the bottom neighbour starts from the
right pixel (the original reuses the coordinates moved by the right neighbour's
walk), and sorting is stable (deterministic).
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
_TAN_PI8 = np.float32(np.tan(np.pi / 8))


def field_to_angle(field: np.ndarray) -> np.ndarray:
    """(2, H, W) direction field (row, col) -> float32 (H, W) angle in [0, 2*pi)."""
    ang = np.arctan2(field[1].astype(np.float32), field[0].astype(np.float32))
    ang[ang < 0] += _TWO_PI
    ang[ang >= _TWO_PI] = 0
    return ang


def unit_vectors(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit (row, col) vectors of a (2, H, W) field: two float32 (H, W) arrays.

    A zero vector becomes (1, 0) (angle 0, as atan2(0, 0)).  Everything downstream
    works on these in float32: the angle difference of two pixels is compared
    through their dot product (diff <= t  <=>  dot >= cos t), so no per-pixel
    arctangent is needed.
    """
    x = np.asarray(field[0], dtype=np.float32)
    y = np.asarray(field[1], dtype=np.float32)
    n = np.sqrt(x * x + y * y)
    ok = n > 0
    safe = np.where(ok, n, np.float32(1))
    ux = np.where(ok, x / safe, np.float32(1))
    uy = np.where(ok, y / safe, np.float32(0))
    return ux, uy


def octants(ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    """Index 0..7 of :data:`DIRECTIONS` nearest to each unit vector (int64 (H, W)).

    Equal to floor((theta + pi/8) / (pi/4)) mod 8 for theta = atan2(col, row),
    decided with float32 comparisons against tan(pi/8).
    """
    ax, ay = np.abs(ux), np.abs(uy)
    k = np.where(ux >= 0, 0, 4)
    vertical = ax <= _TAN_PI8 * ay
    k = np.where(vertical, np.where(uy > 0, 2, 6), k)
    diag = ~(ay <= _TAN_PI8 * ax) & ~vertical
    dk = np.where(ux > 0, np.where(uy > 0, 1, 7), np.where(uy > 0, 3, 5))
    return np.where(diag, dk, k).astype(np.int64)


def _compact(labels: np.ndarray, size: int | None = None) -> np.ndarray:
    """Renumber non-negative integer labels to 0..K-1, keeping their order."""
    flat = labels.ravel()
    n = int(flat.max()) + 1 if size is None else size
    present = np.bincount(flat, minlength=n) > 0
    lut = (np.cumsum(present) - 1).astype(np.int32)
    return lut[flat].reshape(labels.shape)


def _parents(ux: np.ndarray, uy: np.ndarray, theta_a: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat parent index (int64, H*W) and root mask (bool, H, W)."""
    h, w = ux.shape
    k = octants(ux, uy)
    # pad by one pixel so every neighbour index is valid; padded pixels are "outside"
    wp = w + 2
    own = (np.arange(h)[:, None] + 1) * wp + (np.arange(w)[None, :] + 1)
    step = (DIRECTIONS[:, 0] * wp + DIRECTIONS[:, 1]).astype(np.intp)
    nxt = own + step[k]
    pads = []
    for u in (ux, uy):
        up = np.full((h + 2, wp), np.nan, dtype=np.float32)
        up[1:-1, 1:-1] = u
        pads.append(up.ravel()[nxt])
    # NaN (outside) compares False, so "not (dot >= cos theta_a)" marks roots
    with np.errstate(invalid="ignore"):
        ok = ux * pads[0] + uy * pads[1] >= np.float32(np.cos(np.deg2rad(theta_a)))
    flat = np.arange(h * w).reshape(h, w)
    step_u = (DIRECTIONS[:, 0] * w + DIRECTIONS[:, 1]).astype(np.intp)
    parent = np.where(ok, flat + step_u[k], flat)
    return parent.ravel(), ~ok


def _forest_roots(parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """For every pixel the root of its tree in the parent forest (pointer jumping).

    A cycle of parent links (possible in a vortex of the predicted field) is broken
    at its smallest pixel index, which becomes a root; ``parent`` and ``roots`` are
    updated in place.
    """
    r = parent.copy()
    for _ in range(max(1, int(np.ceil(np.log2(max(parent.size, 2))))) + 1):
        r = r[r]
    stuck = np.flatnonzero(parent[r] != r)  # chains ending in a cycle (rare)
    if stuck.size:
        w = roots.shape[1]
        done: set[int] = set()
        for start in stuck.tolist():
            path: dict[int, int] = {}
            x = start
            while x not in path and x not in done and parent[x] != x:
                path[x] = len(path)
                x = int(parent[x])
            if x in path:  # a new cycle: break it at its smallest index
                order = list(path)
                m = min(order[path[x]:])
                parent[m] = m
                roots[m // w, m % w] = True
            done.update(path)
        return _forest_roots(parent, roots)
    return r


def _box_dilate(roots: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W): pixels within rows/cols [0, size-1] below/right of a root pixel."""
    h, w = roots.shape
    out = np.zeros_like(roots)
    for dr in range(size):
        for dc in range(size):
            out[dr:, dc:] |= roots[: h - dr, : w - dc]
    return out


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


def _rag(
    labels: np.ndarray,
    parent: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    steps: int,
    num: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge list (lo, hi, mean angle difference) over 4-adjacent super-BPD pairs.

    Each boundary pair's difference is acos of the float32 dot product of the unit
    vectors ``steps`` parents inside both regions, as float64; pairs are visited
    row-wise neighbours first, then column-wise, and summed in that order.
    """
    h, w = labels.shape
    far = np.arange(h * w)
    for _ in range(steps):
        far = parent[far]
    far = far.reshape(h, w)
    fx, fy = ux.ravel(), uy.ravel()
    keys: list[np.ndarray] = []
    diffs: list[np.ndarray] = []
    for la, lb, pa, pb in (
        (labels[:, :-1], labels[:, 1:], far[:, :-1], far[:, 1:]),
        (labels[:-1, :], labels[1:, :], far[:-1, :], far[1:, :]),
    ):
        m = la != lb
        x, y = la[m].astype(np.int64), lb[m].astype(np.int64)
        keys.append(np.minimum(x, y) * num + np.maximum(x, y))
        ia, ib = pa[m], pb[m]
        dot = np.clip(fx[ia] * fx[ib] + fy[ia] * fy[ib], -1, 1)
        diffs.append(np.arccos(dot.astype(np.float64)))
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


def _thresholds(params: BPDParams) -> tuple[float, float, float]:
    """(repulsive, large-region, small-region) angle thresholds in radians."""
    return (
        np.pi - np.deg2rad(params.s_o),
        np.pi - np.deg2rad(params.theta_l),
        np.pi - np.deg2rad(params.theta_s),
    )


def _greedy_merge(
    num: int,
    area: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    diff: np.ndarray,
    params: BPDParams,
) -> np.ndarray:
    """Two-pass greedy merging (pure Python); returns the root (0..num-1) of every region.

    Repulsion is between components: two components never merge while a repulsive
    edge joins a member of one to a member of the other.
    """
    thr_rep, thr_large, thr_small = _thresholds(params)
    repulsive = diff > thr_rep
    rep: dict[int, list[int]] = {}
    for a, b in zip(lo[repulsive].tolist(), hi[repulsive].tolist(), strict=True):
        rep.setdefault(a, []).append(b)
        rep.setdefault(b, []).append(a)
    cand = np.flatnonzero(~repulsive)
    cand = cand[np.argsort(diff[cand], kind="stable")]
    c_lo, c_hi, c_d = lo[cand].tolist(), hi[cand].tolist(), diff[cand].tolist()
    parent = list(range(num))
    areas = area.astype(np.int64).tolist()
    a_small, a_large = params.area_small, params.area_large

    def repel(ra: int, rb: int) -> bool:
        la, lb = rep.get(ra, []), rep.get(rb, [])
        x, other = (la, rb) if len(la) <= len(lb) else (lb, ra)
        return any(_find(parent, y) == other for y in x)

    def union(ra: int, rb: int) -> None:
        parent[ra] = rb
        areas[rb] += areas[ra]
        la = rep.pop(ra, None)
        if la:
            rep.setdefault(rb, []).extend(la)

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
        if m <= a_small or not d < (thr_large if m > a_large else thr_small):
            continue
        if not repel(ra, rb):
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


BACKENDS = ("auto", "numba", "numpy")


def numba_available() -> bool:
    """True when the numba backend can be used."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "numba" if numba_available() else "numpy"
    if backend == "numba" and not numba_available():
        raise ImportError("the numba backend needs numba (pip install 'goss-bench[baselines]')")
    return backend


def _super_bpd_numba(ux: np.ndarray, uy: np.ndarray, p: BPDParams) -> SuperBPDResult:
    from baselines import _bpd_numba as nb

    h, w = ux.shape
    cos_a = np.float32(np.cos(np.deg2rad(p.theta_a)))
    parent, roots = nb.parents_and_roots(ux, uy, cos_a)
    tree = nb.forest(parent, roots)
    comp, num = merge_roots(nb.box_dilate(roots, p.root_window))
    after, area = nb.after_and_area(comp.ravel(), tree, num)
    after2 = after.reshape(h, w)
    lo, hi, diff = nb.rag(after2, parent, ux, uy, p.steps, num)
    thr_rep, thr_large, thr_small = _thresholds(p)
    final_root = nb.greedy_merge(
        num, area, lo, hi, diff, thr_rep, thr_large, thr_small, p.area_small, p.area_large
    )
    labels = nb.relabel(after, final_root, num).reshape(h, w)
    return SuperBPDResult(labels=labels, after_dilation=after2, roots=roots, tree_root=tree)


def _super_bpd_numpy(ux: np.ndarray, uy: np.ndarray, p: BPDParams) -> SuperBPDResult:
    h, w = ux.shape
    parent, roots = _parents(ux, uy, p.theta_a)
    tree_root = _forest_roots(parent, roots)

    comp, num = merge_roots(_box_dilate(roots, p.root_window))
    after_flat = comp.ravel()[tree_root] - 1
    after = after_flat.reshape(h, w)

    lo, hi, diff = _rag(after, parent, ux, uy, p.steps, num)
    area = np.bincount(after_flat, minlength=num)
    final_root = _greedy_merge(num, area, lo, hi, diff, p)
    labels = _compact(final_root[after])
    return SuperBPDResult(
        labels=labels, after_dilation=after.astype(np.int32), roots=roots, tree_root=tree_root
    )


def super_bpd(
    field: np.ndarray, params: BPDParams | None = None, backend: str = "auto"
) -> SuperBPDResult:
    """Segment an image from its direction field.

    Args:
        field: float (2, H, W); channel 0 = row and channel 1 = column component of
            the vector pointing away from the nearest region boundary.  Only the
            direction matters.
        params: thresholds (:class:`BPDParams`, the published defaults when None).
        backend: "numba" (compiled kernels), "numpy" (vectorised numpy and a
            pure-Python merging loop; the reference, several times slower) or
            "auto" (numba when installed).  Both give identical labels.

    Returns:
        :class:`SuperBPDResult` with int32 (H, W) region labels 0..K-1.
    """
    p = params or BPDParams()
    f = np.asarray(field)
    if f.ndim != 3 or f.shape[0] != 2 or f.shape[1] == 0 or f.shape[2] == 0:
        raise ValueError(f"direction field must have shape (2, H, W) with H, W > 0, got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("direction field contains NaN or infinite values")
    if _resolve_backend(backend) == "numba":
        from baselines import _bpd_numba as nb

        return _super_bpd_numba(*nb.unit_vectors(f.astype(np.float32, copy=False)), p)
    return _super_bpd_numpy(*unit_vectors(f), p)


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
    field: np.ndarray, params: BPDParams | None = None, stride: int = 1, backend: str = "auto"
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
        return super_bpd(field, p, backend).labels
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
    small = super_bpd(downsample_field(field, stride), scaled, backend).labels
    up = np.repeat(np.repeat(small, stride, axis=0), stride, axis=1)[:h, :w]
    return _compact(up)
