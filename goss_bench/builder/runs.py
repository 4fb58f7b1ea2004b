"""Label maps as horizontal runs, and their connected components.

A label map has few distinct regions, so it is short as runs: a COCO-Stuff map
of 640x480 pixels has a few thousand runs of equal value (one or more per row).
Everything the builder derives from a raw map is a function of the run's value
(histogram, lookup tables) or of the run's component (clusters, groups), so it
is computed on the runs and painted back with one ``np.repeat``: three passes
over the pixels instead of one lookup-table pass per output and one
``ndimage.label`` per class.

Connected components of runs: a run is adjacent to the runs of the previous row
that share a column with it (4-connectivity) or with it extended by one column
on each side (8-connectivity); runs of the same value that are adjacent belong
to one component (:func:`scipy.sparse.csgraph.connected_components`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

MAX_RUN_FRACTION = 8
""":func:`runs_of` gives up on maps with more than one run per this many pixels
(noise-like maps: the per-run arrays would take ~50 bytes per pixel); the caller
then works on the pixels."""


@dataclass(frozen=True)
class Runs:
    """Maximal horizontal runs of equal value of an (H, W) uint8 map, raster order.

    Attributes:
        shape: (H, W) of the map.
        starts: int64 (R,) flat (row-major) index of each run's first pixel; every
            row starts a run, so no run crosses a row end.
        lengths: int64 (R,) pixels in each run (>= 1; they sum to H * W).
        values: uint8 (R,) the map's value on each run.
    """

    shape: tuple[int, int]
    starts: np.ndarray
    lengths: np.ndarray
    values: np.ndarray

    def paint(self, per_run: np.ndarray) -> np.ndarray:
        """The (H, W) map holding ``per_run[i]`` on run i (dtype of ``per_run``)."""
        return np.repeat(per_run, self.lengths).reshape(self.shape)

    def histogram(self) -> np.ndarray:
        """int64 (256,) pixel count of every value (as :func:`core.raw_histogram`)."""
        # float64 sums of integers below 2**53 are exact
        counts = np.bincount(self.values, weights=self.lengths, minlength=256)
        return counts.astype(np.int64)


def runs_of(raw: np.ndarray, max_fraction: int = MAX_RUN_FRACTION) -> Runs | None:
    """The runs of a uint8 (H, W) map, or None when it has more than
    ``H * W / max_fraction`` runs (or no pixels)."""
    h, w = raw.shape
    if h == 0 or w == 0:
        return None
    flat = np.ascontiguousarray(raw).reshape(-1)
    start = np.empty(h * w, bool)
    np.not_equal(flat[1:], flat[:-1], out=start[1:])
    start[::w] = True  # every row starts a run
    if np.count_nonzero(start) * max_fraction > h * w:
        return None
    starts = np.flatnonzero(start)
    lengths = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = h * w - starts[-1]
    return Runs((h, w), starts, lengths, flat[starts])


def run_components(
    runs: Runs, select: np.ndarray, connectivity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of every selected value, numbered like
    :func:`goss_bench.builder.core.components_by_class`.

    Args:
        runs: the map's runs.
        select: bool (256,) values to label; runs of other values get 0.
        connectivity: 4 or 8.

    Returns:
        ``(label, cls)``: label int64 (R,) component of each run, 1..M numbered by
        value, then by the raster position of the component's first pixel; 0 for
        unselected runs. cls int32 (M + 1,): the value of each component (cls[0] = -1).
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    starts, values = runs.starts, runs.values
    n_runs = starts.size
    chosen = select[values]  # bool (R,)
    if not chosen.any():
        return np.zeros(n_runs, np.int64), np.array([-1], np.int32)
    w = runs.shape[1]
    row = starts // w
    i = np.flatnonzero(chosen & (row > 0))
    s, row = starts[i], row[i]
    d = 1 if connectivity == 8 else 0
    # pixels of the previous row touching run i, and the runs j0..j1 covering them
    lo = np.maximum(s - (w + d), (row - 1) * w)
    hi = np.minimum(s + runs.lengths[i] + (d - 1 - w), row * w - 1)
    j0 = np.searchsorted(starts, lo, "right") - 1
    count = np.searchsorted(starts, hi, "right") - j0
    ii = np.repeat(i, count)
    jj = np.arange(ii.size) - np.repeat(np.cumsum(count) - count - j0, count)
    same = values[jj] == values[ii]  # a same-valued neighbour is chosen too
    ii, jj = ii[same], jj[same]
    # ii is sorted: the edges are the rows of a CSR matrix as they come
    indptr = np.zeros(n_runs + 1, np.int64)
    np.cumsum(np.bincount(ii, minlength=n_runs), out=indptr[1:])
    graph = csr_matrix((np.ones(ii.size), jj, indptr), shape=(n_runs, n_runs))
    m, comp = connected_components(graph, directed=False)
    # first run (= first pixel in raster order) of every component
    _, first = np.unique(comp, return_index=True)
    keep = np.flatnonzero(chosen[first])
    first = first[keep]
    cls = values[first].astype(np.int32)
    order = np.lexsort((first, cls))
    rank = np.zeros(m, np.int64)
    rank[keep[order]] = np.arange(1, keep.size + 1)
    return rank[comp], np.concatenate([np.array([-1], np.int32), cls[order]])
