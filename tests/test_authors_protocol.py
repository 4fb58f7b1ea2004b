"""`--protocol authors` reproduces the GOSS release's evaluator, quirk by quirk.

Each quirk of METRICS.md ("The authors' evaluator") is pinned on a crafted case
where it changes the number, and random data is checked against a slow
re-statement of the release's code (tests/reference_authors.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from reference_authors import authors_oss, authors_pq

from goss_bench import score
from goss_bench.cli import main
from goss_bench.errors import GossInputError
from goss_bench.io import write_label_png

N = 3


def write_scores(root, scores):
    for stem, s in scores.items():
        write_label_png(root / "scores" / f"{stem}.png", s.astype(np.uint16))


def run(tmp_path, gt, pred, scores=None, **kw):
    """Score in both protocols; (default, authors) results."""
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", pred)
    if scores:
        write_scores(tmp_path / "pred", scores)
    return (score(tmp_path / "pred", tmp_path / "gt", **kw),
            score(tmp_path / "pred", tmp_path / "gt", protocol="authors"))


def unknown_square(shape=(20, 20)):
    """GT and prediction sharing one unknown group (so quirk 8 does not fire)."""
    gs = np.zeros(shape, np.uint8)
    gg = np.zeros(shape, np.uint16)
    gs[:5, :5] = N
    gg[:5, :5] = 1
    return gs, gg


def test_quirk1_void_joins_class_0(tmp_path):
    gs, gg = unknown_square()
    gs[10:, :] = 1
    ps, pg = gs.copy(), gg.copy()
    ps[5:10, :10] = 255  # half of the class-0 region predicted as "no prediction"
    d, a = run(tmp_path, {"x": (gs, gg, None)}, {"x": (ps, pg)})
    c0 = {c.train_id: c for c in d.per_class}[0]
    assert (c0.tp, c0.fn) == (1, 0)  # class 0 still matches (IoU > 0.5) by default ...
    ca = {c.train_id: c for c in a.per_class}[0]
    assert ca.tp == 1 and ca.sq == pytest.approx(1.0)  # ... but only the merge makes it perfect
    assert d.per_class[0].sq < 1.0
    # where the merged segment decides the match: class 0 predicted on less than half
    ps2 = gs.copy()
    ps2[5:10, :] = 255
    ps2[:5, 5:] = 255
    d2, a2 = run(tmp_path / "b", {"x": (gs, gg, None)}, {"x": (ps2, gg)})
    assert d2.per_class[0].tp == 0 and a2.per_class[0].tp == 1


def test_quirk2_every_known_class_counts(tmp_path):
    gs, gg = unknown_square()
    d, a = run(tmp_path, {"x": (gs, gg, None)}, {"x": (gs, gg)})
    assert a.num_known_averaged == N and a.gq_known == pytest.approx(1 / N)
    with pytest.raises(GossInputError, match="fixes"):
        score(tmp_path / "pred", tmp_path / "gt", protocol="authors", average="present")


def _oss_case():
    """Three images: A normal, B only known pixels, C with AUROC exactly 0."""
    gs, gg = unknown_square()
    sa = np.zeros(gs.shape, np.uint16)
    sa[gs == N] = 900
    sa[10:12, :] = 1000  # some known pixels score above the unknown ones
    gb = np.zeros(gs.shape, np.uint8)
    sb = np.full(gs.shape, 7, np.uint16)
    sc = np.full(gs.shape, 500, np.uint16)
    sc[gs == N] = 10  # every unknown pixel below every known one: AUROC 0
    gt = {"a": (gs, gg, None), "b": (gb, np.zeros_like(gg), None), "c": (gs, gg, None)}
    pred = {"a": (gs, gg), "b": (gb, np.zeros_like(gg)), "c": (gs, gg)}
    return gt, pred, {"a": sa, "b": sb, "c": sc}


def test_quirks3to7_oss(tmp_path):
    gt, pred, scores = _oss_case()
    d, a = run(tmp_path, gt, pred, scores)
    want = authors_oss([(gt[k][0], scores[k]) for k in sorted(gt)], N)
    assert (a.oss.auroc, a.oss.aupr, a.oss.fpr95) == pytest.approx(want, abs=1e-12)
    # quirks 3 and 4 by hand: only image a counts, and the mean divides by 1 + 1
    da, _ = run(tmp_path / "a", {"a": gt["a"]}, {"a": pred["a"]}, {"a": scores["a"]},
                oss_per_image=True, void_as_unknown=True, fpr95="nearest")
    assert a.oss.auroc == pytest.approx(da.oss.auroc / 2, abs=1e-12)
    assert a.oss.num_images_used == 1
    # the default pools all pixels instead
    assert d.oss.pooling == "pooled" and d.oss.auroc != pytest.approx(a.oss.auroc)


def test_quirk6_void_is_unknown(tmp_path):
    gs, gg = unknown_square()
    gs[15:, :] = 255
    s = np.zeros(gs.shape, np.uint16)
    s[gs == N] = 800
    s[gs == 255] = 50  # void pixels score low: as positives they lower AUROC
    s[10:12, :] = 100
    _, a = run(tmp_path, {"x": (gs, gg, None)}, {"x": (gs, gg)}, {"x": s})
    assert a.oss.auroc == pytest.approx(authors_oss([(gs, s)], N)[0], abs=1e-12)
    excluded = score(tmp_path / "pred", tmp_path / "gt", oss_per_image=True)
    assert excluded.oss.auroc == pytest.approx(1.0) and a.oss.auroc < 0.5


def test_quirk7_nearest_fpr95(tmp_path):
    gs, gg = unknown_square((20, 20))  # 25 unknown, 375 known
    s = np.zeros(gs.shape, np.uint16)
    unk = np.flatnonzero(gs.ravel() == N)
    known = np.flatnonzero(gs.ravel() != N)
    flat = s.ravel()
    flat[unk[:23]] = 1000  # recall 0.92 at threshold 1000
    flat[unk[23:]] = 10  # the last 2 unknown pixels tie with most known pixels
    flat[known[:20]] = 500  # 20 known pixels above them
    flat[known[20:]] = 10
    d, a = run(tmp_path, {"x": (gs, gg, None)}, {"x": (gs, gg)}, {"x": s})
    want = authors_oss([(gs, s)], N)[2]
    assert a.oss.fpr95 == pytest.approx(want, abs=1e-12)
    assert d.oss.fpr95 != pytest.approx(a.oss.fpr95)  # first TPR >= 0.95 is another point


def test_quirk8_no_unknown_overlap_stops(tmp_path, capsys):
    gs, gg = unknown_square()
    ps = gs.copy()
    ps[gs == N] = 1  # no predicted unknown pixel on GT unknown
    write_gt(tmp_path / "gt", {"x": (gs, gg, None)}, N)
    write_pred(tmp_path / "pred", {"x": (ps, gg)})
    with pytest.raises(ZeroDivisionError):
        authors_pq([(gs, gg, ps, gg)], N)
    assert score(tmp_path / "pred", tmp_path / "gt").gq_unknown == 0.0
    code = main(["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--protocol", "authors"])
    err = capsys.readouterr().err
    assert code == 2 and "ZeroDivisionError" in err and err.count("\n") == 1


def test_random_data_matches_the_release(tmp_path):
    rng = np.random.default_rng(7)
    gt, pred, scores, images = {}, {}, {}, []
    for i in range(8):
        s, g, c = make_gt_image(rng, N)
        p, pg = perturb_prediction(rng, s, g, N)
        sc = rng.integers(0, 65536, s.shape).astype(np.uint16)
        sc[s == N] //= 2
        sc[s == N] += 20000
        gt[f"i{i}"], pred[f"i{i}"], scores[f"i{i}"] = (s, g, c), (p, pg), sc
        images.append((s, g, p, pg))
    if not any(((s == N) & (p == N)).any() for s, _, p, _ in images):
        pytest.skip("random data without unknown overlap")
    _, a = run(tmp_path, gt, pred, scores)
    kn, uk, wq = authors_pq(images, N)
    assert a.gq_known == pytest.approx(kn, abs=1e-12)
    assert a.gq_unknown == pytest.approx(uk, abs=1e-12)
    assert a.gq == pytest.approx(wq, abs=1e-12)
    oss = authors_oss([(gt[k][0], scores[k]) for k in sorted(gt)], N)
    assert (a.oss.auroc, a.oss.aupr, a.oss.fpr95) == pytest.approx(oss, abs=1e-12)
    assert a.options["protocol"] == "authors"
    two = score(tmp_path / "pred", tmp_path / "gt", protocol="authors", workers=2)
    assert two.gq == a.gq and two.oss == a.oss


def test_cli_protocol_flag(tmp_path, capsys):
    gt, pred, scores = _oss_case()
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", pred)
    write_scores(tmp_path / "pred", scores)
    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--protocol", "authors",
                 "--quiet"]) == 0
    assert "per-image (authors)" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--protocol", "authors",
                 "--fpr95", "nearest"]) == 2
    assert "fixes" in capsys.readouterr().err
