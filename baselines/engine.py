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
        GossInputError: the file is not a readable checkpoint (truncated, corrupt,
            not a file, unreadable).
    """
    from goss_bench.errors import GossInputError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (truncated files raise RuntimeError, EOFError, OSError, ...)
        first = str(exc).splitlines()[0] if str(exc) else "empty or truncated file"
        raise GossInputError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise GossInputError(f"{p}: not a goss-bench baseline checkpoint (no 'model' entry)")
    return state


def check_state_dict(model: torch.nn.Module, state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise GossInputError naming the first tensor of ``state`` that does not fit
    ``model`` (missing, unexpected or of another shape), before anything is loaded."""
    from goss_bench.errors import GossInputError

    own = unwrap(model).state_dict()
    for k, v in state.items():
        if k not in own:
            raise GossInputError(f"{path}: the checkpoint has {k} {tuple(getattr(v, 'shape', ()))}, "
                                 "which the configured model does not (another model.* config?)")
        shape = tuple(getattr(v, "shape", ()))
        if tuple(own[k].shape) != shape:
            raise GossInputError(
                f"{path}: {k} has shape {shape} in the checkpoint but {tuple(own[k].shape)} in "
                "the configured model (trained with another N or other model.* widths?)"
            )
    for k in own:
        if k not in state:
            raise GossInputError(f"{path}: the checkpoint lacks {k} {tuple(own[k].shape)} of the "
                                 "configured model (another model.* config?)")


def ensure_output_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Create ``path`` (and parents) and check that it is a writable folder, before
    any work starts.  Raises GossInputError naming ``what`` (e.g. "train.output_dir")."""
    from goss_bench.errors import GossInputError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise GossInputError(f"{what}={p}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GossInputError(f"{what}={p}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise GossInputError(f"{what}={p}: the folder is not writable")
    return p


def rng_state() -> dict[str, Any]:
    """Every random number generator the training touches: Python, NumPy, torch CPU
    and (when present) every CUDA device."""
    import random

    import numpy as np

    version, py_state, gauss = random.getstate()
    np_state: Any = np.random.get_state()  # noqa: NPY002 (saved, not used)
    name, keys, pos, has_gauss, cached = np_state
    return {  # plain data and tensors only: loadable with weights_only=True
        "python": [version, list(py_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    import random

    import numpy as np

    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    inner = getattr(model, "module", model)
    assert isinstance(inner, torch.nn.Module)
    return inner
