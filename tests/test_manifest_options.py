"""manifest.json agrees with the written maps for every option combination."""

from __future__ import annotations

import json
from pathlib import Path

import datagen
import numpy as np
import pytest

from goss_bench.builder import build_split
from goss_bench.io import read_label_png


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory):
    pytest.importorskip("cityscapesscripts")
    return datagen.make_cityscapes(tmp_path_factory.mktemp("cs"), n_train=4, n_val=3, seed=5)


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=6, n_val=6, seed=3)


def check_manifest(out: Path) -> dict:
    """Every per-image and per-class count in manifest.json, recomputed from the PNGs."""
    m = json.loads((out / "manifest.json").read_text())
    meta = json.loads((out / "split.json").read_text())
    n = meta["num_known"]
    totals = {s: np.zeros(n + 1, np.int64) for s in ("train", "test")}
    images = {s: np.zeros(n + 1, np.int64) for s in ("train", "test")}
    for rec in m["images"]:
        if rec["status"] != "kept":
            continue
        s = rec["subset"]
        sem = read_label_png(out / s / "semantic" / f"{rec['stem']}.png")
        hist = np.bincount(sem.ravel(), minlength=256)
        assert int(hist[n + 1 : 255].sum()) == 0
        want = [[i, int(hist[i])] for i in range(n + 1) if hist[i]]
        assert rec["pixels"] == want, (s, rec["stem"])
        assert (rec["height"], rec["width"]) == sem.shape
        totals[s] += hist[: n + 1]
        images[s] += hist[: n + 1] > 0
        if s == "test":
            grp = read_label_png(out / s / "groups" / f"{rec['stem']}.png", bits=(8, 16))
            assert rec["groups"] == len(np.unique(grp[sem == n]))
            assert sum(c for _, c in rec["unknown_pixels"]) == int(hist[n])
    for s in ("train", "test"):
        rows = {r["train_id"]: r for r in m["classes"][s]}
        for tid in range(n + 1):
            if tid not in rows:
                assert totals[s][tid] == 0, (s, tid, "missing class row with pixels")
                continue
            assert rows[tid]["pixels"] == totals[s][tid], (s, tid)
            assert rows[tid]["images"] == images[s][tid], (s, tid)
    assert sum(r["pixels"] for r in m["unknown_classes"]) == totals["test"][n]
    return m


def test_cityscapes_train_unknown_unknown(cs_root, tmp_path):
    out = tmp_path / "cs"
    build_split("cityscapes", "manual-13-6", cs_root, out, train_unknown="unknown")
    m = check_manifest(out)
    unk = [r for r in m["classes"]["train"] if r["name"] == "unknown"]
    assert len(unk) == 1 and unk[0]["train_id"] == 13 and unk[0]["pixels"] > 0


def test_cityscapes_instances_and_min_area(cs_root, tmp_path):
    out = tmp_path / "cs"
    build_split("cityscapes", "manual-16-3", cs_root, out, unknown_groups="instances",
                min_group_area=7, train_unknown="unknown")
    check_manifest(out)


@pytest.mark.parametrize("opts", [
    {},
    {"train_unknown": "unknown", "train_images": "all"},
    {"min_group_area": 20},
    {"source": "json", "unknown_groups": "instances", "min_group_area": 5},
])
def test_coco_options(coco_root, tmp_path, opts):
    if opts.get("source") == "json":
        pytest.importorskip("pycocotools")
    out = tmp_path / "coco"
    build_split("coco", "manual-20-60", coco_root, out, **opts)
    check_manifest(out)
