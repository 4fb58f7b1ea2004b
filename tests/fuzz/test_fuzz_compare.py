"""Fuzz ``goss-bench compare`` and ``goss-bench score --ci`` / ``--image-stats``:
flags, outputs and saved score JSON files.  Comparing a folder with itself
must give zero differences (no silent change)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz.harness import BAD, VALID, check, run_cli


def _fifo(t: Path) -> Path:
    os.mkfifo(t / "fifo")
    return t / "fifo"


def _saved(pred: Path, gt: Path, t: Path) -> Path:
    out = t / "a.json"
    res = run_cli(["score", pred, gt, "--quiet", "--json", out, "--image-stats"])
    assert res.code == 0, res.err
    return out


def _mutated_saved(mutate: Callable[[dict], object]) -> Callable[[Path, Path, Path], tuple]:
    def f(pred: Path, gt: Path, t: Path) -> tuple:
        p = _saved(pred, gt, t)
        d = json.loads(p.read_text())
        mutate(d)
        p.write_text(json.dumps(d))
        return (p, p)
    return f


def _raw_saved(data: bytes) -> Callable[[Path, Path, Path], tuple]:
    def f(pred: Path, gt: Path, t: Path) -> tuple:
        p = t / "a.json"
        p.write_bytes(data)
        return (p, p)
    return f


CASES: list[tuple[str, str, Callable[[Path, Path, Path], tuple]]] = [
    *[(f"--workers {v}", BAD, lambda p, g, t, v=v: (p, p, g, "--workers", v)) for v in ("0", "-1", "x")],
    *[(f"--lam {v}", BAD, lambda p, g, t, v=v: (p, p, g, "--lam", v)) for v in ("-1", "2", "nan")],
    *[(f"--bootstrap {v}", BAD, lambda p, g, t, v=v: (p, p, g, "--bootstrap", v)) for v in ("0", "-5", "x")],
    *[(f"--level {v}", BAD, lambda p, g, t, v=v: (p, p, g, "--level", v)) for v in ("0", "1", "1.5", "nan", "-0.5")],
    ("--seed -1", BAD, lambda p, g, t: (p, p, g, "--seed", "-1")),
    ("--top -1", BAD, lambda p, g, t: (p, p, g, "--top", "-1")),
    ("--show -1", BAD, lambda p, g, t: (p, p, g, "--show", "-1")),
    ("--show without --out", BAD, lambda p, g, t: (p, p, g, "--show", "1")),
    ("--show with --out a file", BAD,
     lambda p, g, t: ((t / "f").write_text("x"), (p, p, g, "--show", "1", "--out", t / "f"))[1]),
    ("--num-known 0", BAD, lambda p, g, t: (p, p, g, "--num-known", "0")),
    ("--json ''", BAD, lambda p, g, t: (p, p, g, "--json", "")),
    ("--json a folder", BAD, lambda p, g, t: (p, p, g, "--json", t)),
    ("--json a FIFO", BAD, lambda p, g, t: (p, p, g, "--json", _fifo(t))),
    ("--json below a file", BAD,
     lambda p, g, t: ((t / "f").write_text("x"), (p, p, g, "--json", t / "f" / "c.json"))[1]),
    ("folders without GT", BAD, lambda p, g, t: (p, p)),
    ("A missing", BAD, lambda p, g, t: (t / "nope", p, g)),
    ("saved JSON invalid", BAD, _raw_saved(b"{")),
    ("saved JSON not UTF-8", BAD, _raw_saved(b'{"\xff": 1}')),
    ("saved JSON a list", BAD, _raw_saved(b"[]")),
    ("saved JSON without image_stats", BAD, _mutated_saved(lambda d: d.pop("image_stats"))),
    ("saved JSON image_stats a string", BAD, _mutated_saved(lambda d: d.update(image_stats="x"))),
    ("saved JSON a FIFO", BAD, lambda p, g, t: (_fifo(t), _fifo(t) if False else t / "fifo")),
    ("saved JSON valid", VALID, _mutated_saved(lambda d: None)),
    ("a folder with itself", VALID, lambda p, g, t: (p, p, g, "--bootstrap", "50")),
]


@pytest.mark.parametrize("name,expect,fn", CASES, ids=[c[0] for c in CASES])
def test_compare(pair, tmp_path, name, expect, fn):
    pred, gt = pair
    args = fn(pred, gt, tmp_path)
    res = run_cli(["compare", *args, "--quiet"])
    check("compare", name, expect, res)


SCORE_CI: list[tuple[str, str, tuple]] = [
    ("--ci --bootstrap 0", BAD, ("--ci", "--bootstrap", "0")),
    ("--ci --level 1.5", BAD, ("--ci", "--level", "1.5")),
    ("--ci --level nan", BAD, ("--ci", "--level", "nan")),
    ("--ci --seed -1", BAD, ("--ci", "--seed", "-1")),
    ("--image-stats without --json", BAD, ("--image-stats",)),
    ("--ci --bootstrap 20", VALID, ("--ci", "--bootstrap", "20")),
]


@pytest.mark.parametrize("name,expect,extra", SCORE_CI, ids=[c[0] for c in SCORE_CI])
def test_score_ci(pair, name, expect, extra):
    pred, gt = pair
    check("score", name, expect, run_cli(["score", pred, gt, "--quiet", *extra]))
