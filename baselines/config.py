"""Typed configuration of the GOSS baselines; every default lives here.

A config file is JSON (``baselines/configs/*.json``).  It may name a parent with
``"_base_": "other.json"`` (resolved relative to the file); keys are merged
section by section.  A *preset* (``baselines/configs/presets/<name>.json``:
``paper``, the defaults below, or ``release``, the authors' code) is applied on
top of the file with ``--preset``.  Command-line overrides are
``section.key=value`` strings whose value is parsed as JSON when possible
(``train.lr=1e-4``, ``model.aspp_rates=[3,6,9]``, ``eval.identification=msp``).
A top-level ``"_comment"`` string is ignored.  Every value is checked when the
config is loaded (type, then the range in :mod:`baselines.config_rules`); a bad
one raises ``ValueError`` naming the key, the value and the allowed range.  The
resolved config is written to the run directory as ``config.json`` by the trainer.
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
CLUSTERINGS = ("bpd", "dfc", "none")
IDENTIFICATIONS = ("msp", "maxlogit", "dml", "n+1", "n+1-ca")
AMP_MODES = ("none", "bf16", "fp16")
PRESETS_DIR = Path(__file__).resolve().parent / "configs" / "presets"


@dataclass
class ModelConfig:
    """Network.

    type: "n" (N outputs, unknown pixels ignored in training) or "n+1" (N+1 outputs).
    head: "softmax" (logits) or "dml" (N-dim embedding with fixed prototypes).
    clustering: "bpd" (Super-BPD direction field, supervised), "dfc" (differentiable
        feature clustering, unsupervised; the paper's Table 6) or "none".
    separate_encoders: the paper's Table 5 "Separate" strategy: the classification
        and clustering branches get one encoder each (two networks trained side by
        side on the same batches; their losses touch disjoint parameters).
    layers/width/output_stride: the ResNet (ResNet-50 = [3,4,6,3], 64, 16).
    pretrained: "imagenet" (torchvision's ResNet-50 IMAGENET1K_V1 file from the
        weights folder, ``python -m baselines.weights fetch resnet50``), a path of a
        torchvision-format checkpoint, or "none" (random initialisation).
    decoder_convs: 3x3 convs of ``decoder_channels`` after the concat (DeepLabV3+: 2).
    """

    type: str = "n"
    head: str = "softmax"
    clustering: str = "bpd"
    separate_encoders: bool = False
    layers: list[int] = field(default_factory=lambda: [3, 4, 6, 3])
    width: int = 64
    output_stride: int = 16
    pretrained: str = "imagenet"
    aspp_channels: int = 256
    aspp_rates: list[int] = field(default_factory=lambda: [6, 12, 18])
    low_level_channels: int = 48
    decoder_channels: int = 256
    decoder_convs: int = 2
    bpd_width: int = 256
    dfc_channels: int = 100
    projection: bool = False
    projection_dim: int = 256
    dml_magnitude: float = 3.0
    bn_momentum: float = 0.01


@dataclass
class LossConfig:
    """Loss weights and hyper-parameters; defaults follow the paper's text (the
    ``release`` preset holds the authors' code's values, baselines/README.md).

    The contrastive term is active only when ``model.projection`` is true.
    Contrastive sampling: per image and class with more than ``min_class_pixels``
    pixels, n_view = max(min_views, min(max_samples // groups, max_views)) anchors,
    ``hard_fraction`` of them mispredicted ("hard"), the rest correct ("easy").
    Super-BPD: the per-image sums of the norm + angle terms are averaged over the
    images and multiplied by ``bpd_sum_images`` (1: mean per image; the release sums
    over its per-GPU batch of 5, i.e. 5).
    DFC (Kim et al. 2020): CE of the response map against its own argmax plus
    ``dfc_continuity`` times the L1 spatial-continuity term, weighted by ``dfc_weight``.
    """

    semantic_weight: float = 1.0
    bpd_weight: float = 1e-4
    bpd_sum_images: int = 1
    contrastive_weight: float = 0.01
    small_segment_area: int = 4096
    small_segment_weight: float = 3.0
    temperature: float = 0.1
    base_temperature: float = 0.07
    max_samples: int = 1024
    max_views: int = 100
    min_views: int = 2
    min_class_pixels: int = 10
    hard_fraction: float = 0.5
    contrastive_warmup: int = 0
    semi_hard_fraction: float = 0.0
    dml_variance_weight: float = 0.01
    dfc_weight: float = 1.0
    dfc_continuity: float = 1.0


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
    """Optimisation: Adam, lr 5e-5, poly 0.9, iterations and *total* batch size.

    eval_every: evaluate on the split's test set every that many iterations (0: never).
    tensorboard: also write TensorBoard event files when ``tensorboard`` is installed.
    """

    iterations: int = 60000
    batch_size: int = 10
    lr: float = 5e-5
    weight_decay: float = 0.0
    poly_power: float = 0.9
    amp: str = "bf16"
    sync_bn: bool = True
    checkpoint_every: int = 1000
    log_every: int = 20
    eval_every: int = 0
    tensorboard: bool = True
    seed: int = 0
    output_dir: str = "runs/default"
    device: str = "auto"
    resume: bool = True


@dataclass
class EvalConfig:
    """Identification, thresholds and Super-BPD post-processing at test time.

    dml_clip: the DML confidence is the summed squared distance to all prototypes
    mapped so that the origin gives 0 and a prototype 1 (baselines.identification),
    clipped at ``dml_clip`` and divided by it.
    dml_image_minmax: additionally min-max normalise it per image (the DML release).
    theta_*, s_o, area_*, bpd_steps (parent steps of the adjacency walk) and
    bpd_root_window (roots within this Chebyshev distance are merged): Super-BPD.
    """

    identification: str = "msp"
    threshold: float = 0.5
    beta: float = 5.0
    dml_clip: float = 1.0
    dml_image_minmax: bool = False
    resize_longest: int = 641
    bpd_stride: int = 1
    # Super-BPD thresholds: defaults are BPDParams' published values (one place)
    theta_a: float = BPDParams.theta_a
    theta_l: float = BPDParams.theta_l
    theta_s: float = BPDParams.theta_s
    s_o: float = BPDParams.s_o
    area_small: int = BPDParams.area_small
    area_large: int = BPDParams.area_large
    bpd_steps: int = BPDParams.steps
    bpd_root_window: int = BPDParams.root_window
    workers: int = 2


@dataclass
class Config:
    name: str = "default"
    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ValueError for a value outside its range or an inconsistent combination."""
        from baselines.config_rules import check_config

        check_config(self)


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}
_TOP_LEVEL = ("name", "preset")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_json_object(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a JSON config file")
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text, expected a JSON config file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: a config file must hold a JSON object, got {type(raw).__name__} "
            f"({json.dumps(raw)[:40]})"
        )
    return raw


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ValueError(f"{path}: circular _base_ reference")
    raw = _read_json_object(path)
    raw.pop("_comment", None)
    base = raw.pop("_base_", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ValueError(f"{path}: _base_ must be a file name (string), got {base!r}")
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
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, float) and (abs(value) == float("inf") or int(value) != value):
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


def _legacy(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Keys of configs written by earlier versions (stored in old checkpoints)."""
    if section == "model" and "bpd" in values:
        values = dict(values)
        bpd = values.pop("bpd")
        values.setdefault("clustering", "bpd" if bpd else "none")
    if section == "model" and values.get("pretrained", "") is None:
        values = dict(values, pretrained="none")
    return values


def from_dict(raw: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from a (partial) nested dict."""
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TOP_LEVEL:
            kwargs[key] = _coerce(value, str, key)
            continue
        if key not in _SECTIONS:
            raise ValueError(f"unknown config section {key!r} (known: {sorted(_SECTIONS)})")
        cls = _SECTIONS[key]
        if not isinstance(value, dict):
            raise ValueError(f"config section {key!r} must be an object, got {value!r}")
        hints = typing.get_type_hints(cls)
        sub: dict[str, Any] = {}
        for k, v in _legacy(key, value).items():
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
        if len(parts) == 1 and parts[0] in _TOP_LEVEL:
            raw[parts[0]] = value
            continue
        if len(parts) != 2:
            raise ValueError(f"override {text!r}: key must be section.key")
        raw.setdefault(parts[0], {})
        if not isinstance(raw[parts[0]], dict):
            raise ValueError(f"override {text!r}: {parts[0]} is not a section")
        raw[parts[0]][parts[1]] = value
    return from_dict(raw)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw layer of a named preset (``paper`` or ``release``)."""
    if name not in preset_names():
        raise ValueError(f"preset {name!r} is not one of {preset_names()}")
    raw = _load_raw(PRESETS_DIR / f"{name}.json")
    raw["preset"] = name
    return raw


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    preset: str | None = None,
) -> Config:
    """Load a JSON config (with ``_base_`` inheritance), apply a preset layer and
    ``key=value`` overrides."""
    raw: dict[str, Any] = _load_raw(Path(path)) if path is not None else {}
    if path is not None and "name" not in raw:
        raw["name"] = Path(path).stem
    if preset is not None:
        raw = _merge(raw, load_preset(preset))
    return apply_overrides(raw, overrides)


def save_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as JSON (atomically)."""
    from goss_bench.io import write_text_atomic

    write_text_atomic(path, json.dumps(cfg.to_dict(), indent=2) + "\n")
