"""`goss-bench report`: a self-contained HTML page whose numbers are the scorer's."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from PIL import Image

from goss_bench.cli import main
from goss_bench.scoring import score

pytest.importorskip("matplotlib")

N = 3


def make_report_inputs(root):
    rng = np.random.default_rng(21)
    gt, pred = {}, {}
    for i in range(8):
        s, g, c = make_gt_image(rng, N)
        p, pg = perturb_prediction(rng, s, g, N, flip=0.3)
        sc = rng.integers(0, 4000, s.shape).astype(np.uint16)
        sc[s == N] += 3000
        gt[f"im{i}"] = (s, g, c)
        pred[f"im{i}"] = (p, pg, sc)
    write_gt(root / "gt", gt, N)
    write_pred(root / "pred", pred)
    return root / "pred", root / "gt"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    pred, gt = make_report_inputs(root)
    code = main(["report", str(pred), str(gt), "--out", str(root / "out"), "--bootstrap", "100",
                 "--worst", "3", "--quiet"])
    assert code == 0
    return root, pred, gt


def test_page_is_self_contained_and_images_decode(report):
    root = report[0]
    page = (root / "out" / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # no external resource of any kind
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # oracle bars, OSS curves, per-class bars, 3 worst images
    assert len(uris) == 6
    for u in uris:
        with Image.open(io.BytesIO(base64.b64decode(u))) as im:
            assert im.format == "PNG" and im.width > 100 and im.height > 50


def test_numbers_match_the_scorer(report):
    root, pred, gt = report
    ref = score(pred, gt)
    d = json.loads((root / "out" / "report.json").read_text())
    assert d["intervals"]["GQ"]["value"] == ref.gq
    assert d["oracle"]["actual"]["gq"] == ref.gq
    page = (root / "out" / "index.html").read_text(encoding="utf-8")
    iv = d["intervals"]["GQ"]
    assert f"[{100 * iv['low']:.2f}%, {100 * iv['high']:.2f}%]" in page
    assert f"{100 * ref.gq:.2f}%" in page
    gain = d["oracle"]["oracles"]["grouping"]["gain_gq"]
    assert f"{100 * gain:+.2f}" in page
    assert len(d["worst"]) == 3
    scores = [w["image_score"] for w in d["worst"]]
    assert scores == sorted(scores)
    assert "goss-bench report" in d["command"]


def test_report_bad_input(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nope"), str(tmp_path / "gt"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["report", "p", "g", "--out", "o", "--workers", "0"], "--workers"),
        (["report", "p", "g", "--out", "o", "--worst", "-1"], "--worst"),
        (["report", "p", "g", "--out", "o", "--lam", "nan"], "--lam"),
        (["report", "p", "g", "--out", "o", "--num-known", "0"], "--num-known"),
        (["oracle", "p", "g", "--workers", "-1"], "--workers"),
        (["oracle", "p", "g", "--lam", "2"], "--lam"),
        (["oracle", "p", "g", "--num-known", "-3"], "--num-known"),
    ],
)
def test_report_and_oracle_flags_use_the_shared_ranges(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument {flag}: " in err and "Traceback" not in err


def test_oracle_and_report_check_outputs_before_work(tmp_path, capsys):
    pred, gt = make_report_inputs(tmp_path)
    (tmp_path / "file").write_text("x")
    for argv in (
        ["oracle", str(pred), str(gt), "--json", "", "--quiet"],
        ["oracle", str(pred), str(gt), "--json", str(tmp_path), "--quiet"],
        ["report", str(pred), str(gt), "--out", str(tmp_path / "file"), "--quiet"],
        ["report", str(pred), str(gt), "--out", str(tmp_path / "file" / "sub"), "--quiet"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, argv
