"""Numba kernels of the Super-BPD post-processing (see :mod:`baselines.bpd_postprocess`).

Decisions are those of the CUDA original on float32 angles theta = atan2(col, row)
in [0, 2*pi): the direction int((theta + pi/8) / (pi/4)) mod 8 and the circular
difference |a - b| folded to [0, pi] in float64.  To avoid an arctangent per pixel
(the slowest step), each decision is first taken on float32 unit vectors
(comparisons against tan(pi/8) and cos(theta_a)), which agree with the angle
decisions except within rounding of the boundary; within ``MARGIN`` of it the
float32 angles are computed and compared exactly as the original does.  Edge
differences always use the angles; edge sums are float64 in a fixed visiting order.  ``tests/bpd_reference.py`` is an obvious pure-Python
implementation of the same algorithm; the tests check identical labels.
Imported on first use (``numba`` is in the ``baselines`` extra); kernels are
compiled on first use and cached next to this file.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PI = np.pi
TWO_PI = np.float32(2 * np.pi)
TAN_PI8 = np.float32(np.tan(np.pi / 8))
MARGIN = 1e-5  # far above float32 rounding (~1e-7) of unit-vector arithmetic
_DR = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)


@njit(cache=True, nogil=True)
def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True, nogil=True)
def angle(row: np.float32, col: np.float32) -> np.float32:
    """float32 atan2(col, row) wrapped to [0, 2*pi) (as numpy's float32 arctan2)."""
    a = np.float32(math.atan2(np.float32(col), np.float32(row)))
    if a < 0:
        a = np.float32(a + TWO_PI)
    if a >= TWO_PI:
        a = np.float32(0)
    return a


@njit(cache=True, nogil=True)
def octant_of_angle(theta: np.float32) -> int:
    """int((theta + pi/8) / (pi/4)) mod 8, theta in [0, 2*pi)."""
    pos = int((np.float64(theta) + PI / 8) / (PI / 4))
    return pos - 8 if pos >= 8 else pos


@njit(cache=True, nogil=True)
def angle_diff(a: np.float32, b: np.float32) -> float:
    """Circular difference in [0, pi] of two float32 angles in [0, 2*pi)."""
    d = abs(np.float64(a) - np.float64(b))
    return min(d, 2 * PI - d)


@njit(cache=True, nogil=True)
def unit_vectors(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 unit (row, col) vectors of a (2, H, W) field; a zero vector -> (1, 0)."""
    _, h, w = field.shape
    ux = np.empty((h, w), dtype=np.float32)
    uy = np.empty((h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            x = np.float32(field[0, r, c])
            y = np.float32(field[1, r, c])
            n = np.float32(math.sqrt(x * x + y * y))
            if n > 0:
                ux[r, c] = x / n
                uy[r, c] = y / n
            else:
                ux[r, c] = 1
                uy[r, c] = 0
    return ux, uy


@njit(cache=True, nogil=True)
def _octant(x: np.float32, y: np.float32, row: np.float32, col: np.float32) -> int:
    """Direction index of unit vector (x, y) = (row, col) / norm; exact (from the
    angle) when the vector lies within MARGIN of an octant boundary."""
    ax, ay = abs(x), abs(y)
    if abs(ay - TAN_PI8 * ax) < MARGIN or abs(ax - TAN_PI8 * ay) < MARGIN:
        return octant_of_angle(angle(row, col))
    if ax <= TAN_PI8 * ay:
        return 2 if y > 0 else 6
    if ay <= TAN_PI8 * ax:
        return 0 if x >= 0 else 4
    if x > 0:
        return 1 if y > 0 else 7
    return 3 if y > 0 else 5


@njit(cache=True, nogil=True)
def parents_and_roots(
    field: np.ndarray, ux: np.ndarray, uy: np.ndarray, theta_a: float
) -> tuple[np.ndarray, np.ndarray]:
    """(flat parent int64 (H*W,), roots bool (H, W)) of a float32 (2, H, W) field.

    ``theta_a`` in radians: a pixel is a root when its neighbour lies outside the image
    or their float32 angles differ by more than it.
    """
    h, w = ux.shape
    cos_a = math.cos(theta_a)
    parent = np.empty(h * w, dtype=np.int64)
    roots = np.zeros((h, w), dtype=np.bool_)
    for r in range(h):
        for c in range(w):
            k = _octant(ux[r, c], uy[r, c], field[0, r, c], field[1, r, c])
            nr = r + _DR[k]
            nc = c + _DC[k]
            i = r * w + c
            if nr < 0 or nr >= h or nc < 0 or nc >= w:
                root = True
            else:
                dot = np.float64(ux[r, c] * ux[nr, nc] + uy[r, c] * uy[nr, nc])
                if abs(dot - cos_a) >= MARGIN:
                    root = bool(dot < cos_a)
                else:
                    root = angle_diff(angle(field[0, r, c], field[1, r, c]),
                                      angle(field[0, nr, nc], field[1, nr, nc])) > theta_a
            if root:
                parent[i] = i
                roots[r, c] = True
            else:
                parent[i] = nr * w + nc
    return parent, roots


@njit(cache=True, nogil=True)
def _compact_flat(values: np.ndarray, size: int) -> np.ndarray:
    present = np.zeros(size, dtype=np.bool_)
    for v in values:
        present[v] = True
    lut = np.empty(size, dtype=np.int32)
    k = -1
    for i in range(size):
        if present[i]:
            k += 1
        lut[i] = k
    out = np.empty(values.size, dtype=np.int32)
    for i in range(values.size):
        out[i] = lut[values[i]]
    return out


@njit(cache=True, nogil=True)
def forest(parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Flat index (int64 (H*W,)) of the root of every pixel's tree in the parent forest.

    A cycle of parent links (possible in a vortex of the predicted field) is broken
    at its smallest pixel index, which becomes a root; ``parent`` and ``roots``
    are updated in place.
    """
    n = parent.size
    w = roots.shape[1]
    tree = np.full(n, -1, dtype=np.int64)  # -1 unvisited, -2 on the current path
    stack = np.empty(n, dtype=np.int64)
    for i in range(n):
        if tree[i] >= 0:
            continue
        top = 0
        x = i
        while True:
            t = tree[x]
            if t >= 0:
                r = t
                break
            if parent[x] == x:
                r = x
                break
            if t == -2:  # back on the path: stack[j:top] is a cycle
                j = top - 1
                while stack[j] != x:
                    j -= 1
                r = stack[j]
                for q in range(j, top):
                    r = min(r, stack[q])
                parent[r] = r
                roots[r // w, r % w] = True
                break
            tree[x] = -2
            stack[top] = x
            top += 1
            x = parent[x]
        tree[r] = r
        for q in range(top):
            tree[stack[q]] = r
    return tree


@njit(cache=True, nogil=True)
def after_and_area(comp: np.ndarray, tree: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Merged super-BPD of every pixel (int32, ``comp[tree] - 1``) and their areas."""
    n = tree.size
    after = np.empty(n, dtype=np.int32)
    area = np.zeros(num, dtype=np.int64)
    for i in range(n):
        a = comp[tree[i]] - 1
        after[i] = a
        area[a] += 1
    return after, area


@njit(cache=True, nogil=True)
def box_dilate(roots: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W): pixels within rows/cols [0, size-1] below/right of a root pixel."""
    h, w = roots.shape
    out = np.zeros((h, w), dtype=np.bool_)
    for r in range(h):
        for c in range(w):
            if roots[r, c]:
                for rr in range(r, min(h, r + size)):
                    for cc in range(c, min(w, c + size)):
                        out[rr, cc] = True
    return out


@njit(cache=True, nogil=True)
def rag(
    after: np.ndarray, parent: np.ndarray, field: np.ndarray, steps: int, num: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge list (lo, hi, mean angle difference) of 4-adjacent super-BPD pairs,
    sorted by (lo, hi).

    ``after`` int32 (H, W).  Row-wise pairs are visited before column-wise ones and
    each edge's float64 sum is accumulated in visiting order, through a stable
    counting sort on ``lo``.
    """
    h, w = after.shape
    n = h * w
    far = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = i
        for _ in range(steps):
            p = parent[p]
        far[i] = p
    f0 = field[0].ravel()
    f1 = field[1].ravel()
    cap = 2 * n
    lo_arr = np.empty(cap, dtype=np.int64)
    hi_arr = np.empty(cap, dtype=np.int64)
    diffs = np.empty(cap, dtype=np.float64)
    bucket = np.zeros(num + 1, dtype=np.int64)
    m = 0
    for d in range(2):
        dr = 0 if d == 0 else 1
        dc = 1 - dr
        for r in range(h - dr):
            for c in range(w - dc):
                a = after[r, c]
                b = after[r + dr, c + dc]
                if a == b:
                    continue
                lo_arr[m] = min(a, b)
                hi_arr[m] = max(a, b)
                p = far[r * w + c]
                q = far[(r + dr) * w + c + dc]
                diffs[m] = angle_diff(angle(f0[p], f1[p]), angle(f0[q], f1[q]))
                bucket[lo_arr[m] + 1] += 1
                m += 1
    for i in range(num):
        bucket[i + 1] += bucket[i]
    order = np.empty(m, dtype=np.int64)
    fill = bucket[:num].copy()
    for j in range(m):
        order[fill[lo_arr[j]]] = j
        fill[lo_arr[j]] += 1
    mark = np.full(num, -1, dtype=np.int64)
    seen = np.empty(num, dtype=np.int64)
    out_lo = np.empty(m, dtype=np.int64)
    out_hi = np.empty(m, dtype=np.int64)
    total = np.zeros(m, dtype=np.float64)
    count = np.zeros(m, dtype=np.int64)
    e = 0
    for lo in range(num):
        s, t = bucket[lo], bucket[lo + 1]
        if s == t:
            continue
        k = 0
        for j in range(s, t):
            hv = hi_arr[order[j]]
            if mark[hv] < 0:
                mark[hv] = 0
                seen[k] = hv
                k += 1
        his = seen[:k]
        his.sort()
        for q in range(k):
            mark[his[q]] = e + q
            out_lo[e + q] = lo
            out_hi[e + q] = his[q]
        for j in range(s, t):
            idx = order[j]
            x = mark[hi_arr[idx]]
            total[x] += diffs[idx]
            count[x] += 1
        for q in range(k):
            mark[his[q]] = -1
        e += k
    return out_lo[:e], out_hi[:e], total[:e] / count[:e]


@njit(cache=True, nogil=True)
def _repel(
    ra: int,
    rb: int,
    parent: np.ndarray,
    head: np.ndarray,
    count: np.ndarray,
    partner: np.ndarray,
    nxt: np.ndarray,
) -> bool:
    # walk the shorter list of repulsive partners of the two components
    x, y = (ra, rb) if count[ra] <= count[rb] else (rb, ra)
    node = head[x]
    while node >= 0:
        if _find(parent, partner[node]) == y:
            return True
        node = nxt[node]
    return False


@njit(cache=True, nogil=True)
def greedy_merge(
    num: int,
    area: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    diff: np.ndarray,
    thr_repulsive: float,
    thr_large: float,
    thr_small: float,
    area_small: int,
    area_large: int,
) -> np.ndarray:
    """Two-pass greedy merging; returns the final root (0..num-1) of every region.

    Repulsion is between components: two components never merge while any
    repulsive edge joins a member of one to a member of the other.
    """
    repulsive = diff > thr_repulsive
    n_rep = int(repulsive.sum())
    partner = np.empty(2 * n_rep, dtype=np.int64)
    nxt = np.full(2 * n_rep, -1, dtype=np.int64)
    head = np.full(num, -1, dtype=np.int64)
    tail = np.full(num, -1, dtype=np.int64)
    count = np.zeros(num, dtype=np.int64)
    k = 0
    for e in range(lo.size):
        if not repulsive[e]:
            continue
        for side in range(2):
            x = lo[e] if side == 0 else hi[e]
            partner[k] = hi[e] if side == 0 else lo[e]
            if head[x] < 0:
                head[x] = k
            else:
                nxt[tail[x]] = k
            tail[x] = k
            count[x] += 1
            k += 1
    cand = np.flatnonzero(~repulsive)
    cand = cand[np.argsort(diff[cand], kind="mergesort")]
    parent = np.arange(num)
    areas = area.astype(np.int64)
    merged = np.zeros(cand.size, dtype=np.bool_)
    for p in range(2):
        for i in range(cand.size):
            e = cand[i]
            d = diff[e]
            if p == 0 and d >= thr_small:
                break  # sorted: no later candidate passes either threshold
            if p == 1 and merged[i]:
                continue
            ra = _find(parent, lo[e])
            rb = _find(parent, hi[e])
            if ra == rb:
                merged[i] = True
                continue
            m = min(areas[ra], areas[rb])
            if p == 0:
                if m <= area_small:
                    continue
                if not d < (thr_large if m > area_large else thr_small):
                    continue
            elif m > area_small:
                continue
            if _repel(ra, rb, parent, head, count, partner, nxt):
                continue
            # merge ra into rb
            parent[ra] = rb
            areas[rb] += areas[ra]
            if head[ra] >= 0:
                if head[rb] < 0:
                    head[rb] = head[ra]
                else:
                    nxt[tail[rb]] = head[ra]
                tail[rb] = tail[ra]
                count[rb] += count[ra]
            merged[i] = True
    out = np.empty(num, dtype=np.int64)
    for i in range(num):
        out[i] = _find(parent, i)
    return out


@njit(cache=True, nogil=True)
def relabel(after: np.ndarray, final_root: np.ndarray, num: int) -> np.ndarray:
    """Final labels 0..K-1 (ordered by root id) of the flat ``after`` map."""
    vals = np.empty(after.size, dtype=np.int64)
    for i in range(after.size):
        vals[i] = final_root[after[i]]
    return _compact_flat(vals, num)
