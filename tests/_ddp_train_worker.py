"""Worker of tests/test_baselines_resume.py's torchrun test (not a test module).

    torchrun --nproc_per_node 2 tests/_ddp_train_worker.py SPLIT OUT [overrides...]

Trains the tiny config under DDP (gloo, CPU) and saves every rank's parameters to
OUT/rank<r>.pth so the test can check that all ranks ended identical.  With
GOSS_TEST_SIGTERM_AT=k, rank 1 sends itself SIGTERM during iteration k (0-based):
all ranks must stop after that iteration.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import baselines.train as bt  # noqa: E402
from baselines.config import load_config  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "baselines" / "configs" / "tiny_cpu.json"


def main() -> int:
    split, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    cfg = load_config(CONFIG, [f"train.output_dir={out / 'run'}", *sys.argv[3:]])
    rank = os.environ.get("RANK", "0")
    at = os.environ.get("GOSS_TEST_SIGTERM_AT")
    if at is not None and rank == "1":
        real = bt.compute_losses

        def losses(cfg, out, batch, iteration):  # noqa: ANN001, ANN202
            if iteration == int(at):
                os.kill(os.getpid(), signal.SIGTERM)
            return real(cfg, out, batch, iteration)

        bt.compute_losses = losses
    res = bt.train(cfg, split, progress=False)
    assert res.model is not None
    params = {k: v.detach().clone() for k, v in res.model.named_parameters()}
    torch.save({"params": params, "iterations": res.iterations, "interrupted": res.interrupted},
               out / f"rank{rank}.pth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
