"""Shared training/evaluation plumbing: devices, distributed setup, AMP, checkpoints."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """rank / world size / local rank of this process (1 process when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed() -> DistInfo:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """"auto" -> cuda:<local rank> when CUDA is available, else cpu."""
    if name == "auto":
        return torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{info.local_rank}")
    return dev


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for "bf16"/"fp16"/"none" on CUDA; None (fp32) on other devices,
    where autocast is slower than fp32 on most CPUs."""
    if mode not in ("none", "bf16", "fp16"):
        raise ValueError(f"unknown amp mode {mode!r}")
    if mode == "none" or device.type != "cuda":
        return None
    return torch.bfloat16 if mode == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, then rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by the trainer (tensors and plain data only:
    ``weights_only`` loading never runs code from the file).

    Raises:
        FileNotFoundError: no such file.
        GossInputError: the file is not a readable checkpoint.
    """
    import pickle

    from goss_bench.errors import GossInputError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise GossInputError(f"{p}: not a readable checkpoint ({exc})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise GossInputError(f"{p}: not a goss-bench baseline checkpoint (no 'model' entry)")
    return state


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    inner = getattr(model, "module", model)
    assert isinstance(inner, torch.nn.Module)
    return inner
