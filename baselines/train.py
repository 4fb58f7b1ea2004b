"""Train a GOSS baseline.

    python -m baselines.train --config baselines/configs/coco_gst.json \
        --split-dir goss_data/coco-manual-20-60 [--images-root DIR] [section.key=value ...]

Multi-GPU: ``torchrun --nproc_per_node=2 -m baselines.train ...`` (DDP, SyncBatchNorm;
``train.batch_size`` is the total batch over all processes).  Runs on CPU when no
GPU is present.  The run directory (``train.output_dir``) receives ``config.json``
(the resolved config), ``env.json``, ``log.jsonl`` (one JSON object per logged
iteration: losses and learning rate), ``last.pth`` (resumable checkpoint, written
every ``train.checkpoint_every`` iterations) and ``model_final.pth``.  A run whose
directory holds ``last.pth`` continues from it (``train.resume=false`` to start over).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from baselines.config import Config, load_config, save_config
from baselines.data import TrainDataset, split_info
from baselines.engine import (
    DistInfo,
    amp_dtype,
    autocast,
    cleanup_distributed,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
    setup_distributed,
    unwrap,
)
from baselines.losses import bpd_loss, dml_loss, pixel_contrast_loss, semantic_loss
from baselines.model import GSTOutput, build_model
from goss_bench.io import write_text_atomic


@dataclass
class TrainResult:
    """What a finished run produced (rank 0)."""

    output_dir: Path
    checkpoint: Path
    iterations: int
    losses: list[float] = field(default_factory=list)
    is_main: bool = True  # rank 0 (the process that wrote the run directory)


def compute_losses(
    cfg: Config, out: GSTOutput, batch: dict[str, torch.Tensor], iteration: int
) -> dict[str, torch.Tensor]:
    """Weighted loss terms and their sum ("total") for one batch."""
    lc = cfg.loss
    target = batch["target"]
    terms: dict[str, torch.Tensor] = {}
    if cfg.model.head == "dml":
        sem = dml_loss(
            out.semantic, target, magnitude=cfg.model.dml_magnitude,
            variance_weight=lc.dml_variance_weight, small_area=lc.small_segment_area,
            small_weight=lc.small_segment_weight,
        )
    else:
        sem = semantic_loss(
            out.semantic, target, small_area=lc.small_segment_area, small_weight=lc.small_segment_weight
        )
    terms["semantic"] = sem
    total = lc.semantic_weight * sem
    if out.field is not None and lc.bpd_weight > 0:
        b = bpd_loss(out.field, batch["field"], batch["weight"])
        terms["bpd"] = b
        total = total + lc.bpd_weight * b
    if out.embedding is not None and lc.contrastive_weight > 0:
        c = pixel_contrast_loss(
            out.embedding, target, out.semantic, out.semantic.shape[1],
            temperature=lc.temperature, base_temperature=lc.base_temperature,
            max_samples=lc.max_samples, max_views=lc.max_views,
            min_class_pixels=lc.min_class_pixels, semi_hard_fraction=lc.semi_hard_fraction,
        )
        terms["contrastive"] = c
        if iteration >= lc.contrastive_warmup:
            total = total + lc.contrastive_weight * c
        else:  # keep the projection head in the graph (DDP) without a gradient signal
            total = total + 0.0 * c
    terms["total"] = total
    return terms


def poly_lambda(iterations: int, power: float):  # noqa: ANN201
    def f(it: int) -> float:
        return max(0.0, 1.0 - it / max(1, iterations)) ** power

    return f


def _batches(loader: DataLoader, dataset: TrainDataset, start_epoch: int):  # noqa: ANN202
    epoch = start_epoch
    while True:
        dataset.epoch = epoch
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _mean_over_processes(terms: dict[str, torch.Tensor], info: DistInfo) -> dict[str, float]:
    """Loss terms averaged over all processes (a collective: every rank calls it)."""
    names = sorted(terms)
    vals = torch.stack([terms[k].detach().float() for k in names])
    if info.distributed:
        torch.distributed.all_reduce(vals)
        vals = vals / info.world_size
    return {k: round(float(v), 6) for k, v in zip(names, vals.tolist(), strict=True)}


def _truncate_log(path: Path, last_iter: int) -> None:
    """Drop log records after ``last_iter`` (iterations that a resumed run repeats)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["iter"]) <= last_iter:
                keep.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    write_text_atomic(path, "".join(keep))


def _env(info: DistInfo, device: torch.device) -> dict[str, object]:
    import platform

    import goss_bench

    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "goss_bench": goss_bench.__version__,
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "world_size": info.world_size,
        "argv": sys.argv,
    }


def train(
    cfg: Config,
    split_dir: str | Path,
    images_root: str | Path | None = None,
    *,
    progress: bool | None = None,
) -> TrainResult:
    """Run (or resume) the training described by ``cfg`` on a split directory."""
    info = setup_distributed()
    try:
        return _train(cfg, Path(split_dir), images_root, info, progress)
    finally:
        cleanup_distributed()


def _train(cfg: Config, split_dir: Path, images_root, info: DistInfo, progress) -> TrainResult:  # noqa: ANN001
    tc = cfg.train
    out_dir = Path(tc.output_dir)
    device = resolve_device(tc.device, info)
    torch.manual_seed(tc.seed + info.rank)
    if tc.batch_size % info.world_size:
        raise ValueError(f"train.batch_size {tc.batch_size} is not divisible by {info.world_size} processes")
    per_proc = tc.batch_size // info.world_size
    num_known = split_info(split_dir).num_known

    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.json")
        write_text_atomic(out_dir / "env.json", json.dumps(_env(info, device), indent=2) + "\n")

    model = build_model(cfg.model, num_known).to(device)
    if info.distributed and tc.sync_bn and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lambda(tc.iterations, tc.poly_power))
    dtype = amp_dtype(tc.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    start = 0
    last = out_dir / "last.pth"
    if tc.resume and last.is_file():
        state = load_checkpoint(last)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start = int(state["iteration"])
        if info.is_main:
            _truncate_log(out_dir / "log.jsonl", start)

    ddp_model: torch.nn.Module = model
    if info.distributed:
        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=(cfg.model.bpd and cfg.loss.bpd_weight == 0)
            or (cfg.model.projection and cfg.loss.contrastive_weight == 0),
        )

    dataset = TrainDataset(split_dir, cfg.data, num_known, images_root, seed=tc.seed,
                           with_unknown=cfg.model.type == "n+1")
    sampler: torch.utils.data.Sampler
    if info.distributed:
        sampler = DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=tc.seed)
    else:
        sampler = RandomSampler(dataset, replacement=len(dataset) < per_proc)
    loader = DataLoader(
        dataset, batch_size=per_proc, sampler=sampler, num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda", drop_last=len(dataset) >= per_proc,
        persistent_workers=cfg.data.num_workers > 0,
    )
    show = info.is_main and (sys.stderr.isatty() if progress is None else progress)
    bar = tqdm(total=tc.iterations, initial=start, disable=not show, desc=cfg.name, dynamic_ncols=True)
    log_path = out_dir / "log.jsonl"
    losses: list[float] = []
    model.train()
    batches = _batches(loader, dataset, start_epoch=start // max(1, len(loader)))
    t_last, n_img = time.perf_counter(), 0
    it = start
    while it < tc.iterations:
        batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
        with autocast(device, dtype):
            out = ddp_model(batch["image"])
        terms = compute_losses(cfg, out, batch, it)
        loss = terms["total"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at iteration {it}: { {k: float(v.detach()) for k, v in terms.items()} }")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        it += 1
        n_img += batch["image"].shape[0] * info.world_size
        losses.append(float(loss.detach()))
        bar.update(1)
        if it % tc.log_every == 0 or it == tc.iterations:
            values = _mean_over_processes(terms, info)
        if info.is_main and (it % tc.log_every == 0 or it == tc.iterations):
            now = time.perf_counter()
            rec = {"iter": it, "lr": scheduler.get_last_lr()[0]}
            rec.update(values)
            rec["images_per_s"] = round(n_img / max(now - t_last, 1e-9), 3)
            t_last, n_img = now, 0
            with open(log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            bar.set_postfix(loss=f"{rec['total']:.4f}")
        if info.is_main and (it % tc.checkpoint_every == 0 or it == tc.iterations):
            save_checkpoint(last, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "iteration": it, "config": cfg.to_dict(), "num_known": num_known,
            })
    bar.close()
    final = out_dir / "model_final.pth"
    if info.is_main:
        state = unwrap(model).state_dict()
        save_checkpoint(final, {"model": state, "config": cfg.to_dict(), "num_known": num_known,
                                "iteration": it})
    return TrainResult(out_dir, final, it, losses, info.is_main)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m baselines.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON config (baselines/configs/*.json)")
    p.add_argument("--split-dir", required=True, help="built GOSS split directory (FORMAT.md)")
    p.add_argument("--images-root", default=None, help="root of relative image paths in images.txt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from goss_bench.errors import GossInputError

    try:
        res = train(cfg, args.split_dir, args.images_root, progress=False if args.no_progress else None)
    except (GossInputError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not res.is_main:
        return 0 if all(math.isfinite(x) for x in res.losses) else 1
    if res.losses:
        k = max(1, len(res.losses) // 10)
        first, last = sum(res.losses[:k]) / k, sum(res.losses[-k:]) / k
        print(f"trained {res.iterations} iterations; loss {first:.4f} -> {last:.4f}; "
              f"checkpoint {res.checkpoint}")
    else:
        print(f"nothing to do: {res.iterations} iterations already done; checkpoint {res.checkpoint}")
    return 0 if all(math.isfinite(x) for x in res.losses) else 1


if __name__ == "__main__":
    raise SystemExit(main())
