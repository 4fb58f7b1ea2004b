"""Shared fixtures: random GOSS data written in the FORMAT.md layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from goss_bench.io import write_label_png


def random_blob_map(rng: np.random.Generator, shape, values, cell: int = 8) -> np.ndarray:
    """A label map of random blocky regions drawn from ``values``."""
    h, w = shape
    coarse = rng.choice(np.asarray(values), size=((h + cell - 1) // cell, (w + cell - 1) // cell))
    return np.kron(coarse, np.ones((cell, cell), dtype=coarse.dtype))[:h, :w]


def make_gt_image(rng, n, shape=(48, 64), unknown_p=0.3, void_p=0.1):
    """GT (sem uint8, groups uint16, clusters uint16) with blocky regions."""
    h, w = shape
    known_vals = rng.choice(n, size=min(n, 4), replace=False)
    sem = random_blob_map(rng, shape, known_vals, cell=16).astype(np.uint8)
    unk = random_blob_map(rng, shape, [0, 1], cell=8).astype(bool) & (rng.random() < 0.9)
    unk &= rng.random(shape) < 2  # keep all
    if rng.random() < unknown_p * 3:
        sem[unk] = n
    void = random_blob_map(rng, shape, [0, 1], cell=4).astype(bool) & (
        random_blob_map(rng, shape, [0, 1, 2, 3], cell=4) == 0
    )
    if rng.random() < 0.5:
        void[:] = False
    sem[void & (rng.random(shape) < void_p * 10)] = 255
    grp = np.zeros(shape, dtype=np.uint16)
    grp_vals = random_blob_map(rng, shape, [1, 2, 3, 7], cell=8).astype(np.uint16)
    grp[sem == n] = grp_vals[sem == n]
    clusters = (sem.astype(np.uint16) * 8 + grp % 8 + 1).astype(np.uint16)
    clusters[sem == 255] = 0
    return sem, grp, clusters


def perturb_prediction(rng, sem, grp, n, flip=0.15):
    """A prediction derived from GT with random class flips, block noise and no-prediction."""
    shape = sem.shape
    p = sem.copy()
    noise = random_blob_map(rng, shape, list(range(n + 1)) + [255], cell=4).astype(np.uint8)
    sel = random_blob_map(rng, shape, [0, 1], cell=4).astype(bool) & (rng.random(shape) < flip * 2)
    p[sel] = noise[sel]
    p[(p == 255) & (rng.random(shape) < 0.5)] = rng.integers(0, n + 1)
    g = grp.astype(np.int64) * 3 + 5  # relabel groups (any value is a group)
    g2 = random_blob_map(rng, shape, [0, 5, 11], cell=8)
    g = np.where(rng.random(shape) < 0.1, g2, g).astype(np.uint16)
    return p.astype(np.uint8), g


def write_gt(root: Path, images: dict, n: int, split_json: bool = True, names=None) -> Path:
    """Write a GT split directory (split.json + test/) or a plain GT folder."""
    base = root / "test" if split_json else root
    for stem, (sem, grp, clusters) in images.items():
        write_label_png(base / "semantic" / f"{stem}.png", sem)
        write_label_png(base / "groups" / f"{stem}.png", grp.astype(np.uint16))
        if clusters is not None:
            write_label_png(base / "clusters" / f"{stem}.png", clusters.astype(np.uint16))
    if split_json:
        names = names or [f"k{i}" for i in range(n)]
        known = [{"train_id": i, "source_id": i + 1, "name": names[i], "kind": "stuff"} for i in range(n)]
        (root / "split.json").write_text(
            json.dumps({"dataset": "synthetic", "name": "test", "num_known": n, "known": known, "unknown": []})
        )
    return root


def write_pred(root: Path, images: dict) -> Path:
    """Write a prediction folder; values are (sem, grp[, scores[, clusters]])."""
    for stem, arrays in images.items():
        sem, grp = arrays[0], arrays[1]
        write_label_png(root / "semantic" / f"{stem}.png", sem)
        if grp is not None:
            write_label_png(root / "groups" / f"{stem}.png", grp)
        if len(arrays) > 2 and arrays[2] is not None:
            write_label_png(root / "scores" / f"{stem}.png", arrays[2].astype(np.uint16))
        if len(arrays) > 3 and arrays[3] is not None:
            write_label_png(root / "clusters" / f"{stem}.png", arrays[3].astype(np.uint16))
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
