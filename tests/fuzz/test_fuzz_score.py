"""Fuzz ``goss-bench score``: every label file, the folders, split.json and every flag.

A bad input must give exit 2 with an ``error:`` line, no traceback, no hang and
no output file; a valid variation must give exit 0 and exactly the baseline
score (no silent change).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fuzz.conftest import N
from fuzz.harness import BAD, VALID, check, png_mutations, run_cli
from goss_bench.io import write_label_png

TARGETS = ("pred/semantic", "pred/groups", "pred/scores", "pred/clusters",
           "gt/test/semantic", "gt/test/groups", "gt/test/clusters")

Mutate = Callable[[Path, Path], object]  # (pred, gt) -> extra argv (or None)


def _target(pred: Path, gt: Path, where: str) -> Path:
    root = pred if where.startswith("pred") else gt
    sub = where.split("/", 1)[1]
    return root / sub / "a1.png"


PNG_CASES = [
    (f"{where}: {name}", expect, where, fn)
    for where in TARGETS
    for name, (expect, fn) in png_mutations("semantic" if where.endswith("semantic") else "groups").items()
]


@pytest.fixture(scope="module")
def baseline(goss_pair, tmp_path_factory) -> dict:
    pred, gt = goss_pair
    out = tmp_path_factory.mktemp("fuzz_base") / "r.json"
    res = run_cli(["score", pred, gt, "--quiet", "--json", out])
    assert res.code == 0, res.err
    return json.loads(out.read_text())


def _run(pair, tmp_path, extra=(), json_out=True):
    pred, gt = pair
    out = tmp_path / "result.json"
    argv = ["score", pred, gt, "--quiet", *extra]
    if json_out and "--json" not in [str(a) for a in extra]:
        argv += ["--json", out]
    return run_cli(argv), out


def _same_score(out: Path, baseline: dict, name: str) -> None:
    got = json.loads(out.read_text())
    for key in ("gq", "gq_known", "gq_unknown", "miou"):
        assert got[key] == baseline[key], f"{name}: {key} changed silently {baseline[key]} -> {got[key]}"


def _finish(name: str, expect: str, res, out: Path, baseline: dict | None, same: bool) -> None:
    check("score", name, expect, res)
    if res.code == 2:
        assert not out.exists(), f"{name}: output written despite the error"
    if res.code == 0 and same and baseline is not None:
        _same_score(out, baseline, name)


@pytest.mark.parametrize("name,expect,where,fn", PNG_CASES, ids=[c[0] for c in PNG_CASES])
def test_png_mutations(pair, tmp_path, baseline, name, expect, where, fn):
    fn(_target(*pair, where))
    same = True
    if name == "gt/test/semantic: removed":  # one image fewer; the prediction is extra
        expect, same = VALID, False
    res, out = _run(pair, tmp_path)
    _finish(name, expect, res, out, baseline, same)


def _set_values(where: str, value: int, mask: str = "block") -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        p = _target(pred, gt, where)
        arr = np.asarray(Image.open(p)).copy()
        if mask == "known":  # every pixel whose semantic value is a known class
            sem_root = gt / "test" if where.startswith("gt") else pred
            sem = np.asarray(Image.open(sem_root / "semantic" / "a1.png"))
            arr[sem < N] = value
        else:
            arr[20:30, 20:30] = value
        write_label_png(p, arr)
    return f


def _split(update: Callable[[dict], object] | None = None, raw: bytes | None = None) -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        p = gt / "split.json"
        if raw is not None:
            p.write_bytes(raw)
            return
        d = json.loads(p.read_text())
        assert update is not None
        update(d)
        p.write_text(json.dumps(d))
    return f


def _fifo(rel: str) -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        p = gt / rel
        p.unlink()
        os.mkfifo(p)
    return f


def _replace_dir_with_file(root: str, sub: str) -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        d = (pred if root == "pred" else gt) / sub
        import shutil

        shutil.rmtree(d)
        d.write_text("a file, not a folder")
    return f


def _rm(root: str, sub: str) -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        import shutil

        p = (pred if root == "pred" else gt) / sub
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    return f


def _add(root: str, rel: str, data: bytes | None = None, copy_of: str | None = None) -> Mutate:
    def f(pred: Path, gt: Path) -> None:
        base = pred if root == "pred" else gt
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if copy_of is not None:
            p.write_bytes((base / copy_of).read_bytes())
        elif data is not None:
            p.write_bytes(data)
    return f


def _flag(*argv: object) -> Mutate:
    def f(pred: Path, gt: Path) -> tuple[object, ...]:
        return tuple(a(pred, gt) if callable(a) else a for a in argv)
    return f


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (name, expectation, same score as baseline when exit 0, mutation)
CASES: list[tuple[str, str, bool, Mutate]] = [
    # values
    ("pred semantic value N+1", BAD, False, _set_values("pred/semantic", N + 1)),
    ("pred semantic value 254", BAD, False, _set_values("pred/semantic", 254)),
    ("pred semantic value 255 (no prediction)", VALID, False, _set_values("pred/semantic", 255)),
    ("gt semantic value N+1", BAD, False, _set_values("gt/test/semantic", N + 1)),
    ("gt semantic value 200", BAD, False, _set_values("gt/test/semantic", 200)),
    ("gt group ids outside unknown", BAD, False, _set_values("gt/test/groups", 9, "known")),
    ("pred group ids outside unknown (ignored)", VALID, True, _set_values("pred/groups", 9, "known")),
    # folders
    ("pred/scores is a file", BAD, False, _replace_dir_with_file("pred", "scores")),
    ("pred/clusters is a file", BAD, False, _replace_dir_with_file("pred", "clusters")),
    ("pred/groups is a file", BAD, False, _replace_dir_with_file("pred", "groups")),
    ("pred/semantic is a file", BAD, False, _replace_dir_with_file("pred", "semantic")),
    ("gt groups is a file", BAD, False, _replace_dir_with_file("gt", "test/groups")),
    ("gt clusters is a file", BAD, False, _replace_dir_with_file("gt", "test/clusters")),
    ("gt has scores/ (a prediction)", BAD, False, _add("gt", "test/scores/a0.png", copy_of="test/groups/a0.png")),
    ("pred without semantic/", BAD, False, _rm("pred", "semantic")),
    ("pred semantic/ empty", BAD, False, lambda p, g: [f.unlink() for f in (p / "semantic").iterdir()]),
    ("gt without test/", BAD, False, _rm("gt", "test")),
    ("gt without groups/", BAD, False, _rm("gt", "test/groups")),
    ("pred without groups/ but unknown predicted", BAD, False, _rm("pred", "groups")),
    ("pred without scores/ (no OSS row)", VALID, True, _rm("pred", "scores")),
    ("pred without clusters/ (no GS row)", VALID, True, _rm("pred", "clusters")),
    ("pred extra image without GT", VALID, True, _add("pred", "semantic/zz.png", copy_of="semantic/a0.png")),
    ("pred hidden file", VALID, True, _add("pred", "semantic/.a0.png", b"junk")),
    ("pred non-png file", VALID, True, _add("pred", "semantic/README.txt", b"notes")),
    ("pred unrelated folder", VALID, True, _add("pred", "notes/x.txt", b"x")),
    ("gt images.txt missing", VALID, True, _rm("gt", "test/images.txt")),
    # split.json
    ("split.json invalid JSON", BAD, False, _split(raw=b"{not json")),
    ("split.json empty", BAD, False, _split(raw=b"")),
    ("split.json not UTF-8", BAD, False, _split(raw=b'{"num_known": 5, "x": "\xff\xfe"}')),
    ("split.json NaN literal", BAD, False, _split(raw=b'{"num_known": NaN}')),
    ("split.json deeply nested", BAD, False, _split(raw=_nested(100000))),
    ("split.json a list", BAD, False, _split(raw=b"[5]")),
    ("split.json null", BAD, False, _split(raw=b"null")),
    ("num_known missing", BAD, False, _split(lambda d: d.pop("num_known"))),
    ("num_known 0", BAD, False, _split(lambda d: d.update(num_known=0))),
    ("num_known 255", BAD, False, _split(lambda d: d.update(num_known=255))),
    ("num_known -1", BAD, False, _split(lambda d: d.update(num_known=-1))),
    ("num_known string", BAD, False, _split(lambda d: d.update(num_known="5"))),
    ("num_known true", BAD, False, _split(lambda d: d.update(num_known=True))),
    ("num_known 5.0", BAD, False, _split(lambda d: d.update(num_known=5.0))),
    ("num_known N+1 with N known", BAD, False, _split(lambda d: d.update(num_known=N + 1))),
    ("num_known N+1, no known list", BAD, False,
     _split(lambda d: (d.update(num_known=N + 1), d.pop("known")))),
    ("num_known N-1, no known list", BAD, False,
     _split(lambda d: (d.update(num_known=N - 1), d.pop("known")))),
    ("known list too short", BAD, False, _split(lambda d: d["known"].pop())),
    ("known duplicate train_id", BAD, False, _split(lambda d: d["known"][1].update(train_id=0))),
    ("known a dict", BAD, False, _split(lambda d: d.update(known={"a": 1}))),
    ("known without names", VALID, True, _split(lambda d: [c.pop("name") for c in d["known"]])),
    ("split.json a FIFO", BAD, False, _fifo("split.json")),
    ("split.json a folder", BAD, False, lambda p, g: ((g / "split.json").unlink(), (g / "split.json").mkdir())),
    ("images.txt a FIFO (not read by score)", VALID, True, _fifo("test/images.txt")),
    ("manifest.json of another N", BAD, False, _add("gt", "manifest.json", json.dumps(
        {"classes": {"test": [{"train_id": i} for i in range(N + 2)]}}).encode())),
    ("manifest.json invalid", BAD, False, _add("gt", "manifest.json", b"{")),
    ("manifest.json consistent", VALID, True, _add("gt", "manifest.json", json.dumps(
        {"dataset": "synthetic", "split": "test",
         "classes": {"test": [{"train_id": i} for i in range(N + 1)]}}).encode())),
    # flags
    *[(f"--workers {v}", BAD, False, _flag("--workers", v)) for v in ("0", "-1", "x", "1.5", "")],
    ("--workers 1", VALID, True, _flag("--workers", "1")),
    *[(f"--lam {v}", BAD, False, _flag("--lam", v)) for v in ("-0.1", "1.5", "nan", "inf", "x")],
    ("--lam 0.5", VALID, True, _flag("--lam", "0.5")),
    *[(f"--num-known {v}", BAD, False, _flag("--num-known", v)) for v in ("0", "255", "-1", "4", "x")],
    ("--num-known 5", VALID, True, _flag("--num-known", "5")),
    *[(f"--max-pixels {v}", BAD, False, _flag("--max-pixels", v)) for v in ("0", "-1", "100")],
    ("--json ''", BAD, False, _flag("--json", "")),
    ("--json a folder", BAD, False, _flag("--json", lambda p, g: p)),
    ("--json below a file", BAD, False, _flag("--json", lambda p, g: p / "semantic" / "a0.png" / "r.json")),
    ("--json a FIFO", BAD, False, _flag("--json", lambda p, g: (os.mkfifo(p / "fifo"), p / "fifo")[1])),
    ("--per-image a folder", BAD, False, _flag("--per-image", lambda p, g: g)),
    ("--csv-per-class ''", BAD, False, _flag("--csv-per-class", "")),
    ("--average bogus", BAD, False, _flag("--average", "bogus")),
    ("--fpr95 bogus", BAD, False, _flag("--fpr95", "bogus")),
    ("unknown flag", BAD, False, _flag("--bogus")),
    ("--no-oss --no-gs", VALID, True, _flag("--no-oss", "--no-gs")),
    ("pred folder missing", BAD, False, lambda p, g: _rm("pred", ".")(p, g)),
    ("pred is a file", BAD, False, lambda p, g: (_rm("pred", ".")(p, g), p.write_text("x"))),
    ("same folder as pred and GT", BAD, False, lambda p, g: ("--num-known", "5")),
]


@pytest.mark.parametrize("name,expect,same,fn", CASES, ids=[c[0] for c in CASES])
def test_structure_values_split_and_flags(pair, tmp_path, baseline, name, expect, same, fn):
    pred, gt = pair
    extra = fn(pred, gt)
    extra = tuple(extra) if isinstance(extra, tuple) else ()
    if name == "same folder as pred and GT":
        res = run_cli(["score", pred, pred, "--quiet", *extra, "--json", tmp_path / "result.json"])
        out = tmp_path / "result.json"
    else:
        res, out = _run(pair, tmp_path, extra)
    _finish(name, expect, res, out, baseline, same)
