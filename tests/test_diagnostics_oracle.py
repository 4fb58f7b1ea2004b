"""Oracle breakdown (goss_bench.diagnostics.oracle) on crafted cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred

from goss_bench.diagnostics.oracle import (
    ORACLES,
    TRANSFORMS,
    image_errors,
    oracle_breakdown,
)
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.scoring import score

N = 3  # known classes 0, 1, 2; 3 = unknown


def gq(gt_sem, gt_grp, sem, grp):
    acc = GossAccumulator(num_known=N)
    acc.add(gt_sem, gt_grp, sem, grp)
    return acc.result()


def crafted_gt():
    """20x30: class 0 left, class 1 middle, class 2 right; two unknown groups; a void strip."""
    sem = np.zeros((20, 30), np.uint8)
    sem[:, 10:20] = 1
    sem[:, 20:] = 2
    grp = np.zeros((20, 30), np.uint16)
    sem[2:8, 2:8] = N  # unknown group 7 (36 px)
    grp[2:8, 2:8] = 7
    sem[12:18, 12:18] = N  # unknown group 9 (36 px)
    grp[12:18, 12:18] = 9
    sem[19, :] = 255
    return sem, grp


def test_identification_only_errors_give_one_under_oracle_a():
    gs, gg = crafted_gt()
    ps, pg = gs.copy(), (gg.astype(np.int64) * 5 + 1)  # groups relabelled: still correct
    ps[2:8, 2:4] = 0  # part of group 7 called known class 0
    ps[12:18, 12:18] = 1  # all of group 9 called known
    ps[0:2, 22:28] = N  # known pixels of class 2 called unknown
    pg[0:2, 22:28] = 40
    ps[19, 0:5] = N  # void called unknown
    actual = gq(gs, gg, ps, pg)
    assert actual.gq < 0.9
    res = gq(gs, gg, *TRANSFORMS["identification"](gs, gg, ps, pg, N))
    assert res.gq == pytest.approx(1.0) and res.gq_unknown == pytest.approx(1.0)
    # the other oracles cannot fix identification
    for k in ("grouping", "classification"):
        assert gq(gs, gg, *TRANSFORMS[k](gs, gg, ps, pg, N)).gq < 1.0


def test_grouping_only_errors_give_one_under_oracle_b():
    gs, gg = crafted_gt()
    ps = gs.copy()
    pg = np.zeros_like(gg, dtype=np.int64)
    pg[2:8, 2:5] = 1  # group 7 split in two
    pg[2:8, 5:8] = 2
    pg[12:18, 12:18] = 1  # group 9 merged with half of group 7
    actual = gq(gs, gg, ps, pg)
    assert actual.gq_unknown < 0.5
    res = gq(gs, gg, *TRANSFORMS["grouping"](gs, gg, ps, pg, N))
    assert res.gq == pytest.approx(1.0)
    # identification is already perfect: oracle (a) changes nothing
    same = gq(gs, gg, *TRANSFORMS["identification"](gs, gg, ps, pg, N))
    assert same.gq == actual.gq


def test_grouping_oracle_keeps_spill_with_its_group():
    gs, gg = crafted_gt()
    ps, pg = gs.copy(), gg.astype(np.int64)
    ps[2:8, 8:10] = N  # group 7 spills over 12 known pixels: IoU 36/48, still a TP
    pg[2:8, 8:10] = 7
    actual = gq(gs, gg, ps, pg)
    sem, grp = TRANSFORMS["grouping"](gs, gg, ps, pg, N)
    assert len(np.unique(grp[sem == N])) == 2  # the spill joined its group, not a new FP
    assert gq(gs, gg, sem, grp).gq_unknown == actual.gq_unknown


def test_classification_only_errors_give_one_under_oracle_c():
    gs, gg = crafted_gt()
    ps, pg = gs.copy(), gg.copy()
    ps[:10, 10:20][ps[:10, 10:20] == 1] = 2  # half of class 1 called class 2
    ps[:, 0:2] = 1
    actual = gq(gs, gg, ps, pg)
    assert actual.gq_known < 1.0
    res = gq(gs, gg, *TRANSFORMS["classification"](gs, gg, ps, pg, N))
    assert res.gq == pytest.approx(1.0)
    for k in ("identification", "grouping"):
        assert gq(gs, gg, *TRANSFORMS[k](gs, gg, ps, pg, N)).gq == actual.gq


def test_perfect_prediction_is_a_fixed_point():
    rng = np.random.default_rng(4)
    for _ in range(10):
        gs, gg, _ = make_gt_image(rng, N)
        for k in ORACLES:
            sem, grp = TRANSFORMS[k](gs, gg, gs, gg, N)
            res = gq(gs, gg, sem, grp)
            assert res.gq == gq(gs, gg, gs, gg).gq, k


def test_error_counts_on_a_crafted_case():
    gs, gg = crafted_gt()
    ps = gs.copy()
    pg = gg.astype(np.int64)
    ps[2:8, 2:4] = 0  # 12 unknown pixels called class 0
    ps[0:2, 22:28] = N  # 12 class-2 pixels called unknown
    pg[0:2, 22:28] = 50
    pg[12:18, 12:15] = 60  # group 9 split in halves (IoU 0.5 each)
    ps[5, 12] = 255  # one known pixel not predicted
    ps[0, 10:13] = 0  # 3 class-1 pixels called class 0
    ps[1, 20:24] = 1  # 4 class-2 pixels called class 1 (2 of them were unknown above)
    e = image_errors(gs, gg, ps, pg, N)
    assert e.unknown_pixels == 72 and e.unknown_as_known == 12 and e.unknown_as_none == 0
    assert e.known_pixels == 20 * 30 - 30 - 72
    assert e.known_as_unknown == 12 - 2  # (1, 22..23) were overwritten by class 1
    assert e.gt_groups == 2 and e.pred_groups == 4 and e.split_groups == 1
    assert e.merged_groups == 0
    assert e.top_confusions() == [(2, 1, 4), (1, 0, 3)]
    # merge: one predicted group over both GT groups
    pm = gg.astype(np.int64)
    pm[gs == N] = 1
    assert image_errors(gs, gg, gs, pm, N).merged_groups == 1


def test_breakdown_from_folders(tmp_path):
    rng = np.random.default_rng(8)
    gt, pred = {}, {}
    for i in range(8):
        s, g, c = make_gt_image(rng, N)
        gt[f"im{i}"] = (s, g, c)
        pred[f"im{i}"] = perturb_prediction(rng, s, g, N, flip=0.3)
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", pred)
    bd = oracle_breakdown(tmp_path / "pred", tmp_path / "gt", workers=2)
    ref = score(tmp_path / "pred", tmp_path / "gt")
    assert bd.actual.gq == ref.gq and bd.actual.per_class == ref.per_class
    # each oracle's score equals scoring the transformed maps image by image
    for k in ORACLES:
        acc = GossAccumulator(num_known=N, class_names=[f"k{i}" for i in range(N)])
        for stem in sorted(gt):
            s, g, _ = gt[stem]
            acc.add(s, g, *TRANSFORMS[k](s, g, *pred[stem], N))
        assert bd.oracles[k].gq == acc.result().gq
        assert bd.gains()[k] == bd.oracles[k].gq - ref.gq
    d = bd.to_dict()
    assert set(d["oracles"]) == set(ORACLES) and d["errors"]["unknown_pixels"] > 0
    assert sum(image_errors(*gt[s][:2], *pred[s], N).split_groups for s in gt) == d["errors"]["split_groups"]


def test_oracle_cli(tmp_path, capsys):
    import json

    from goss_bench.cli import main

    rng = np.random.default_rng(9)
    gt, pred = {}, {}
    for i in range(4):
        s, g, c = make_gt_image(rng, N)
        gt[f"im{i}"] = (s, g, c)
        pred[f"im{i}"] = perturb_prediction(rng, s, g, N, flip=0.3)
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", pred)
    code = main(["oracle", str(tmp_path / "pred"), str(tmp_path / "gt"), "--json",
                 str(tmp_path / "o.json"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    d = json.loads((tmp_path / "o.json").read_text())
    gain = d["oracles"]["identification"]["gain_gq"]
    assert f"{100 * gain:+7.2f}" in out and "(a) identification" in out
    assert "known pixels predicted unknown" in out
    code = main(["oracle", str(tmp_path / "missing"), str(tmp_path / "gt"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
