"""Official split names cannot be impersonated or shadowed; provenance is recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datagen
import pytest

from goss_bench.builder import build_split
from goss_bench.cli import main
from goss_bench.errors import GossInputError
from goss_bench.splits import load_split, provenance, splits_dir

DATA = Path(__file__).parent / "data"


def _random_split(args, capsys):
    rc = main(["make-split", "--dataset", "coco", "--random", "--known-things", "51",
               "--known-stuff", "60", "--seed", "3", *args])
    return rc, capsys.readouterr()


def test_make_split_derives_a_distinct_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, cap = _random_split([], capsys)
    assert rc == 0
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].name != "coco-random-111-60.json"
    sp = load_split(files[0])
    assert sp.name.startswith("random-111-60-") and sp.name != "random-111-60"
    assert sp.known != load_split("random-111-60", "coco").known
    assert "custom split" in cap.out and provenance(sp).kind == "custom"


def test_make_split_reproducing_the_official_list_keeps_its_name(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["make-split", "--dataset", "coco", "--manual-things", "20", "--stats",
                 str(DATA / "coco_image_counts.csv"), "--out", str(out)]) == 0
    assert "identical to the official split" in capsys.readouterr().out
    sp = load_split(out)
    assert sp.name == "manual-20-60" and provenance(sp).kind == "official"


def test_official_name_with_other_classes_is_refused(tmp_path, capsys):
    rc, cap = _random_split(["--name", "random-111-60", "--out", str(tmp_path / "r.json")], capsys)
    assert rc == 2 and "reserved for the official coco split" in cap.err
    assert not (tmp_path / "r.json").exists()
    # a hand-edited file with an official name is refused when loaded
    d = json.loads((splits_dir() / "coco-manual-20-60.json").read_text())
    d["known"], moved = d["known"][1:], d["known"][0]
    d["unknown"] = sorted([*d["unknown"], {k: moved[k] for k in ("source_id", "name", "kind")}],
                          key=lambda c: c["source_id"])
    for i, c in enumerate(d["known"]):
        c["train_id"] = i
    (tmp_path / "fake.json").write_text(json.dumps(d))
    with pytest.raises(GossInputError, match="reserved"):
        load_split(tmp_path / "fake.json")


def test_no_overwrite_or_shadow_of_official_files(tmp_path, monkeypatch, capsys):
    before = {p.name: p.read_bytes() for p in splits_dir().glob("*.json")}
    rc, cap = _random_split(["--name", "mine", "--out", str(splits_dir() / "mine.json")], capsys)
    assert rc == 2 and "official split files" in cap.err
    rc, cap = _random_split(["--name", "mine", "--out", str(tmp_path / "coco-manual-20-60.json")],
                            capsys)
    assert rc == 2 and "file name of an official split" in cap.err
    assert {p.name: p.read_bytes() for p in splits_dir().glob("*.json")} == before
    # a file named like the official split in the current folder does not shadow the name
    monkeypatch.chdir(tmp_path)
    rc, _ = _random_split(["--name", "mine", "--out", "manual-20-60"], capsys)
    assert rc == 0 and os.path.isfile("manual-20-60")
    assert load_split("manual-20-60", "coco").path == splits_dir() / "coco-manual-20-60.json"


def test_build_records_official_or_custom(tmp_path, capsys):
    root = datagen.make_coco_stuff(tmp_path / "coco", n_train=2, n_val=2, seed=4)
    assert main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
                 str(root), "--out", str(tmp_path / "a"), "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "split manual-20-60: official (coco-manual-20-60.json)" in out
    meta = json.loads((tmp_path / "a" / "split.json").read_text())
    official = load_split("manual-20-60", "coco")
    assert meta["provenance"]["kind"] == "official"
    assert meta["provenance"]["definition_sha256"] == official.definition_sha256
    s = build_split("coco", "manual-20-60", root, tmp_path / "b", min_group_area=3)
    assert s.provenance is not None and s.provenance.kind == "custom"
    assert "options differ" in s.provenance.note
    meta = json.loads((tmp_path / "b" / "split.json").read_text())
    assert meta["provenance"]["kind"] == "custom"
