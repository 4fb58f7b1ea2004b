"""Fuzz ``goss-bench show`` and ``goss-bench export-panoptic``: label files, photos,
images.txt, split.json and flags.  Valid variations of an export must write
exactly the baseline panoptic.json (no silent change)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fuzz.conftest import N
from fuzz.harness import BAD, EITHER, VALID, check, png_mutations, run_cli

SHORT = ("empty file", "truncated in the middle", "byte flipped in the middle", "RGB", "16-bit",
         "smaller", "transposed", "decompression bomb header", "a folder", "a FIFO",
         "dangling symlink", "symlink loop", "removed")


def _png_cases(targets: tuple[str, ...]) -> list[tuple[str, str, str, Callable[[Path], None]]]:
    out = []
    for where in targets:
        table = png_mutations("semantic" if where.endswith("semantic") else "groups")
        for name in SHORT:
            expect, fn = table[name]
            out.append((f"{where}: {name}", expect, where, fn))
    return out


def _file(pred: Path, gt: Path, where: str) -> Path:
    return (pred if where.startswith("pred") else gt) / where.split("/", 1)[1] / "a1.png"


# ---- show ------------------------------------------------------------------------------

SHOW_PNG = _png_cases(("pred/semantic", "pred/groups", "gt/test/semantic", "gt/test/groups"))
# a picture needs no group ids: without them unknown pixels are drawn in one colour
SHOW_OVERRIDE = {"pred/groups: removed": EITHER, "gt/test/groups: removed": EITHER,
                 "gt/test/semantic: removed": VALID}


@pytest.mark.parametrize("name,expect,where,fn", SHOW_PNG, ids=[c[0] for c in SHOW_PNG])
def test_show_png(pair, tmp_path, name, expect, where, fn):
    pred, gt = pair
    fn(_file(pred, gt, where))
    out = tmp_path / "panels"
    res = run_cli(["show", pred, gt, "--out", out, "--limit", "3"])
    check("show", name, SHOW_OVERRIDE.get(name, expect), res)
    if res.code == 2:  # panels of the images before the bad one may be there, never a1's
        assert not (out / "a1.png").exists()


def _photo(mutate: Callable[[Path], object]) -> Callable[[Path, Path], None]:
    def f(pred: Path, gt: Path) -> None:
        mutate(gt / "photos" / "a1.jpg")
    return f


def _jpeg_declaring(p: Path) -> None:
    data = bytearray(p.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = (65535).to_bytes(2, "big") * 2
    p.write_bytes(bytes(data))


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _listing(text: bytes) -> Callable[[Path, Path], None]:
    return lambda pred, gt: (gt / "test" / "images.txt").write_bytes(text)


SHOW_CASES: list[tuple[str, str, Callable[[Path, Path], object]]] = [
    # photos: drawn grey with a note, never decoded when bad
    ("photo missing", VALID, _photo(lambda p: p.unlink())),
    ("photo truncated", VALID, _photo(lambda p: p.write_bytes(p.read_bytes()[:40]))),
    ("photo not an image", VALID, _photo(lambda p: p.write_bytes(b"hello"))),
    ("photo declares 65535x65535", VALID, _photo(_jpeg_declaring)),
    ("photo a FIFO", VALID, _photo(_fifo)),
    ("photo a folder", VALID, _photo(lambda p: (p.unlink(), p.mkdir()))),
    ("photo of another size", VALID,
     _photo(lambda p: Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(p, format="JPEG"))),
    ("images.txt a FIFO", BAD, lambda pred, gt: _fifo(gt / "test" / "images.txt")),
    ("images.txt not UTF-8", BAD, _listing(b"a0 photos/a0.jpg\n\xff\xfe\n")),
    ("images.txt malformed line", BAD, _listing(b"a0\n")),
    ("images.txt empty", VALID, _listing(b"")),
    ("--limit 0", BAD, lambda p, g: ("--limit", "0")),
    ("--limit -1", BAD, lambda p, g: ("--limit", "-1")),
    ("--limit x", BAD, lambda p, g: ("--limit", "x")),
    ("--limit 1000", VALID, lambda p, g: ("--limit", "1000")),
    ("--stems unknown", BAD, lambda p, g: ("--stems", "nope")),
    ("--num-known 0", BAD, lambda p, g: ("--num-known", "0")),
    ("--num-known 4 (disagrees with split.json)", BAD, lambda p, g: ("--num-known", "4")),
    ("--out a file", BAD, lambda p, g: ("--out", p / "semantic" / "a0.png")),
    ("--out ''", BAD, lambda p, g: ("--out", "")),
    ("--out below a file", BAD, lambda p, g: ("--out", p / "semantic" / "a0.png" / "x")),
    ("gt groups smaller than semantic", BAD,
     lambda p, g: Image.fromarray(np.zeros((10, 10), np.uint8)).save(g / "test" / "groups" / "a0.png")),
    ("pred groups of another size", BAD,
     lambda p, g: Image.fromarray(np.zeros((10, 10), np.uint8)).save(p / "groups" / "a0.png")),
    ("prediction missing", BAD, lambda p, g: (p / "semantic" / "a0.png").unlink()),
    ("pred without semantic/", BAD, lambda p, g: [f.unlink() for f in (p / "semantic").iterdir()]
     and (p / "semantic").rmdir()),
    ("split.json invalid", BAD, lambda p, g: (g / "split.json").write_text("{")),
]


@pytest.mark.parametrize("name,expect,fn", SHOW_CASES, ids=[c[0] for c in SHOW_CASES])
def test_show_cases(pair, tmp_path, name, expect, fn):
    pred, gt = pair
    extra = fn(pred, gt)
    extra = extra if isinstance(extra, tuple) else ()
    argv = ["show", pred, gt, "--limit", "3", *extra]
    if "--out" not in extra:
        argv += ["--out", tmp_path / "panels"]
    res = run_cli(argv)
    check("show", name, expect, res)
    if name.startswith("photo") and res.code == 0:
        assert "note: a1:" in res.err, res.err


# ---- export-panoptic ---------------------------------------------------------------------

EXPORT_PNG = _png_cases(("gt/test/semantic", "gt/test/groups"))


@pytest.fixture(scope="module")
def export_baseline(goss_pair, tmp_path_factory) -> dict:
    _, gt = goss_pair
    out = tmp_path_factory.mktemp("fuzz_export")
    res = run_cli(["export-panoptic", gt, out, "--quiet"])
    assert res.code == 0, res.err
    return json.loads((out / "panoptic.json").read_text())


def _same_export(out: Path, baseline: dict, name: str) -> None:
    got = json.loads((out / "panoptic.json").read_text())
    for key in ("images", "annotations"):
        assert got[key] == baseline[key], f"{name}: export {key} changed silently"
    assert [c["id"] for c in got["categories"]] == [c["id"] for c in baseline["categories"]]


@pytest.mark.parametrize("name,expect,where,fn", EXPORT_PNG, ids=[c[0] for c in EXPORT_PNG])
def test_export_png(pair, tmp_path, export_baseline, name, expect, where, fn):
    pred, gt = pair
    fn(_file(pred, gt, where))
    if name == "gt/test/semantic: removed":
        expect = VALID  # one image fewer
    out = tmp_path / "export"
    res = run_cli(["export-panoptic", gt, out, "--quiet"])
    check("export-panoptic", name, expect, res)
    if res.code == 0 and name.endswith("16-bit"):
        _same_export(out, export_baseline, name)


EXPORT_CASES: list[tuple[str, str, bool, Callable[[Path, Path], tuple]]] = [
    ("--num-known N+1 on a plain folder", BAD, False,
     lambda p, g: ((g / "split.json").unlink(), (g / "test", "--num-known", str(N + 1)))[1]),
    ("--num-known N on a plain folder", VALID, True,
     lambda p, g: ((g / "split.json").unlink(), (g / "test", "--num-known", str(N)))[1]),
    ("--num-known N-1 on a plain folder", BAD, False,
     lambda p, g: ((g / "split.json").unlink(), (g / "test", "--num-known", str(N - 1)))[1]),
    ("--num-known disagreeing with split.json", BAD, False, lambda p, g: (g, "--num-known", "4")),
    ("no split.json and no --num-known", BAD, False,
     lambda p, g: ((g / "split.json").unlink(), (g / "test",))[1]),
    ("a prediction folder", VALID, False, lambda p, g: (p, "--num-known", str(N))),
    ("--workers 0", BAD, False, lambda p, g: (g, "--workers", "0")),
    ("--workers -1", BAD, False, lambda p, g: (g, "--workers", "-1")),
    ("--workers 1", VALID, True, lambda p, g: (g, "--workers", "1")),
    ("--num-known 255", BAD, False, lambda p, g: (g, "--num-known", "255")),
    ("groups/ is a file", BAD, False,
     lambda p, g: (__import__("shutil").rmtree(g / "test" / "groups"),
                   (g / "test" / "groups").write_text("x"), (g,))[2]),
    ("hidden junk file", VALID, True,
     lambda p, g: ((g / "test" / "semantic" / ".junk.png").write_bytes(b"x"), (g,))[1]),
    ("source folder missing", BAD, False, lambda p, g: (g / "nope",)),
]


@pytest.mark.parametrize("name,expect,same,fn", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_export_cases(pair, tmp_path, export_baseline, name, expect, same, fn):
    pred, gt = pair
    src, *extra = fn(pred, gt)
    out = tmp_path / "export"
    res = run_cli(["export-panoptic", src, out, "--quiet", *extra])
    check("export-panoptic", name, expect, res)
    if res.code == 0 and same:
        _same_export(out, export_baseline, name)


@pytest.mark.parametrize("name,target", [("OUT a file", "file"), ("OUT ''", "empty"),
                                         ("OUT below a file", "below")])
def test_export_out(pair, tmp_path, name, target):
    _, gt = pair
    f = tmp_path / "file"
    f.write_text("x")
    out = {"file": f, "empty": "", "below": f / "sub"}[target]
    check("export-panoptic", name, BAD, run_cli(["export-panoptic", gt, out, "--quiet"]))
    assert f.read_text() == "x"
