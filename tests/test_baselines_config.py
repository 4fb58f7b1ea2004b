"""Typed validation of the baseline configs: every bad value or file is one
``error:`` line naming the key, the value and the allowed range, exit code 2, and
nothing reaches torch/numpy (issue 14, cause 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines.config import load_config, preset_names  # noqa: E402
from baselines.config_rules import RULES  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
TINY = str(CONFIGS / "tiny_cpu.json")

# (override, text that the error line must contain)
BAD_OVERRIDES = [
    ("train.batch_size=0", "train.batch_size=0 is out of range"),
    ("train.lr=-1", "train.lr=-1.0 is out of range: expected a finite number in (0, 10]"),
    ("train.lr=NaN", "train.lr=nan is out of range"),
    ("train.lr=Infinity", "train.lr=inf is out of range"),
    ("model.width=0", "model.width=0 is out of range"),
    ("data.crop_size=0", "data.crop_size=0 is out of range"),
    ("model.layers=[1]", "model.layers=[1] is out of range: expected a list of 4 values"),
    ("model.layers=[0,0,0,0]", "model.layers=[0, 0, 0, 0] is out of range"),
    ("train.device=bogus", "train.device='bogus' is out of range"),
    ("model.aspp_rates=[0]", "model.aspp_rates=[0] is out of range"),
    ("model.aspp_rates=[]", "model.aspp_rates=[] is out of range"),
    ("data.num_workers=-1", "data.num_workers=-1 is out of range"),
    ("data.scale_min=2", "data.scale_min=2.0 must be <= data.scale_max=1.2"),
    ("data.scale_min=0", "data.scale_min=0.0 is out of range"),
    ("train.iterations=0", "train.iterations=0 is out of range: expected a finite number in [1, 100000000]"),
    ("train.iterations=-1", "train.iterations=-1 is out of range"),
    ("train.iterations=1e20", "train.iterations=100000000000000000000 is out of range"),
    ("train.iterations=1.5", "train.iterations: expected an integer, got 1.5"),
    ("train.iterations=Infinity", "train.iterations: expected an integer, got inf"),
    ("eval.workers=-1", "eval.workers=-1 is out of range"),
    ("eval.resize_longest=0", "eval.resize_longest=0 is out of range"),
    ("eval.threshold=1.5", "eval.threshold=1.5 is out of range: expected a finite number in [0, 1]"),
    ("eval.area_small=100", "eval.area_small=100 must be <= eval.area_large=48"),
    ("loss.temperature=0", "loss.temperature=0.0 is out of range"),
    ("loss.min_views=20", "loss.min_views=20 must be <= loss.max_views=8"),
    ("model.output_stride=12", "model.output_stride=12 is out of range: expected one of 8, 16, 32"),
    ("model.type=n+2", "model.type='n+2' is out of range"),
    ("model.pretrained=", "model.pretrained='' is out of range"),
    ("train.output_dir=", "train.output_dir='' is out of range"),
    ("train.seed=-5", "train.seed=-5 is out of range"),
    ("data.mean=[0.5,0.5]", "data.mean=[0.5, 0.5] is out of range"),
    ("data.connectivity=true", "data.connectivity: expected an integer, got True"),
    ("data.connectivity=6", "data.connectivity=6 is out of range: expected one of 4, 8"),
    ("train.nope=1", "unknown config key train.nope"),
    ("preset=fancy", "preset='fancy' is out of range"),
]


@pytest.mark.parametrize(("override", "message"), BAD_OVERRIDES, ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_override_is_one_error_line(override: str, message: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.train import main

    rc = main(["--config", TINY, "--split-dir", str(tmp_path), f"train.output_dir={tmp_path / 'r'}",
               override])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert not (tmp_path / "r").exists()  # nothing was written


def test_cuda_device_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from baselines.train import main

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    rc = main(["--config", TINY, "--split-dir", str(tmp_path), f"train.device=cuda:{n}"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: train.device='cuda:") and err.count("\n") == 1
    if n == 0:
        assert "CUDA is not available" in err


BAD_FILES = [
    ("list.json", "[1, 2]", "must hold a JSON object, got list"),
    ("null.json", "null", "must hold a JSON object, got NoneType"),
    ("string.json", '"coco_gst.json"', "must hold a JSON object, got str"),
    ("intbase.json", '{"_base_": 3}', "_base_ must be a file name (string), got 3"),
    ("listbase.json", '{"_base_": ["a.json"]}', "_base_ must be a file name"),
    ("broken.json", '{"model": ', "not valid JSON"),
    ("section.json", '{"model": 3}', "config section 'model' must be an object, got 3"),
    ("cycle.json", '{"_base_": "cycle.json"}', "circular _base_ reference"),
    ("missingbase.json", '{"_base_": "nope.json"}', "nope.json: config file not found"),
    ("name.json", '{"name": 5}', "name: expected a string, got 5"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_config_file(name: str, text: str, message: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.evaluate import main as eval_main
    from baselines.train import main

    path = tmp_path / name
    path.write_text(text)
    assert main(["--config", str(path), "--split-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert eval_main(["--config", str(path), "--checkpoint", str(tmp_path / "x.pth"),
                      "--split-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_config_directory_and_non_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.train import main

    assert main(["--config", str(tmp_path), "--split-dir", str(tmp_path)]) == 2
    assert "is a directory, expected a JSON config file" in capsys.readouterr().err
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"name": "caf\xe9"}')
    assert main(["--config", str(bad), "--split-dir", str(tmp_path)]) == 2
    assert "latin1.json: not UTF-8 text" in capsys.readouterr().err


def test_every_field_has_a_rule() -> None:
    """A new config field must get a range here (or be a bool/free string)."""
    import dataclasses

    from baselines.config import Config

    cfg = Config()
    free = {"model.separate_encoders", "model.projection", "model.pretrained", "data.flip",
            "train.sync_bn", "train.tensorboard", "train.resume", "train.output_dir",
            "train.device", "eval.dml_image_minmax"}
    for section in ("model", "loss", "data", "train", "eval"):
        for f in dataclasses.fields(getattr(cfg, section)):
            key = f"{section}.{f.name}"
            assert key in RULES or key in free, key
    # and every default satisfies its rule
    for key, rule in RULES.items():
        s, k = key.split(".")
        assert rule.ok(getattr(getattr(cfg, s), k)), key


def test_presets_and_shipped_configs_load() -> None:
    assert preset_names() == ["paper", "release"]
    for path in CONFIGS.glob("*.json"):
        for preset in (None, "paper", "release"):
            load_config(path, ["train.device=cpu"], preset)
    rel = load_config(CONFIGS / "coco_gst.json", preset="release")
    paper = load_config(CONFIGS / "coco_gst.json", preset="paper")
    assert rel.preset == "release" and paper.preset == "paper"
    lc = rel.loss
    assert (lc.temperature, lc.base_temperature, lc.max_views, lc.min_views, lc.contrastive_weight,
            lc.bpd_sum_images, lc.min_class_pixels) == (0.07, 0.07, 10, 0, 0.1, 5, 10)
    # the paper preset is the defaults
    assert paper.to_dict() == {**load_config(CONFIGS / "coco_gst.json").to_dict(), "preset": "paper"}
    # a stored config of an older version (model.bpd, pretrained null) still loads
    raw = json.loads(json.dumps(paper.to_dict()))
    raw["model"].pop("clustering")
    raw["model"]["bpd"] = False
    raw["model"]["pretrained"] = None
    from baselines.config import from_dict

    old = from_dict(raw)
    assert old.model.clustering == "none" and old.model.pretrained == "none"


def test_loss_constants_of_the_presets() -> None:
    """The release preset's Super-BPD reduction (sum over a per-GPU batch of 5) and
    contrastive sampling (no floor on the views per class, hard/easy split)."""
    from baselines.losses import bpd_loss, sample_anchors

    g = torch.Generator().manual_seed(0)
    pred, gt = torch.randn(2, 2, 5, 5, generator=g), torch.randn(2, 2, 5, 5, generator=g)
    w = torch.rand(2, 5, 5, generator=g)
    assert float(bpd_loss(pred, gt, w, sum_images=5)) == pytest.approx(5 * float(bpd_loss(pred, gt, w)))
    # the per-image sums are averaged: one image twice gives the single-image sum
    one = float(bpd_loss(pred[:1], gt[:1], w[:1]))
    assert float(bpd_loss(pred[:1].repeat(2, 1, 1, 1), gt[:1].repeat(2, 1, 1, 1),
                          w[:1].repeat(2, 1, 1))) == pytest.approx(one, rel=1e-6)

    emb = torch.randn(1, 3, 6, 6, generator=g)
    labels = torch.zeros(1, 6, 6, dtype=torch.long)
    labels[0, 3:] = 1  # two classes of 18 pixels
    preds = labels.clone()
    preds[0, 0, :4] = 1  # 4 hard pixels of class 0
    # max_samples 2 over 2 classes -> 1 view each; the paper preset's floor makes it 2
    _, lab = sample_anchors(emb, labels, preds, 2, max_samples=2, max_views=10, min_views=0,
                            min_class_pixels=10)
    assert lab.tolist() == [0, 1]
    _, lab = sample_anchors(emb, labels, preds, 2, max_samples=2, max_views=10, min_views=2,
                            min_class_pixels=10)
    assert lab.tolist() == [0, 0, 1, 1]
    # classes need more than min_class_pixels pixels (the release: more than max_views)
    _, lab = sample_anchors(emb, labels, preds, 2, max_samples=64, max_views=10,
                            min_class_pixels=18)
    assert lab.numel() == 0
    # hard_fraction: 8 views of class 0 with all 4 hard pixels at 0.5, 2 of them at 0.25
    flat = emb[0].permute(1, 2, 0).reshape(-1, 3)
    hard = {tuple(v.tolist()) for v in flat[:4]}
    for frac, n_hard in ((0.5, 4), (0.25, 2)):
        feats, lab = sample_anchors(emb, labels, preds, 2, max_samples=16, max_views=8,
                                    hard_fraction=frac, min_class_pixels=10)
        got = [tuple(v.tolist()) for v, c in zip(feats, lab.tolist(), strict=True) if c == 0]
        assert len(got) == 8 and sum(x in hard for x in got) == n_hard
