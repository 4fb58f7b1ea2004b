"""Typed configuration of the GOSS baselines; every default lives here.

A config file is JSON (``baselines/configs/*.json``).  It may name a parent with
``"_base_": "other.json"`` (resolved relative to the file); keys are merged
section by section.  Command-line overrides are ``section.key=value`` strings whose
value is parsed as JSON when possible (``train.lr=1e-4``, ``model.aspp_rates=[3,6,9]``,
``eval.identification=msp``).  A top-level ``"_comment"`` string is ignored.  The resolved config is written to the run
directory as ``config.json`` by the trainer.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from baselines.bpd_postprocess import BPDParams

MODEL_TYPES = ("n", "n+1")
HEAD_TYPES = ("softmax", "dml")
IDENTIFICATIONS = ("msp", "maxlogit", "dml", "n+1", "n+1-ca")
AMP_MODES = ("none", "bf16", "fp16")


@dataclass
class ModelConfig:
    """Network.

    type: "n" (N outputs, unknown pixels ignored in training) or "n+1" (N+1 outputs).
    head: "softmax" (logits) or "dml" (N-dim embedding with fixed prototypes).
    layers/width/output_stride: the ResNet (ResNet-50 = [3,4,6,3], 64, 16).
    pretrained: path of a torchvision-format ImageNet checkpoint, or null.
    """

    type: str = "n"
    head: str = "softmax"
    layers: list[int] = field(default_factory=lambda: [3, 4, 6, 3])
    width: int = 64
    output_stride: int = 16
    pretrained: str | None = None
    aspp_channels: int = 256
    aspp_rates: list[int] = field(default_factory=lambda: [6, 12, 18])
    low_level_channels: int = 48
    decoder_channels: int = 256
    bpd: bool = True
    bpd_width: int = 256
    projection: bool = False
    projection_dim: int = 256
    dml_magnitude: float = 3.0
    bn_momentum: float = 0.01


@dataclass
class LossConfig:
    """Loss weights and hyper-parameters (paper: 1.0 / 1e-4 / 1e-2; release: contrastive 0.1).

    The contrastive term is active only when ``model.projection`` is true.
    """

    semantic_weight: float = 1.0
    bpd_weight: float = 1e-4
    contrastive_weight: float = 0.01
    small_segment_area: int = 4096
    small_segment_weight: float = 3.0
    temperature: float = 0.1
    base_temperature: float = 0.07
    max_samples: int = 1024
    max_views: int = 100
    min_class_pixels: int = 10
    contrastive_warmup: int = 0
    semi_hard_fraction: float = 0.0
    dml_variance_weight: float = 0.01


@dataclass
class DataConfig:
    """Augmentation as in the release: longest side 641, scale 0.5-1.5, 641 crop, flip."""

    resize_longest: int = 641
    crop_size: int = 641
    scale_min: float = 0.5
    scale_max: float = 1.5
    scale_step: float = 0.1
    flip: bool = True
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    connectivity: int = 8
    num_workers: int = 4


@dataclass
class TrainConfig:
    """Optimisation: Adam, lr 5e-5, poly 0.9, iterations and *total* batch size."""

    iterations: int = 60000
    batch_size: int = 10
    lr: float = 5e-5
    weight_decay: float = 0.0
    poly_power: float = 0.9
    amp: str = "bf16"
    sync_bn: bool = True
    checkpoint_every: int = 1000
    log_every: int = 20
    seed: int = 0
    output_dir: str = "runs/default"
    device: str = "auto"
    resume: bool = True


@dataclass
class EvalConfig:
    """Identification, thresholds and Super-BPD post-processing at test time."""

    identification: str = "msp"
    threshold: float = 0.5
    beta: float = 5.0
    resize_longest: int = 641
    bpd_stride: int = 1
    # Super-BPD thresholds: defaults are BPDParams' published values (one place)
    theta_a: float = BPDParams.theta_a
    theta_l: float = BPDParams.theta_l
    theta_s: float = BPDParams.theta_s
    s_o: float = BPDParams.s_o
    area_small: int = BPDParams.area_small
    area_large: int = BPDParams.area_large
    workers: int = 2


@dataclass
class Config:
    name: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ValueError for values outside their allowed sets."""
        checks = [
            ("model.type", self.model.type, MODEL_TYPES),
            ("model.head", self.model.head, HEAD_TYPES),
            ("eval.identification", self.eval.identification, IDENTIFICATIONS),
            ("train.amp", self.train.amp, AMP_MODES),
            ("data.connectivity", self.data.connectivity, (4, 8)),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        ident = self.eval.identification
        if ident in ("n+1", "n+1-ca") and self.model.type != "n+1":
            raise ValueError(f"eval.identification={ident} needs model.type='n+1'")
        if ident in ("msp", "maxlogit") and (self.model.type != "n" or self.model.head != "softmax"):
            raise ValueError(f"eval.identification={ident} needs model.type='n', model.head='softmax'")
        if ident == "dml" and (self.model.type != "n" or self.model.head != "dml"):
            raise ValueError("eval.identification=dml needs model.type='n', model.head='dml'")


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ValueError(f"{path}: circular _base_ reference")
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    raw.pop("_comment", None)
    base = raw.pop("_base_", None)
    if base is None:
        return raw
    return _merge(_load_raw(path.parent / base, (*seen, path)), raw)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported type {tp}")


def from_dict(raw: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from a (partial) nested dict."""
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "name":
            kwargs["name"] = _coerce(value, str, "name")
            continue
        if key not in _SECTIONS:
            raise ValueError(f"unknown config section {key!r} (known: {sorted(_SECTIONS)})")
        cls = _SECTIONS[key]
        if not isinstance(value, dict):
            raise ValueError(f"config section {key!r} must be an object")
        hints = typing.get_type_hints(cls)
        sub: dict[str, Any] = {}
        for k, v in value.items():
            if k not in hints:
                raise ValueError(f"unknown config key {key}.{k} (known: {sorted(hints)})")
            sub[k] = _coerce(v, hints[k], f"{key}.{k}")
        kwargs[key] = cls(**sub)
    cfg = Config(**kwargs)
    cfg.validate()
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-4"`` -> (["train", "lr"], 1e-4); non-JSON values stay strings."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    parts = key.strip().split(".")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return parts, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Apply ``section.key=value`` overrides to a raw config dict and build the Config."""
    raw = _merge({}, raw)
    for text in overrides:
        parts, value = parse_override(text)
        if parts == ["name"]:
            raw["name"] = value
            continue
        if len(parts) != 2:
            raise ValueError(f"override {text!r}: key must be section.key")
        raw.setdefault(parts[0], {})
        if not isinstance(raw[parts[0]], dict):
            raise ValueError(f"override {text!r}: {parts[0]} is not a section")
        raw[parts[0]][parts[1]] = value
    return from_dict(raw)


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Load a JSON config (with ``_base_`` inheritance) and apply ``key=value`` overrides."""
    raw: dict[str, Any] = _load_raw(Path(path)) if path is not None else {}
    if path is not None and "name" not in raw:
        raw["name"] = Path(path).stem
    return apply_overrides(raw, overrides)


def save_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as JSON (atomically)."""
    from goss_bench.io import write_text_atomic

    write_text_atomic(path, json.dumps(cfg.to_dict(), indent=2) + "\n")
