"""goss_bench.labels and `goss-bench labels`: ids in every space users have."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from goss_bench.cli import main
from goss_bench.errors import GossInputError
from goss_bench.labels import COLUMNS, label_table
from goss_bench.splits import load_split

# COCO-Stuff README: thing ids without annotations in COCO 2017 (independent of the table)
UNANNOTATED = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}


def test_coco_contiguous_ids_are_mmseg_164k():
    t = label_table("coco", "manual-20-60")
    assert len(t.rows) == 171
    expected = [i for i in range(1, 183) if i not in UNANNOTATED]
    assert [r.source_id for r in t.rows] == expected
    assert [r.contiguous_id for r in t.rows] == list(range(171))
    by_src = {r.source_id: r for r in t.rows}
    # entries of mmseg's clsID_to_trID (keys are PNG values = id - 1)
    for png, trid in ((0, 0), (10, 10), (12, 11), (26, 24), (30, 26), (181, 170)):
        assert by_src[png + 1].contiguous_id == trid
    assert all(r.cityscapes_train_id is None for r in t.rows)


def test_train_ids_follow_split_file():
    sp = load_split("manual-20-60", "coco")
    t = label_table("coco", sp)
    known = [r for r in t.rows if r.role == "known"]
    assert [r.source_id for r in known] == [c.source_id for c in sp.known]
    assert [r.train_id for r in known] == list(range(sp.num_known))
    assert {r.source_id for r in t.rows if r.role == "unknown"} == {c.source_id for c in sp.unknown}
    assert all(r.train_id == sp.num_known for r in t.rows if r.role == "unknown")


def test_cityscapes_16_3_train_ids_differ_from_trainid():
    pytest.importorskip("cityscapesscripts")
    t = label_table("cityscapes", "manual-16-3")
    by_name = {r.name: r for r in t.rows}
    assert len(t.rows) == 19
    # train, motorcycle, bicycle: GOSS 13/14/15, Cityscapes trainId 16/17/18
    for name, goss, train in (("train", 13, 16), ("motorcycle", 14, 17), ("bicycle", 15, 18)):
        assert by_name[name].train_id == goss
        assert by_name[name].cityscapes_train_id == train == by_name[name].contiguous_id
    assert {n for n, r in by_name.items() if r.role == "unknown"} == {"car", "truck", "bus"}
    # remap a trainId prediction into GOSS ids
    pred = np.array([[0, 13, 16], [18, 255, 10]], np.uint8)
    out = t.remap_contiguous(pred)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 16, 13], [15, 255, 10]]
    assert t.to_contiguous[13] == 16 and t.to_source[13] == 31
    assert t.from_source[31] == 13 and t.from_source[26] == 16


def test_remap_rejects_values_that_are_no_class():
    t = label_table("coco", "manual-20-60")
    with pytest.raises(GossInputError, match="171"):
        t.remap_contiguous(np.array([[0, 171]], np.uint8))
    with pytest.raises(GossInputError, match="-1"):
        t.remap_contiguous(np.array([[-1, 3]], np.int32))
    with pytest.raises(GossInputError, match="dtype"):
        t.remap_contiguous(np.zeros((2, 2), np.float32))


def test_tables_are_read_only():
    t = label_table("coco", "voc-20-60")
    with pytest.raises(ValueError):
        t.from_contiguous[0] = 3


def test_cli_csv_and_json(tmp_path, capsys):
    assert main(["labels", "--dataset", "coco", "--split", "voc-20-60", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == COLUMNS
    t = label_table("coco", "voc-20-60")
    assert [int(r["train_id"]) for r in rows] == [r.train_id for r in t.rows]
    out = tmp_path / "ids.json"
    assert main(["labels", "--dataset", "coco", "--split", "voc-20-60", "--format", "json",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["num_known"] == 111 and doc["unknown_id"] == 111
    assert doc["classes"] == t.rows_as_dicts()
    assert main(["labels", "--dataset", "coco", "--split", "voc-20-60"]) == 0
    assert "aeroplane" not in capsys.readouterr().out  # COCO names, not VOC's


def test_cli_bad_split_is_one_error(capsys):
    assert main(["labels", "--dataset", "coco", "--split", "no-such-split"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
