"""What a leaderboard publishes (goss_bench.diagnostics.published): aggregates, significance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from sklearn.metrics import roc_curve

from goss_bench.diagnostics.collect import score_with_stats
from goss_bench.diagnostics.oracle import oracle_breakdown
from goss_bench.diagnostics.published import curve_points, gq_significance, public_diagnostics

N = 3


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("pub")
    rng = np.random.default_rng(31)
    gt, good, bad = {}, {}, {}
    for i in range(14):
        s, g, c = make_gt_image(rng, N)
        sc = rng.integers(0, 200, s.shape).astype(np.uint16)
        sc[s == N] += 50
        gt[f"im{i:02d}"] = (s, g, c)
        good[f"im{i:02d}"] = (*perturb_prediction(rng, s, g, N, flip=0.05), sc)
        bad[f"im{i:02d}"] = (*perturb_prediction(rng, s, g, N, flip=0.4), sc)
    write_gt(root / "gt", gt, N)
    write_pred(root / "good", good)
    write_pred(root / "bad", bad)
    out = {k: score_with_stats(root / k, root / "gt") for k in ("good", "bad")}
    return root, gt, good, out


def test_public_diagnostics_hold_no_per_image_data(scored):
    root, gt, _, out = scored
    res, stats = out["good"]
    bd = oracle_breakdown(root / "good", root / "gt")
    d = public_diagnostics(res, stats, bd, num=100)
    text = json.dumps(d)
    assert not any(stem in text for stem in gt)
    assert d["ci"]["metrics"]["GQ"]["value"] == res.gq
    assert d["oracle"]["actual"]["gq"] == res.gq
    assert set(d["oss_curve"]) == {"fpr", "tpr", "recall", "precision"}


def test_curve_points_lie_on_the_exact_roc(scored):
    _, gt, pred, out = scored
    stats = out["good"][1]
    pts = curve_points(stats, max_points=50)
    assert len(pts["fpr"]) <= 51 and pts["fpr"][0] == 0.0 and pts["tpr"][-1] == 1.0
    # scores < 256: the coarse histogram is exact, so each point is on sklearn's curve
    y = np.concatenate([gt[k][0].ravel() for k in sorted(gt)])
    s = np.concatenate([pred[k][2].ravel() for k in sorted(gt)])
    keep = y != 255
    fpr, tpr, _ = roc_curve(y[keep] == N, s[keep], drop_intermediate=False)
    exact = set(zip(np.round(fpr, 6).tolist(), np.round(tpr, 6).tolist(), strict=True))
    assert all((f, t) in exact for f, t in zip(pts["fpr"], pts["tpr"], strict=True))


def test_gq_significance(scored):
    out = scored[3]
    good, bad = out["good"][1], out["bad"][1]
    same = gq_significance(good, good, num=200)
    assert same["diff"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    better = gq_significance(bad, good, num=200)
    assert better["diff"] > 0 and better["low"] > 0 and better["significant"]
