"""End to end on a tiny generated split: train 30 steps on CPU, evaluate, score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.bpd_gt import connected_regions  # noqa: E402
from baselines.config import load_config  # noqa: E402
from goss_bench.io import read_label_png, write_label_png  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
N = 3
COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [220, 220, 60]], dtype=np.float64)


def _scene(rng: np.random.Generator, with_unknown: bool, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) and semantic uint8 (H, W): background class 0 with
    rectangles of classes 1..2 (and the unknown class N when ``with_unknown``)."""
    sem = np.zeros((size, size), dtype=np.uint8)
    classes = [1, 2] + ([N] if with_unknown else [])
    for c in classes:
        for _ in range(2):
            h, w = rng.integers(10, 24, size=2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            sem[y : y + h, x : x + w] = c
    img = COLOURS[sem] + rng.normal(0, 12, size=(size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8), sem


def make_tiny_split(root: Path, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    """Write a split directory in the FORMAT.md layout (images under images/)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    split = root / "split"
    known = [{"train_id": i, "source_id": i + 1, "name": f"class{i}", "kind": "stuff"} for i in range(N)]
    (split / "images").mkdir(parents=True)
    (split / "split.json").write_text(json.dumps({
        "dataset": "synthetic", "name": "tiny", "num_known": N, "known": known,
        "unknown": [{"source_id": 9, "name": "thing", "kind": "thing"}], "options": {"connectivity": 8},
    }))
    for subset, count in (("train", n_train), ("test", n_test)):
        lines = []
        for i in range(count):
            stem = f"{subset}{i:03d}"
            img, sem = _scene(rng, with_unknown=subset == "test")
            Image.fromarray(img).save(split / "images" / f"{stem}.jpg", quality=95)
            lines.append(f"{stem} images/{stem}.jpg\n")
            if subset == "train":
                write_label_png(split / subset / "semantic" / f"{stem}.png", sem)
                continue
            sem[:2, :2] = 255  # a little void
            write_label_png(split / subset / "semantic" / f"{stem}.png", sem)
            unk = np.where(sem == N, N, 255).astype(np.uint8)
            groups = connected_regions(unk, 8).astype(np.uint16)
            write_label_png(split / subset / "groups" / f"{stem}.png", groups)
            write_label_png(split / subset / "clusters" / f"{stem}.png",
                            connected_regions(sem, 8).astype(np.uint16))
        (split / subset / "images.txt").write_text("".join(lines))
    return split


@pytest.fixture(autouse=True)
def _one_torch_thread():  # noqa: ANN202
    """The tiny network gains nothing from a second thread; on a busy CI runner
    spinning threads only slow it down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_split(tmp_path_factory.mktemp("tiny"))


def test_train_evaluate_score(tiny_split: Path, tmp_path: Path) -> None:
    from baselines.evaluate import evaluate
    from baselines.train import train
    from goss_bench import score

    torch.manual_seed(0)
    run = tmp_path / "run"
    cfg = load_config(CONFIGS / "tiny_cpu.json", [f"train.output_dir={json.dumps(str(run))}"])
    res = train(cfg, tiny_split, progress=False)
    assert res.iterations == 30 and len(res.losses) == 30
    first, last = np.mean(res.losses[:5]), np.mean(res.losses[-5:])
    assert last < first, (first, last)
    # run directory: resolved config, JSON-lines log, checkpoints
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["output_dir"] == str(run) and saved["model"]["type"] == "n+1"
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == [5, 10, 15, 20, 25, 30]
    assert {"lr", "total", "semantic", "bpd", "contrastive"} <= set(log[0])
    assert (run / "last.pth").is_file() and (run / "model_final.pth").is_file()

    pred = tmp_path / "pred"
    result = evaluate(cfg, run / "model_final.pth", tiny_split, pred, progress=False)
    for sub in ("semantic", "groups", "scores", "clusters"):
        assert sorted(p.name for p in (pred / sub).iterdir()) == [f"test{i:03d}.png" for i in range(3)]
    sem = read_label_png(pred / "semantic" / "test000.png")
    assert sem.shape == (64, 64) and sem.max() <= N
    scores = read_label_png(pred / "scores" / "test000.png", bits=(16,))
    assert scores.dtype == np.uint16
    assert json.loads((pred / "result.json").read_text())["result"]["gq"] == result["result"]["gq"]

    # the library scorer accepts the folder and agrees with the accumulator
    scored = score(pred, tiny_split)
    assert scored.num_images == 3
    assert scored.gq == pytest.approx(result["result"]["gq"])
    assert scored.oss is not None and scored.gs is not None


def test_resume_continues_from_checkpoint(
    tiny_split: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import baselines.train as bt

    run = tmp_path / "run"
    over = [f"train.output_dir={json.dumps(str(run))}", "model.projection=false",
            "train.iterations=6", "train.checkpoint_every=3", "train.log_every=1"]
    cfg = load_config(CONFIGS / "tiny_cpu.json", over)
    real = bt.compute_losses

    def crash_at_5(cfg, out, batch, iteration):  # noqa: ANN001, ANN202
        if iteration == 5:
            raise KeyboardInterrupt("simulated interruption")
        return real(cfg, out, batch, iteration)

    monkeypatch.setattr(bt, "compute_losses", crash_at_5)
    with pytest.raises(KeyboardInterrupt):
        bt.train(cfg, tiny_split, progress=False)
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
    assert state["iteration"] == 3
    assert [json.loads(x)["iter"] for x in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    monkeypatch.setattr(bt, "compute_losses", real)
    second = bt.train(cfg, tiny_split, progress=False)
    assert second.iterations == 6 and len(second.losses) == 3  # resumed at 3
    assert [json.loads(x)["iter"] for x in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
    assert state["iteration"] == 6
    # a finished run has nothing left to do
    assert bt.train(cfg, tiny_split, progress=False).losses == []


def test_cli_score_accepts_predictions(tiny_split: Path, tmp_path: Path) -> None:
    """`goss-bench score PRED GT` (the CLI entry point) on evaluate's output."""
    from baselines.evaluate import main as eval_main
    from baselines.train import main as train_main
    from goss_bench.cli import main as cli_main

    run = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(tiny_split),
                       "--no-progress", f"train.output_dir={run}", "train.iterations=2",
                       "model.projection=false"]) == 0
    pred = tmp_path / "pred"
    assert eval_main(["--checkpoint", str(run / "model_final.pth"), "--split-dir", str(tiny_split),
                      "--out", str(pred), "--no-progress", "eval.identification=n+1"]) == 0
    out = tmp_path / "score.json"
    rc = cli_main(["score", str(pred), str(tiny_split), "--json", str(out)])
    assert rc == 0


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_builder_split_end_to_end(tmp_path: Path) -> None:
    """Train and evaluate on a split made by `goss_bench.builder` from the test data
    generator's COCO-Stuff copy (N = 111), then score it with the CLI."""
    try:
        from goss_bench.builder import build_split
        from tests.datagen import make_coco_stuff
    except ImportError as exc:  # the builder is optional for the baselines
        pytest.skip(f"dataset builder not available: {exc}")
    from baselines.evaluate import main as eval_main
    from baselines.train import main as train_main
    from goss_bench.cli import main as cli_main

    root = make_coco_stuff(tmp_path / "coco", n_train=6, n_val=8, size=(48, 64), seed=1)
    split = tmp_path / "split"
    summary = build_split("coco", "manual-20-60", root, split)
    assert summary.num_known == 111 and summary.train_images > 0 and summary.test_images > 0
    run = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(split),
                       "--no-progress", f"train.output_dir={run}", "train.iterations=3"]) == 0
    pred = tmp_path / "pred"
    assert eval_main(["--config", str(CONFIGS / "tiny_cpu.json"), "--checkpoint", str(run / "model_final.pth"),
                      "--split-dir", str(split), "--out", str(pred), "--no-progress"]) == 0
    out = tmp_path / "score.json"
    assert cli_main(["score", str(pred), str(split), "--json", str(out)]) == 0
    scored = json.loads(out.read_text())
    assert scored["num_images"] == summary.test_images
    assert scored["gq"] == pytest.approx(json.loads((pred / "result.json").read_text())["result"]["gq"])


def test_train_dataset_items_and_errors(tiny_split: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from baselines.data import TrainDataset
    from baselines.evaluate import main as eval_main
    from baselines.train import main as train_main
    from goss_bench.errors import GossInputError

    cfg = load_config(CONFIGS / "tiny_cpu.json")
    ds = TrainDataset(tiny_split, cfg.data, N, seed=0, with_unknown=True)
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["target"].shape == (64, 64) and item["target"].dtype == torch.int64
    assert item["field"].shape == (2, 64, 64) and item["weight"].shape == (64, 64)
    # void (padding, flips never create any) has weight 0, labelled pixels 1/sqrt(area) > 0
    valid = item["target"] != 255
    assert (item["weight"][valid] > 0).all() and (item["weight"][~valid] == 0).all()

    bad = tmp_path / "bad"
    shutil.copytree(tiny_split, bad)
    stem = (bad / "train" / "images.txt").read_text().split()[0]
    sem = read_label_png(bad / "train" / "semantic" / f"{stem}.png").copy()
    sem[0, 0] = N + 7
    write_label_png(bad / "train" / "semantic" / f"{stem}.png", sem)
    with pytest.raises(GossInputError, match=rf"{stem}\.png: values must be train ids"):
        TrainDataset(bad, cfg.data, N)[0]
    run = tmp_path / "run"
    assert train_main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(bad),
                       "--no-progress", f"train.output_dir={run}", "data.flip=false"]) == 2
    assert f"{stem}.png: values must be train ids" in capsys.readouterr().err
    # the same error raised in a data-loader worker process: still one line
    assert train_main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(bad),
                       "--no-progress", f"train.output_dir={run}", "data.flip=false",
                       "data.num_workers=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}") and "Traceback" not in err, err
    assert f"{stem}.png: values must be train ids" in err
    assert eval_main(["--checkpoint", str(tmp_path / "nope.pth"), "--split-dir", str(tiny_split),
                      "--out", str(tmp_path / "p")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert eval_main(["--checkpoint", str(tmp_path / "junk.pth"), "--split-dir", str(tiny_split),
                      "--out", str(tmp_path / "p")]) == 2
    assert "junk.pth: not a readable checkpoint" in capsys.readouterr().err
