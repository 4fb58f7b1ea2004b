"""Exact resume, safe interruption and DDP that survives void-only batches."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.config import load_config  # noqa: E402
from goss_bench.io import read_label_png, write_label_png  # noqa: E402
from tests.test_baselines_e2e import _one_torch_thread, make_tiny_split  # noqa: E402, F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "baselines" / "configs"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_split(tmp_path_factory.mktemp("resume"), n_train=3, n_test=2)


def _cfg(run: Path, *extra: str):  # noqa: ANN202
    # projection (random anchor sampling) and ASPP dropout draw from the global RNG,
    # 3 images at batch 2 cross epoch boundaries mid-batch: everything that must be restored
    return load_config(CONFIGS / "tiny_cpu.json", [
        f"train.output_dir={json.dumps(str(run))}", "train.iterations=8", "train.checkpoint_every=100",
        "train.log_every=1", "data.crop_size=48", "data.resize_longest=48", *extra])


def test_resume_is_bit_exact(split: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 iterations in one go == 4 iterations, SIGINT, then 4 more: every tensor equal."""
    import baselines.train as bt

    full = bt.train(_cfg(tmp_path / "full"), split, progress=False)
    assert full.iterations == 8 and full.interrupted is None

    real = bt.compute_losses

    def interrupt_at_4th(cfg, out, batch, iteration):  # noqa: ANN001, ANN202
        if iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C, in the middle of an iteration
        return real(cfg, out, batch, iteration)

    monkeypatch.setattr(bt, "compute_losses", interrupt_at_4th)
    first = bt.train(_cfg(tmp_path / "split"), split, progress=False)
    assert first.interrupted == signal.SIGINT and first.iterations == 4
    assert first.checkpoint == tmp_path / "split" / "last.pth"
    assert not (tmp_path / "split" / "model_final.pth").exists()
    state = torch.load(tmp_path / "split" / "last.pth", map_location="cpu", weights_only=True)
    assert state["iteration"] == 4 and state["sampler"]["position"] == 8
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    monkeypatch.setattr(bt, "compute_losses", real)
    second = bt.train(_cfg(tmp_path / "split"), split, progress=False)
    assert second.iterations == 8 and len(second.losses) == 4
    assert second.losses == full.losses[4:]

    a = torch.load(tmp_path / "full" / "model_final.pth", map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "split" / "model_final.pth", map_location="cpu", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    la = torch.load(tmp_path / "full" / "last.pth", map_location="cpu", weights_only=True)
    lb = torch.load(tmp_path / "split" / "last.pth", map_location="cpu", weights_only=True)
    for sa, sb in zip(la["optimizer"]["state"].values(), lb["optimizer"]["state"].values(), strict=True):
        for k in sa:
            assert torch.equal(sa[k], sb[k])
    log = [json.loads(x) for x in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == list(range(1, 9))


def test_sampler_stream_is_resumable() -> None:
    from baselines.data import StreamSampler

    def take(s: StreamSampler, n: int) -> list[tuple[int, int]]:
        it = iter(s)
        return [next(it) for _ in range(n)]

    whole = take(StreamSampler(5, seed=3), 23)
    assert take(StreamSampler(5, seed=3, start=9), 14) == whole[9:]
    # every epoch is a permutation of the dataset
    for e in range(4):
        assert sorted(i for i, ep in whole if ep == e) == list(range(5))
    # two processes split each epoch (padded to a multiple of 2), like DistributedSampler
    r0, r1 = take(StreamSampler(5, 3, 0, 2), 3), take(StreamSampler(5, 3, 1, 2), 3)
    assert sorted({i for i, _ in r0} | {i for i, _ in r1}) == list(range(5))


@pytest.mark.timeout(180)
def test_sigterm_checkpoints_and_exits_143(split: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "baselines.train", "--config", str(CONFIGS / "tiny_cpu.json"),
           "--split-dir", str(split), "--no-progress", f"train.output_dir={run}",
           "train.iterations=100000", "train.log_every=1", "train.checkpoint_every=100000",
           "data.crop_size=32", "data.resize_longest=32"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 150
        log = run / "log.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and log.read_text().count("\n") >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted after iteration "), err
    assert "Traceback" not in err and "resume with the same command" in lines[0]
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=True)
    done = int(lines[0].split()[3].rstrip(":"))
    assert state["iteration"] == done >= 2
    logged = [json.loads(x)["iter"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert logged[-1] == done  # nothing trained after the checkpoint was lost
    assert not (run / "model_final.pth").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(400)
def test_torchrun_two_processes_survive_void_batches(tmp_path: Path) -> None:
    """2 processes (gloo, CPU), one image per process and iteration, half of the
    training maps all void and one with a single class: every loss term stays in the
    graph, so DDP never waits for a gradient that one rank does not produce.  One
    rank gets SIGTERM in iteration 3: both stop after it, rank 0 writes the
    checkpoint, and the resumed run finishes with identical parameters on both."""
    split = make_tiny_split(tmp_path / "data", n_train=4, n_test=1, seed=3)
    stems = [line.split()[0] for line in (split / "train" / "images.txt").read_text().splitlines()]
    for stem in stems[:2]:
        p = split / "train" / "semantic" / f"{stem}.png"
        write_label_png(p, np.full_like(read_label_png(p), 255))
    p = split / "train" / "semantic" / f"{stems[2]}.png"
    write_label_png(p, np.zeros_like(read_label_png(p)))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(ROOT / "tests" / "_ddp_train_worker.py"), str(split), str(out),
           "train.iterations=6", "train.batch_size=2", "data.crop_size=32", "data.resize_longest=32",
           "train.log_every=1"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**env, "GOSS_TEST_SIGTERM_AT": "2"},
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for r in (0, 1):
        part = torch.load(out / f"rank{r}.pth", weights_only=True)
        assert part["iterations"] == 3 and part["interrupted"] == signal.SIGTERM
    assert torch.load(out / "run" / "last.pth", weights_only=True)["iteration"] == 3
    assert not (out / "run" / "model_final.pth").exists()
    cmd[cmd.index("--master_port") + 1] = str(_free_port())
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(out / "rank0.pth", weights_only=True)
    r1 = torch.load(out / "rank1.pth", weights_only=True)
    assert r0["iterations"] == r1["iterations"] == 6
    assert r0["interrupted"] is None and r1["interrupted"] is None
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    log = [json.loads(x) for x in (out / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == list(range(1, 7))
    assert all(np.isfinite(r["total"]) for r in log)
    # some iteration had nothing for the contrastive loss on some rank, yet it is logged
    assert {"semantic", "bpd", "contrastive"} <= set(log[0])
