"""CLI: `goss-bench score --ci / --image-stats` and `goss-bench compare` (output, files, bad input)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred

from goss_bench.cli import main

N = 3


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(5)
    gt, a, b = {}, {}, {}
    for i in range(12):
        s, g, c = make_gt_image(rng, N)
        gt[f"img{i:02d}"] = (s, g, c)
        a[f"img{i:02d}"] = perturb_prediction(rng, s, g, N, flip=0.4)
        b[f"img{i:02d}"] = perturb_prediction(rng, s, g, N, flip=0.05)
    write_gt(root / "gt", gt, N)
    write_pred(root / "a", a)
    write_pred(root / "b", b)
    return root


def cli(capsys, *args):
    code = main([*map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_ci_prints_intervals_and_writes_json(folders, capsys, tmp_path):
    code, out, err = cli(capsys, "score", folders / "a", folders / "gt", "--ci", "--bootstrap",
                         "200", "--seed", "3", "--json", tmp_path / "r.json", "--quiet")
    assert code == 0, err
    d = json.loads((tmp_path / "r.json").read_text())
    ci = d["ci"]
    assert ci["resamples"] == 200 and ci["seed"] == 3 and ci["level"] == 0.95
    gq = ci["metrics"]["GQ"]
    assert gq["value"] == d["gq"] and gq["low"] <= gq["value"] <= gq["high"]
    line = f"GQ        {100 * gq['value']:.2f}% [{100 * gq['low']:.2f}%, {100 * gq['high']:.2f}%]"
    assert line in out
    assert "image_stats" not in d
    # the same seed gives the same intervals
    cli(capsys, "score", folders / "a", folders / "gt", "--ci", "--bootstrap", "200", "--seed",
        "3", "--json", tmp_path / "r2.json", "--quiet")
    assert json.loads((tmp_path / "r2.json").read_text())["ci"] == ci


def test_compare_from_folders_and_from_json_agree(folders, capsys, tmp_path):
    for side in ("a", "b"):
        code, _, err = cli(capsys, "score", folders / side, folders / "gt", "--json",
                           tmp_path / f"{side}.json", "--image-stats", "--quiet")
        assert code == 0, err
    code, out_dirs, err = cli(capsys, "compare", folders / "a", folders / "b", folders / "gt",
                              "--bootstrap", "300", "--json", tmp_path / "c1.json", "--quiet")
    assert code == 0, err
    code, out_json, err = cli(capsys, "compare", tmp_path / "a.json", tmp_path / "b.json",
                              "--bootstrap", "300", "--json", tmp_path / "c2.json")
    assert code == 0, err
    c1 = json.loads((tmp_path / "c1.json").read_text())
    c2 = json.loads((tmp_path / "c2.json").read_text())
    assert c1["metrics"] == c2["metrics"] and c1["per_class"] == c2["per_class"]
    gq = next(m for m in c1["metrics"] if m["metric"] == "GQ")
    assert gq["diff"] > 0 and gq["low"] > 0  # b is clearly better than a
    row = re.search(r"^GQ\s+(\S+)\s+(\S+)\s+(\S+)\s+\[(\S+), (\S+)\]\s+(\S+)$", out_dirs, re.M)
    assert row is not None
    assert float(row.group(3)) == pytest.approx(100 * gq["diff"], abs=0.006)
    assert "PQ per class" in out_dirs and "differ most" in out_dirs


def test_compare_same_folder_twice(folders, capsys):
    code, out, _ = cli(capsys, "compare", folders / "a", folders / "a", folders / "gt",
                       "--bootstrap", "100", "--quiet")
    assert code == 0
    row = re.search(r"^GQ\s+\S+\s+\S+\s+(\S+)\s+\[(\S+), (\S+)\]\s+(\S+)$", out, re.M)
    assert row is not None and row.groups() == ("0.00", "0.00", "0.00", "1.000")


def test_compare_show_panels(folders, capsys, tmp_path):
    code, out, err = cli(capsys, "compare", folders / "a", folders / "b", folders / "gt",
                         "--bootstrap", "50", "--show", "2", "--out", tmp_path / "panels", "--quiet")
    assert code == 0, err
    pngs = sorted(p.name for p in (tmp_path / "panels").glob("*.png"))
    assert len(pngs) == 4 and sum(n.endswith("_A.png") for n in pngs) == 2


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda r, t: ["compare", r / "a", r / "b"], "give the ground truth as GT"),
        (lambda r, t: ["compare", r / "a", r / "nope", r / "gt"], "neither a prediction folder"),
        (lambda r, t: ["compare", t / "plain.json", t / "plain.json"], "no per-image statistics"),
        (lambda r, t: ["compare", t / "junk.json", t / "junk.json"], "not a JSON file"),
        (lambda r, t: ["compare", r / "a", r / "b", r / "gt", "--bootstrap", "0"], "--bootstrap"),
        (lambda r, t: ["compare", r / "a", r / "b", r / "gt", "--show", "2"], "--show needs --out"),
        (lambda r, t: ["score", r / "a", r / "gt", "--image-stats"], "--image-stats needs --json"),
        (lambda r, t: ["score", r / "a", r / "gt", "--ci", "--level", "1.5"], "confidence level"),
    ],
)
def test_bad_input_is_one_error_line(folders, capsys, tmp_path, make_args, message):
    (tmp_path / "plain.json").write_text(json.dumps({"gq": 0.1}))
    (tmp_path / "junk.json").write_text("{not json")
    code, out, err = cli(capsys, *make_args(folders, tmp_path), "--quiet")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
