"""Every code path of the per-image statistics against the slow reference.

``image_pq_stats`` / ``image_gs_stats`` work on pixel runs or on every pixel,
count pairs densely (one bincount) or sparsely (a sort), and use group ids as
they are, ranked through a table, or ranked with ``np.unique``.  Each
combination must give the same integer statistics, equal to the slow
reference (tests/reference_gq.py), bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction
from reference_gq import reference_gs, reference_stats

from goss_bench import GossAccumulator
from goss_bench.errors import GossInputError
from goss_bench.metrics import segments
from goss_bench.metrics.accumulator import ImageStats
from goss_bench.metrics.gs import image_gs_stats
from goss_bench.metrics.oss import OSSCurve
from goss_bench.metrics.pq import image_pq_stats
from goss_bench.metrics.segments import small_ids


def _image(seed: int, n: int, blocky: bool, id_kind: str):
    """One (gt_sem, gt_grp, gt_clusters, pred_sem, pred_grp, pred_clusters) image."""
    rng = np.random.default_rng(seed)
    shape = (12, 16) if blocky else (48, 64)
    s, g, c = make_gt_image(rng, n, shape)
    p, pg = perturb_prediction(rng, s, g, n)
    pc = c.copy()
    pc[rng.random(s.shape) < 0.05] = rng.integers(0, 40)
    if blocky:  # long runs of equal labels, as in real label maps
        s, g, c, p, pg, pc = (np.kron(a, np.ones((4, 4), dtype=a.dtype)) for a in (s, g, c, p, pg, pc))
    if id_kind == "large":  # 16-bit ids above the raw range: ranked through a table
        perm = np.random.default_rng(seed + 1).permutation(np.arange(1000, 65536)).astype(np.uint16)
        pg = perm[pg]
        g = np.where(s == n, perm[g], 0).astype(np.uint16)
        pc = perm[pc]
    elif id_kind == "signed":  # int64 ids, negative and > 16 bits: ranked with np.unique
        pg = pg.astype(np.int64) * 100_003 - 7
        g = g.astype(np.int64) * 70_001
        pc = pc.astype(np.int64) * 65_537
        c = c.astype(np.int64) * 90_001
    return s, g, c, p, pg, pc


PATHS = {
    "runs+dense": (1, 4, 1 << 18),
    "pixels+dense": (10**9, 4, 1 << 18),
    "runs+sparse": (1, 0, 0),
    "pixels+sparse": (10**9, 0, 0),
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("id_kind", ["raw", "large", "signed"])
@pytest.mark.parametrize("blocky", [True, False])
def test_every_path_matches_the_reference(monkeypatch, path, id_kind, blocky) -> None:
    run_fraction, dense_factor, dense_min = PATHS[path]
    monkeypatch.setattr(segments, "RUN_FRACTION", run_fraction)
    monkeypatch.setattr(segments, "_DENSE_FACTOR", dense_factor)
    monkeypatch.setattr(segments, "_DENSE_MIN", dense_min)
    for seed in range(6):
        n = 1 + seed % 4
        s, g, c, p, pg, pc = _image(seed, n, blocky, id_kind)
        st = image_pq_stats(s, g, p, pg, n)
        tp, fp, fn, iou = reference_stats([(s, g, p, pg)], n)
        assert st.tp.tolist() == tp and st.fp.tolist() == fp and st.fn.tolist() == fn
        assert [v / 2**53 for v in st.iou_fixed] == pytest.approx(iou, abs=1e-12)
        conf = np.zeros((n + 2, n + 2), dtype=np.int64)
        np.add.at(conf, (np.where(s == 255, n + 1, s), np.where(p == 255, n + 1, p)), 1)
        assert np.array_equal(st.conf, conf)
        gs = image_gs_stats(c, pc)
        ref = reference_gs([(c, pc)])
        assert (gs.tp, gs.fp, gs.fn) == (ref["tp"], ref["fp"], ref["fn"])
        assert gs.num_gt == len(np.unique(c[c != 0]))
        assert gs.cover_pixels == int((c != 0).sum())


@pytest.mark.parametrize("id_kind", ["raw", "large", "signed"])
def test_paths_are_bit_identical(monkeypatch, id_kind) -> None:
    """The four paths give the same integers, IoU sums included."""
    seen: dict[str, list] = {}
    for name, (run_fraction, dense_factor, dense_min) in sorted(PATHS.items()):
        monkeypatch.setattr(segments, "RUN_FRACTION", run_fraction)
        monkeypatch.setattr(segments, "_DENSE_FACTOR", dense_factor)
        monkeypatch.setattr(segments, "_DENSE_MIN", dense_min)
        out = []
        for seed in range(4):
            s, g, c, p, pg, pc = _image(seed, 3, True, id_kind)
            pq = image_pq_stats(s, g, p, pg, 3)
            out.append(({k: np.asarray(v).tolist() for k, v in asdict(pq).items()},
                        asdict(image_gs_stats(c, pc))))
        seen[name] = out
    first = next(iter(seen.values()))
    assert all(v == first for v in seen.values())


def test_small_ids_is_injective_and_ordered() -> None:
    rng = np.random.default_rng(0)
    for ids in (
        rng.integers(0, 200, 500).astype(np.uint8),
        np.repeat(rng.integers(0, 65536, 40), 7).astype(np.uint16),
        rng.integers(-(10**12), 10**12, 300),
        np.array([True, False, True]),
    ):
        idx, size = small_ids(ids, 256)
        vals = np.unique(ids)
        assert size >= vals.size and int(idx.max()) < size
        # equal ids <-> equal indices, and the order is kept
        order = np.argsort(ids, kind="stable")
        a, b = ids[order], np.asarray(idx)[order].astype(np.int64)
        assert np.array_equal(np.diff(a.astype(np.int64)) > 0, np.diff(b) > 0)
        assert np.array_equal(np.diff(a.astype(np.int64)) == 0, np.diff(b) == 0)


def test_negative_gt_cluster_ids_are_refused() -> None:
    gc = np.array([[0, -1], [2, 2]], dtype=np.int32)
    with pytest.raises(GossInputError, match="non-negative"):
        image_gs_stats(gc, np.zeros((2, 2), dtype=np.uint16))


def test_group_map_shape_must_match() -> None:
    s = np.full((4, 4), 1, dtype=np.uint8)
    with pytest.raises(GossInputError, match="groups"):
        image_pq_stats(s, np.zeros((4, 5), dtype=np.uint16), s, None, 1)


def test_image_stats_then_add_stats_equals_add() -> None:
    rng = np.random.default_rng(3)
    one = GossAccumulator(num_known=3, keep_per_image=True)
    two = GossAccumulator(num_known=3, keep_per_image=True)
    kept: list[ImageStats] = []
    for i in range(5):
        s, g, c = make_gt_image(rng, 3)
        p, pg = perturb_prediction(rng, s, g, 3)
        sc = rng.integers(0, 500, size=s.shape).astype(np.uint16)
        one.add(s, g, p, pg, pred_scores=sc, gt_clusters=c, pred_clusters=c, stem=f"im{i}")
        st = two.image_stats(s, g, p, pg, pred_scores=sc, gt_clusters=c, pred_clusters=c, stem=f"im{i}")
        assert two.num_images == i  # image_stats adds nothing
        two.add_stats(st)
        kept.append(st)
    assert one.result(oss_per_image=True).to_dict() == two.result(oss_per_image=True).to_dict()
    assert [k.stem for k in kept] == [f"im{i}" for i in range(5)]
    assert sum(int(k.pq.tp.sum()) for k in kept) == int(one.tp.sum())
    with pytest.raises(ValueError, match="N=3"):
        GossAccumulator(num_known=4).add_stats(kept[0])


def test_auroc_is_exact_on_large_counts() -> None:
    """Counts beyond 2**53 (about 10**16 pixels): the integer AUROC stays exact."""
    big = 3**34  # > 2**53
    neg = [big, 5, 3 * big + 1, 0]
    pos = [7, 11, big // 3, big + 2]
    hist = np.array([neg, pos], dtype=np.int64)
    # P(score_pos > score_neg) + P(tie) / 2, as an exact fraction
    wins = sum(2 * p * sum(neg[:i]) + p * neg[i] for i, p in enumerate(pos))
    expected = Fraction(wins, 2 * sum(pos) * sum(neg))
    auroc = OSSCurve.from_histogram(hist).auroc()
    assert auroc == float(expected)
    assert auroc != 1.0 and auroc != 0.5
