"""Fuzz ``goss-bench make-split``: class lists, counts, seeds, the --stats CSV and --out.
Equivalent valid command lines must write identical split files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz.harness import BAD, VALID, check, run_cli
from goss_bench.datasets import coco


def _stats_csv(path: Path, rows: list[tuple[object, object]] | None = None) -> Path:
    if rows is None:
        rows = [(c.id, 1000 - c.id) for c in coco.evaluable()]
    path.write_text("source_id,images\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def _stats_with(text: bytes) -> Callable[[Path], tuple]:
    def f(t: Path) -> tuple:
        p = t / "stats.csv"
        p.write_bytes(text)
        return ("--manual-things", "20", "--stats", p)
    return f


def _good_stats_then(mutate: Callable[[list[tuple[object, object]]], object]) -> Callable[[Path], tuple]:
    def f(t: Path) -> tuple:
        rows: list[tuple[object, object]] = [(c.id, 1000 - c.id) for c in coco.evaluable()]
        mutate(rows)
        return ("--manual-things", "20", "--stats", _stats_csv(t / "stats.csv", rows))
    return f


def _fifo(t: Path) -> Path:
    os.mkfifo(t / "fifo")
    return t / "fifo"


CASES: list[tuple[str, str, Callable[[Path], tuple]]] = [
    ("--known unknown name", BAD, lambda t: ("--known", "unicorn")),
    ("--known unknown id", BAD, lambda t: ("--known", "999")),
    ("--known negative id", BAD, lambda t: ("--known", "-1")),
    ("--known an unused COCO id", BAD, lambda t: ("--known", "person", "12")),
    ("--known duplicate name", BAD, lambda t: ("--known", "person", "person")),
    ("--known name and its id", BAD, lambda t: ("--known", "person,1")),
    ("--known also --void", BAD, lambda t: ("--known", "person", "car", "--void", "car")),
    ("--void duplicate", BAD, lambda t: ("--known", "person", "--void", "car", "3")),
    ("--void unknown name", BAD, lambda t: ("--known", "person", "--void", "unicorn")),
    ("--known empty item", VALID, lambda t: ("--known", "person,,car")),
    ("--random without counts", BAD, lambda t: ("--random",)),
    ("--known-things -1", BAD, lambda t: ("--random", "--known-things", "-1", "--known-stuff", "3")),
    ("--known-things 81", BAD, lambda t: ("--random", "--known-things", "81", "--known-stuff", "3")),
    ("--known-stuff 92", BAD, lambda t: ("--random", "--known-things", "3", "--known-stuff", "92")),
    ("--known-stuff x", BAD, lambda t: ("--random", "--known-things", "3", "--known-stuff", "x")),
    ("--seed -5", BAD, lambda t: ("--random", "--known-things", "3", "--known-stuff", "3", "--seed", "-5")),
    ("--seed 1.5", BAD, lambda t: ("--random", "--known-things", "3", "--known-stuff", "3", "--seed", "1.5")),
    ("--seed 2**70", VALID,
     lambda t: ("--random", "--known-things", "3", "--known-stuff", "3", "--seed", str(2**70))),
    ("--manual-things -1", BAD, lambda t: ("--manual-things", "-1", "--stats", _stats_csv(t / "s.csv"))),
    ("--manual-things 200", BAD, lambda t: ("--manual-things", "200", "--stats", _stats_csv(t / "s.csv"))),
    ("--manual-things without --stats", BAD, lambda t: ("--manual-things", "20")),
    ("--stats missing", BAD, lambda t: ("--manual-things", "20", "--stats", t / "nope.csv")),
    ("--stats a FIFO", BAD, lambda t: ("--manual-things", "20", "--stats", _fifo(t))),
    ("--stats a folder", BAD, lambda t: ("--manual-things", "20", "--stats", t)),
    ("--stats not UTF-8", BAD, _stats_with(b"source_id,images\n1,\xff\n")),
    ("--stats empty", BAD, _stats_with(b"")),
    ("--stats wrong columns", BAD, _stats_with(b"a,b\n1,2\n")),
    ("--stats non-integer count", BAD, _good_stats_then(lambda r: r.__setitem__(0, (1, "many")))),
    ("--stats negative count", BAD, _good_stats_then(lambda r: r.__setitem__(0, (1, -3)))),
    ("--stats duplicate id", BAD, _good_stats_then(lambda r: r.append(r[0]))),
    ("--stats missing a thing", BAD, _good_stats_then(lambda r: r.pop(0))),
    ("--manual-things 20 --stats", VALID, lambda t: ("--manual-things", "20", "--stats", _stats_csv(t / "s.csv"))),
    ("--out a folder", BAD, lambda t: ("--known", "person", "--out", t)),
    ("--out ''", BAD, lambda t: ("--known", "person", "--out", "")),
    ("--out below a file", BAD,
     lambda t: ((t / "f").write_text("x"), ("--known", "person", "--out", t / "f" / "s.json"))[1]),
    ("--out a FIFO", BAD, lambda t: ("--known", "person", "--out", _fifo(t))),
    ("no mode", BAD, lambda t: ()),
    ("two modes", BAD, lambda t: ("--known", "person", "--random")),
]


@pytest.mark.parametrize("name,expect,fn", CASES, ids=[c[0] for c in CASES])
def test_make_split(tmp_path, monkeypatch, name, expect, fn):
    monkeypatch.chdir(tmp_path)
    extra = fn(tmp_path)
    argv = ["make-split", "--dataset", "coco", *extra]
    if "--out" not in extra:
        argv += ["--out", tmp_path / "split.json"]
    res = run_cli(argv)
    check("make-split", name, expect, res)
    if res.code == 2 and "--out" not in extra:
        assert not (tmp_path / "split.json").exists()


@pytest.mark.parametrize("a,b", [
    (("--known", "person,car"), ("--known", "car", "person")),
    (("--known", "person", "3"), ("--known", "1", "car")),
    (("--random", "--known-things", "5", "--known-stuff", "7", "--seed", "3"),
     ("--random", "--known-stuff", "7", "--seed", "3", "--known-things", "5")),
])
def test_equivalent_command_lines_write_the_same_file(tmp_path, a, b):
    outs = []
    for i, extra in enumerate((a, b)):
        out = tmp_path / f"s{i}.json"
        res = run_cli(["make-split", "--dataset", "coco", *extra, "--out", out])
        check("make-split", f"equivalent: {' '.join(extra)}", VALID, res)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
