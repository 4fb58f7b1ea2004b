"""Regenerate examples/tiny: a small synthetic GOSS ground truth and prediction.

The label maps are generated (smoothed random fields, no dataset content):
5 known classes + unknown objects, void borders, a perturbed prediction with
unknown-ness scores and class-agnostic clusters.  Run from the repository root:

    python examples/make_tiny_example.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from goss_bench.io import write_label_png

N = 5
NAMES = ["road", "sky", "grass", "building", "tree"]
H, W = 120, 160


def smooth_labels(rng: np.random.Generator, k: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.random((k, H, W)), sigma=(0, sigma, sigma))
    return field.argmax(axis=0)


def make(root: Path, count: int = 8, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gt, pred = root / "gt", root / "pred"
    for i in range(count):
        stem = f"tiny_{i:03d}"
        sem = smooth_labels(rng, N, 12).astype(np.uint8)
        blobs = ndimage.gaussian_filter(rng.random((H, W)), 6) > 0.53
        groups, _ = ndimage.label(blobs, structure=np.ones((3, 3)))
        sem[blobs] = N
        sem[:3, :] = 255
        sem[ndimage.binary_dilation(blobs, iterations=1) & ~blobs] = 255
        groups = np.where(sem == N, groups, 0).astype(np.uint16)
        clusters, _ = ndimage.label(sem != 255, structure=np.ones((3, 3)))
        cl = np.zeros((H, W), np.uint16)
        nxt = 1
        for v in np.unique(sem):
            if v == 255:
                continue
            lab, k = ndimage.label(sem == v, structure=np.ones((3, 3)))
            cl[lab > 0] = lab[lab > 0] + nxt - 1
            nxt += k
        write_label_png(gt / "test" / "semantic" / f"{stem}.png", sem)
        write_label_png(gt / "test" / "groups" / f"{stem}.png", groups)
        write_label_png(gt / "test" / "clusters" / f"{stem}.png", cl)

        # prediction: shifted boundaries, some confusion, a missed object
        p = ndimage.shift(sem, (rng.integers(-2, 3), rng.integers(-2, 3)), order=0, mode="nearest")
        flip = ndimage.gaussian_filter(rng.random((H, W)), 4) > 0.56
        p = np.where(flip & (p < N), (p + 1) % N, p).astype(np.uint8)
        p[p == 255] = 0
        pg = ndimage.shift(groups, (0, 1), order=0, mode="nearest").astype(np.uint16)
        score = ndimage.gaussian_filter((sem == N).astype(float), 3) * 0.7 + 0.3 * ndimage.gaussian_filter(rng.random((H, W)), 3)
        score = np.round(score * 255) / 255
        write_label_png(pred / "semantic" / f"{stem}.png", p)
        write_label_png(pred / "groups" / f"{stem}.png", pg)
        write_label_png(pred / "scores" / f"{stem}.png", (score * 65535).astype(np.uint16))
        write_label_png(pred / "clusters" / f"{stem}.png", ndimage.shift(cl, (1, 0), order=0, mode="nearest"))
    split = {
        "dataset": "synthetic",
        "name": "tiny-example",
        "num_known": N,
        "known": [{"train_id": i, "source_id": i, "name": n, "kind": "stuff"} for i, n in enumerate(NAMES)],
        "unknown": [{"source_id": N, "name": "object", "kind": "thing"}],
        "options": {"generator": "examples/make_tiny_example.py", "seed": seed},
    }
    (gt / "split.json").write_text(json.dumps(split, indent=2) + "\n")


if __name__ == "__main__":
    make(Path(__file__).resolve().parent / "tiny")
