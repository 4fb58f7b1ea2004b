"""Evaluate a trained baseline into a scored GOSS prediction folder.

    python -m baselines.evaluate --config baselines/configs/coco_gst.json \
        --checkpoint runs/coco_gst/model_final.pth --split-dir goss_data/coco-manual-20-60 \
        --out preds/coco_gst [--images-root DIR] [section.key=value ...]

For every test image the network runs on the image resized to longest side
``eval.resize_longest``; the classification output is upsampled to the original
size and turned into known/unknown by ``eval.identification``; the direction field
is segmented by Super-BPD (at ``eval.bpd_stride``; with ``model.clustering=dfc``
the DFC response's argmax is the segmentation) and nearest-upsampled; fusion
gives the GOSS maps.  Post-processing and PNG writing run in ``eval.workers``
processes.  The folder receives ``semantic/``, ``groups/``, ``scores/`` and
``clusters/`` (FORMAT.md) and ``result.json``: the GQ / OSS / GS scores computed
with goss_bench's :class:`GossAccumulator` against ``<split>/test``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from baselines.bpd_postprocess import BPDParams, segment_field
from baselines.config import (
    Config,
    EvalConfig,
    apply_overrides,
    from_dict,
    load_config,
    preset_names,
)
from baselines.data import TestDataset, split_info
from baselines.engine import (
    DistInfo,
    amp_dtype,
    autocast,
    check_state_dict,
    ensure_output_dir,
    load_checkpoint,
    resolve_device,
)
from baselines.fusion import GossPrediction, fuse
from baselines.identification import identify
from baselines.model import build_model
from goss_bench import GossAccumulator
from goss_bench.errors import GossInputError
from goss_bench.io import read_label_png, write_label_png, write_text_atomic


@dataclass
class ImageJob:
    """Network outputs of one image, ready for post-processing (numpy, CPU)."""

    stem: str
    semantic: np.ndarray  # int64 (H, W) at the original size, N = unknown
    score: np.ndarray  # float32 (H, W) in [0, 1]
    field: np.ndarray | None  # float32 (2, h, w) at network resolution (Super-BPD)
    segments: np.ndarray | None = None  # int32 (h, w) DFC clusters at network resolution


def bpd_params(ec: EvalConfig) -> BPDParams:
    return BPDParams(
        theta_a=ec.theta_a, theta_l=ec.theta_l, theta_s=ec.theta_s, s_o=ec.s_o,
        area_small=ec.area_small, area_large=ec.area_large, steps=ec.bpd_steps,
        root_window=ec.bpd_root_window,
    )


def _upsample_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = labels.shape
    rows = np.minimum((np.arange(size[0]) + 0.5) * h / size[0], h - 1).astype(np.int64)
    cols = np.minimum((np.arange(size[1]) + 0.5) * w / size[1], w - 1).astype(np.int64)
    return labels[rows[:, None], cols[None, :]]


def postprocess(
    job: ImageJob, num_known: int, params: BPDParams, stride: int, out_dir: Path
) -> GossPrediction:
    """Super-BPD + fusion of one image; writes its four PNGs and returns the maps."""
    size = job.semantic.shape
    if job.field is not None:
        seg = _upsample_nearest(segment_field(job.field, params, stride), size)
    elif job.segments is not None:
        seg = _upsample_nearest(job.segments, size)
    else:  # no clustering branch: every unknown pixel in one group
        seg = np.zeros(size, dtype=np.int32)
    pred = fuse(job.semantic, job.score, seg, num_known)
    write_label_png(out_dir / "semantic" / f"{job.stem}.png", pred.semantic)
    write_label_png(out_dir / "groups" / f"{job.stem}.png", pred.groups)
    write_label_png(out_dir / "scores" / f"{job.stem}.png", pred.scores)
    write_label_png(out_dir / "clusters" / f"{job.stem}.png", pred.clusters)
    return pred


class _Serial(Executor):
    def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN201
        fut: Future = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


@torch.no_grad()
def predict(
    model: torch.nn.Module, dataset: TestDataset, cfg: Config, device: torch.device
) -> Iterator[ImageJob]:
    """Run the network on every test image (batch 1) and identify unknown pixels."""
    ec = cfg.eval
    dtype = amp_dtype(cfg.train.amp, device) if device.type == "cuda" else None
    model.eval()
    for i in range(len(dataset)):
        item: dict[str, Any] = dataset[i]
        img = item["image"][None].to(device)
        with autocast(device, dtype):
            out = model(img)
        sem = F.interpolate(out.semantic.float(), size=item["size"], mode="bilinear", align_corners=False)[0]
        ident = identify(sem, ec.identification, threshold=ec.threshold, beta=ec.beta,
                         magnitude=cfg.model.dml_magnitude, dml_clip=ec.dml_clip,
                         dml_image_minmax=ec.dml_image_minmax)
        field = out.field[0].float().cpu().numpy() if out.field is not None else None
        segments = None
        if out.response is not None:
            clusters = out.response[0].argmax(0).cpu().numpy()
            segments = np.unique(clusters, return_inverse=True)[1].reshape(clusters.shape).astype(np.int32)
        yield ImageJob(item["stem"], ident.semantic.cpu().numpy(), ident.score.cpu().numpy(),
                       field, segments)


def _gt_maps(split_dir: Path, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    test = split_dir / "test"
    sem = read_label_png(test / "semantic" / f"{stem}.png", what="GT semantic map")
    grp = read_label_png(test / "groups" / f"{stem}.png", bits=(8, 16), what="GT groups map")
    clu_path = test / "clusters" / f"{stem}.png"
    clu = read_label_png(clu_path, bits=(8, 16), what="GT clusters map") if clu_path.is_file() else None
    return sem, grp, clu


def evaluate(
    cfg: Config,
    checkpoint: str | Path,
    split_dir: str | Path,
    out_dir: str | Path,
    images_root: str | Path | None = None,
    *,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Load a checkpoint, write the prediction folder and ``result.json``; returns
    the result dict.

    Raises:
        GossInputError: unreadable checkpoint, one that does not fit the configured
            model (naming the first mismatching tensor), a bad split or an
            unwritable ``out_dir``.
    """
    split = Path(split_dir)
    info = split_info(split)
    state = load_checkpoint(checkpoint)
    out = ensure_output_dir(out_dir, "--out")
    n_ckpt = state.get("num_known")
    if n_ckpt is not None and n_ckpt != info.num_known:
        raise GossInputError(f"{checkpoint}: trained with N={n_ckpt}, split has N={info.num_known}")
    model = build_model(_no_pretrained(cfg).model, info.num_known)
    check_state_dict(model, state["model"], checkpoint)
    model.load_state_dict(state["model"])
    result = evaluate_model(model, cfg, split, out, info.num_known, images_root, progress=progress)
    result["checkpoint"] = str(checkpoint)
    write_text_atomic(out / "result.json", json.dumps(result, indent=2) + "\n")
    return result


def evaluate_model(
    model: torch.nn.Module,
    cfg: Config,
    split_dir: str | Path,
    out_dir: str | Path,
    num_known: int,
    images_root: str | Path | None = None,
    *,
    device: torch.device | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run ``model`` on ``<split>/test``, write the four prediction folders under
    ``out_dir`` and return the scores (the trainer's validation calls this)."""
    split = Path(split_dir)
    out = Path(out_dir)
    info = split_info(split)
    if device is None:
        device = resolve_device(cfg.train.device, DistInfo())
    model.to(device)
    dataset = TestDataset(split, cfg.data, cfg.eval.resize_longest, images_root)
    params = bpd_params(cfg.eval)
    acc = GossAccumulator(num_known=num_known, class_names=info.class_names)
    show = sys.stderr.isatty() if progress is None else progress
    workers = cfg.eval.workers if workers is None else workers
    pool: Executor = ProcessPoolExecutor(workers) if workers > 0 else _Serial()
    pending: list[tuple[str, Future]] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            stem, fut = pending.pop(0)
            pred = fut.result()
            gs, gg, gc = _gt_maps(split, stem)
            acc.add(gs, gg, pred.semantic, pred.groups, pred_scores=pred.scores,
                    gt_clusters=gc, pred_clusters=pred.clusters if gc is not None else None,
                    stem=stem)
            bar.update(1)

    with pool, tqdm(total=len(dataset), disable=not show, desc="evaluate") as bar:
        for job in predict(model, dataset, cfg, device):
            pending.append((job.stem, pool.submit(postprocess, job, num_known, params,
                                                  cfg.eval.bpd_stride, out)))
            drain(2 * max(1, workers))
        drain(0)
    res = acc.result()
    return {
        "config": cfg.name,
        "split_dir": str(split),
        "identification": cfg.eval.identification,
        "threshold": cfg.eval.threshold,
        "beta": cfg.eval.beta,
        "bpd_stride": cfg.eval.bpd_stride,
        "result": res.to_dict(),
    }


def _no_pretrained(cfg: Config) -> Config:
    """The evaluated weights come from the checkpoint: do not load ImageNet weights."""
    raw = cfg.to_dict()
    raw["model"]["pretrained"] = "none"
    return from_dict(raw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m baselines.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=None,
                   help="JSON config (default: the config stored in the checkpoint)")
    p.add_argument("--checkpoint", required=True, help="model_final.pth or last.pth of a run")
    p.add_argument("--split-dir", required=True, help="built GOSS split directory (uses test/)")
    p.add_argument("--out", required=True, help="prediction folder to write")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="apply a preset layer to --config (as in training)")
    p.add_argument("--images-root", default=None, help="root of relative image paths in images.txt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.config is None:
            stored = load_checkpoint(args.checkpoint).get("config")
            if stored is None:
                raise ValueError(f"{args.checkpoint}: no config stored; pass --config")
            cfg = apply_overrides(stored, args.overrides)
        else:
            cfg = load_config(args.config, args.overrides, args.preset)
        result = evaluate(cfg, args.checkpoint, args.split_dir, args.out, args.images_root,
                          progress=False if args.no_progress else None)
    except (GossInputError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: interrupted; {args.out} is incomplete, run the command again", file=sys.stderr)
        return 130
    r = result["result"]
    print(f"{cfg.name}: GQ {100 * r['gq']:.2f}%  (known {100 * r['gq_known']:.2f}%, "
          f"unknown {100 * r['gq_unknown']:.2f}%); predictions and result.json in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
