"""Fuzz ``goss-bench build-split`` and ``goss-bench stats`` on a tiny COCO-Stuff copy:
label maps, photos, the COCO JSON annotations (``--source json``), split files
and flags.  A valid variation must build byte-identical test maps."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fuzz.harness import BAD, VALID, check, png_mutations, run_cli
from goss_bench.io import write_label_png

SPLIT = "manual-20-60"
LABEL_MUTATIONS = ("empty file", "truncated in the middle", "byte flipped in the middle", "RGB",
                   "16-bit", "1-bit", "decompression bomb header", "a folder", "a FIFO",
                   "dangling symlink", "symlink loop", "symlink to /dev/null")


def _val_label(coco: Path) -> Path:
    return sorted((coco / "stuffthingmaps_trainval2017" / "val2017").glob("*.png"))[0]


def _val_photo(coco: Path) -> Path:
    return sorted((coco / "val2017").glob("*.jpg"))[0]


def _build(coco: Path, out: Path, *extra: object):
    return run_cli(["build-split", "--dataset", "coco", "--split", SPLIT, "--root", coco,
                    "--out", out, "--workers", "1", "--no-progress", *extra])


def _stats(coco: Path, *extra: object):
    return run_cli(["stats", "--dataset", "coco", "--root", coco, "--workers", "1",
                    "--no-progress", *extra])


@pytest.fixture(scope="module")
def built(coco_source, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("fuzz_built") / "out"
    res = _build(coco_source, out)
    assert res.code == 0, res.err
    return {p.name: p.read_bytes() for p in sorted((out / "test" / "semantic").glob("*.png"))}


def _same_build(out: Path, built: dict[str, bytes], name: str) -> None:
    got = {p.name: p.read_bytes() for p in sorted((out / "test" / "semantic").glob("*.png"))}
    assert got == built, f"{name}: the built maps changed silently"


LABEL_CASES = [(n, png_mutations("semantic")[n]) for n in LABEL_MUTATIONS]


@pytest.mark.parametrize("name,case", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
@pytest.mark.parametrize("command", ["build-split", "stats"])
def test_label_map_mutations(coco, tmp_path, name, case, command):
    expect, fn = case
    fn(_val_label(coco))
    res = _build(coco, tmp_path / "out") if command == "build-split" else _stats(coco)
    check(command, f"label map: {name}", expect, res)


def _set_label_value(value: int) -> Callable[[Path], None]:
    def f(coco: Path) -> None:
        p = _val_label(coco)
        arr = np.asarray(Image.open(p)).copy()
        arr[:4, :4] = value
        write_label_png(p, arr)
    return f


def _photo(fn: Callable[[Path], object]) -> Callable[[Path], None]:
    def f(coco: Path) -> None:
        fn(_val_photo(coco))
    return f


def _jpeg_declaring(p: Path) -> None:
    data = bytearray(p.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = (65535).to_bytes(2, "big") * 2
    p.write_bytes(bytes(data))


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


SOURCE_CASES: list[tuple[str, str, Callable[[Path], None]]] = [
    ("label value 200", BAD, _set_label_value(200)),
    ("label value 11 (a COCO id without annotations)", BAD, _set_label_value(11)),
    ("label value 255 (unlabeled)", VALID, _set_label_value(255)),
    ("photo missing (photos are optional)", VALID, _photo(lambda p: p.unlink())),
    ("photo declares 65535x65535", BAD, _photo(_jpeg_declaring)),
    ("photo a FIFO", BAD, _photo(_fifo)),
    ("photo not an image", BAD, _photo(lambda p: p.write_bytes(b"hello"))),
    ("photo of another size", BAD,
     _photo(lambda p: Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(p, format="JPEG"))),
    ("photo a folder", BAD, _photo(lambda p: (p.unlink(), p.mkdir()))),
    ("extra hidden file", VALID,
     lambda c: (c / "stuffthingmaps_trainval2017" / "val2017" / ".junk").write_bytes(b"x")),
]


@pytest.mark.parametrize("name,expect,fn", SOURCE_CASES, ids=[c[0] for c in SOURCE_CASES])
def test_source_mutations(coco, tmp_path, built, name, expect, fn):
    fn(coco)
    res = _build(coco, tmp_path / "out")
    check("build-split", name, expect, res)
    if res.code == 0 and name in ("extra hidden file", "photo missing (photos are optional)"):
        _same_build(tmp_path / "out", built, name)
    if "label" in name:
        check("stats", name, expect, _stats(coco))


def _split_file(text: str | bytes) -> Callable[[Path, Path], tuple]:
    def f(coco: Path, tmp: Path) -> tuple:
        p = tmp / "my-split.json"
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        return ("--split", p)
    return f


FLAG_CASES: list[tuple[str, str, Callable[[Path, Path], tuple]]] = [
    *[(f"--workers {v}", BAD, lambda c, t, v=v: ("--workers", v)) for v in ("0", "-1", "x")],
    ("--min-group-area -1", BAD, lambda c, t: ("--min-group-area", "-1")),
    ("--connectivity 5", BAD, lambda c, t: ("--connectivity", "5")),
    ("--split unknown name", BAD, lambda c, t: ("--split", "no-such-split")),
    ("--split missing file", BAD, lambda c, t: ("--split", t / "nope.json")),
    ("--split invalid JSON", BAD, _split_file("{")),
    ("--split a list", BAD, _split_file("[]")),
    ("--split not UTF-8", BAD, _split_file(b'{"a": "\xff"}')),
    ("--split a FIFO", BAD, lambda c, t: (os.mkfifo(t / "f.json"), ("--split", t / "f.json"))[1]),
    ("--split a folder", BAD, lambda c, t: ((t / "d.json").mkdir(), ("--split", t / "d.json"))[1]),
    ("--out a file", BAD, lambda c, t: ((t / "f").write_text("x"), ("--out", t / "f"))[1]),
    ("--out ''", BAD, lambda c, t: ("--out", "")),
    ("--out below a file", BAD, lambda c, t: ((t / "f").write_text("x"), ("--out", t / "f" / "o"))[1]),
    ("--root missing", BAD, lambda c, t: ("--root", t / "nope")),
    ("--root a file", BAD, lambda c, t: ((t / "f").write_text("x"), ("--root", t / "f"))[1]),
    ("--dataset of another split", BAD, lambda c, t: ("--split", "manual-16-3")),
    ("--workers 1 --overwrite", VALID, lambda c, t: ("--overwrite",)),
    ("--require-images with a photo missing", BAD,
     lambda c, t: (_val_photo(c).unlink(), ("--require-images",))[1]),
]


@pytest.mark.parametrize("name,expect,fn", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_build_flags(coco, tmp_path, built, name, expect, fn):
    extra = fn(coco, tmp_path)
    argv = ["build-split", "--dataset", "coco", "--root", coco, "--no-progress"]
    if "--split" not in extra:
        argv += ["--split", SPLIT]
    if "--out" not in extra:
        argv += ["--out", tmp_path / "out"]
    if "--workers" not in extra:
        argv += ["--workers", "1"]
    if "--root" in extra:
        argv = [a for a in argv[:3]] + argv[5:]
    res = run_cli([*argv, *extra])
    check("build-split", name, expect, res)
    if res.code == 0:
        _same_build(tmp_path / "out", built, name)


STATS_FLAGS: list[tuple[str, str, Callable[[Path], tuple]]] = [
    *[(f"--workers {v}", BAD, lambda t, v=v: ("--workers", v)) for v in ("0", "-1", "x")],
    ("--out a folder", BAD, lambda t: ("--out", t)),
    ("--out ''", BAD, lambda t: ("--out", "")),
    ("--out below a file", BAD, lambda t: ((t / "f").write_text("x"), ("--out", t / "f" / "s.csv"))[1]),
    ("--out a FIFO", BAD, lambda t: (os.mkfifo(t / "fifo"), ("--out", t / "fifo"))[1]),
    ("--source bogus", BAD, lambda t: ("--source", "bogus")),
    ("--out a new file", VALID, lambda t: ("--out", t / "new" / "s.csv")),
]


@pytest.mark.parametrize("name,expect,fn", STATS_FLAGS, ids=[c[0] for c in STATS_FLAGS])
def test_stats_flags(coco_source, tmp_path, name, expect, fn):
    res = _stats(coco_source, *fn(tmp_path))
    check("stats", name, expect, res)


# ---- COCO JSON route (--source json) -------------------------------------------------------

def _first_polygon_ann(doc: dict) -> dict:
    return next(a for a in doc["annotations"] if isinstance(a["segmentation"], list))


JSON_MUTATIONS: dict[str, Callable[[dict], object]] = {
    "two-coordinate polygon": lambda d: _first_polygon_ann(d).update(segmentation=[[1.0, 2.0]]),
    "NaN polygon": lambda d: _first_polygon_ann(d)["segmentation"][0].__setitem__(0, float("nan")),
    "string height": lambda d: d["images"][0].update(height="32"),
    "duplicate image id": lambda d: d["images"].append(dict(d["images"][0])),
    "category 183 in instances": lambda d: d["annotations"][0].update(category_id=183),
    "categories missing": lambda d: d.pop("categories"),
    "categories null": lambda d: d.update(categories=None),
    "categories a dict": lambda d: d.update(categories={"1": "person"}),
    "annotation of no image": lambda d: d["annotations"][0].update(image_id=424242),
    "segmentation null": lambda d: d["annotations"][0].update(segmentation=None),
    "bool image id": lambda d: d["images"][0].update(id=True),
    "height 0": lambda d: d["images"][0].update(height=0),
}


@pytest.mark.parametrize("name", sorted(JSON_MUTATIONS))
def test_coco_json_mutations(coco, tmp_path, name):
    p = coco / "annotations" / "instances_val2017.json"
    d = json.loads(p.read_text())
    JSON_MUTATIONS[name](d)
    p.write_text(json.dumps(d))
    res = _stats(coco, "--source", "json")
    check("stats", f"--source json: {name}", BAD, res)
    assert "instances_val2017.json" in res.err


@pytest.mark.parametrize("name", ["invalid JSON", "a FIFO", "not UTF-8", "empty"])
def test_coco_json_files(coco, tmp_path, name):
    p = coco / "annotations" / "stuff_train2017.json"
    if name == "a FIFO":
        _fifo(p)
    else:
        p.write_bytes({"invalid JSON": b"{", "not UTF-8": b'{"\xff": 1}', "empty": b""}[name])
    res = _build(coco, tmp_path / "out", "--source", "json")
    check("build-split", f"--source json: stuff file {name}", BAD, res)


def test_coco_json_valid_copy_builds_the_same(coco, tmp_path, built):
    """Rewriting the JSON files (same content) changes nothing: the PNG and JSON routes agree."""
    for p in (coco / "annotations").glob("*.json"):
        p.write_text(json.dumps(copy.deepcopy(json.loads(p.read_text())), indent=1))
    res = _build(coco, tmp_path / "out", "--source", "json")
    check("build-split", "--source json: reformatted files", VALID, res)
    _same_build(tmp_path / "out", built, "--source json")


