"""Allowed range of every baseline config value, checked when a config is loaded.

One table, :data:`RULES`, maps ``section.key`` to a rule: a numeric interval
(finite numbers only), a set of choices, or a list rule (length and a rule for
every item).  :func:`check_config` applies it and then the checks that involve
several keys (``scale_min <= scale_max``, identification vs. model type, a CUDA
device that exists, ...).  Every failure is one ``ValueError`` naming the key,
the value and what is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baselines.config import Config

BIG = 1 << 20  # generous upper bound for sizes and counts
MAX_ITERATIONS = 100_000_000


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi]; ``lo_open``/``hi_open`` exclude the end."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, v: Any) -> bool:
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            return False
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"a finite number in {left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def ok(self, v: Any) -> bool:
        return any(v == x and type(v) is type(x) for x in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(x) for x in self.values)


@dataclass(frozen=True)
class ListOf:
    item: Num | Choice
    min_len: int
    max_len: int

    def ok(self, v: Any) -> bool:
        return (isinstance(v, list) and self.min_len <= len(v) <= self.max_len
                and all(self.item.ok(x) for x in v))

    def describe(self) -> str:
        n = str(self.min_len) if self.min_len == self.max_len else f"{self.min_len}..{self.max_len}"
        return f"a list of {n} values, each {self.item.describe()}"


def _fmt(x: float) -> str:
    if x == BIG:
        return str(BIG)
    return f"{x:g}" if isinstance(x, float) else str(x)


def _count(lo: int = 1, hi: int = BIG) -> Num:
    return Num(lo, hi)


POS = Num(0, 1e9, lo_open=True)  # finite, > 0
NONNEG = Num(0, 1e9)  # finite, >= 0
ANGLE = Num(0, 180)

RULES: dict[str, Num | Choice | ListOf] = {
    "model.type": Choice(("n", "n+1")),
    "model.head": Choice(("softmax", "dml")),
    "model.clustering": Choice(("bpd", "dfc", "none")),
    "model.layers": ListOf(_count(1, 64), 4, 4),
    "model.width": _count(1, 4096),
    "model.output_stride": Choice((8, 16, 32)),
    "model.aspp_channels": _count(1, 8192),
    "model.aspp_rates": ListOf(_count(1, 256), 1, 8),
    "model.low_level_channels": _count(1, 8192),
    "model.decoder_channels": _count(1, 8192),
    "model.decoder_convs": _count(1, 8),
    "model.bpd_width": _count(2, 8192),
    "model.dfc_channels": _count(2, 4096),
    "model.projection_dim": _count(1, 8192),
    "model.dml_magnitude": Num(0, 1e6, lo_open=True),
    "model.bn_momentum": Num(0, 1),
    "loss.semantic_weight": NONNEG,
    "loss.bpd_weight": NONNEG,
    "loss.bpd_sum_images": _count(1, 4096),
    "loss.contrastive_weight": NONNEG,
    "loss.small_segment_area": _count(0),
    "loss.small_segment_weight": POS,
    "loss.temperature": POS,
    "loss.base_temperature": POS,
    "loss.max_samples": _count(2),
    "loss.max_views": _count(1),
    "loss.min_views": _count(0),
    "loss.min_class_pixels": _count(0),
    "loss.hard_fraction": Num(0, 1),
    "loss.contrastive_warmup": _count(0, MAX_ITERATIONS),
    "loss.semi_hard_fraction": Num(0, 1),
    "loss.dml_variance_weight": NONNEG,
    "loss.dfc_weight": NONNEG,
    "loss.dfc_continuity": NONNEG,
    "data.resize_longest": _count(1, 16384),
    "data.crop_size": _count(1, 16384),
    "data.scale_min": Num(0, 16, lo_open=True),
    "data.scale_max": Num(0, 16, lo_open=True),
    "data.scale_step": Num(0, 16),
    "data.mean": ListOf(Num(0, 1), 3, 3),
    "data.std": ListOf(Num(0, 10, lo_open=True), 3, 3),
    "data.connectivity": Choice((4, 8)),
    "data.num_workers": _count(0, 256),
    "train.iterations": _count(1, MAX_ITERATIONS),
    "train.batch_size": _count(1, 65536),
    "train.lr": Num(0, 10, lo_open=True),
    "train.weight_decay": Num(0, 1),
    "train.poly_power": Num(0, 100),
    "train.amp": Choice(("none", "bf16", "fp16")),
    "train.checkpoint_every": _count(1, MAX_ITERATIONS),
    "train.log_every": _count(1, MAX_ITERATIONS),
    "train.eval_every": _count(0, MAX_ITERATIONS),
    "train.seed": _count(0, 2**32 - 1),
    "eval.identification": Choice(("msp", "maxlogit", "dml", "n+1", "n+1-ca")),
    "eval.threshold": Num(0, 1),
    "eval.beta": Num(0, 1e6, lo_open=True),
    "eval.dml_clip": Num(0, 1e6, lo_open=True),
    "eval.resize_longest": _count(1, 16384),
    "eval.bpd_stride": _count(1, 64),
    "eval.theta_a": ANGLE,
    "eval.theta_l": ANGLE,
    "eval.theta_s": ANGLE,
    "eval.s_o": ANGLE,
    "eval.area_small": _count(0),
    "eval.area_large": _count(0),
    "eval.bpd_steps": _count(0, 64),
    "eval.bpd_root_window": _count(1, 64),
    "eval.workers": _count(0, 256),
}

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _bad(key: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{key}={value!r} is out of range: expected {allowed}")


def check_device(name: str) -> None:
    """Raise ValueError unless ``name`` is "auto", "cpu", or a CUDA/MPS device that exists."""
    allowed = "'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'"
    if not _DEVICE.match(name):
        raise _bad("train.device", name, allowed)
    if name in ("auto", "cpu"):
        return
    import torch

    if name.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"train.device={name!r}: CUDA is not available on this machine "
                             "(use 'auto' or 'cpu')")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= n:
            raise ValueError(f"train.device={name!r}: this machine has {n} CUDA device(s), "
                             f"expected an index in 0..{n - 1}")
    elif not torch.backends.mps.is_available():
        raise ValueError(f"train.device={name!r}: MPS is not available on this machine")


def check_config(cfg: Config) -> None:
    """Check every value of ``cfg`` against :data:`RULES` and the cross-key rules."""
    for key, rule in RULES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not rule.ok(value):
            raise _bad(key, value, rule.describe())
    if not cfg.name.strip():
        raise _bad("name", cfg.name, "a non-empty string")
    if cfg.preset not in ("paper", "release"):
        raise _bad("preset", cfg.preset, "one of 'paper', 'release'")
    if not cfg.train.output_dir.strip():
        raise _bad("train.output_dir", cfg.train.output_dir, "a folder path")
    if not cfg.model.pretrained.strip():
        raise _bad("model.pretrained", cfg.model.pretrained, "'imagenet', 'none' or a file path")
    d = cfg.data
    if d.scale_min > d.scale_max:
        raise ValueError(f"data.scale_min={d.scale_min!r} must be <= data.scale_max={d.scale_max!r}")
    e = cfg.eval
    if e.area_small > e.area_large:
        raise ValueError(f"eval.area_small={e.area_small!r} must be <= eval.area_large={e.area_large!r}")
    if cfg.loss.min_views > cfg.loss.max_views:
        raise ValueError(f"loss.min_views={cfg.loss.min_views!r} must be <= "
                         f"loss.max_views={cfg.loss.max_views!r}")
    check_device(cfg.train.device)
    ident, mt, head = e.identification, cfg.model.type, cfg.model.head
    if ident in ("n+1", "n+1-ca") and mt != "n+1":
        raise ValueError(f"eval.identification={ident} needs model.type='n+1'")
    if ident in ("msp", "maxlogit") and (mt != "n" or head != "softmax"):
        raise ValueError(f"eval.identification={ident} needs model.type='n', model.head='softmax'")
    if ident == "dml" and (mt != "n" or head != "dml"):
        raise ValueError("eval.identification=dml needs model.type='n', model.head='dml'")
