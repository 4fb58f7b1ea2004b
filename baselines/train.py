"""Train a GOSS baseline.

    python -m baselines.train --config baselines/configs/coco_gst.json \
        --split-dir goss_data/coco-manual-20-60 [--preset release] [--images-root DIR] \
        [section.key=value ...]

Multi-GPU: ``torchrun --nproc_per_node=2 -m baselines.train ...`` (DDP, SyncBatchNorm;
``train.batch_size`` is the total batch over all processes).  Runs on CPU when no
GPU is present.  The run directory (``train.output_dir``) receives ``config.json``
(the resolved config), ``env.json`` (versions, device, seeds), ``log.jsonl`` (one
JSON object per logged iteration: losses, learning rate, images/s, ETA; and one per
validation), TensorBoard event files when ``tensorboard`` is installed,
``last.pth`` (resumable checkpoint, written every ``train.checkpoint_every``
iterations and on Ctrl-C / SIGTERM) and ``model_final.pth``.  A run whose
directory holds ``last.pth`` continues from it, bit-exactly (``train.resume=false``
to start over).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from baselines.config import Config, load_config, preset_names, save_config
from baselines.data import StreamSampler, TrainDataset, split_info
from baselines.engine import (
    DistInfo,
    amp_dtype,
    autocast,
    check_state_dict,
    cleanup_distributed,
    ensure_output_dir,
    load_checkpoint,
    resolve_device,
    rng_state,
    save_checkpoint,
    set_rng_state,
    setup_distributed,
    unwrap,
)
from baselines.losses import bpd_loss, dfc_loss, dml_loss, pixel_contrast_loss, semantic_loss
from baselines.model import GSTOutput, build_model
from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic

EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class TrainResult:
    """What a run produced.  ``interrupted`` is the signal number when SIGINT/SIGTERM
    stopped it (a checkpoint of the last finished iteration was written), else None."""

    output_dir: Path
    checkpoint: Path
    iterations: int
    losses: list[float] = field(default_factory=list)
    is_main: bool = True  # rank 0 (the process that wrote the run directory)
    interrupted: int | None = None
    model: torch.nn.Module | None = None


def compute_losses(
    cfg: Config, out: GSTOutput, batch: dict[str, torch.Tensor], iteration: int
) -> dict[str, torch.Tensor]:
    """Weighted loss terms and their sum ("total") for one batch.

    Every head's term enters the total, with weight 0 when switched off, so every
    parameter is in the graph on every process (DDP without find_unused_parameters).
    """
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
    if out.field is not None:
        b = bpd_loss(out.field, batch["field"], batch["weight"], lc.bpd_sum_images)
        terms["bpd"] = b
        total = total + lc.bpd_weight * b
    if out.response is not None:
        d = dfc_loss(out.response, lc.dfc_continuity)
        terms["dfc"] = d
        total = total + lc.dfc_weight * d
    if out.embedding is not None:
        c = pixel_contrast_loss(
            out.embedding, target, out.semantic, out.semantic.shape[1],
            temperature=lc.temperature, base_temperature=lc.base_temperature,
            max_samples=lc.max_samples, max_views=lc.max_views, min_views=lc.min_views,
            min_class_pixels=lc.min_class_pixels, hard_fraction=lc.hard_fraction,
            semi_hard_fraction=lc.semi_hard_fraction,
        )
        terms["contrastive"] = c
        weight = lc.contrastive_weight if iteration >= lc.contrastive_warmup else 0.0
        total = total + weight * c
    terms["total"] = total
    return terms


def poly_lambda(iterations: int, power: float):  # noqa: ANN201
    def f(it: int) -> float:
        return max(0.0, 1.0 - it / max(1, iterations)) ** power

    return f


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
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GossInputError(
            f"{path}: not UTF-8 text (byte {exc.start}); move the file away to resume "
            "(or pass train.resume=false to start over)"
        ) from None
    keep = []
    for line in text.splitlines():
        try:
            if int(json.loads(line)["iter"]) <= last_iter:
                keep.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    write_text_atomic(path, "".join(keep))


def _env(info: DistInfo, device: torch.device, cfg: Config) -> dict[str, object]:
    import platform

    import goss_bench

    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "goss_bench": goss_bench.__version__,
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "world_size": info.world_size,
        "argv": sys.argv,
        "seeds": {
            "train.seed": cfg.train.seed,
            "per_rank": [cfg.train.seed + r for r in range(info.world_size)],
            "note": "python/numpy/torch are seeded with train.seed + rank; sample order "
                    "and augmentation depend only on (train.seed, epoch, index)",
        },
    }


class _StopFlag:
    """SIGINT/SIGTERM handler: remember the signal; the loop stops after the current
    iteration.  A second signal restores the default handler (a third one kills)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in EXIT_BY_SIGNAL:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            for s, old in self._old.items():
                signal.signal(s, old)
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


def train(
    cfg: Config,
    split_dir: str | Path,
    images_root: str | Path | None = None,
    *,
    progress: bool | None = None,
) -> TrainResult:
    """Run (or resume) the training described by ``cfg`` on a split directory.

    Raises:
        GossInputError: bad split, unwritable ``train.output_dir``, missing or
            misfitting weights or checkpoint.
    """
    info = setup_distributed()
    try:
        with _StopFlag() as stop:
            return _train(cfg, Path(split_dir), images_root, info, progress, stop)
    finally:
        cleanup_distributed()


def _ignore_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the loader workers too (same process group): they keep serving
    the batch in flight, the main process stops after it and checkpoints."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global RNG, for third-party code)
    torch.manual_seed(seed)


def _stop_requested(stop: _StopFlag, info: DistInfo, device: torch.device) -> int | None:
    """The signal that stops the run, agreed by all processes (all stop together)."""
    if not info.distributed:
        return stop.signum
    flag = torch.tensor([stop.signum or 0], dtype=torch.int64,
                        device=device if device.type == "cuda" else "cpu")
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return int(flag.item()) or None


def _gather_rng(info: DistInfo) -> list[dict[str, Any]]:
    state = rng_state()
    if not info.distributed:
        return [state]
    out: list[Any] = [None] * info.world_size
    torch.distributed.all_gather_object(out, state)
    return out


class _Logger:
    """log.jsonl (always) and TensorBoard (when installed and enabled), rank 0 only."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.path = out_dir / "log.jsonl"
        self.enabled = enabled
        self.tb: Any = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional `tensorboard` extra is not installed
                return
            self.tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def write(self, rec: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if k != "iter" and isinstance(v, int | float):
                    self.tb.add_scalar(f"{prefix}/{k}", v, rec["iter"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _state(cfg: Config, model, optimizer, scheduler, scaler, it: int, num_known: int,  # noqa: ANN001
           per_proc: int, info: DistInfo, rngs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
        "iteration": it, "config": cfg.to_dict(), "num_known": num_known,
        "sampler": {"position": it * per_proc, "per_process_batch": per_proc,
                    "world_size": info.world_size, "seed": cfg.train.seed},
        "rng": rngs,
    }


def _resume(last: Path, model, optimizer, scheduler, scaler, num_known: int,  # noqa: ANN001
            info: DistInfo) -> int:
    state = load_checkpoint(last)
    n_ckpt = state.get("num_known")
    if n_ckpt is not None and n_ckpt != num_known:
        raise GossInputError(f"{last}: trained with N={n_ckpt}, the split has N={num_known} "
                             "(another train.output_dir, or train.resume=false to start over)")
    check_state_dict(model, state["model"], last)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise GossInputError(f"{last}: cannot resume from this checkpoint ({exc}); "
                             "train.resume=false starts over") from None
    rngs = state.get("rng")
    if isinstance(rngs, list) and len(rngs) == info.world_size:
        set_rng_state(rngs[info.rank])
    return int(state["iteration"])


def _train(cfg: Config, split_dir: Path, images_root, info: DistInfo, progress, stop) -> TrainResult:  # noqa: ANN001
    tc = cfg.train
    out_dir = Path(tc.output_dir)
    device = resolve_device(tc.device, info)
    if tc.batch_size % info.world_size:
        raise GossInputError(f"train.batch_size={tc.batch_size} is not divisible by "
                             f"{info.world_size} processes")
    per_proc = tc.batch_size // info.world_size
    num_known = split_info(split_dir).num_known
    dataset = TrainDataset(split_dir, cfg.data, num_known, images_root, seed=tc.seed,
                           with_unknown=cfg.model.type == "n+1")
    if info.is_main:
        ensure_output_dir(out_dir, "train.output_dir")
    _seed_everything(tc.seed + info.rank)

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
        start = _resume(last, model, optimizer, scheduler, scaler, num_known, info)
        if info.is_main:
            _truncate_log(out_dir / "log.jsonl", start)
    if info.is_main:
        save_config(cfg, out_dir / "config.json")
        write_text_atomic(out_dir / "env.json", json.dumps(_env(info, device, cfg), indent=2) + "\n")

    ddp_model: torch.nn.Module = model
    if info.distributed:
        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
        )

    sampler = StreamSampler(len(dataset), tc.seed, info.rank, info.world_size, start * per_proc)
    loader = DataLoader(
        dataset, batch_size=per_proc, sampler=sampler, num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda", persistent_workers=cfg.data.num_workers > 0,
        generator=torch.Generator().manual_seed(tc.seed),  # never draws from the global RNG
        worker_init_fn=_ignore_sigint if cfg.data.num_workers > 0 else None,
    )
    show = info.is_main and (sys.stderr.isatty() if progress is None else progress)
    bar = tqdm(total=tc.iterations, initial=start, disable=not show, desc=cfg.name,
               dynamic_ncols=True, unit="it")
    logger = _Logger(out_dir, info.is_main, tc.tensorboard)
    losses: list[float] = []
    model.train()
    batches: Iterator[dict[str, torch.Tensor]] = iter(loader)
    t_start = t_last = time.perf_counter()
    n_img = 0
    it = start
    interrupted: int | None = None
    try:
        while it < tc.iterations:
            batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
            with autocast(device, dtype):
                out = ddp_model(batch["image"])
            terms = compute_losses(cfg, out, batch, it)
            loss = terms["total"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite loss at iteration {it}: "
                    f"{ {k: float(v.detach()) for k, v in terms.items()} }")
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
                now = time.perf_counter()
                rate = (it - start) / max(now - t_start, 1e-9)
                rec: dict[str, Any] = {"iter": it, "lr": scheduler.get_last_lr()[0], **values,
                                       "images_per_s": round(n_img / max(now - t_last, 1e-9), 3),
                                       "eta_s": round((tc.iterations - it) / max(rate, 1e-9), 1)}
                t_last, n_img = now, 0
                logger.write(rec)
                bar.set_postfix(loss=f"{values['total']:.4f}")
            if tc.eval_every and (it % tc.eval_every == 0 or it == tc.iterations):
                _validate(cfg, model, split_dir, images_root, out_dir, device, num_known, it,
                          logger, info)
            signum = _stop_requested(stop, info, device)
            periodic = it % tc.checkpoint_every == 0 or it == tc.iterations
            if periodic or signum is not None:
                rngs = _gather_rng(info)
                if info.is_main:
                    save_checkpoint(last, _state(cfg, model, optimizer, scheduler, scaler, it,
                                                 num_known, per_proc, info, rngs))
            if signum is not None and it < tc.iterations:
                interrupted = signum
                break
    finally:
        bar.close()
        logger.close()
    final = out_dir / "model_final.pth"
    if info.is_main and interrupted is None:
        save_checkpoint(final, {"model": unwrap(model).state_dict(), "config": cfg.to_dict(),
                                "num_known": num_known, "iteration": it})
    return TrainResult(out_dir, last if interrupted else final, it, losses, info.is_main,
                       interrupted, unwrap(model))


def _validate(cfg: Config, model: torch.nn.Module, split_dir: Path, images_root, out_dir: Path,  # noqa: ANN001
              device: torch.device, num_known: int, it: int, logger: _Logger, info: DistInfo) -> None:
    """Evaluate on the split's test set (rank 0; the others wait) and log the scores."""
    if info.is_main:
        from baselines.evaluate import evaluate_model

        was_training = model.training
        result = evaluate_model(unwrap(model), cfg, split_dir, out_dir / "val", num_known,
                                images_root, device=device, progress=False, workers=0)
        model.train(was_training)
        r = result["result"]
        rec = {"iter": it, "val_gq": r["gq"], "val_gq_known": r["gq_known"],
               "val_gq_unknown": r["gq_unknown"], "val_miou": r.get("miou")}
        oss = r.get("oss") or {}
        rec["val_auroc"] = oss.get("auroc")
        logger.write(rec, prefix="val")
    if info.distributed:
        torch.distributed.barrier()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m baselines.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON config (baselines/configs/*.json)")
    p.add_argument("--split-dir", required=True, help="built GOSS split directory (FORMAT.md)")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="constants of the paper's text or of the authors' release (README)")
    p.add_argument("--images-root", default=None, help="root of relative image paths in images.txt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return p


def error_line(exc: BaseException) -> str:
    """One line for an exception; an error raised in a DataLoader worker arrives
    wrapped with the worker's traceback, of which only the original message is kept."""
    text = str(exc)
    if "Original Traceback" in text:
        last = [x for x in text.splitlines() if x.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last and "Error" in last.split(": ", 1)[0] else last
    return " ".join(text.split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides, args.preset)
        res = train(cfg, args.split_dir, args.images_root, progress=False if args.no_progress else None)
    except (GossInputError, ValueError, FileNotFoundError) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"error: {exc}; the training diverged (try a lower train.lr); running the same "
              "command resumes from the last checkpoint", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the loop's handler was installed, or a third Ctrl-C
        print("error: interrupted; running the same command again resumes from the last "
              "checkpoint (if any)", file=sys.stderr)
        return 130
    if res.interrupted is not None:
        if res.is_main:
            again = " ".join(["python -m baselines.train", *(argv if argv is not None else sys.argv[1:])])
            print(f"interrupted after iteration {res.iterations}: checkpoint {res.checkpoint}; "
                  f"resume with the same command ({again})", file=sys.stderr)
        return EXIT_BY_SIGNAL.get(signal.Signals(res.interrupted), 130)
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
