"""Score a prediction folder against a GOSS ground-truth folder.

This module resolves the folders (FORMAT.md), reads and validates the PNGs, and
runs a per-image pure function through a process pool; the statistics go into
a :class:`GossAccumulator`.  Errors are :class:`GossInputError` messages that
name the offending file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError, GossWarning
from goss_bench.io import DEFAULT_MAX_PIXELS, VOID, read_label_png
from goss_bench.layout import LabelFolder, list_stems, resolve_label_folder
from goss_bench.metrics.accumulator import AVERAGES, FPR95_RULES, GossAccumulator
from goss_bench.metrics.authors import PROTOCOLS, AuthorsAccumulator
from goss_bench.metrics.pq import LabelValueError
from goss_bench.pool import default_workers, map_chunks
from goss_bench.result import ScoreResult
from goss_bench.validate.labels import check_gt_groups, check_not_prediction, check_subfolders


@dataclass(frozen=True)
class GTSource(LabelFolder):
    """A resolved ground-truth folder (a :class:`LabelFolder` with groups/).

    has_clusters: the folder has clusters/ (for the GS metrics).
    """

    has_clusters: bool = False


@dataclass(frozen=True)
class PredSource:
    root: Path
    has_groups: bool
    has_scores: bool
    has_clusters: bool
    missing: list[str]
    extra: list[str]


def resolve_gt(gt_dir: str | os.PathLike[str], num_known: int | None = None) -> GTSource:
    """Find the GT folder: a split directory (uses test/) or a plain folder."""
    f = resolve_label_folder(gt_dir, num_known, what="ground-truth")
    check_subfolders(f.root, ("groups", "clusters"), "ground-truth")
    check_not_prediction(f.root)
    if not (f.root / "groups").is_dir():
        raise GossInputError(f"{f.root}: missing groups/ folder (uint16 unknown group ids)")
    return GTSource(**vars(f), has_clusters=(f.root / "clusters").is_dir())


def resolve_pred(pred_dir: str | os.PathLike[str], gt: GTSource) -> PredSource:
    pred = Path(pred_dir)
    if not pred.is_dir():
        raise GossInputError(f"{pred}: prediction folder does not exist")
    sem = pred / "semantic"
    if not sem.is_dir():
        raise GossInputError(
            f"{pred}: expected a prediction folder with semantic/ and groups/ (see FORMAT.md)"
        )
    check_subfolders(pred, ("groups", "scores", "clusters"), "prediction")
    pred_stems = set(list_stems(sem))
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
    protocol: str = "goss"
    keep_image_rows: bool = False
    oss_image_metrics: bool = True


def _new_accumulator(job: _Job) -> GossAccumulator:
    """An empty accumulator for the job's protocol (METRICS.md, --protocol)."""
    cls = AuthorsAccumulator if job.protocol == "authors" else GossAccumulator
    return cls(
        num_known=job.gt.num_known,
        class_names=job.gt.class_names,
        void_as_unknown=job.void_as_unknown,
        keep_per_image=job.keep_per_image,
        keep_image_rows=job.keep_image_rows,
        oss_image_metrics=job.oss_image_metrics or job.keep_image_rows or job.protocol == "authors",
    )


def _read_image(job: _Job, stem: str) -> dict[str, Any]:
    """Read and validate all maps of one image (pure; raises GossInputError)."""
    gt, pred, n = job.gt, job.pred, job.gt.num_known
    gt_sem_p = gt.root / "semantic" / f"{stem}.png"
    gt_sem = read_label_png(
        gt_sem_p, bits=(8,), what="ground-truth semantic map", max_pixels=job.max_pixels
    )
    shape = gt_sem.shape

    def load(root: Path, sub: str, what: str, why_needed: str | None = None) -> np.ndarray:
        """Read ``root/sub/<stem>.png`` (8 or 16 bit) and check its size against the GT."""
        p = root / sub / f"{stem}.png"
        if why_needed is not None and not p.is_file():
            raise GossInputError(f"{p}: missing {what} ({why_needed})")
        bits = (8,) if sub == "semantic" else (8, 16)
        arr = read_label_png(p, bits=bits, what=what, max_pixels=job.max_pixels)
        if arr.shape != shape:
            raise GossInputError(
                f"{p}: {what} has shape {arr.shape[0]}x{arr.shape[1]} (HxW) but the ground truth "
                f"{gt_sem_p} is {shape[0]}x{shape[1]}"
            )
        return arr

    out: dict[str, Any] = {"gt_sem": gt_sem, "gt_sem_path": gt_sem_p, "gt_grp": None}
    gt_grp_p = gt.root / "groups" / f"{stem}.png"
    if (gt_sem == n).any() or os.path.lexists(gt_grp_p):
        # read even without unknown pixels: group ids elsewhere reveal a wrong N
        out["gt_grp"] = load(
            gt.root, "groups", "ground-truth group map", "the image has unknown pixels"
        )
        check_gt_groups(gt_sem, out["gt_grp"], n, gt_grp_p)
    pred_sem_p = pred.root / "semantic" / f"{stem}.png"
    out["pred_sem_path"] = pred_sem_p
    if stem in pred.missing:  # --allow-missing: an empty prediction
        out["pred_sem"] = np.full(shape, VOID, dtype=np.uint8)
        out["pred_grp"] = None
        if job.use_scores:
            out["scores"] = np.zeros(shape, dtype=np.uint16)
        if job.use_clusters:
            out["pred_clusters"] = np.zeros(shape, dtype=np.uint16)
    else:
        out["pred_sem"] = load(pred.root, "semantic", "predicted semantic map")
        out["pred_grp"] = None
        if (out["pred_sem"] == n).any():
            out["pred_grp"] = load(
                pred.root, "groups", "predicted group map",
                f"{pred_sem_p} has unknown pixels, value {n}",
            )
        if job.use_scores:
            out["scores"] = load(pred.root, "scores", "score map")
        if job.use_clusters:
            out["pred_clusters"] = load(pred.root, "clusters", "predicted cluster map")
    if job.use_clusters:
        out["gt_clusters"] = load(
            gt.root, "clusters", "ground-truth cluster map", "GS metrics need it"
        )
    return out


def _score_chunk(job: _Job, stems: Sequence[str]) -> GossAccumulator:
    """Score a list of images into a fresh accumulator (runs in worker processes)."""
    acc = _new_accumulator(job)
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


def accumulate(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int | None = None,
    allow_missing: bool = False,
    void_as_unknown: bool = False,
    keep_per_image: bool = False,
    executor: str | None = None,
    use_scores: bool | None = None,
    use_clusters: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | Callable[[int, int], None] = False,
    protocol: str = "goss",
    keep_image_rows: bool = False,
    oss_image_metrics: bool = True,
) -> GossAccumulator:
    """Read every image and return the filled accumulator (see :func:`score`).

    ``keep_image_rows`` keeps per-image statistics in ``acc.image_rows``
    (:func:`goss_bench.diagnostics.collect.score_with_stats`);
    ``oss_image_metrics=False`` skips each image's own OSS metrics (then
    ``acc.result(oss_per_image=True)`` is refused).
    """
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
    if protocol not in PROTOCOLS:
        raise GossInputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    authors = protocol == "authors"
    job = _Job(gt, pred, scores, clusters, void_as_unknown or authors, keep_per_image,
               max_pixels, protocol, keep_image_rows, oss_image_metrics)
    acc = _new_accumulator(job)
    for part in map_chunks(
        _score_chunk,
        job,
        gt.stems,
        workers=default_workers() if workers is None else workers,
        progress=progress,
        desc="scoring",
        executor=executor,
    ):
        acc.merge(part)
    return acc


def score_and_accumulator(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int | None = None,
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
    executor: str | None = None,
    protocol: str = "goss",
    keep_image_rows: bool = False,
) -> tuple[ScoreResult, GossAccumulator]:
    """Score a GOSS prediction folder against ground truth.

    Args:
        pred_dir: folder with semantic/, groups/ and optionally scores/, clusters/.
        gt_dir: a split directory (split.json + test/) or a folder holding
            semantic/, groups/ (and optionally clusters/).
        num_known: N; required when the GT has no split.json.
        workers: number of parallel workers (default: every core this process may use).
        average: "all" (default, the paper) or "present" (panopticapi).
        lam: weight of GQ_kn in GQ.
        allow_missing: score images without a prediction as empty predictions.
        progress: True for a tqdm bar, or a callback ``(done, total)``.
        void_as_unknown, fpr95, oss_per_image: OSS conventions (METRICS.md).
        per_image: include per-image records in the result.
        use_scores / use_clusters: force OSS / GS metrics on or off (default: when present).
        max_pixels: images larger than this are refused (decompression bombs).
        executor: "process" or "thread" pool for workers > 1 (default
            :data:`goss_bench.pool.DEFAULT_EXECUTOR`).  Results are bit-identical
            for every worker count and executor.
        protocol: "goss" (default, the corrected definitions) or "authors" (the GOSS
            release's evaluator with its quirks, METRICS.md; it fixes average, lam,
            void_as_unknown, fpr95 and oss_per_image, which must keep their defaults).
        keep_image_rows: keep per-image statistics in ``acc.image_rows``
            (:func:`goss_bench.diagnostics.collect.score_with_stats`).

    Returns:
        The result and the filled accumulator.

    Raises:
        GossInputError: with a message naming the offending file.
    """
    if average not in AVERAGES:
        raise GossInputError(f"average must be one of {AVERAGES}, got {average!r}")
    if fpr95 not in FPR95_RULES:
        raise GossInputError(f"fpr95 must be one of {FPR95_RULES}, got {fpr95!r}")
    if protocol == "authors" and (average, lam, void_as_unknown, fpr95, oss_per_image) != (
        "all", 0.5, False, "first", False
    ):
        raise GossInputError(
            "--protocol authors fixes --average, --lam, --void-as-unknown, --fpr95 and "
            "--oss-per-image (METRICS.md, the authors' evaluator); leave them out"
        )
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
        executor=executor,
        protocol=protocol,
        keep_image_rows=keep_image_rows,
        oss_image_metrics=oss_per_image,
    )
    if protocol == "authors":
        res = acc.result()
    else:
        res = acc.result(average=average, lam=lam, fpr95=fpr95, oss_per_image=oss_per_image)
    res.options.update(pred_dir=str(pred_dir), gt_dir=str(gt_dir), allow_missing=allow_missing)
    return res, acc


def score(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int | None = None,
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
    executor: str | None = None,
    protocol: str = "goss",
) -> ScoreResult:
    """Score a GOSS prediction folder against ground truth (arguments as
    :func:`score_and_accumulator`, which also returns the accumulator)."""
    return score_and_accumulator(
        pred_dir,
        gt_dir,
        num_known=num_known,
        workers=workers,
        average=average,
        lam=lam,
        allow_missing=allow_missing,
        progress=progress,
        void_as_unknown=void_as_unknown,
        fpr95=fpr95,
        oss_per_image=oss_per_image,
        per_image=per_image,
        use_scores=use_scores,
        use_clusters=use_clusters,
        max_pixels=max_pixels,
        executor=executor,
        protocol=protocol,
    )[0]
