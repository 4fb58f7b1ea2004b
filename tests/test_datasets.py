"""The label tables (goss_bench.datasets) against genuine files and cityscapesscripts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from goss_bench.datasets import DATASETS, cityscapes, coco, dataset_classes
from goss_bench.errors import GossInputError

DATA = Path(__file__).parent / "data"
REMOVED_THINGS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}


def test_coco_table_shape():
    assert [c.id for c in coco.CLASSES] == list(range(1, 183))
    assert all(c.png == c.id - 1 for c in coco.CLASSES)
    assert {c.id for c in coco.CLASSES if not c.in_coco2017} == REMOVED_THINGS
    ev = coco.evaluable()
    assert sum(c.kind == "thing" for c in ev) == 80 and sum(c.kind == "stuff" for c in ev) == 91
    assert all((c.kind == "thing") == (c.id <= 91) for c in coco.CLASSES)
    assert len({c.name for c in coco.CLASSES}) == 182
    assert coco.by_name()["person"].id == 1 and coco.by_id()[182].name == "wood"
    assert coco.UNLABELED_PNG == 255 and coco.OTHER_ID == 183


def test_coco_table_matches_genuine_json_categories():
    inst = json.loads((DATA / "coco_instances_val2017_subset.json").read_text())["categories"]
    stuff = json.loads((DATA / "coco_stuff_examples.json").read_text())["categories"]
    assert len(inst) == 80 and len(stuff) == 92
    for cat in inst + stuff:
        if cat["id"] == coco.OTHER_ID:
            assert cat["name"] == "other"
            continue
        c = coco.by_id()[cat["id"]]
        assert (c.name, c.supercategory, c.in_coco2017) == (cat["name"], cat["supercategory"], True)
    assert {c["id"] for c in inst} | {c["id"] for c in stuff} - {183} == {
        c.id for c in coco.evaluable()
    }


def test_coco_table_matches_the_authors_names():
    with open(DATA / "goss_official_splits.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        c = coco.by_id()[int(r["coco_id"])]
        assert (c.name, c.kind) == (r["name"], r["kind"])


def test_cityscapes_table_is_cityscapesscripts():
    from cityscapesscripts.helpers.labels import id2label, labels

    assert len(cityscapes.classes()) == len(labels)
    for ours, theirs in zip(cityscapes.classes(), labels, strict=True):
        assert (ours.name, ours.id, ours.train_id, ours.category) == (
            theirs.name, theirs.id, theirs.trainId, theirs.category)
        assert ours.has_instances == theirs.hasInstances
        assert ours.ignore_in_eval == theirs.ignoreInEval
        assert ours.kind == ("thing" if theirs.hasInstances else "stuff")
    ev = cityscapes.evaluable()
    assert len(ev) == 19
    assert sorted(c.train_id for c in ev) == list(range(19))
    assert [c.id for c in ev] == sorted(c.id for c in ev)
    assert cityscapes.by_id()[26] == next(c for c in cityscapes.classes() if c.name == "car")
    assert id2label[-1].name == "license plate" and not cityscapes.by_id()[-1].evaluable


def test_dataset_classes():
    assert DATASETS == ("coco", "cityscapes")
    cc = dataset_classes("coco")
    assert len(cc) == 182 and sum(c.evaluable for c in cc) == 171
    cs = dataset_classes("cityscapes")
    assert [c.source_id for c in cs] == sorted(c.source_id for c in cs)
    assert {c.name for c in cs if c.evaluable} == {c.name for c in cityscapes.evaluable()}
    with pytest.raises(GossInputError, match="unknown dataset"):
        dataset_classes("ade20k")


def test_cityscapes_without_cityscapesscripts(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **kw):
        if name.startswith("cityscapesscripts"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    cityscapes.classes.cache_clear()
    cityscapes.by_id.cache_clear()
    monkeypatch.setattr(builtins, "__import__", fake)
    try:
        with pytest.raises(GossInputError, match=r"goss-bench\[cityscapes\]"):
            cityscapes.classes()
    finally:
        monkeypatch.undo()
        cityscapes.classes.cache_clear()
        cityscapes.by_id.cache_clear()
    assert len(cityscapes.classes()) == 35
