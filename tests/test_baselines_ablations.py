"""The paper's ablations (Table 5 "Separate", Table 6 DFC) and validation during
training, on the bundled sample dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines.config import load_config  # noqa: E402
from tests.test_baselines_e2e import _one_torch_thread  # noqa: E402, F401 (autouse fixture)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "baselines" / "configs"
# the ablation configs at tiny widths, so that they train on CPU in seconds
TINY_NET = ["model.layers=[1,1,1,1]", "model.width=4", "model.aspp_channels=8",
            "model.aspp_rates=[1,2,3]", "model.low_level_channels=4", "model.decoder_channels=8",
            "model.bpd_width=8", "model.dfc_channels=8", "model.projection_dim=8",
            "model.pretrained=none", "data.resize_longest=64", "data.crop_size=64",
            "data.num_workers=0", "train.batch_size=2", "train.device=cpu", "train.amp=none",
            "train.lr=0.002", "eval.resize_longest=64", "eval.workers=0", "eval.area_small=8",
            "eval.area_large=48"]


@pytest.fixture(scope="module")
def sample_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from goss_bench.builder import build_split

    out = tmp_path_factory.mktemp("sample") / "split"
    build_split("coco", "manual-20-60", ROOT / "examples" / "coco_sample", out)
    return out


def test_ablation_configs_are_the_paper_rows() -> None:
    rows = {
        "coco_n_msp_separate": ("msp", True, "bpd"),
        "coco_n_maxlogit_separate": ("maxlogit", True, "bpd"),
        "coco_n_msp_dfc": ("msp", False, "dfc"),
        "coco_n_maxlogit_dfc": ("maxlogit", False, "dfc"),
    }
    for name, (ident, separate, clustering) in rows.items():
        c = load_config(CONFIGS / f"{name}.json", ["train.device=cpu"])
        assert (c.eval.identification, c.model.separate_encoders, c.model.clustering) == (
            ident, separate, clustering)
        assert c.model.type == "n" and c.model.pretrained == "imagenet" and not c.model.projection
        # everything else is the "Single" / Super-BPD row it is compared with
        ref = load_config(CONFIGS / f"coco_n_{ident}.json", ["train.device=cpu"]).to_dict()
        got = c.to_dict()
        for section in ("loss", "data", "eval"):
            assert got[section] == ref[section], section
        assert got["train"]["iterations"] == ref["train"]["iterations"]


def test_separate_encoders_share_nothing() -> None:
    """With separate encoders the classification output does not depend on the
    clustering network's parameters and vice versa: training both on one summed loss
    is training two networks separately (Adam is per parameter)."""
    cfg = load_config(CONFIGS / "coco_n_msp_separate.json", TINY_NET)
    from baselines.model import build_model

    model = build_model(cfg.model, 5)
    assert model.cluster_backbone is not None and len(model.encoders()) == 2
    out = model(torch.randn(2, 3, 32, 32))
    sem_grads = torch.autograd.grad(out.semantic.sum(), list(model.cluster_backbone.parameters()),
                                    allow_unused=True)
    assert all(g is None for g in sem_grads)
    field_grads = torch.autograd.grad(out.field.sum(), list(model.backbone.parameters()),
                                      allow_unused=True)
    assert all(g is None for g in field_grads)


def test_dfc_loss_hand_computation() -> None:
    from baselines.losses import dfc_loss

    r = torch.tensor([[[[2.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [3.0, 0.0]]]])  # (1, 2, 2, 2)
    # argmax targets: [[0, 1], [1, 0]]
    ce = 0.0
    for (y, x), t in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 0], strict=True):
        z = r[0, :, y, x]
        ce += -(z[t] - torch.logsumexp(z, 0)).item()
    ce /= 4
    vert = (r[:, :, 1:] - r[:, :, :-1]).abs().mean().item()  # |0-2|,|1-0|,|3-0|,|0-1| / 4
    horiz = (r[:, :, :, 1:] - r[:, :, :, :-1]).abs().mean().item()
    assert vert == pytest.approx(7 / 4) and horiz == pytest.approx(7 / 4)
    assert float(dfc_loss(r, continuity=2.0)) == pytest.approx(ce + 2.0 * (vert + horiz), rel=1e-6)
    # unsupervised: no labels, and it trains the response towards confident, smooth maps
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    dfc_loss(x).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ["coco_n_msp_separate", "coco_n_maxlogit_dfc"])
def test_ablation_trains_and_evaluates_on_the_sample(name: str, sample_split: Path,
                                                     tmp_path: Path) -> None:
    from baselines.evaluate import main as eval_main
    from baselines.train import main as train_main

    run = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / f"{name}.json"), "--split-dir", str(sample_split),
                       "--no-progress", *TINY_NET, "train.iterations=3",
                       f"train.output_dir={run}"]) == 0
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert ("dfc" in log[-1]) == name.endswith("dfc") and ("bpd" in log[-1]) == name.endswith("separate")
    pred = tmp_path / "pred"
    assert eval_main(["--checkpoint", str(run / "model_final.pth"), "--split-dir", str(sample_split),
                      "--out", str(pred), "--no-progress"]) == 0
    result = json.loads((pred / "result.json").read_text())
    assert result["identification"] == ("maxlogit" if "maxlogit" in name else "msp")
    r = result["result"]
    assert r["gs"] is not None and math.isfinite(r["gq"])
    stems = sorted(p.name for p in (sample_split / "test" / "semantic").glob("*.png"))
    assert sorted(p.name for p in (pred / "groups").glob("*.png")) == stems


def test_validation_every_k_iterations(sample_split: Path, tmp_path: Path) -> None:
    from baselines.train import train

    run = tmp_path / "run"
    cfg = load_config(CONFIGS / "tiny_cpu.json", [
        f"train.output_dir={json.dumps(str(run))}", "train.iterations=4", "train.eval_every=2",
        "train.log_every=2", "model.type=n", "eval.identification=msp", "model.projection=false",
        "data.crop_size=48"])
    train(cfg, sample_split, progress=False)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    val = [r for r in log if "val_gq" in r]
    assert [r["iter"] for r in val] == [2, 4]
    for r in val:
        assert {"val_gq_known", "val_gq_unknown", "val_miou", "val_auroc"} <= set(r)
        assert 0 <= r["val_gq"] <= 1
    assert all("eta_s" in r for r in log if "total" in r)
    assert (run / "val" / "semantic").is_dir()
    env = json.loads((run / "env.json").read_text())
    assert env["seeds"]["train.seed"] == 0 and env["seeds"]["per_rank"] == [0]


def test_tensorboard_events_when_installed(sample_split: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from baselines.train import train

    run = tmp_path / "run"
    cfg = load_config(CONFIGS / "tiny_cpu.json", [
        f"train.output_dir={json.dumps(str(run))}", "train.iterations=2", "train.log_every=1",
        "model.projection=false", "data.crop_size=32"])
    train(cfg, sample_split, progress=False)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    off = tmp_path / "off"
    train(load_config(CONFIGS / "tiny_cpu.json", [
        f"train.output_dir={json.dumps(str(off))}", "train.iterations=1", "train.tensorboard=false",
        "model.projection=false", "data.crop_size=32"]), sample_split, progress=False)
    assert not (off / "tensorboard").exists() and (off / "log.jsonl").is_file()
