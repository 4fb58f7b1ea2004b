"""Slow, obvious pure-Python Super-BPD: the oracle of baselines/_bpd_numba.py.

Written from the algorithm's description (baselines/bpd_postprocess.py and the
CUDA original's kernels), pixel by pixel with dicts and sets, for small fields:

* angles: float32 atan2 in [0, 2*pi); parent direction int((theta + pi/8)/(pi/4))
  mod 8; root when the neighbour is outside or the float32 angles differ by more
  than theta_a (difference |a - b| folded to [0, pi], as in the CUDA kernel);
* super-BPDs: union-find over pixel -> parent links; a cycle of parent links is
  broken at its smallest pixel, which becomes a root;
* root merging: every root is joined with every root in rows [0, +w] x cols [-w, +w];
* regions numbered in raster order of their first root pixel;
* adjacency: right then bottom neighbour pairs in raster order (all right pairs
  first), both ends walk ``steps`` parents, mean circular angle difference per pair;
* greedy merging in two passes with component-wise repulsion (see the module).
"""

from __future__ import annotations

import math

import numpy as np

DIRS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]


def angles(field: np.ndarray) -> np.ndarray:
    ang = np.arctan2(field[1].astype(np.float32), field[0].astype(np.float32))
    two_pi = np.float32(2 * np.pi)
    ang[ang < 0] += two_pi
    ang[ang >= two_pi] = 0
    return ang


def diff(a: float, b: float) -> float:
    d = abs(float(a) - float(b))
    return min(d, 2 * math.pi - d)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def reference_super_bpd(field: np.ndarray, theta_a: float = 45.0, theta_l: float = 116.0,
                        theta_s: float = 68.0, s_o: float = 5.0, area_small: int = 250,
                        area_large: int = 1500, steps: int = 3, window: int = 3) -> dict:
    ang = angles(np.asarray(field))
    h, w = ang.shape
    n = h * w
    parent = list(range(n))
    root = [False] * n
    for r in range(h):
        for c in range(w):
            k = int((float(ang[r, c]) + math.pi / 8) / (math.pi / 4)) % 8
            nr, nc = r + DIRS[k][0], c + DIRS[k][1]
            i = r * w + c
            if not (0 <= nr < h and 0 <= nc < w) or diff(ang[r, c], ang[nr, nc]) > math.radians(theta_a):
                root[i] = True
            else:
                parent[i] = nr * w + nc
    # break cycles of parent links at their smallest pixel
    for start in range(n):
        seen: list[int] = []
        x = start
        while parent[x] != x and x not in seen:
            seen.append(x)
            x = parent[x]
        if parent[x] != x:  # back at a pixel of the path: a cycle
            cycle = seen[seen.index(x):]
            m = min(cycle)
            parent[m] = m
            root[m] = True
    uf = UnionFind(n)
    for i in range(n):
        uf.union(i, parent[i])
    tree = []
    for i in range(n):
        x = i
        while parent[x] != x:
            x = parent[x]
        tree.append(x)
    for i in range(n):
        if not root[i]:
            continue
        r, c = divmod(i, w)
        for dr in range(0, window + 1):
            for dc in range(-window, window + 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and root[rr * w + cc]:
                    uf.union(i, rr * w + cc)
    # number merged super-BPDs in raster order of their first root pixel
    number: dict[int, int] = {}
    for i in range(n):
        if root[i]:
            number.setdefault(uf.find(i), len(number))
    after = [number[uf.find(i)] for i in range(n)]
    num = len(number)
    area = [0] * num
    for a in after:
        area[a] += 1
    # region adjacency: right pairs first, then bottom pairs, each in raster order
    far = []
    for i in range(n):
        x = i
        for _ in range(steps):
            x = parent[x]
        far.append(x)
    total: dict[tuple[int, int], float] = {}
    count: dict[tuple[int, int], int] = {}
    for dr, dc in ((0, 1), (1, 0)):
        for r in range(h - dr):
            for c in range(w - dc):
                i, j = r * w + c, (r + dr) * w + c + dc
                if after[i] == after[j]:
                    continue
                key = (min(after[i], after[j]), max(after[i], after[j]))
                total[key] = total.get(key, 0.0) + diff(ang.flat[far[i]], ang.flat[far[j]])
                count[key] = count.get(key, 0) + 1
    edges = sorted((lo, hi, total[(lo, hi)] / count[(lo, hi)]) for lo, hi in total)
    thr_rep = math.pi - math.radians(s_o)
    thr_large = math.pi - math.radians(theta_l)
    thr_small = math.pi - math.radians(theta_s)
    repulsive = [(lo, hi) for lo, hi, d in edges if d > thr_rep]
    cand = sorted([e for e in edges if e[2] <= thr_rep], key=lambda e: e[2])  # stable
    regions = UnionFind(num)
    members = {k: {k} for k in range(num)}
    sizes = list(area)

    def repel(ra: int, rb: int) -> bool:
        return any((a in members[ra] and b in members[rb]) or (b in members[ra] and a in members[rb])
                   for a, b in repulsive)

    def merge(ra: int, rb: int) -> None:
        regions.parent[ra] = rb
        sizes[rb] += sizes[ra]
        members[rb] |= members.pop(ra)

    merged = [False] * len(cand)
    for idx, (lo, hi, d) in enumerate(cand):
        ra, rb = regions.find(lo), regions.find(hi)
        if ra == rb:
            merged[idx] = True
            continue
        m = min(sizes[ra], sizes[rb])
        if m <= area_small or not d < (thr_large if m > area_large else thr_small):
            continue
        if not repel(ra, rb):
            merge(ra, rb)
            merged[idx] = True
    for idx, (lo, hi, _d) in enumerate(cand):
        if merged[idx]:
            continue
        ra, rb = regions.find(lo), regions.find(hi)
        if ra != rb and min(sizes[ra], sizes[rb]) <= area_small and not repel(ra, rb):
            merge(ra, rb)
    final = [regions.find(a) for a in after]
    order = {v: k for k, v in enumerate(sorted(set(final)))}
    return {
        "labels": np.array([order[v] for v in final], dtype=np.int32).reshape(h, w),
        "after_dilation": np.array(after, dtype=np.int32).reshape(h, w),
        "roots": np.array(root, dtype=bool).reshape(h, w),
        "parent": np.array(parent, dtype=np.int64),
        "tree": np.array(tree),
    }
