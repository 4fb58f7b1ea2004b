"""validate.manifest.read_header: the line layout's header comes from its first line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goss_bench.errors import GossInputError
from goss_bench.validate.labels import check_manifest
from goss_bench.validate.manifest import read_header


def _split(tmp_path: Path, n: int = 2) -> Path:
    p = tmp_path / "split.json"
    p.write_text(json.dumps({"dataset": "coco", "name": "s", "num_known": n}))
    return p


def test_line_layout_header_ignores_the_records(tmp_path: Path) -> None:
    head = {"dataset": "coco", "split": "s", "classes": {"test": [{"train_id": 0},
            {"train_id": 1}, {"train_id": 2}]}}
    text = json.dumps(head, sort_keys=True, separators=(",", ":"))[:-1] + ",\n"
    # records after line 2 are never parsed: a torn tail does not matter here
    (tmp_path / "manifest.json").write_text(text + '"files":{\n"a.png":"00",\n<torn')
    header, doc = read_header(tmp_path / "manifest.json")
    assert header == head and doc is None
    check_manifest(tmp_path, _split(tmp_path), 2)
    with pytest.raises(GossInputError, match="train ids up to 2 .* N = 3"):
        check_manifest(tmp_path, _split(tmp_path, 3), 3)


def test_other_layouts_are_read_whole(tmp_path: Path) -> None:
    doc = {"dataset": "coco", "split": "other", "files": {}, "images": []}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    header, whole = read_header(tmp_path / "manifest.json")
    assert header == {"dataset": "coco", "split": "other"} and whole == doc
    with pytest.raises(GossInputError, match="manifest is for split 'other'"):
        check_manifest(tmp_path, _split(tmp_path), 2)
    (tmp_path / "manifest.json").write_text('{"dataset": ')
    with pytest.raises(GossInputError, match="unreadable build manifest"):
        check_manifest(tmp_path, _split(tmp_path), 2)
