"""Oracle parity: goss-bench's GQ vs cityscapesscripts' panoptic evaluator.

Both the GT and the prediction are exported with ``goss-bench export-panoptic``
to COCO panoptic format and scored with cityscapesscripts'
``pq_compute_single_core`` + ``average_pq`` (a line-for-line port of
panopticapi).  Per-class PQ/SQ/RQ/TP/FP/FN must agree with
``goss_bench.score`` to 1e-12; the ``present`` averaging is panopticapi's
"Stuff" (known) / "Things" (unknown) result, and the ``all`` averaging is
recomputed here from the oracle's per-class numbers.

The random data has void (regions and boundaries), many unknown groups,
known classes absent from the GT, predictions with 255 ("no prediction"),
predicted group id 0, and shifted-rectangle probes whose IoU is around 0.5
(including exactly 0.5, which is not a match) and probes half on GT void.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from goss_bench import score
from goss_bench.cli import main as cli_main
from goss_bench.io import write_label_png
from goss_bench.panoptic import export_panoptic

pan = pytest.importorskip("cityscapesscripts.evaluation.evalPanopticSemanticLabeling")

VOID = 255


# ----------------------------------------------------------------- data


def voronoi(rng: np.random.Generator, shape: tuple[int, int], k: int) -> np.ndarray:
    """int (H, W) region index 0..k-1 from k random seeds (irregular regions)."""
    h, w = shape
    ys = rng.uniform(0, h, k)
    xs = rng.uniform(0, w, k)
    yy, xx = np.mgrid[0:h, 0:w]
    d = (yy[..., None] - ys) ** 2 + 0.7 * (xx[..., None] - xs) ** 2
    return d.argmin(axis=-1)


def make_gt(rng, n, shape):
    """GT semantic uint8 (0..N-1, N, 255) and groups uint16 (0 off unknown)."""
    k = int(rng.integers(8, 26))
    reg = voronoi(rng, shape, k)
    used = rng.choice(n, size=max(1, min(n, int(rng.integers(1, 6)))), replace=False)
    kind = rng.random(k)
    sem_r = np.where(kind < 0.4, n, rng.choice(used, size=k)).astype(np.int64)
    sem_r[(kind > 0.9)] = VOID
    sem_r[0] = n  # every image has unknown pixels
    sem_r[1] = used[0]  # ... and known pixels
    grp_r = rng.integers(1, 12, size=k)  # some regions share a group: non-convex groups
    sem = sem_r[reg].astype(np.uint8)
    grp = np.where(sem == n, grp_r[reg], 0).astype(np.uint16)
    # void on some region boundaries (as COCO / Cityscapes)
    edge = np.zeros(shape, dtype=bool)
    edge[:, 1:] |= reg[:, 1:] != reg[:, :-1]
    edge[1:, :] |= reg[1:, :] != reg[:-1, :]
    edge &= rng.random(shape) < 0.5
    sem[edge] = VOID
    grp[edge] = 0
    return sem, grp


def make_pred(rng, n, gt_sem, gt_grp):
    """A prediction perturbed from the GT: relabelled groups (0 included),
    random regions overwritten by other classes / unknown groups / 255."""
    shape = gt_sem.shape
    perm = rng.permutation(400)[:12]
    perm[rng.integers(0, 12)] = 0  # group id 0 is a valid predicted group
    sem = gt_sem.copy()
    grp = perm[gt_grp].astype(np.uint16)
    # GT void gets a prediction
    void = gt_sem == VOID
    sem[void] = rng.choice(np.r_[np.arange(n + 1), VOID], size=int(void.sum()))
    grp[void] = rng.integers(0, 3, size=int(void.sum()))
    reg = voronoi(rng, shape, int(rng.integers(10, 30)))
    nreg = int(reg.max()) + 1
    change = rng.random(nreg) < 0.3
    new_sem = rng.choice(np.r_[np.arange(n + 1), n, n, VOID], size=nreg)
    new_grp = rng.integers(0, 6, size=nreg)
    sel = change[reg]
    sem[sel] = new_sem[reg][sel]
    grp[sel] = new_grp[reg][sel]
    # a few isolated pixel flips (tiny FP segments)
    flip = rng.random(shape) < 0.003
    sem[flip] = rng.integers(0, n + 1, size=int(flip.sum()))
    grp[flip] = rng.integers(0, 500, size=int(flip.sum()))
    grp[sem != n] = rng.integers(0, 3)  # ignored where sem != N
    return sem.astype(np.uint8), grp


def add_probes(rng, n, gt_sem, gt_grp, pred_sem, pred_grp):
    """Shifted rectangles with IoU near 0.5, and a predicted group half on void."""
    h, w = gt_sem.shape
    # unknown probe: GT group 9000+ rectangle of width wd, prediction shifted by 4
    # IoU = (wd-4)/(wd+4): wd = 12 -> exactly 0.5 (no match), 13 -> 0.53; with a GT
    # void column under the prediction, (wd-4)/(wd+3): 11 -> exactly 0.5, 12 -> 0.53
    void_col = rng.random() < 0.5
    wd = int(rng.choice([11, 11, 12] if void_col else [12, 12, 13]))
    r0, c0 = int(rng.integers(0, h // 2 - 8)), int(rng.integers(0, w - wd - 5))
    gt_sem[r0 : r0 + 8, c0 : c0 + wd] = n
    gt_grp[r0 : r0 + 8, c0 : c0 + wd] = 9000
    pred_sem[r0 : r0 + 8, c0 + 4 : c0 + wd + 4] = n
    pred_grp[r0 : r0 + 8, c0 + 4 : c0 + wd + 4] = 60000
    gt_sem[r0 : r0 + 8, c0 + wd : c0 + wd + 4] = 0  # known class 0 right of the GT group
    gt_grp[r0 : r0 + 8, c0 + wd : c0 + wd + 4] = 0
    if void_col:
        gt_sem[r0 : r0 + 8, c0 + wd] = VOID
    # a predicted group exactly half (or just over half) on GT void
    r1, c1 = int(rng.integers(h // 2, h - 6)), int(rng.integers(0, w - 8))
    over = int(rng.integers(0, 2))
    gt_sem[r1 : r1 + 6, c1 : c1 + 4 + over] = VOID
    gt_grp[r1 : r1 + 6, c1 : c1 + 8] = 0
    gt_sem[r1 : r1 + 6, c1 + 4 + over : c1 + 8] = 0
    pred_sem[r1 : r1 + 6, c1 : c1 + 8] = n
    pred_grp[r1 : r1 + 6, c1 : c1 + 8] = 60001


def make_dataset(rng, n, num_images, shapes=((40, 56), (48, 64), (36, 80))):
    gts, preds = {}, {}
    for i in range(num_images):
        shape = shapes[i % len(shapes)]
        gs, gg = make_gt(rng, n, shape)
        ps, pg = make_pred(rng, n, gs, gg)
        if i != 1:
            add_probes(rng, n, gs, gg, ps, pg)
        if i == 1:
            ps[:] = VOID  # an image with no prediction at all (every GT segment is FN)
        gts[f"img{i:03d}"] = (gs, gg)
        preds[f"img{i:03d}"] = (ps, pg)
    return gts, preds


def write_goss(root: Path, images, groups_dtype=np.uint16, skip_groups_if_no=None) -> Path:
    """Write semantic/ and groups/; with ``skip_groups_if_no=N`` images without
    unknown pixels get no group file (allowed for predictions)."""
    for stem, (sem, grp) in images.items():
        write_label_png(root / "semantic" / f"{stem}.png", sem)
        if skip_groups_if_no is not None and not (sem == skip_groups_if_no).any():
            continue
        write_label_png(root / "groups" / f"{stem}.png", grp.astype(groups_dtype))
    return root


# --------------------------------------------------------------- oracle


def oracle(gt_out: Path, pred_out: Path):
    """cityscapesscripts' panoptic evaluator on two exported folders."""
    gt_json = json.loads((gt_out / "panoptic.json").read_text())
    pred_json = json.loads((pred_out / "panoptic.json").read_text())
    categories = {c["id"]: c for c in gt_json["categories"]}
    preds = {a["image_id"]: a for a in pred_json["annotations"]}
    pairs = [(a, preds[a["image_id"]]) for a in gt_json["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pan.pq_compute_single_core(
            0, pairs, str(gt_out / "panoptic"), str(pred_out / "panoptic"), categories
        )
        results = pan.average_pq(stat, categories)
    return stat, results


CASES = [
    # (seed, N, images)
    (0, 1, 5),
    (1, 3, 6),
    (2, 7, 6),
    (3, 20, 5),  # most known classes absent from the GT
    (4, 60, 4),
    (5, 5, 8),
]


@pytest.mark.parametrize("seed,n,num_images", CASES)
def test_oracle_parity(tmp_path: Path, seed: int, n: int, num_images: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    gts, preds = make_dataset(rng, n, num_images)
    gt_dir = write_goss(tmp_path / "gt", gts)
    pred_dir = write_goss(tmp_path / "pred", preds, groups_dtype=np.uint16)
    export_panoptic(gt_dir, tmp_path / "gt_pan", num_known=n)
    export_panoptic(pred_dir, tmp_path / "pred_pan", num_known=n, workers=2 if seed == 1 else 1)
    stat, results = oracle(tmp_path / "gt_pan", tmp_path / "pred_pan")

    res_p = score(pred_dir, gt_dir, num_known=n, average="present")
    res_a = score(pred_dir, gt_dir, num_known=n, average="all", lam=0.3)

    # the data exercises every outcome
    tot = {k: sum(getattr(c, k) for c in res_p.per_class) for k in ("tp", "fp", "fn")}
    assert min(tot.values()) > 0, tot
    assert res_p.per_class[n].tp > 0 and res_p.per_class[n].fp > 0

    for res in (res_p, res_a):
        assert len(res.per_class) == n + 1
        for c, cr in enumerate(res.per_class):
            cat = c + 1  # exporter: category id = train id + 1; unknown = N + 1
            o = stat.pq_per_cat[cat]
            oc = results["per_class"][cat]
            assert (cr.tp, cr.fp, cr.fn) == (o.tp, o.fp, o.fn), (c, cr, vars(o))
            assert cr.iou_sum == pytest.approx(o.iou, abs=1e-12, rel=0)
            assert cr.pq == pytest.approx(oc["pq"], abs=1e-12, rel=0)
            assert cr.sq == pytest.approx(oc["sq"], abs=1e-12, rel=0)
            assert cr.rq == pytest.approx(oc["rq"], abs=1e-12, rel=0)
            assert cr.present == (o.tp + o.fp + o.fn > 0)

    # average="present" is panopticapi's averaging: Stuff = known, Things = unknown
    stuff, things = results["Stuff"], results["Things"]
    assert res_p.num_known_averaged == stuff["n"]
    assert res_p.gq_known == pytest.approx(stuff["pq"], abs=1e-12, rel=0)
    assert res_p.sq_known == pytest.approx(stuff["sq"], abs=1e-12, rel=0)
    assert res_p.rq_known == pytest.approx(stuff["rq"], abs=1e-12, rel=0)
    assert things["n"] == 1
    assert res_p.gq_unknown == pytest.approx(things["pq"], abs=1e-12, rel=0)
    assert res_p.sq_unknown == pytest.approx(things["sq"], abs=1e-12, rel=0)
    assert res_p.rq_unknown == pytest.approx(things["rq"], abs=1e-12, rel=0)
    assert res_p.gq == pytest.approx(0.5 * stuff["pq"] + 0.5 * things["pq"], abs=1e-12, rel=0)

    # average="all": every known category of the split counts, absent ones add 0
    known = [results["per_class"][k + 1] for k in range(n)]
    all_pq = sum(c["pq"] for c in known) / n
    assert res_a.num_known_averaged == n
    assert res_a.gq_known == pytest.approx(all_pq, abs=1e-12, rel=0)
    assert res_a.sq_known == pytest.approx(sum(c["sq"] for c in known) / n, abs=1e-12, rel=0)
    assert res_a.rq_known == pytest.approx(sum(c["rq"] for c in known) / n, abs=1e-12, rel=0)
    assert res_a.gq == pytest.approx(0.3 * all_pq + 0.7 * things["pq"], abs=1e-12, rel=0)
    if stuff["n"] < n:  # classes absent from GT and prediction: the conventions differ
        assert res_a.gq_known < res_p.gq_known or res_p.gq_known == 0


def test_oracle_parity_split_dir_and_uint8_groups(tmp_path: Path) -> None:
    """GT as a split directory (N and names from split.json), uint8 predicted groups,
    prediction images without unknown pixels and without a group file."""
    rng = np.random.default_rng(77)
    n = 4
    gts, preds = make_dataset(rng, n, 4)
    sem, grp = preds["img002"]
    sem[sem == n] = 1  # no unknown predicted in this image -> no group file needed
    preds = {s: (p, g % 256) for s, (p, g) in preds.items()}
    split = tmp_path / "split"
    write_goss(split / "test", gts)
    names = ["road", "sky", "tree", "car"]
    known = [{"train_id": i, "source_id": 10 + i, "name": nm} for i, nm in enumerate(names)]
    (split / "split.json").write_text(json.dumps({"num_known": n, "known": known}))
    pred_dir = write_goss(tmp_path / "pred", preds, groups_dtype=np.uint8, skip_groups_if_no=n)
    assert not (pred_dir / "groups" / "img002.png").exists()

    gt_exp = export_panoptic(split, tmp_path / "gt_pan")
    export_panoptic(pred_dir, tmp_path / "pred_pan", num_known=n)
    assert [c["name"] for c in gt_exp.categories] == names + ["unknown"]
    stat, results = oracle(tmp_path / "gt_pan", tmp_path / "pred_pan")
    res = score(pred_dir, split, average="present")
    for c, cr in enumerate(res.per_class):
        o = stat.pq_per_cat[c + 1]
        assert (cr.tp, cr.fp, cr.fn) == (o.tp, o.fp, o.fn)
        assert cr.pq == pytest.approx(results["per_class"][c + 1]["pq"], abs=1e-12, rel=0)
    assert res.gq_known == pytest.approx(results["Stuff"]["pq"], abs=1e-12, rel=0)
    assert res.gq_unknown == pytest.approx(results["Things"]["pq"], abs=1e-12, rel=0)


# ------------------------------------------------------- the exporter itself


def _read_ids(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def test_export_matches_slow_reference(tmp_path: Path) -> None:
    """Ids, areas, bboxes and categories checked against a per-segment loop."""
    rng = np.random.default_rng(5)
    n = 6
    gts, preds = make_dataset(rng, n, 3)
    pred_dir = write_goss(tmp_path / "pred", preds)
    exp = export_panoptic(pred_dir, tmp_path / "out", num_known=n)
    doc = json.loads(exp.json_path.read_text())
    assert {c["id"]: c["isthing"] for c in doc["categories"]} == {
        **{k + 1: 0 for k in range(n)},
        n + 1: 1,
    }
    assert [im["id"] for im in doc["images"]] == sorted(preds)
    assert exp.num_images == 3
    for ann in doc["annotations"]:
        sem, grp = preds[ann["image_id"]]
        ids = _read_ids(tmp_path / "out" / "panoptic" / ann["file_name"])
        assert ((ids == 0) == (sem == VOID)).all()
        expected = []
        for k in range(n):
            m = sem == k
            if m.any():
                expected.append((k + 1, m, None))
        for g in np.unique(grp[sem == n]):  # group 0 is a segment, never VOID
            expected.append((n + 1, (sem == n) & (grp == g), int(g)))
        segs = ann["segments_info"]
        assert len(segs) == len(expected)
        assert len({s["id"] for s in segs}) == len(segs)
        by_mask = {}
        for s in segs:
            m = ids == s["id"]
            ys, xs = np.nonzero(m)
            assert s["area"] == int(m.sum())
            assert s["bbox"] == [
                int(xs.min()),
                int(ys.min()),
                int(xs.max() - xs.min() + 1),
                int(ys.max() - ys.min() + 1),
            ]
            assert s["iscrowd"] == 0
            by_mask[m.tobytes()] = (s["category_id"], s.get("group_id"))
        for cat, m, g in expected:
            assert by_mask[m.tobytes()] == (cat, g)
    assert exp.num_segments == sum(len(a["segments_info"]) for a in doc["annotations"])


def test_export_cli_and_errors(tmp_path: Path, capsys) -> None:
    n = 3
    sem = np.array([[0, 1, 3, 3], [255, 3, 3, 2]], dtype=np.uint8)
    grp = np.array([[9, 9, 0, 0], [0, 5, 5, 9]], dtype=np.uint16)
    write_label_png(tmp_path / "p" / "semantic" / "a.png", sem)
    write_label_png(tmp_path / "p" / "groups" / "a.png", grp)
    assert cli_main(["export-panoptic", str(tmp_path / "p"), str(tmp_path / "o"), "-q",
                     "--num-known", str(n)]) == 0  # fmt: skip
    ids = _read_ids(tmp_path / "o" / "panoptic" / "a.png")
    # 0 -> 1, 1 -> 2, 2 -> 3, group 0 -> 4, group 5 -> 5, 255 -> VOID
    assert ids.tolist() == [[1, 2, 4, 4], [0, 5, 5, 3]]
    doc = json.loads((tmp_path / "o" / "panoptic.json").read_text())
    segs = {s["id"]: s for s in doc["annotations"][0]["segments_info"]}
    assert segs[4]["group_id"] == 0 and segs[4]["area"] == 2 and segs[4]["bbox"] == [2, 0, 2, 1]
    assert segs[5]["bbox"] == [1, 1, 2, 1] and segs[5]["category_id"] == n + 1

    # no split.json and no --num-known
    assert cli_main(["export-panoptic", str(tmp_path / "p"), str(tmp_path / "o2")]) == 2
    assert "--num-known" in capsys.readouterr().err
    # semantic value outside 0..N and 255
    assert cli_main(["export-panoptic", str(tmp_path / "p"), str(tmp_path / "o2"),
                     "--num-known", "2"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "a.png" in err and "outside 0..2" in err
    # unknown pixels without a group map
    (tmp_path / "p" / "groups" / "a.png").unlink()
    assert cli_main(["export-panoptic", str(tmp_path / "p"), str(tmp_path / "o2"),
                     "--num-known", "3"]) == 2  # fmt: skip
    assert "groups" in capsys.readouterr().err
    # RGB instead of a single-channel semantic map
    Image.new("RGB", (4, 2)).save(tmp_path / "p" / "semantic" / "a.png")
    assert cli_main(["export-panoptic", str(tmp_path / "p"), str(tmp_path / "o2"),
                     "--num-known", "3"]) == 2  # fmt: skip
    assert "single-channel" in capsys.readouterr().err
