"""Issue 14 cause 5: the COCO JSON route refuses malformed annotation files.

Each mutation of a valid datagen file used to exit 0 (or raise pycocotools'
bare ``Exception``); now ``build-split --source json`` stops with one
``error:`` line naming the file.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from datagen import make_coco_stuff

from goss_bench.cli import main
from goss_bench.errors import GossInputError
from goss_bench.validate.coco_json import check_coco_json


@pytest.fixture(scope="module")
def coco_docs(tmp_path_factory):
    root = make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=2, n_val=2, png=False)
    ann = root / "annotations"
    return (root, json.loads((ann / "instances_val2017.json").read_text()),
            json.loads((ann / "stuff_val2017.json").read_text()))


def _first_polygon_ann(doc):
    return next(a for a in doc["annotations"] if isinstance(a["segmentation"], list))


def _set(path_fn):
    return path_fn


MUTATIONS = {
    "two-coordinate polygon": lambda d: _first_polygon_ann(d).update(segmentation=[[1.0, 2.0]]),
    "four-coordinate polygon": lambda d: _first_polygon_ann(d).update(
        segmentation=[[1.0, 2.0, 3.0, 4.0]]),
    "odd-length polygon": lambda d: _first_polygon_ann(d)["segmentation"][0].append(5.0),
    "NaN polygon": lambda d: _first_polygon_ann(d)["segmentation"][0].__setitem__(0, math.nan),
    "string in polygon": lambda d: _first_polygon_ann(d)["segmentation"][0].__setitem__(0, "1"),
    "string height": lambda d: d["images"][0].update(height="48"),
    "zero width": lambda d: d["images"][0].update(width=0),
    "bool id": lambda d: d["images"][0].update(id=True),
    "duplicate image id": lambda d: d["images"].append(dict(d["images"][0])),
    "missing file_name": lambda d: d["images"][0].pop("file_name"),
    "category 183 in instances": lambda d: d["annotations"][0].update(category_id=183),
    "unknown category id": lambda d: d["annotations"][0].update(category_id=999),
    "categories missing": lambda d: d.pop("categories"),
    "categories null": lambda d: d.update(categories=None),
    "categories a dict": lambda d: d.update(categories={"1": "person"}),
    "category not a thing": lambda d: d["categories"].append({"id": 150, "name": "rock"}),
    "duplicate category": lambda d: d["categories"].append(dict(d["categories"][0])),
    "duplicate annotation id": lambda d: d["annotations"].append(dict(d["annotations"][0])),
    "annotation of no image": lambda d: d["annotations"][0].update(image_id=424242),
    "segmentation null": lambda d: d["annotations"][0].update(segmentation=None),
    "empty polygon list": lambda d: _first_polygon_ann(d).update(segmentation=[]),
    "iscrowd 2": lambda d: d["annotations"][0].update(iscrowd=2),
    "images a dict": lambda d: d.update(images={}),
    "annotation a list": lambda d: d["annotations"].__setitem__(0, [1, 2]),
    "top level a list": lambda d: d.clear(),
}


def test_valid_files_pass(coco_docs):
    _, inst, stuff = coco_docs
    check_coco_json(inst, "instances_val2017.json", "instances")
    check_coco_json(stuff, "stuff_val2017.json", "stuff")


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_instances_mutations_are_refused(coco_docs, name):
    _, inst, _ = coco_docs
    d = copy.deepcopy(inst)
    MUTATIONS[name](d)
    doc = [] if name == "top level a list" else d
    with pytest.raises(GossInputError, match="instances_val2017.json"):
        check_coco_json(doc, "instances_val2017.json", "instances")


def test_stuff_rle_checks(coco_docs):
    _, _, stuff = coco_docs
    rle = next(a for a in stuff["annotations"] if isinstance(a["segmentation"], dict))
    for bad, msg in (({"size": [1, 2], "counts": "x"}, "differs from the image size"),
                     ({"size": "48x64", "counts": "x"}, "'size' must be"),
                     ({"size": rle["segmentation"]["size"], "counts": [1, 2]}, "summing"),
                     ({"size": rle["segmentation"]["size"], "counts": 5}, "list or a string")):
        d = copy.deepcopy(stuff)
        next(a for a in d["annotations"] if a["id"] == rle["id"])["segmentation"] = bad
        with pytest.raises(GossInputError, match=msg):
            check_coco_json(d, "stuff_val2017.json", "stuff")
    d = copy.deepcopy(stuff)
    d["categories"].append({"id": 1, "name": "person"})
    with pytest.raises(GossInputError, match="not a COCO 2017 stuff category"):
        check_coco_json(d, "stuff_val2017.json", "stuff")


@pytest.mark.parametrize("name", ["two-coordinate polygon", "NaN polygon", "string height",
                                  "duplicate image id", "category 183 in instances",
                                  "categories missing"])
def test_build_split_json_route_stops_cleanly(coco_docs, tmp_path, capsys, name):
    root, inst, _ = coco_docs
    work = tmp_path / "coco"
    import shutil

    shutil.copytree(root, work)
    d = copy.deepcopy(inst)
    MUTATIONS[name](d)
    (work / "annotations" / "instances_val2017.json").write_text(json.dumps(d))
    rc = main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--source", "json",
               "--root", str(work), "--out", str(tmp_path / "out"), "--workers", "1",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "error:" in err and "instances_val2017.json" in err, err
    assert "Traceback" not in err
