"""Fixtures of the fuzz suite: small valid inputs that every case copies and mutates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred

from fuzz.harness import TALLY
from goss_bench.io import write_label_png

N = 5
STEMS = ("a0", "a1", "a2")


def _images(seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    gt, pred = {}, {}
    for i, stem in enumerate(STEMS):
        sem, grp, cl = make_gt_image(rng, N)
        sem[:8, :8] = N
        grp[:8, :8] = 2 + i
        gt[stem] = (sem, grp, cl)
        psem, pgrp = perturb_prediction(rng, sem, grp, N)
        psem[:4, :4] = N  # every image has predicted unknown pixels: groups/ is required
        pgrp = np.where(psem == N, pgrp, 0).astype(np.uint16)
        scores = (rng.random(sem.shape) * 65535).astype(np.uint16)
        pcl = cl.copy()
        pred[stem] = (psem, pgrp, scores, pcl)
    return gt, pred


@pytest.fixture(scope="session")
def goss_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A valid (prediction folder, GT split directory) pair with scores/ and clusters/."""
    base = tmp_path_factory.mktemp("fuzz_pair")
    gt_imgs, pred_imgs = _images(7)
    gt = write_gt(base / "gt", gt_imgs, N)
    photos = base / "gt" / "photos"
    photos.mkdir()
    from PIL import Image

    for stem in STEMS:
        Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(photos / f"{stem}.jpg")
    (gt / "test" / "images.txt").write_text("".join(f"{s} photos/{s}.jpg\n" for s in STEMS))
    pred = write_pred(base / "pred", pred_imgs)
    return pred, gt


@pytest.fixture
def pair(goss_pair, tmp_path) -> tuple[Path, Path]:
    """A fresh copy of goss_pair for one case to mutate."""
    pred, gt = goss_pair
    return (Path(shutil.copytree(pred, tmp_path / "pred", symlinks=True)),
            Path(shutil.copytree(gt, tmp_path / "gt", symlinks=True)))


@pytest.fixture(scope="session")
def coco_source(tmp_path_factory) -> Path:
    """A tiny COCO-Stuff copy (PNG maps, JSON annotations, JPEG photos)."""
    from datagen import make_coco_stuff

    return make_coco_stuff(tmp_path_factory.mktemp("fuzz_coco") / "coco", n_train=1, n_val=2,
                           size=(32, 48))


@pytest.fixture
def coco(coco_source, tmp_path) -> Path:
    return Path(shutil.copytree(coco_source, tmp_path / "coco", symlinks=True))


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def write_png(path: Path, arr: np.ndarray) -> None:
    write_label_png(path, arr)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not TALLY:
        return
    tr = terminalreporter
    tr.section("goss-bench fuzz suite: cases per command")
    total = 0
    for cmd in sorted(TALLY):
        t = TALLY[cmd]
        n = sum(t[k] for k in ("bad inputs", "valid inputs", "maybe-valid inputs"))
        total += n
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(t.items()) if k.startswith(("exit", "hang", "traceback")))
        tr.write_line(f"{cmd:16s} {t['bad inputs']:4d} bad, {t['valid inputs']:3d} valid, "
                      f"{t['maybe-valid inputs']:3d} maybe-valid inputs -> {outcomes}")
    tr.write_line(f"{'total':16s} {total:4d} runs")
