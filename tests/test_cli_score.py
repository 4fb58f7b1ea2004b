"""CLI tests for `goss-bench score`: output, files written, and every bad-input error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from PIL import Image

from goss_bench.cli import main
from goss_bench.io import write_label_png

N = 3


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(3)
    gt, pr = {}, {}
    for i in range(6):
        s, g, c = make_gt_image(rng, N)
        p, pg = perturb_prediction(rng, s, g, N)
        gt[f"img{i}"] = (s, g, c)
        pr[f"img{i}"] = (p, pg)
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", pr)
    return tmp_path / "pred", tmp_path / "gt"


def run_cli(capsys, *args):
    code = main(["score", *map(str, args), "--quiet"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_scores_and_writes_outputs(folders, capsys, tmp_path):
    pred, gt = folders
    code, out, err = run_cli(capsys, pred, gt, "--json", tmp_path / "r.json",
                             "--csv-per-class", tmp_path / "c.csv", "--per-image", tmp_path / "i.jsonl")
    assert code == 0, err
    assert "GQ" in out and "known" in out and "unknown" in out
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["num_images"] == 6 and d["average"] == "all" and len(d["per_class"]) == N + 1
    assert f"{100 * d['gq']:6.2f}" in out
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0].startswith("train_id,name,pq") and len(lines) == N + 2
    per_img = [json.loads(x) for x in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert [r["stem"] for r in per_img] == [f"img{i}" for i in range(6)]


def test_plain_gt_folder_needs_num_known(folders, capsys):
    pred, gt = folders
    code, _, err = run_cli(capsys, pred, gt / "test")
    assert code == 0  # test/ under a split directory finds split.json in its parent
    plain = gt / "test"
    (gt / "split.json").rename(gt / "moved.json")
    code, _, err = run_cli(capsys, pred, plain)
    assert code == 2 and "--num-known" in err
    code, _, err = run_cli(capsys, pred, plain, "--num-known", N)
    assert code == 0, err


def test_missing_predictions(folders, capsys):
    pred, gt = folders
    for i in (1, 3):
        (pred / "semantic" / f"img{i}.png").unlink()
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2
    assert "no prediction for 2 of 6" in err and "img1" in err and "img3" in err and "--allow-missing" in err
    assert "Traceback" not in err
    code, out, err = run_cli(capsys, pred, gt, "--allow-missing")
    assert code == 0, err


def test_extra_prediction_is_a_warning(folders, capsys):
    pred, gt = folders
    write_label_png(pred / "semantic" / "stray.png", np.zeros((4, 4), np.uint8))
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 0 and "warning" in err and "stray" in err


def test_shape_mismatch(folders, capsys):
    pred, gt = folders
    write_label_png(pred / "semantic" / "img2.png", np.zeros((10, 12), np.uint8))
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "img2.png" in err and "10x12" in err and "48x64" in err


def test_not_a_png(folders, capsys):
    pred, gt = folders
    (pred / "semantic" / "img0.png").write_bytes(b"hello, this is not a png file at all........")
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "img0.png" in err and "not a PNG" in err


def test_corrupt_png(folders, capsys):
    pred, gt = folders
    p = pred / "semantic" / "img0.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "img0.png" in err and "corrupt" in err


def test_rgb_where_single_channel_expected(folders, capsys):
    pred, gt = folders
    Image.new("RGB", (64, 48)).save(pred / "semantic" / "img4.png")
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "img4.png" in err and "single-channel" in err and "RGB" in err


def test_value_out_of_range(folders, capsys):
    pred, gt = folders
    bad = np.zeros((48, 64), np.uint8)
    bad[0, 0] = 17
    write_label_png(pred / "semantic" / "img5.png", bad)
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "img5.png" in err and "outside 0..3 and 255: 17" in err


def test_gt_value_out_of_range_names_gt_file(folders, capsys):
    pred, gt = folders
    bad = np.full((48, 64), 200, np.uint8)
    write_label_png(gt / "test" / "semantic" / "img5.png", bad)
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "test/semantic/img5.png" in err and "200" in err


def test_decompression_bomb(folders, capsys):
    pred, gt = folders
    write_label_png(pred / "semantic" / "img0.png", np.zeros((3000, 3000), np.uint8))
    code, _, err = run_cli(capsys, pred, gt, "--max-pixels", 1_000_000)
    assert code == 2 and "img0.png" in err and "decompression bomb" in err


def test_empty_folders(tmp_path, folders, capsys):
    pred, gt = folders
    (tmp_path / "empty" / "semantic").mkdir(parents=True)
    code, _, err = run_cli(capsys, tmp_path / "empty", gt)
    assert code == 2 and "no .png files" in err
    code, _, err = run_cli(capsys, tmp_path / "nothing", gt)
    assert code == 2 and "does not exist" in err


def test_missing_group_map(folders, capsys):
    pred, gt = folders
    sem = np.full((48, 64), N, np.uint8)
    write_label_png(pred / "semantic" / "img0.png", sem)
    (pred / "groups" / "img0.png").unlink()
    code, _, err = run_cli(capsys, pred, gt)
    assert code == 2 and "groups/img0.png" in err


def test_console_script_exit_code(folders):
    pred, gt = folders
    (pred / "semantic" / "img0.png").unlink()
    proc = subprocess.run([sys.executable, "-m", "goss_bench", "score", str(pred), str(gt)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    """`goss-bench ... | head -1`: the reader went away; exit quietly, no traceback."""
    import os

    rng = np.random.default_rng(0)
    gt = {f"img{i}": make_gt_image(rng, N) for i in range(3)}
    write_gt(tmp_path / "gt", gt, N)
    write_pred(tmp_path / "pred", {s: (g[0], g[1]) for s, g in gt.items()})
    r, w = os.pipe()
    os.close(r)  # nobody will ever read: the first write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "goss_bench", "score", str(tmp_path / "pred"),
             str(tmp_path / "gt"), "--per-class"],
            stdout=w, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(w)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
