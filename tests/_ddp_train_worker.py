"""Worker of tests/test_baselines_resume.py's torchrun test (not a test module).

    torchrun --nproc_per_node 2 tests/_ddp_train_worker.py SPLIT OUT [overrides...]

Trains the tiny config under DDP (gloo, CPU) and saves every rank's parameters to
OUT/rank<r>.pth so the test can check that all ranks ended identical.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.config import load_config  # noqa: E402
from baselines.train import train  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "baselines" / "configs" / "tiny_cpu.json"


def main() -> int:
    split, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    cfg = load_config(CONFIG, [f"train.output_dir={out / 'run'}", *sys.argv[3:]])
    res = train(cfg, split, progress=False)
    assert res.model is not None
    params = {k: v.detach().clone() for k, v in res.model.named_parameters()}
    torch.save({"params": params, "iterations": res.iterations},
               out / f"rank{os.environ.get('RANK', '0')}.pth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
