"""Super-BPD ground truth: the direction field of each labelled region.

For every connected region (connected components of each known class, 4- or
8-connectivity), every pixel gets the vector from its nearest pixel *outside*
the region (exact Euclidean distance transform) to itself, so the field points
away from the region boundary; the image border counts as outside.  Each pixel
of a region of area A gets weight 1/sqrt(A).  Void pixels get a zero vector and
weight 0 (they are excluded from the loss).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from goss_bench.io import VOID

_STRUCTURES = {
    4: ndimage.generate_binary_structure(2, 1),
    8: ndimage.generate_binary_structure(2, 2),
}


def connected_regions(semantic: np.ndarray, connectivity: int = 8, ignore: int = VOID) -> np.ndarray:
    """Label the connected regions of every class of a semantic map.

    Args:
        semantic: integer (H, W) class map; ``ignore`` pixels belong to no region.
        connectivity: 4 or 8.

    Returns:
        int32 (H, W): 0 for ignored pixels, 1..R for regions.
    """
    if connectivity not in _STRUCTURES:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    out = np.zeros(semantic.shape, dtype=np.int32)
    offset = 0
    for c in np.unique(semantic):
        if c == ignore:
            continue
        lab, n = ndimage.label(semantic == c, structure=_STRUCTURES[connectivity])
        m = lab > 0
        out[m] = lab[m] + offset
        offset += n
    return out


def bpd_ground_truth(
    semantic: np.ndarray, connectivity: int = 8, ignore: int = VOID
) -> tuple[np.ndarray, np.ndarray]:
    """Direction field and weights of a semantic map.

    Args:
        semantic: integer (H, W) class map, ``ignore`` (255) = void.
        connectivity: neighbourhood of the connected regions (4 or 8).

    Returns:
        (field, weight): field float32 (2, H, W) with (row, col) displacement from the
        nearest out-of-region pixel (zero on void); weight float32 (H, W) = 1/sqrt(area)
        of the pixel's region, 0 on void.
    """
    regions = connected_regions(semantic, connectivity, ignore)
    h, w = regions.shape
    field = np.zeros((2, h, w), dtype=np.float32)
    weight = np.zeros((h, w), dtype=np.float32)
    slices = ndimage.find_objects(regions)
    for idx, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        r0, c0 = sl[0].start, sl[1].start
        mask = regions[sl] == idx
        padded = np.pad(mask, 1)  # out-of-bbox pixels are never in the region
        _, (ir, ic) = ndimage.distance_transform_edt(padded, return_indices=True)
        rr, cc = np.nonzero(mask)
        # padded coordinates are offset by 1 from the crop's
        field[0, r0 + rr, c0 + cc] = (rr + 1) - ir[rr + 1, cc + 1]
        field[1, r0 + rr, c0 + cc] = (cc + 1) - ic[rr + 1, cc + 1]
        weight[r0 + rr, c0 + cc] = 1.0 / np.sqrt(rr.size)
    return field, weight
