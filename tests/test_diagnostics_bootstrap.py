"""Per-image statistics, bootstrap intervals and paired comparison (goss_bench.diagnostics)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from sklearn.metrics import roc_auc_score

from goss_bench.diagnostics.bootstrap import (
    bootstrap_metrics,
    confidence_intervals,
    full_sample,
    paired_comparison,
    resample_weights,
    weighted_totals,
)
from goss_bench.diagnostics.collect import score_with_stats
from goss_bench.diagnostics.compare import compare_stats
from goss_bench.diagnostics.image_stats import (
    IOU_BITS,
    OSS_BINS,
    ImageStats,
    StatsLayout,
    coarse_histogram,
)
from goss_bench.diagnostics.summary import summarise
from goss_bench.errors import GossInputError
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.metrics.oss import image_histogram

N = 4


def _dataset(rng, count, flip=0.15, scores_max=256):
    gt, pred = {}, {}
    for i in range(count):
        s, g, c = make_gt_image(rng, N)
        p, pg = perturb_prediction(rng, s, g, N, flip=flip)
        sc = rng.integers(0, scores_max, s.shape).astype(np.uint16)
        sc[s == N] = np.minimum(sc[s == N] + scores_max // 4, scores_max - 1)
        pcl = np.where(rng.random(s.shape) < 0.1, 0, c).astype(np.uint16)
        gt[f"im{i:02d}"] = (s, g, c)
        pred[f"im{i:02d}"] = (p, pg, sc, pcl)
    return gt, pred


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("boot")
    rng = np.random.default_rng(7)
    gt, pred = _dataset(rng, 24)
    write_gt(root / "gt", gt, N)
    write_pred(root / "pred", pred)
    return root, gt, pred


@pytest.mark.parametrize(
    "opts",
    [{}, {"average": "present", "lam": 0.3, "fpr95": "nearest", "oss_per_image": True}],
)
def test_full_table_reproduces_the_scorer(folders, opts):
    root = folders[0]
    res, stats = score_with_stats(root / "pred", root / "gt", **opts)
    assert stats.stems == sorted(stats.stems) and stats.num_images == 24
    point = full_sample(stats)
    exact = res.summary()
    assert set(point) == set(exact)
    for k, v in exact.items():
        assert v is not None
        # IoU sums are kept in units of 2**-26 per image: the only difference
        assert point[k][0] == pytest.approx(v, abs=1e-7), k
    # integer columns are exact
    b = stats.layout.blocks
    assert stats.rows[:, b["tp"]].sum(axis=0).tolist() == [c.tp for c in res.per_class]
    assert stats.rows[:, b["fp"]].sum(axis=0).tolist() == [c.fp for c in res.per_class]
    assert stats.rows[:, b["fn"]].sum(axis=0).tolist() == [c.fn for c in res.per_class]


def test_table_is_the_same_for_any_worker_count(folders):
    root = folders[0]
    _, one = score_with_stats(root / "pred", root / "gt", workers=1)
    _, two = score_with_stats(root / "pred", root / "gt", workers=2)
    assert one.stems == two.stems and np.array_equal(one.rows, two.rows)
    assert np.array_equal(one.oss, two.oss)


def test_any_subset_resums_to_scoring_those_images(folders):
    root, gt, pred = folders
    _, stats = score_with_stats(root / "pred", root / "gt")
    rng = np.random.default_rng(1)
    for _ in range(3):
        idx = np.sort(rng.choice(stats.num_images, 9, replace=False))
        acc = GossAccumulator(num_known=N)
        for i in idx.tolist():
            s, g, c = gt[stats.stems[i]]
            p, pg, sc, pcl = pred[stats.stems[i]]
            acc.add(s, g, p, pg, pred_scores=sc, gt_clusters=c, pred_clusters=pcl)
        ref = acc.result().summary()
        w = np.zeros((1, stats.num_images))
        w[0, idx] = 1
        got = summarise(stats, *weighted_totals(stats, w))
        for k, v in ref.items():
            assert got[k][0] == pytest.approx(v, abs=1e-7), k


def test_coarse_histogram_keeps_order_and_uint8_exact():
    rng = np.random.default_rng(0)
    sem = rng.integers(0, 2, (64, 64)).astype(np.uint8)  # N = 1: 0 known, 1 unknown
    for hi in (256, 65536):
        sc = rng.integers(0, hi, (64, 64)).astype(np.uint16)
        coarse = coarse_histogram(image_histogram(sem, sc, 1))
        assert coarse.shape == (2, OSS_BINS) and coarse.sum() == sem.size
        binned = np.where(sc < 256, sc, 256 + (sc.astype(np.int64) - 256) // 64)
        acc = GossAccumulator(num_known=1)
        stats = ImageStats(StatsLayout(1, True, False), ["a"], np.zeros((1, 0)), coarse[None])
        stats.rows = np.zeros((1, stats.layout.width), dtype=np.int64)
        auroc = summarise(stats, stats.rows.astype(float), coarse[None].astype(float))["AUROC"][0]
        assert auroc == pytest.approx(roc_auc_score(sem.ravel() == 1, binned.ravel()), abs=1e-12)
        if hi == 256:  # uint8-range scores: identical to the exact histogram
            acc.add(sem, None if not (sem == 1).any() else np.zeros_like(sem), sem, np.zeros_like(sem),
                    pred_scores=sc)
            assert auroc == pytest.approx(acc.result().oss.auroc, abs=1e-12)


def test_resampling_is_reproducible_and_resamples_images():
    blocks = list(resample_weights(50, 250, seed=3))
    assert [b.shape for b in blocks] == [(100, 50), (100, 50), (50, 50)]
    w = np.concatenate(blocks)
    assert (w.sum(axis=1) == 50).all() and (w >= 0).all()
    again = np.concatenate(list(resample_weights(50, 250, seed=3)))
    assert np.array_equal(w, again)
    assert not np.array_equal(w, np.concatenate(list(resample_weights(50, 250, seed=4))))
    # each image is drawn about once per resample on average
    assert abs(w.mean() - 1.0) < 0.02


def _simulated(rng, n_images, p_tp, lam=0.5):
    """Per-image PQ statistics of a population with a known GQ.

    Every class c has Poisson(2) GT segments per image; each is matched with
    probability p_tp[c] with IoU ~ U(0.5, 1), else it is one FN and one FP.
    PQ_c = E[sum IoU] / E[TP + FP/2 + FN/2] = 0.75 p_c exactly.
    """
    layout = StatsLayout(len(p_tp) - 1)
    b = layout.blocks
    rows = np.zeros((n_images, layout.width), dtype=np.int64)
    for c, p in enumerate(p_tp):
        k = rng.poisson(2, n_images)
        tp = rng.binomial(k, p)
        iou = np.array([rng.uniform(0.5, 1.0, t).sum() for t in tp])
        rows[:, b["tp"].start + c] = tp
        rows[:, b["fp"].start + c] = k - tp
        rows[:, b["fn"].start + c] = k - tp
        rows[:, b["iou"].start + c] = np.rint(iou * (1 << IOU_BITS)).astype(np.int64)
    stats = ImageStats(layout, [f"i{i}" for i in range(n_images)], rows, options={"lam": lam})
    pq = 0.75 * np.asarray(p_tp)
    return stats, lam * pq[:-1].mean() + (1 - lam) * pq[-1]


def test_interval_coverage_on_simulated_datasets():
    rng = np.random.default_rng(2024)
    covered = 0
    runs = 200
    for i in range(runs):
        stats, truth = _simulated(rng, 150, [0.8, 0.5, 0.3])
        iv = confidence_intervals(stats, num=500, seed=i)["GQ"]
        covered += iv.low <= truth <= iv.high
    # 95% nominal; the binomial s.d. over 200 datasets is 1.5 points
    assert 0.90 <= covered / runs <= 0.99, covered


def test_compare_identical_gives_zero_and_p_one(folders):
    root = folders[0]
    _, a = score_with_stats(root / "pred", root / "gt")
    for d in paired_comparison(a, a, num=300):
        assert d.diff == 0 and d.low == 0 and d.high == 0 and d.p_value == 1.0, d


def test_compare_clearly_better_excludes_zero(tmp_path):
    rng = np.random.default_rng(11)
    gt, good = _dataset(rng, 20, flip=0.05)
    bad = {}
    for stem, (s, g, _c) in gt.items():
        p, pg = perturb_prediction(rng, s, g, N, flip=0.4)
        bad[stem] = (p, pg)
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "good", {k: v[:2] for k, v in good.items()})
    write_pred(tmp_path / "bad", bad)
    _, a = score_with_stats(tmp_path / "bad", tmp_path / "gt")
    _, b = score_with_stats(tmp_path / "good", tmp_path / "gt")
    cmp = compare_stats(a, b, num=400, top=5)
    gq = next(d for d in cmp.metrics if d.metric == "GQ")
    assert gq.diff > 0 and gq.low > 0 and gq.p_value < 0.01
    assert gq.low <= gq.diff <= gq.high
    assert [c.diff for c in cmp.per_class] == sorted((c.diff for c in cmp.per_class), reverse=True)
    assert len(cmp.images) == 5
    assert abs(cmp.images[0].diff) >= abs(cmp.images[-1].diff)
    # swapping A and B mirrors the difference and keeps p
    back = next(d for d in paired_comparison(b, a, num=400) if d.metric == "GQ")
    assert back.diff == pytest.approx(-gq.diff) and back.p_value == gq.p_value


def test_compare_refuses_different_images_or_options(folders):
    root = folders[0]
    _, a = score_with_stats(root / "pred", root / "gt")
    with pytest.raises(GossInputError, match="different images"):
        paired_comparison(a, a.subset(np.arange(5)))
    _, other = score_with_stats(root / "pred", root / "gt", average="present")
    with pytest.raises(GossInputError, match="different average"):
        paired_comparison(a, other)


def test_stats_json_round_trip_and_bad_input(folders):
    root = folders[0]
    _, a = score_with_stats(root / "pred", root / "gt")
    back = ImageStats.from_json(a.to_json())
    assert back.stems == a.stems and np.array_equal(back.rows, a.rows)
    assert np.array_equal(back.oss, a.oss) and back.layout == a.layout
    bad = a.to_json()
    bad["rows"] = bad["rows"][:-8]
    with pytest.raises(GossInputError, match="malformed"):
        ImageStats.from_json(bad)
    with pytest.raises(GossInputError, match="format"):
        ImageStats.from_json({"format": "other"})


def test_bootstrap_of_undefined_metric_is_none():
    stats, _ = _simulated(np.random.default_rng(0), 30, [0.5, 0.5])
    assert np.isnan(bootstrap_metrics(stats, 50)["mIoU"]).all()
    assert confidence_intervals(stats, 50)["mIoU"].low is None
