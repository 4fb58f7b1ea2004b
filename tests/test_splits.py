"""Split files: the official lists, validation, and the make-split rules."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from goss_bench.builder.selection import manual_things, random_classes, resolve_classes
from goss_bench.builder.stats import read_image_counts
from goss_bench.cli import main
from goss_bench.datasets import coco
from goss_bench.errors import GossInputError
from goss_bench.splits import list_splits, load_split, make_split, split_from_dict, splits_dir

DATA = Path(__file__).parent / "data"
OFFICIAL = {"manual_20_60": "manual-20-60", "voc_20_60": "voc-20-60", "random_20_60": "random-111-60"}


def _official_rows():
    with open(DATA / "goss_official_splits.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("key", sorted(OFFICIAL))
def test_coco_split_equals_authors_list(key):
    rows = [r for r in _official_rows() if r["split"] == key]
    sp = load_split(OFFICIAL[key], "coco")
    known = {c.source_id: c for c in sp.known}
    unknown = {c.source_id: c for c in sp.unknown}
    assert len(rows) == 171 == len(known) + len(unknown)
    for r in rows:  # every class, with its name and kind
        cid = int(r["coco_id"])
        side = known if r["is_known"] == "1" else unknown
        assert cid in side, (key, r)
        assert side[cid].name == r["name"] and side[cid].kind == r["kind"]
    assert sp.num_known == 111
    # train ids follow source-id order
    assert [c.source_id for c in sp.known] == sorted(known)


def test_split_table_counts():
    rows = {(s.dataset, s.name): s for s in (load_split(p) for _, _, p in list_splits())}
    expect = {
        ("coco", "voc-20-60"): (20, 91, 60, 0, 21711, 4080),
        ("coco", "manual-20-60"): (20, 91, 60, 0, 17293, 4264),
        ("coco", "random-111-60"): (51, 60, 29, 31, 18707, 4156),
        ("cityscapes", "manual-16-3"): (None, None, 3, None, 2975, 500),
        ("cityscapes", "manual-13-6"): (None, None, 6, None, 2975, 500),
    }
    assert set(rows) == set(expect)
    for key, (kt, ks, ut, us, tr, te) in expect.items():
        sp = rows[key]
        if kt is not None:
            assert sum(c.kind == "thing" for c in sp.known) == kt
            assert sum(c.kind == "stuff" for c in sp.known) == ks
            assert sum(c.kind == "stuff" for c in sp.unknown) == us
            assert sum(c.kind == "thing" for c in sp.unknown) == ut
        else:
            assert len(sp.unknown) == ut and sp.num_known == 19 - ut
        assert sp.expected_images["train"] == tr and sp.expected_images["test"] == te


def test_voc_split_is_the_voc_classes():
    voc = {"airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "dining table", "dog", "horse", "motorcycle", "person", "potted plant", "sheep",
           "couch", "train", "tv"}
    sp = load_split("voc-20-60", "coco")
    assert {c.name for c in sp.known if c.kind == "thing"} == voc


def test_cityscapes_splits_use_cityscapesscripts_ids():
    from cityscapesscripts.helpers.labels import name2label

    sp = load_split("manual-13-6", "cityscapes")
    assert {c.name for c in sp.unknown} == {"car", "truck", "bus", "building", "traffic sign",
                                            "vegetation"}
    for c in sp.known + sp.unknown:
        assert name2label[c.name].id == c.source_id and not name2label[c.name].ignoreInEval
    assert [c.source_id for c in sp.known] == sorted(c.source_id for c in sp.known)


def test_split_files_are_canonical():
    # the files are written by write_split: re-serialising gives the same text
    from goss_bench.splits import split_to_json

    for _, _, p in list_splits():
        assert split_to_json(load_split(p)) == p.read_text()
    assert splits_dir().name == "split_files"
    repo_link = Path(__file__).resolve().parents[1] / "splits"
    assert repo_link.resolve() == splits_dir().resolve()


def test_sha_is_independent_of_formatting(tmp_path):
    p = splits_dir() / "coco-manual-20-60.json"
    q = tmp_path / "x.json"
    q.write_text(json.dumps(json.loads(p.read_text()), indent=None))
    assert load_split(q).sha256 == load_split(p).sha256
    d = json.loads(p.read_text())
    d["rules"]["connectivity"] = 4
    q.write_text(json.dumps(d))
    with pytest.raises(GossInputError, match="reserved for the official coco split"):
        load_split(q)  # an official name with other rules would impersonate it
    d["name"] = "manual-20-60-conn4"
    q.write_text(json.dumps(d))
    assert load_split(q).sha256 != load_split(p).sha256


def _base():
    return json.loads((splits_dir() / "cityscapes-manual-16-3.json").read_text())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["known"].pop(), "missing"),
        (lambda d: d["unknown"].insert(0, d["known"][0]), "both"),
        (lambda d: d["known"][0].update(name="street"), "not 'street'"),
        (lambda d: d["known"][0].update(kind="thing"), "stuff"),
        (lambda d: d["known"].reverse(), "order"),
        (lambda d: d["known"].append({"source_id": 5}), "not evaluated"),
        (lambda d: d["known"].append({"source_id": 99}), "not a class"),
        (lambda d: d["rules"].update(connectivity=6), "connectivity"),
        (lambda d: d["rules"].update(min_group_area=-1), "min_group_area"),
        (lambda d: d["rules"].update(colour="red"), "unknown rule"),
        (lambda d: d.update(unknown=[]), "at least one"),
        (lambda d: d.update(dataset="ade20k"), "dataset"),
        (lambda d: d.update(format_version=7), "format_version"),
        (lambda d: d["known"][3].update(train_id=9), "train_id"),
    ],
)
def test_validation_errors_name_the_file(tmp_path, mutate, message):
    d = _base()
    mutate(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(GossInputError, match=message) as ei:
        load_split(p)
    assert str(p) in str(ei.value)


def test_unknown_split_name_lists_official():
    with pytest.raises(GossInputError, match="manual-20-60"):
        load_split("nope", "coco")
    with pytest.raises(GossInputError, match="not found"):
        load_split("/nonexistent/x.json")


def test_void_classes_are_allowed():
    sp = make_split("cityscapes", "v", [7, 8, 11], void_ids=[33])
    assert [c.source_id for c in sp.void] == [33]
    assert 33 not in {c.source_id for c in sp.unknown}
    assert split_from_dict(sp.to_dict()).sha256 == sp.sha256


def test_manual_rule_reproduces_official_manual20():
    counts = read_image_counts(DATA / "coco_image_counts.csv")
    chosen = manual_things("coco", counts, 20)
    official = load_split("manual-20-60", "coco")
    assert chosen == [c.source_id for c in official.known if c.kind == "thing"]
    # one or two per supercategory
    per_sc: dict[str, int] = {}
    for cid in chosen:
        sc = coco.by_id()[cid].supercategory
        per_sc[sc] = per_sc.get(sc, 0) + 1
    assert len(per_sc) == 12 and set(per_sc.values()) <= {1, 2}
    with pytest.raises(GossInputError, match="between 12"):
        manual_things("coco", counts, 11)


def test_manual_rule_independent_oracle():
    # a brute-force statement of the rule: a set S of k things with 1..2 per supercategory
    # maximising the counts lexicographically is what manual_things returns
    counts = read_image_counts(DATA / "coco_image_counts.csv")
    things = [c for c in coco.evaluable() if c.kind == "thing"]
    by_sc: dict[str, list] = {}
    for c in things:
        by_sc.setdefault(c.supercategory, []).append(c)
    for k in (12, 16, 20, 23):
        firsts = [max(v, key=lambda c: (counts[c.id], -c.id)) for v in by_sc.values()]
        rest = []
        for v in by_sc.values():
            ordered = sorted(v, key=lambda c: (-counts[c.id], c.id))
            if len(ordered) > 1:
                rest.append(ordered[1])
        rest.sort(key=lambda c: (-counts[c.id], c.id))
        expect = sorted(c.id for c in firsts + rest[: k - 12])
        assert manual_things("coco", counts, k) == expect


def test_random_split_is_seeded():
    a = random_classes("coco", 51, 60, seed=3)
    assert a == random_classes("coco", 51, 60, seed=3)
    assert a != random_classes("coco", 51, 60, seed=4)
    kinds = [coco.by_id()[i].kind for i in a]
    assert kinds.count("thing") == 51 and kinds.count("stuff") == 60


def test_resolve_classes_by_name_and_id():
    assert resolve_classes("cityscapes", ["road,sky", "26"]) == [7, 23, 26]
    with pytest.raises(GossInputError, match="not a cityscapes class"):
        resolve_classes("cityscapes", ["roadd"])


def test_make_split_cli(tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["make-split", "--dataset", "coco", "--manual-things", "20",
               "--stats", str(DATA / "coco_image_counts.csv"), "--out", str(out)])
    assert rc == 0
    sp = load_split(out)
    assert sp.name == "manual-20-60"
    assert sp.known == load_split("manual-20-60", "coco").known
    rc = main(["make-split", "--dataset", "cityscapes", "--random", "--known-things", "4",
               "--known-stuff", "9", "--seed", "1", "--out", str(tmp_path / "r.json")])
    assert rc == 0 and load_split(tmp_path / "r.json").num_known == 13
    rc = main(["make-split", "--dataset", "cityscapes", "--known", "road", "sky",
               "--out", str(tmp_path / "k.json")])
    assert rc == 0 and [c.name for c in load_split(tmp_path / "k.json").known] == ["road", "sky"]
    assert main(["make-split", "--dataset", "coco", "--manual-things", "20"]) == 2
    assert "--stats" in capsys.readouterr().err
