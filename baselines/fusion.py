"""Fusion of identification and clustering into the GOSS output (numpy only).

Known pixels keep their class; unknown pixels (semantic == N) take the id of
their Super-BPD segment as group id.  The maps are those of FORMAT.md's
prediction directory:

* ``semantic``: uint8 (H, W), 0..N-1 known, N unknown,
* ``groups``: uint16 (H, W), segment id + 1 on unknown pixels, 0 elsewhere,
* ``scores``: uint16 (H, W), round(65535 * unknown-ness),
* ``clusters``: uint16 (H, W), segment id + 1 everywhere (the clustering before fusion).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MAX_ID = 65535


@dataclass
class GossPrediction:
    semantic: np.ndarray
    groups: np.ndarray
    scores: np.ndarray
    clusters: np.ndarray


def segments_to_ids(segments: np.ndarray) -> np.ndarray:
    """int (H, W) segments 0..K-1 -> uint16 ids 1..min(K, 65535).

    Segments beyond 65535 (never seen in practice after Super-BPD merging) share
    ids modulo 65535, with a warning.
    """
    seg = np.asarray(segments).astype(np.int64)
    if seg.size and seg.max() >= MAX_ID:
        warnings.warn(
            f"{int(seg.max()) + 1} segments exceed the uint16 id range; ids are folded",
            stacklevel=2,
        )
        seg = seg % MAX_ID
    return (seg + 1).astype(np.uint16)


def fuse(
    semantic: np.ndarray, score: np.ndarray, segments: np.ndarray, num_known: int
) -> GossPrediction:
    """Build the GOSS prediction of one image.

    Args:
        semantic: integer (H, W), 0..N-1 known, N unknown.
        score: float (H, W) in [0, 1], higher = more likely unknown.
        segments: integer (H, W) Super-BPD segment labels 0..K-1.
        num_known: N (<= 254).
    """
    if not 1 <= num_known <= 254:
        raise ValueError(f"num_known must be in 1..254, got {num_known}")
    sem = np.asarray(semantic)
    if sem.shape != score.shape or sem.shape != segments.shape:
        raise ValueError(f"shape mismatch: {sem.shape}, {score.shape}, {segments.shape}")
    if sem.size and (sem.min() < 0 or sem.max() > num_known):
        raise ValueError(f"semantic values must be in 0..{num_known}")
    clusters = segments_to_ids(segments)
    unknown = sem == num_known
    groups = np.where(unknown, clusters, 0).astype(np.uint16)
    scores = np.rint(np.clip(np.asarray(score, dtype=np.float64), 0, 1) * MAX_ID).astype(np.uint16)
    return GossPrediction(sem.astype(np.uint8), groups, scores, clusters)
