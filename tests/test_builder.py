"""End-to-end tests of ``goss-bench build-split`` on small datasets in the genuine formats.

Every output is compared with an independent computation written here: the
class lists come straight from the split file (and cityscapesscripts), connected
components from scikit-image (the builder uses scipy.ndimage), the COCO JSON
masks from pycocotools' own ``COCO.annToMask``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datagen
import numpy as np
import pytest
from PIL import Image
from skimage.measure import label as sk_label

import goss_bench
from goss_bench.builder import build_split
from goss_bench.cli import main
from goss_bench.datasets import coco
from goss_bench.errors import GossInputError
from goss_bench.io import read_label_png, write_label_png
from goss_bench.splits import load_split

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

COCO_SPLITS = ("manual-20-60", "voc-20-60", "random-111-60")
CS_SPLITS = ("manual-16-3", "manual-13-6")


# --- independent oracle -------------------------------------------------------------


def _raw_value(dataset: str, source_id: int) -> int:
    return source_id - 1 if dataset == "coco" else source_id


def _components(mask: np.ndarray, conn: int) -> list[np.ndarray]:
    """Connected components of ``mask`` (skimage), ordered by their first raster pixel."""
    lab = sk_label(mask, connectivity=2 if conn == 8 else 1, background=0)
    comps = [lab == i for i in range(1, lab.max() + 1)]
    return sorted(comps, key=lambda m: int(np.flatnonzero(m.ravel())[0]))


def expected_test(raw, split, conn=8, min_area=0, instances=None, has_instances=()):
    """(semantic, groups, clusters) of one test image, from the rules in the issue."""
    n = split.num_known
    sem = np.full(raw.shape, 255, np.uint8)
    for tid, c in enumerate(split.known):
        sem[raw == _raw_value(split.dataset, c.source_id)] = tid
    unknown_vals = sorted(_raw_value(split.dataset, c.source_id) for c in split.unknown)
    groups = []  # (raw value, first pixel, mask)
    for v in unknown_vals:
        cls = raw == v
        if not cls.any():
            continue
        sem[cls] = n
        rest = cls
        if instances is not None and v in has_instances:
            for iid in np.unique(instances[cls & (instances > 0)]):
                m = cls & (instances == iid)
                groups.append((v, int(np.flatnonzero(m.ravel())[0]), m))
            rest = cls & (instances == 0)
        for m in _components(rest, conn):
            groups.append((v, int(np.flatnonzero(m.ravel())[0]), m))
    groups.sort(key=lambda g: (g[0], g[1]))
    grp = np.zeros(raw.shape, np.uint16)
    k = 0
    for _, _, m in groups:
        if m.sum() < min_area:
            sem[m] = 255
        else:
            k += 1
            grp[m] = k
    clu = np.zeros(raw.shape, np.uint16)
    j = 0
    for v in sorted(np.unique(raw[sem != 255]).tolist()):
        for m in _components((raw == v) & (sem != 255), conn):
            j += 1
            clu[m] = j
    return sem, grp, clu


def expected_train(raw, split):
    sem = np.full(raw.shape, 255, np.uint8)
    for tid, c in enumerate(split.known):
        sem[raw == _raw_value(split.dataset, c.source_id)] = tid
    return sem


def coco_raw_maps(root: Path, subset: str) -> dict[str, np.ndarray]:
    sub = {"train": "train2017", "test": "val2017"}[subset]
    d = root / "stuffthingmaps_trainval2017" / sub
    return {p.stem: np.asarray(Image.open(p)) for p in sorted(d.glob("*.png"))}


def cs_raw_maps(root: Path, subset: str, suffix: str = "labelIds") -> dict[str, np.ndarray]:
    sub = {"train": "train", "test": "val"}[subset]
    files = sorted((root / "gtFine" / sub).glob(f"*/*_gtFine_{suffix}.png"))
    return {p.name.split("_gtFine_")[0]: np.asarray(Image.open(p)) for p in files}


def read_dir(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def check_build(out: Path, split, raws: dict[str, dict[str, np.ndarray]], *, conn=8, min_area=0,
                instances=None, has_instances=(), train_rule=None, test_rule=None):
    """Compare a built split directory with the oracle, file by file."""
    unk_vals = [_raw_value(split.dataset, c.source_id) for c in split.unknown]
    train_rule = train_rule or split.rules.train_images
    test_rule = test_rule or split.rules.test_images
    expect_files = {"split.json", "manifest.json", "train/images.txt", "test/images.txt"}
    kept = {"train": [], "test": []}
    for stem, raw in raws["train"].items():
        if train_rule == "without-unknown" and np.isin(raw, unk_vals).any():
            continue
        kept["train"].append(stem)
        got = read_label_png(out / "train" / "semantic" / f"{stem}.png")
        np.testing.assert_array_equal(got, expected_train(raw, split), err_msg=stem)
        expect_files.add(f"train/semantic/{stem}.png")
    for stem, raw in raws["test"].items():
        if test_rule == "with-unknown" and not np.isin(raw, unk_vals).any():
            continue
        kept["test"].append(stem)
        inst = instances.get(stem) if instances is not None else None
        sem, grp, clu = expected_test(raw, split, conn, min_area, inst, has_instances)
        for kind, arr in (("semantic", sem), ("groups", grp), ("clusters", clu)):
            p = out / "test" / kind / f"{stem}.png"
            got = read_label_png(p, bits=(8, 16))
            np.testing.assert_array_equal(got, arr, err_msg=f"{kind} {stem}")
            expect_files.add(f"test/{kind}/{stem}.png")
        assert read_label_png(out / "test" / "semantic" / f"{stem}.png").dtype == np.uint8
        with Image.open(out / "test" / "groups" / f"{stem}.png") as im:
            assert im.mode.startswith("I;16")
    assert set(read_dir(out)) == expect_files
    for s in ("train", "test"):
        lines = (out / s / "images.txt").read_text().splitlines()
        assert [ln.split(" ", 1)[0] for ln in lines] == sorted(kept[s])
        assert all(Path(ln.split(" ", 1)[1]).is_file() for ln in lines)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["counts"]["train"]["kept"] == len(kept["train"])
    assert manifest["counts"]["test"]["kept"] == len(kept["test"])
    for rel, digest in manifest["files"].items():
        import hashlib

        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    assert set(manifest["files"]) == expect_files - {"manifest.json"}
    return kept


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=8, n_val=6, seed=1)


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory):
    return datagen.make_cityscapes(tmp_path_factory.mktemp("cityscapes"), n_train=4, n_val=3, seed=2)


# --- COCO --------------------------------------------------------------------------


@pytest.mark.parametrize("name", COCO_SPLITS)
def test_coco_png_every_official_split(coco_root, tmp_path, name):
    split = load_split(name, "coco")
    out = tmp_path / "out"
    s = build_split("coco", name, coco_root, out, source="png")
    raws = {s_: coco_raw_maps(coco_root, s_) for s_ in ("train", "test")}
    kept = check_build(out, split, raws)
    assert (s.train_images, s.test_images) == (len(kept["train"]), len(kept["test"]))
    assert kept["train"] and kept["test"], "the generated data should exercise both filters"
    assert s.excluded["train"] + s.train_images == 8 and s.excluded["test"] + s.test_images == 6
    assert (s.expected_train, s.expected_test) == (
        split.expected_images["train"], split.expected_images["test"])
    meta = json.loads((out / "split.json").read_text())
    assert meta["num_known"] == split.num_known == 111
    assert [c["name"] for c in meta["known"]] == [c.name for c in split.known]
    assert meta["options"] == {"train_images": "without-unknown", "train_unknown": "void",
                               "test_images": "with-unknown", "connectivity": 8, "unknown_groups": "connectivity",
                               "min_group_area": 0, "source": "png"}
    # the scorer accepts the split directory: GT scored against itself is perfect
    r = goss_bench.score(out / "test", out, average="present")
    assert r.num_known == 111 and r.num_images == len(kept["test"])
    assert r.gq == pytest.approx(1.0) and r.gs is not None and r.gs.gq_clu == pytest.approx(1.0)


def test_coco_json_route_equals_png_route(coco_root, tmp_path):
    a, b = tmp_path / "png", tmp_path / "json"
    build_split("coco", "manual-20-60", coco_root, a, source="png")
    build_split("coco", "manual-20-60", coco_root, b, source="json")
    da, db = read_dir(a), read_dir(b)
    assert set(da) == set(db)
    for rel in da:
        if rel not in ("manifest.json", "split.json"):
            assert da[rel] == db[rel], rel
    assert json.loads(db["split.json"])["options"]["source"] == "json"


def _paint_with_coco_api(ann_dir: Path, sub: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Independent rasterisation: pycocotools.COCO.annToMask, stuff (+other) first, then
    things; 'other' and unpainted pixels 255. Also the non-crowd thing instances."""
    from pycocotools.coco import COCO

    out = {}
    stuff = COCO(str(ann_dir / f"stuff_{sub}.json"))
    things = COCO(str(ann_dir / f"instances_{sub}.json"))
    for iid, im in things.imgs.items():
        raw = np.full((im["height"], im["width"]), 255, np.uint8)
        inst = np.zeros(raw.shape, np.int32)
        for a in stuff.loadAnns(stuff.getAnnIds(imgIds=[iid])):
            raw[stuff.annToMask(a) > 0] = 255 if a["category_id"] == 183 else a["category_id"] - 1
        for k, a in enumerate(things.loadAnns(things.getAnnIds(imgIds=[iid], iscrowd=None))):
            m = things.annToMask(a) > 0
            raw[m] = a["category_id"] - 1
            inst[m] = 0 if a["iscrowd"] else k + 1
        out[Path(im["file_name"]).stem] = (raw, inst)
    return out


def test_coco_json_rasterisation_matches_coco_api(coco_root):
    from goss_bench.builder.readers import rasterize_coco
    from goss_bench.builder.sources import list_items

    items = list_items("coco", "json", coco_root)
    crowd = 0
    for subset, sub in (("train", "train2017"), ("test", "val2017")):
        ref = _paint_with_coco_api(coco_root / "annotations", sub)
        pngs = coco_raw_maps(coco_root, subset)
        for it in items[subset]:
            h, w, st, th, where = it.json_ann
            crowd += sum(a["iscrowd"] for a in th)
            raw, inst = rasterize_coco(h, w, st, th, where=where, with_instances=True)
            np.testing.assert_array_equal(raw, ref[it.stem][0])
            np.testing.assert_array_equal(raw, pngs[it.stem])
            # instance ids may be numbered differently: compare the partitions
            pairs = set(zip(inst.ravel().tolist(), ref[it.stem][1].ravel().tolist(), strict=True))
            assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})
    assert crowd > 0, "the generated data should include crowd (RLE) annotations"


def test_coco_json_instances_option(coco_root, tmp_path):
    split = load_split("manual-20-60", "coco")
    out = tmp_path / "inst"
    build_split("coco", "manual-20-60", coco_root, out, source="json", unknown_groups="instances")
    ref = _paint_with_coco_api(coco_root / "annotations", "val2017")
    raws = {"train": coco_raw_maps(coco_root, "train"), "test": coco_raw_maps(coco_root, "test")}
    things = {c.png for c in coco.evaluable() if c.kind == "thing"}
    check_build(out, split, raws, instances={k: v[1] for k, v in ref.items()},
                has_instances=things)
    assert json.loads((out / "split.json").read_text())["options"]["unknown_groups"] == "instances"
    conn = tmp_path / "conn"
    build_split("coco", "manual-20-60", coco_root, conn, source="json")
    assert read_dir(conn / "test" / "semantic") == read_dir(out / "test" / "semantic")
    assert read_dir(conn / "test" / "groups") != read_dir(out / "test" / "groups")
    with pytest.raises(GossInputError, match="--source json"):
        build_split("coco", "manual-20-60", coco_root, tmp_path / "x", unknown_groups="instances")


@pytest.mark.parametrize("conn, drop", [(4, False), (8, True)])
def test_connectivity_and_min_group_area(coco_root, tmp_path, conn, drop):
    split = load_split("manual-20-60", "coco")
    raws = {s: coco_raw_maps(coco_root, s) for s in ("train", "test")}
    min_area = 0
    if drop:  # a threshold with unknown groups on both sides
        areas = sorted(
            int(m.sum())
            for raw in raws["test"].values()
            for c in split.unknown
            for m in _components(raw == c.source_id - 1, conn)
        )
        min_area = areas[len(areas) // 2]
        assert areas[0] < min_area
    out = tmp_path / "o"
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
               str(coco_root), "--out", str(out), "--workers", "1", "--connectivity", str(conn),
               "--min-group-area", str(min_area), "--no-progress"])
    assert rc == 0
    check_build(out, split, raws, conn=conn, min_area=min_area)
    opts = json.loads((out / "split.json").read_text())["options"]
    assert (opts["connectivity"], opts["min_group_area"]) == (conn, min_area)


def test_filter_overrides_keep_every_image(coco_root, tmp_path):
    split = load_split("voc-20-60", "coco")
    out = tmp_path / "all"
    s = build_split("coco", split, coco_root, out, train_images="all", test_images="all")
    raws = {s_: coco_raw_maps(coco_root, s_) for s_ in ("train", "test")}
    check_build(out, split, raws, train_rule="all", test_rule="all")
    assert (s.train_images, s.test_images) == (8, 6)
    assert s.expected_train is None  # the paper's counts do not apply any more


# --- Cityscapes ----------------------------------------------------------------------


@pytest.mark.parametrize("name", CS_SPLITS)
def test_cityscapes_every_official_split(cs_root, tmp_path, name):
    from cityscapesscripts.helpers.labels import labels

    split = load_split(name, "cityscapes")
    # the split's known classes, from cityscapesscripts: the 19 evaluated minus the unknown
    unknown = {c.name for c in split.unknown}
    evaluated = sorted((lab for lab in labels if not lab.ignoreInEval and lab.id >= 0),
                       key=lambda lab: lab.id)
    assert [c.source_id for c in split.known] == [lab.id for lab in evaluated
                                                  if lab.name not in unknown]
    out = tmp_path / "cs"
    s = build_split("cityscapes", name, cs_root, out)
    raws = {s_: cs_raw_maps(cs_root, s_) for s_ in ("train", "test")}
    kept = check_build(out, split, raws)
    assert len(kept["train"]) == 4 and len(kept["test"]) == 3  # every image is kept
    assert (s.expected_train, s.expected_test) == (2975, 500)
    # ignoreInEval labels (ego vehicle, out of roi, caravan, ...) are void in train and test
    void_ids = [lab.id for lab in labels if lab.ignoreInEval and lab.id >= 0]
    for stem, raw in raws["test"].items():
        sem = read_label_png(out / "test" / "semantic" / f"{stem}.png")
        assert (sem[np.isin(raw, void_ids)] == 255).all()
        assert (sem[np.isin(raw, [26, 27, 28])] == split.num_known).all()
    r = goss_bench.score(out / "test", out, average="present")
    assert r.gq == pytest.approx(1.0)
    with pytest.raises(GossInputError, match="--source json is not available for cityscapes"):
        build_split("cityscapes", name, cs_root, tmp_path / "j", source="json")


def test_cityscapes_instances_option(cs_root, tmp_path):
    split = load_split("manual-13-6", "cityscapes")
    out = tmp_path / "csi"
    build_split("cityscapes", "manual-13-6", cs_root, out, unknown_groups="instances")
    raws = {s: cs_raw_maps(cs_root, s) for s in ("train", "test")}
    inst_raw = cs_raw_maps(cs_root, "test", "instanceIds")
    instances = {k: np.where(v >= 1000, v, 0).astype(np.int32) for k, v in inst_raw.items()}
    check_build(out, split, raws, instances=instances, has_instances=set(range(24, 34)))
    # the data has touching instances of one class, which the two modes group differently
    conn = tmp_path / "csc"
    build_split("cityscapes", "manual-13-6", cs_root, conn)
    assert any(
        not np.array_equal(read_label_png(p, bits=(16,)),
                           read_label_png(conn / "test" / "groups" / p.name, bits=(16,)))
        for p in (out / "test" / "groups").glob("*.png")
    )


# --- determinism, resume, bad input -----------------------------------------------------


def test_workers_give_byte_identical_output(coco_root, tmp_path):
    a, b = tmp_path / "w1", tmp_path / "w2"
    build_split("coco", "manual-20-60", coco_root, a, source="json", workers=1)
    build_split("coco", "manual-20-60", coco_root, b, source="json", workers=2)
    assert read_dir(a) == read_dir(b)


def test_resume_after_interrupted_build(coco_root, tmp_path, monkeypatch):
    from goss_bench.builder import image

    fresh = tmp_path / "fresh"
    build_split("coco", "manual-20-60", coco_root, fresh)
    out = tmp_path / "resumed"
    real = image._convert
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(image, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_split("coco", "manual-20-60", coco_root, out)
    partial = json.loads((out / "manifest.json").read_text())
    assert partial["complete"] is False and len(partial["images"]) == 5
    # a half-written temp file from a killed process, and a damaged output
    (out / "train" / "semantic" / ".000000000001.png.x.tmp").write_bytes(b"\x89PNG half")
    (out / ".manifest.json.y.tmp").write_text("{")
    done = [r for r in partial["images"] if r["files"]]
    damaged = out / next(iter(done[0]["files"]))
    damaged.write_bytes(damaged.read_bytes()[:-7])
    monkeypatch.setattr(image, "_convert", real)
    s = build_split("coco", "manual-20-60", coco_root, out)
    assert s.reused == 4  # 5 finished, 1 of them damaged and redone
    assert read_dir(out) == read_dir(fresh)
    # a third run reuses everything
    assert build_split("coco", "manual-20-60", coco_root, out).reused == 14
    # other options into the same folder: refused unless --overwrite
    with pytest.raises(GossInputError, match="--overwrite"):
        build_split("coco", "manual-20-60", coco_root, out, connectivity=4)
    s4 = build_split("coco", "manual-20-60", coco_root, out, connectivity=4, overwrite=True)
    assert s4.reused == 0


@pytest.fixture()
def bad_coco(coco_root, tmp_path):
    root = tmp_path / "badcoco"
    shutil.copytree(coco_root, root)
    lab = root / "stuffthingmaps_trainval2017"
    (lab / "train2017" / "000000000002.png").write_bytes(b"\x89PNG\r\n\x1a\n corrupt")
    arr = read_label_png(lab / "val2017" / "000000500001.png").copy()
    arr[0, 0] = 200  # not a COCO-Stuff value
    write_label_png(lab / "val2017" / "000000500001.png", arr)
    write_label_png(lab / "val2017" / "000000500002.png", np.zeros((10, 12), np.uint8))
    return root


def test_bad_input_stops_with_the_path(bad_coco, tmp_path, capsys):
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
               str(bad_coco), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "000000000002.png" in err and "--skip-bad" in err


def test_skip_bad_records_and_continues(bad_coco, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
               str(bad_coco), "--out", str(out), "--workers", "2", "--skip-bad"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "bad inputs skipped (3)" in text and "17,293" in text
    m = json.loads((out / "manifest.json").read_text())
    bad = {b["stem"]: b for b in m["bad"]}
    assert set(bad) == {"000000000002", "000000500001", "000000500002"}
    assert "[200]" in bad["000000500001"]["error"]
    assert "64x48" in bad["000000500002"]["error"] and "12x10" in bad["000000500002"]["error"]
    for b in bad.values():
        assert Path(b["path"]).name == b["stem"] + ".png" and b["path"] in b["error"]
        assert not (out / "test" / "semantic" / f"{b['stem']}.png").exists()
    assert m["counts"]["train"]["bad"] == 1 and m["counts"]["test"]["bad"] == 2


def test_missing_root_shows_expected_layout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOSS_DATASETS", raising=False)
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "datasets/coco" in err and "stuffthingmaps_trainval2017/{train2017,val2017}/*.png" in err
    (tmp_path / "datasets" / "cityscapes" / "gtFine").mkdir(parents=True)
    assert main(["build-split", "--dataset", "cityscapes", "--split", "manual-16-3"]) == 2
    assert "_gtFine_labelIds.png" in capsys.readouterr().err


def test_default_root_and_out(coco_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOSS_DATASETS", str(coco_root.parent))
    link = coco_root.parent / "coco"
    if not link.exists():
        link.symlink_to(coco_root)
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--workers", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "manual-20-60" in out and "111 (20/91)" in out and "4,264" in out
    assert (tmp_path / "goss_data" / "coco-manual-20-60" / "test" / "groups").is_dir()
    rc = main(["score", str(tmp_path / "goss_data" / "coco-manual-20-60" / "test"),
               str(tmp_path / "goss_data" / "coco-manual-20-60"), "--average", "present"])
    assert rc == 0


def test_custom_split_builds_and_scores(cs_root, tmp_path):
    spf = tmp_path / "mine.json"
    assert main(["make-split", "--dataset", "cityscapes", "--known", "road", "sky", "building",
                 "vegetation", "person", "--void", "rider", "--out", str(spf)]) == 0
    split = load_split(spf)
    out = tmp_path / "b"
    build_split("cityscapes", spf, cs_root, out, min_group_area=3)
    raws = {s: cs_raw_maps(cs_root, s) for s in ("train", "test")}
    check_build(out, split, raws, min_area=3)
    assert goss_bench.score(out / "test", out, average="present").gq == pytest.approx(1.0)


# --- genuine COCO annotation files (tests/data, CC BY 4.0, see tests/data/SOURCES.md) ---------

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def genuine_coco(tmp_path_factory):
    """A COCO root made of the committed genuine snippets: train2017 = the COCO-Stuff
    stuff examples (images 934, 13715), val2017 = the COCO instances subset (139,
    255917); the missing halves are valid files with no annotations; grey photos."""
    root = tmp_path_factory.mktemp("genuine")
    inst = json.loads((DATA / "coco_instances_val2017_subset.json").read_text())
    stuff = json.loads((DATA / "coco_stuff_examples.json").read_text())
    ann = root / "annotations"
    ann.mkdir()
    files = {
        "instances_train2017.json": {**inst, "images": stuff["images"], "annotations": []},
        "stuff_train2017.json": stuff,
        "instances_val2017.json": inst,
        "stuff_val2017.json": {**stuff, "images": inst["images"], "annotations": []},
    }
    for name, doc in files.items():
        (ann / name).write_text(json.dumps(doc))
    for sub, doc in (("train2017", stuff), ("val2017", inst)):
        (root / sub).mkdir()
        for im in doc["images"]:
            Image.new("RGB", (im["width"], im["height"]), (90, 90, 90)).save(
                root / sub / im["file_name"], format="JPEG")
    return root


def test_genuine_coco_json_files(genuine_coco, tmp_path):
    split = load_split("manual-20-60", "coco")
    out = tmp_path / "g"
    s = build_split("coco", "manual-20-60", genuine_coco, out, source="json", workers=2)
    raws = {}
    for subset, sub in (("train", "train2017"), ("test", "val2017")):
        raws[subset] = {k: v[0] for k, v in _paint_with_coco_api(genuine_coco / "annotations",
                                                                   sub).items()}
    kept = check_build(out, split, raws)
    # 255917 holds only person, car, truck and traffic light (all known): not a test image;
    # 139 has unknown things (potted plant, tv is known, vase, ...): kept
    assert kept == {"train": ["000000000934", "000000013715"], "test": ["000000000139"]}
    assert (s.train_images, s.test_images) == (2, 1)
    sem = read_label_png(out / "train" / "semantic" / "000000000934.png")
    assert sem.shape == (480, 640) and 0.5 < (sem != 255).mean() < 0.99  # "other" is void
    r = goss_bench.score(out / "test", out, average="present")
    assert r.gq == pytest.approx(1.0)


def test_genuine_coco_instances(genuine_coco, tmp_path):
    split = load_split("voc-20-60", "coco")
    out = tmp_path / "gi"
    build_split("coco", split, genuine_coco, out, source="json", unknown_groups="instances",
                test_images="all")
    ref = _paint_with_coco_api(genuine_coco / "annotations", "val2017")
    raws = {"train": {k: v[0] for k, v in _paint_with_coco_api(genuine_coco / "annotations",
                                                                 "train2017").items()},
            "test": {k: v[0] for k, v in ref.items()}}
    things = {c.png for c in coco.evaluable() if c.kind == "thing"}
    check_build(out, split, raws, instances={k: v[1] for k, v in ref.items()},
                has_instances=things, test_rule="all")


def test_datagen_uses_the_genuine_json_schema(coco_root):
    genuine = json.loads((DATA / "coco_instances_val2017_subset.json").read_text())
    stuff = json.loads((DATA / "coco_stuff_examples.json").read_text())
    ours = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())
    ours_st = json.loads((coco_root / "annotations" / "stuff_train2017.json").read_text())
    key = lambda d: (set(d), set(d["annotations"][0]), set(d["images"][0]) - {"coco_url",  # noqa: E731
                     "flickr_url", "date_captured"}, d["categories"][:3])
    assert key(ours) == key(genuine)
    assert key(ours_st)[:2] == key(stuff)[:2]
    assert ours_st["categories"] == stuff["categories"]
    assert {type(a["segmentation"]["counts"]) for a in ours_st["annotations"]} == {str}


def test_make_built_split_helper(tmp_path):
    out = datagen.make_built_split(tmp_path, "cityscapes", "manual-16-3", n_train=2, n_val=2,
                                   min_group_area=2)
    assert out == tmp_path / "cityscapes-manual-16-3"
    meta = json.loads((out / "split.json").read_text())
    assert meta["num_known"] == 16 and meta["options"]["min_group_area"] == 2
    assert len(list((out / "test" / "groups").glob("*.png"))) == 2


def test_train_unknown_option_writes_n_in_training_maps(cs_root, tmp_path):
    """--train-unknown unknown: training pixels of unknown classes become N, the rest as usual."""
    from goss_bench.cli import main as cli_main

    split = load_split("manual-16-3", "cityscapes")
    out = tmp_path / "cs"
    code = cli_main(["build-split", "--dataset", "cityscapes", "--split", "manual-16-3",
                     "--root", str(cs_root), "--out", str(out), "--train-unknown", "unknown",
                     "--no-progress"])
    assert code == 0
    meta = json.loads((out / "split.json").read_text())
    assert meta["options"]["train_unknown"] == "unknown"
    unknown_raw = [_raw_value("cityscapes", c.source_id) for c in split.unknown]
    raws = cs_raw_maps(cs_root, "train")
    saw_unknown = False
    for stem, raw in raws.items():
        sem = read_label_png(out / "train" / "semantic" / f"{stem}.png")
        want = expected_train(raw, split)
        is_unk = np.isin(raw, unknown_raw)
        want[is_unk] = split.num_known
        saw_unknown |= bool(is_unk.any())
        np.testing.assert_array_equal(sem, want)
    assert saw_unknown, "the generated Cityscapes frames should contain unknown classes"
    # the default keeps the paper's rule: unknown training pixels are void
    default = build_split("cityscapes", "manual-16-3", cs_root, tmp_path / "default")
    assert default.train_images == len(raws)
    for stem, raw in raws.items():
        sem = read_label_png(tmp_path / "default" / "train" / "semantic" / f"{stem}.png")
        np.testing.assert_array_equal(sem, expected_train(raw, split))
