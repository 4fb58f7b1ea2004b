"""OSS parity: goss-bench's AUROC / AUPR / FPR95 vs scikit-learn.

Positives are GT unknown pixels (semantic == N), negatives GT known pixels;
GT void is excluded (or positive with ``void_as_unknown``).  Scores are random
uint16 with heavy ties (a few distinct values) as well as near-continuous
ones.  Oracles:

* AUROC: ``sklearn.metrics.roc_auc_score``; AUPR: ``average_precision_score``;
* FPR95 "first": FPR at the first threshold (scanning from the highest score
  down) whose TPR >= 0.95, from ``roc_curve(..., drop_intermediate=False)``;
* FPR95 "nearest": a transcription of hendrycks' ``fpr_and_fdr_at_recall``
  (anomaly-seg / outlier-exposure) on the raw pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from goss_bench import GossAccumulator, score
from goss_bench.io import write_label_png

metrics = pytest.importorskip("sklearn.metrics")

VOID = 255
TOL = 1e-9


# ------------------------------------------------------------- references


def fpr_first(y: np.ndarray, s: np.ndarray, level: float = 0.95) -> float:
    fpr, tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
    return float(fpr[np.flatnonzero(tpr >= level)[0]])


def fpr_nearest(y: np.ndarray, s: np.ndarray, recall_level: float = 0.95) -> float:
    """hendrycks' fpr_and_fdr_at_recall (FPR part), transcribed with its quirks:
    stable descending sort, the curve cut at the first point of full recall and
    reversed, a (recall 1, fps 0) point appended, argmin |recall - level|."""
    y_true = y == 1
    desc = np.argsort(s, kind="mergesort")[::-1]
    y_score = s[desc].astype(np.float64)
    y_true = y_true[desc]
    distinct = np.where(np.diff(y_score))[0]
    threshold_idxs = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    recall = tps / tps[-1]
    last_ind = tps.searchsorted(tps[-1])
    sl = slice(last_ind, None, -1)
    recall, fps = np.r_[recall[sl], 1], np.r_[fps[sl], 0]
    cutoff = np.argmin(np.abs(recall - recall_level))
    return float(fps[cutoff] / np.sum(np.logical_not(y_true)))


def sk_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {
        "auroc": float(metrics.roc_auc_score(y, s)),
        "aupr": float(metrics.average_precision_score(y, s)),
        "first": fpr_first(y, s),
        "nearest": fpr_nearest(y, s),
    }


def labels(gt_sem: np.ndarray, n: int, void_as_unknown: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mask of pixels used, y) for one image or a concatenation of images."""
    if void_as_unknown:
        return np.ones(gt_sem.shape, dtype=bool), (gt_sem >= n).astype(np.int64)
    used = gt_sem != VOID
    return used, (gt_sem == n).astype(np.int64)


# ------------------------------------------------------------------- data


def make_images(rng: np.random.Generator, n: int, num_images: int):
    """[(gt_sem, gt_grp, pred_sem, pred_grp, scores)], with tie-heavy and smooth scores."""
    out = []
    for i in range(num_images):
        h, w = int(rng.integers(20, 50)), int(rng.integers(20, 60))
        gt = rng.integers(0, n + 1, size=(h, w)).astype(np.uint8)
        gt[rng.random((h, w)) < 0.3] = n  # plenty of unknown pixels
        gt[rng.random((h, w)) < 0.1] = VOID
        if i == 2:
            gt[gt == n] = 0  # an image without unknown pixels (skipped per image)
        grp = np.where(gt == n, rng.integers(1, 4, size=(h, w)), 0).astype(np.uint16)
        unk = (gt == n).astype(np.float64) + 0.5 * (gt == VOID)
        if i % 3 == 0:  # heavy ties: a handful of distinct values
            raw = rng.integers(0, 6, size=(h, w)) + 2 * unk
            scores = (raw * 6000).astype(np.uint16)
        elif i % 3 == 1:  # moderate ties
            scores = np.clip(rng.normal(200 + 150 * unk, 80), 0, 65535).astype(np.uint16)
        else:  # near-continuous, including the extremes 0 and 65535
            scores = np.clip(rng.normal(30000 + 9000 * unk, 15000), 0, 65535).astype(np.uint16)
            scores.flat[:3] = [0, 65535, 65535]
        pred = rng.integers(0, n + 1, size=(h, w)).astype(np.uint8)
        pgrp = rng.integers(0, 3, size=(h, w)).astype(np.uint16)
        out.append((gt, grp, pred, pgrp, scores))
    return out


def write_dataset(root: Path, images) -> tuple[Path, Path]:
    for i, (gt, grp, pred, pgrp, scores) in enumerate(images):
        stem = f"im{i:02d}"
        write_label_png(root / "gt" / "semantic" / f"{stem}.png", gt)
        write_label_png(root / "gt" / "groups" / f"{stem}.png", grp)
        write_label_png(root / "pred" / "semantic" / f"{stem}.png", pred)
        write_label_png(root / "pred" / "groups" / f"{stem}.png", pgrp)
        write_label_png(root / "pred" / "scores" / f"{stem}.png", scores)
    return root / "pred", root / "gt"


def pooled_reference(images, n: int, void_as_unknown: bool) -> dict[str, float]:
    ys, ss = [], []
    for gt, _, _, _, s in images:
        used, y = labels(gt, n, void_as_unknown)
        ys.append(y[used])
        ss.append(s[used])
    return sk_metrics(np.concatenate(ys), np.concatenate(ss))


def per_image_reference(images, n: int, void_as_unknown: bool) -> dict[str, float]:
    rows = []
    for gt, _, _, _, s in images:
        used, y = labels(gt, n, void_as_unknown)
        y, s = y[used], s[used]
        if 0 < y.sum() < y.size:
            rows.append(sk_metrics(y, s))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def assert_oss(oss, ref: dict[str, float], rule: str) -> None:
    assert oss is not None
    assert oss.fpr95_rule == rule
    assert oss.auroc == pytest.approx(ref["auroc"], abs=TOL, rel=0)
    assert oss.aupr == pytest.approx(ref["aupr"], abs=TOL, rel=0)
    assert oss.fpr95 == pytest.approx(ref[rule], abs=TOL, rel=0)


# ------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.default_rng(2024)
    n = 5
    images = make_images(rng, n, 9)
    pred, gt = write_dataset(tmp_path_factory.mktemp("oss"), images)
    return n, images, pred, gt


def test_reference_rules_differ_on_this_data(dataset) -> None:
    """The data distinguishes the two FPR95 rules and void handling (else the test is weak)."""
    n, images, _, _ = dataset
    a = pooled_reference(images, n, False)
    b = pooled_reference(images, n, True)
    per = [
        sk_metrics(*(lambda u, y, s: (y[u], s[u]))(*labels(gt, n, False), s))
        for gt, *_, s in images
        if 0 < (gt == n).sum()
    ]
    assert any(abs(r["first"] - r["nearest"]) > 1e-6 for r in per + [a, b])
    assert abs(a["auroc"] - b["auroc"]) > 1e-6


@pytest.mark.parametrize("void_as_unknown", [False, True])
@pytest.mark.parametrize("rule", ["first", "nearest"])
def test_score_pooled_matches_sklearn(dataset, void_as_unknown: bool, rule: str) -> None:
    n, images, pred, gt = dataset
    res = score(pred, gt, num_known=n, void_as_unknown=void_as_unknown, fpr95=rule)
    ref = pooled_reference(images, n, void_as_unknown)
    assert_oss(res.oss, ref, rule)
    assert res.oss.pooling == "pooled"
    assert res.oss.void_as_unknown == void_as_unknown
    used, y = labels(np.concatenate([g.ravel() for g, *_ in images]), n, void_as_unknown)
    assert res.oss.num_positive == int(y[used].sum())
    assert res.oss.num_negative == int(used.sum() - y[used].sum())


@pytest.mark.parametrize("void_as_unknown", [False, True])
@pytest.mark.parametrize("rule", ["first", "nearest"])
def test_score_per_image_matches_sklearn(dataset, void_as_unknown: bool, rule: str) -> None:
    n, images, pred, gt = dataset
    res = score(
        pred, gt, num_known=n, void_as_unknown=void_as_unknown, fpr95=rule, oss_per_image=True
    )
    assert_oss(res.oss, per_image_reference(images, n, void_as_unknown), rule)
    assert res.oss.pooling == "per-image"


def test_accumulator_matches_sklearn_and_merges(dataset) -> None:
    n, images, _, _ = dataset
    one = GossAccumulator(num_known=n)
    halves = [GossAccumulator(num_known=n), GossAccumulator(num_known=n)]
    for i, (gt, grp, pred, pgrp, s) in enumerate(images):
        one.add(gt, grp, pred, pgrp, pred_scores=s)
        halves[i % 2].add(gt, grp, pred, pgrp, pred_scores=s)
    merged = halves[0].merge(halves[1])
    for rule in ("first", "nearest"):
        ref = pooled_reference(images, n, False)
        assert_oss(one.result(fpr95=rule).oss, ref, rule)
        assert merged.result(fpr95=rule).oss == one.result(fpr95=rule).oss
        ref_img = per_image_reference(images, n, False)
        assert_oss(one.result(fpr95=rule, oss_per_image=True).oss, ref_img, rule)
        assert_oss(merged.result(fpr95=rule, oss_per_image=True).oss, ref_img, rule)


@pytest.mark.parametrize("seed", range(12))
def test_accumulator_random_ties(seed: int) -> None:
    """Many small random cases: extreme ties, tiny positive sets, uint8 scores."""
    rng = np.random.default_rng(seed)
    n = 3
    size = int(rng.integers(5, 400))
    gt = rng.choice([0, 1, 2, n, VOID], size=(1, size), p=[0.3, 0.2, 0.2, 0.2, 0.1]).astype(
        np.uint8
    )
    gt[0, :2] = [0, n]  # both classes present
    levels = int(rng.choice([1, 2, 3, 10, 1000, 65536]))
    scores = rng.integers(0, levels, size=(1, size)).astype(np.uint16)
    if seed % 4 == 0:
        scores = (scores % 256).astype(np.uint8)
    for void_as_unknown in (False, True):
        acc = GossAccumulator(num_known=n, void_as_unknown=void_as_unknown)
        acc.add(gt, np.zeros_like(gt, dtype=np.uint16), gt, np.zeros_like(gt), pred_scores=scores)
        used, y = labels(gt, n, void_as_unknown)
        ref = sk_metrics(y[used], scores[used].astype(np.int64))
        for rule in ("first", "nearest"):
            assert_oss(acc.result(fpr95=rule).oss, ref, rule)
