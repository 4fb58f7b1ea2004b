"""Score a prediction folder against a GOSS ground-truth folder.

This module resolves the folders (FORMAT.md), reads and validates the PNGs, and
runs a per-image pure function through a process pool; the statistics go into
a :class:`GossAccumulator`.  Errors are :class:`GossInputError` messages that
name the offending file.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError, GossWarning
from goss_bench.io import DEFAULT_MAX_PIXELS, read_label_png
from goss_bench.metrics.accumulator import AVERAGES, FPR95_RULES, GossAccumulator
from goss_bench.metrics.pq import LabelValueError
from goss_bench.progress import make_progress
from goss_bench.result import ScoreResult

VOID = 255


@dataclass(frozen=True)
class GTSource:
    """A resolved ground-truth folder.

    root: the folder holding semantic/, groups/ (and optionally clusters/).
    split_json: the split.json it came from, if any.
    """

    root: Path
    num_known: int
    class_names: list[str] | None
    split_json: Path | None
    stems: list[str]
    has_clusters: bool


@dataclass(frozen=True)
class PredSource:
    root: Path
    has_groups: bool
    has_scores: bool
    has_clusters: bool
    missing: list[str]
    extra: list[str]


def _list_stems(folder: Path) -> list[str]:
    return sorted(
        p.name[:-4]
        for p in folder.iterdir()
        if p.name.endswith(".png") and not p.name.startswith(".")
    )


def load_split_info(split_json: Path) -> tuple[int, list[str] | None]:
    """Read N and the known class names from a split.json."""
    try:
        data = json.loads(split_json.read_text())
    except (OSError, ValueError) as exc:
        raise GossInputError(f"{split_json}: cannot read split file ({exc})") from None
    n = data.get("num_known") if isinstance(data, dict) else None
    if not isinstance(n, int) or not 1 <= n <= 254:
        raise GossInputError(f"{split_json}: expected an integer 'num_known' in 1..254")
    names = None
    known = data.get("known")
    if isinstance(known, list) and len(known) == n:
        try:
            ordered = sorted(known, key=lambda c: c["train_id"])
            names = [str(c["name"]) for c in ordered]
        except (KeyError, TypeError):
            names = None
    return n, names


def resolve_gt(gt_dir: str | os.PathLike[str], num_known: int | None = None) -> GTSource:
    """Find the GT folder: a split directory (uses test/) or a plain folder."""
    gt = Path(gt_dir)
    if not gt.is_dir():
        raise GossInputError(f"{gt}: ground-truth folder does not exist")
    split_json = None
    root = gt
    if (gt / "split.json").is_file():
        split_json = gt / "split.json"
        root = gt / "test"
    elif (gt.parent / "split.json").is_file() and gt.name == "test":
        split_json = gt.parent / "split.json"
    names = None
    if split_json is not None:
        n_split, names = load_split_info(split_json)
        if num_known is not None and num_known != n_split:
            raise GossInputError(
                f"{split_json}: split has N={n_split} known classes but --num-known {num_known} was given"
            )
        num_known = n_split
    if num_known is None:
        raise GossInputError(
            f"{gt}: no split.json found; pass the number of known classes with --num-known N"
        )
    sem = root / "semantic"
    if not sem.is_dir():
        raise GossInputError(
            f"{root}: expected a GOSS ground-truth folder with semantic/ and groups/ "
            "(or a split directory with split.json and test/)"
        )
    stems = _list_stems(sem)
    if not stems:
        raise GossInputError(f"{sem}: ground-truth folder holds no .png files")
    if not (root / "groups").is_dir():
        raise GossInputError(f"{root}: missing groups/ folder (uint16 unknown group ids)")
    return GTSource(
        root=root,
        num_known=int(num_known),
        class_names=names,
        split_json=split_json,
        stems=stems,
        has_clusters=(root / "clusters").is_dir(),
    )


def resolve_pred(pred_dir: str | os.PathLike[str], gt: GTSource) -> PredSource:
    pred = Path(pred_dir)
    if not pred.is_dir():
        raise GossInputError(f"{pred}: prediction folder does not exist")
    sem = pred / "semantic"
    if not sem.is_dir():
        raise GossInputError(
            f"{pred}: expected a prediction folder with semantic/ and groups/ (see FORMAT.md)"
        )
    pred_stems = set(_list_stems(sem))
    if not pred_stems:
        raise GossInputError(f"{sem}: prediction folder holds no .png files")
    gt_set = set(gt.stems)
    missing = sorted(gt_set - pred_stems)
    extra = sorted(pred_stems - gt_set)
    has_scores = (pred / "scores").is_dir()
    has_clusters = (pred / "clusters").is_dir()
    for sub, present in (("scores", has_scores), ("clusters", has_clusters)):
        if present:
            sub_missing = [
                s for s in gt.stems if s in pred_stems and not (pred / sub / f"{s}.png").is_file()
            ]
            if sub_missing:
                raise GossInputError(
                    f"{pred / sub}: missing {len(sub_missing)} file(s) for images that have a prediction, "
                    f"e.g. {', '.join(sub_missing[:5])}.png (the folder is optional, but when present it "
                    "must cover every image)"
                )
    return PredSource(
        root=pred,
        has_groups=(pred / "groups").is_dir(),
        has_scores=has_scores,
        has_clusters=has_clusters,
        missing=missing,
        extra=extra,
    )


@dataclass(frozen=True)
class _Job:
    gt: GTSource
    pred: PredSource
    use_scores: bool
    use_clusters: bool
    void_as_unknown: bool
    keep_per_image: bool
    max_pixels: int


def _read_image(job: _Job, stem: str) -> dict[str, Any]:
    """Read and validate all maps of one image (pure; raises GossInputError)."""
    gt, pred = job.gt, job.pred
    gt_sem_p = gt.root / "semantic" / f"{stem}.png"
    gt_sem = read_label_png(
        gt_sem_p, bits=(8,), what="ground-truth semantic map", max_pixels=job.max_pixels
    )
    shape = gt_sem.shape
    n = gt.num_known

    def check(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
        if arr.shape != shape:
            raise GossInputError(
                f"{path}: {what} has shape {arr.shape[0]}x{arr.shape[1]} (HxW) but the ground truth "
                f"{gt_sem_p} is {shape[0]}x{shape[1]}"
            )
        return arr

    gt_grp = None
    if (gt_sem == n).any():
        p = gt.root / "groups" / f"{stem}.png"
        if not p.is_file():
            raise GossInputError(
                f"{p}: missing ground-truth group map (the image has unknown pixels)"
            )
        gt_grp = check(
            read_label_png(
                p, bits=(8, 16), what="ground-truth group map", max_pixels=job.max_pixels
            ),
            p,
            "ground-truth group map",
        )
    out: dict[str, Any] = {"gt_sem": gt_sem, "gt_grp": gt_grp, "gt_sem_path": gt_sem_p}
    pred_sem_p = pred.root / "semantic" / f"{stem}.png"
    if stem in job.pred.missing:  # --allow-missing: an empty prediction
        out["pred_sem"] = np.full(shape, VOID, dtype=np.uint8)
        out["pred_grp"] = None
        out["pred_sem_path"] = pred_sem_p
        if job.use_scores:
            out["scores"] = np.zeros(shape, dtype=np.uint16)
        if job.use_clusters:
            out["pred_clusters"] = np.zeros(shape, dtype=np.uint16)
    else:
        pred_sem = check(
            read_label_png(
                pred_sem_p, bits=(8,), what="predicted semantic map", max_pixels=job.max_pixels
            ),
            pred_sem_p,
            "predicted semantic map",
        )
        pred_grp = None
        if (pred_sem == n).any():
            p = pred.root / "groups" / f"{stem}.png"
            if not p.is_file():
                raise GossInputError(
                    f"{p}: missing predicted group map ({pred_sem_p} has unknown pixels, value {n})"
                )
            pred_grp = check(
                read_label_png(
                    p, bits=(8, 16), what="predicted group map", max_pixels=job.max_pixels
                ),
                p,
                "predicted group map",
            )
        out.update(pred_sem=pred_sem, pred_grp=pred_grp, pred_sem_path=pred_sem_p)
        if job.use_scores:
            p = pred.root / "scores" / f"{stem}.png"
            out["scores"] = check(
                read_label_png(p, bits=(8, 16), what="score map", max_pixels=job.max_pixels),
                p,
                "score map",
            )
        if job.use_clusters:
            p = pred.root / "clusters" / f"{stem}.png"
            out["pred_clusters"] = check(
                read_label_png(
                    p, bits=(8, 16), what="predicted cluster map", max_pixels=job.max_pixels
                ),
                p,
                "predicted cluster map",
            )
    if job.use_clusters:
        p = gt.root / "clusters" / f"{stem}.png"
        if not p.is_file():
            raise GossInputError(f"{p}: missing ground-truth cluster map")
        out["gt_clusters"] = check(
            read_label_png(
                p, bits=(8, 16), what="ground-truth cluster map", max_pixels=job.max_pixels
            ),
            p,
            "ground-truth cluster map",
        )
    return out


def _score_chunk(job: _Job, stems: Sequence[str]) -> GossAccumulator:
    """Score a list of images into a fresh accumulator (runs in worker processes)."""
    acc = GossAccumulator(
        num_known=job.gt.num_known,
        class_names=job.gt.class_names,
        void_as_unknown=job.void_as_unknown,
        keep_per_image=job.keep_per_image,
    )
    for stem in stems:
        d = _read_image(job, stem)
        try:
            acc.add(
                d["gt_sem"],
                d["gt_grp"],
                d["pred_sem"],
                d["pred_grp"],
                pred_scores=d.get("scores"),
                gt_clusters=d.get("gt_clusters"),
                pred_clusters=d.get("pred_clusters"),
                stem=stem,
            )
        except LabelValueError as exc:
            path = d["gt_sem_path"] if exc.side == "gt" else d["pred_sem_path"]
            raise GossInputError(f"{path}: {exc}") from None
    return acc


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def accumulate(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int = 1,
    allow_missing: bool = False,
    void_as_unknown: bool = False,
    keep_per_image: bool = False,
    use_scores: bool | None = None,
    use_clusters: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | Callable[[int, int], None] = False,
) -> GossAccumulator:
    """Read every image and return the filled accumulator (see :func:`score`)."""
    gt = resolve_gt(gt_dir, num_known)
    pred = resolve_pred(pred_dir, gt)
    if pred.missing and not allow_missing:
        shown = ", ".join(pred.missing[:5])
        raise GossInputError(
            f"{pred.root / 'semantic'}: no prediction for {len(pred.missing)} of {len(gt.stems)} "
            f"ground-truth images (e.g. {shown}); pass --allow-missing to score them as empty predictions"
        )
    if pred.extra:
        warnings.warn(
            f"{pred.root / 'semantic'}: {len(pred.extra)} prediction file(s) have no ground truth and "
            f"are ignored (e.g. {', '.join(pred.extra[:5])})",
            GossWarning,
            stacklevel=2,
        )
    scores = pred.has_scores if use_scores is None else use_scores
    if scores and not pred.has_scores:
        raise GossInputError(f"{pred.root}: OSS metrics requested but there is no scores/ folder")
    clusters = (pred.has_clusters and gt.has_clusters) if use_clusters is None else use_clusters
    if clusters and not (pred.has_clusters and gt.has_clusters):
        raise GossInputError(
            f"{pred.root}: GS metrics need clusters/ in both prediction and ground truth"
        )
    job = _Job(gt, pred, scores, clusters, void_as_unknown, keep_per_image, max_pixels)
    stems = gt.stems
    workers = max(1, int(workers))
    chunk = max(1, min(16, len(stems) // (workers * 4) or 1))
    total = len(stems)
    bar = make_progress(progress, total, "scoring")
    acc = GossAccumulator(
        num_known=gt.num_known,
        class_names=gt.class_names,
        void_as_unknown=void_as_unknown,
        keep_per_image=keep_per_image,
    )
    try:
        if workers == 1:
            for part in _chunks(stems, chunk):
                acc.merge(_score_chunk(job, part))
                bar(len(part))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_score_chunk, job, part) for part in _chunks(stems, chunk)]
                try:
                    for fut, part in zip(futures, _chunks(stems, chunk), strict=True):
                        acc.merge(fut.result())
                        bar(len(part))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar(0, close=True)
    return acc


def score(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int = 1,
    average: str = "all",
    lam: float = 0.5,
    allow_missing: bool = False,
    progress: bool | Callable[[int, int], None] = False,
    void_as_unknown: bool = False,
    fpr95: str = "first",
    oss_per_image: bool = False,
    per_image: bool = False,
    use_scores: bool | None = None,
    use_clusters: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ScoreResult:
    """Score a GOSS prediction folder against ground truth.

    Args:
        pred_dir: folder with semantic/, groups/ and optionally scores/, clusters/.
        gt_dir: a split directory (split.json + test/) or a folder holding
            semantic/, groups/ (and optionally clusters/).
        num_known: N; required when the GT has no split.json.
        workers: number of processes.
        average: "all" (default, the paper) or "present" (panopticapi).
        lam: weight of GQ_kn in GQ.
        allow_missing: score images without a prediction as empty predictions.
        progress: True for a tqdm bar, or a callback ``(done, total)``.
        void_as_unknown, fpr95, oss_per_image: OSS conventions (METRICS.md).
        per_image: include per-image records in the result.
        use_scores / use_clusters: force OSS / GS metrics on or off (default: when present).
        max_pixels: images larger than this are refused (decompression bombs).

    Raises:
        GossInputError: with a message naming the offending file.
    """
    if average not in AVERAGES:
        raise GossInputError(f"average must be one of {AVERAGES}, got {average!r}")
    if fpr95 not in FPR95_RULES:
        raise GossInputError(f"fpr95 must be one of {FPR95_RULES}, got {fpr95!r}")
    acc = accumulate(
        pred_dir,
        gt_dir,
        num_known=num_known,
        workers=workers,
        allow_missing=allow_missing,
        void_as_unknown=void_as_unknown,
        keep_per_image=per_image,
        use_scores=use_scores,
        use_clusters=use_clusters,
        max_pixels=max_pixels,
        progress=progress,
    )
    res = acc.result(average=average, lam=lam, fpr95=fpr95, oss_per_image=oss_per_image)
    res.options.update(pred_dir=str(pred_dir), gt_dir=str(gt_dir), allow_missing=allow_missing)
    return res
