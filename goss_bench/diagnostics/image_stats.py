"""Per-image integer statistics: any subset or resample of images re-sums exactly.

An :class:`ImageStats` table holds one row per image.  Every metric goss-bench
reports is a function of column sums of this table, so the metrics of a
bootstrap resample (image i taken ``w_i`` times) are ``summarise(w @ table)``
without reading a PNG again.

Columns (N = number of known classes), all integers:

* ``tp``, ``fp``, ``fn`` (N+1 each): PQ counts per class, index N = unknown.
* ``iou`` (N+1): sum of matched IoUs per class in units of 2**-26 (``IOU_BITS``).
  The dataset totals of the scorer are kept in units of 2**-53; 2**-26 per
  image keeps every resampled total an integer below 2**53 (exact in float64)
  for up to 2**27 matched segments; the quantisation moves a PQ by < 1e-7.
* ``sem_tp``, ``sem_fn``, ``sem_fp`` (N each): closed-set IoU counts per known
  class (Cityscapes convention, see ``GossAccumulator._semantic_iou``).
* ``oss_img`` (5, only with scores): the image's AUROC, AUPR, FPR95 (first and
  nearest rule) in units of 2**-26 and 1 when the image has known and unknown
  pixels (for ``--oss-per-image``), else all 0.
* ``gs`` (8, only with clusters): GS tp, fp, fn, iou sum (2**-26), best-IoU sum
  (2**-26), number of GT clusters, covering numerator (2**-10 pixels), covering
  denominator (pixels).

The OSS score histograms are a separate int32 array ``oss`` of shape
(images, 2, OSS_BINS) at a coarser resolution than the scorer's exact
65,536-bin histograms: score values 0..255 keep one bin each (uint8 scores are
exact) and values 256..65535 fall into bins 64 values wide
(``OSS_BINS = 256 + 1020 = 1276``).  OSS confidence intervals are computed at
this resolution; the point estimates printed beside them are the exact ones.

Memory: ``8 * (7N + 4)`` bytes per image, plus ``8 * 5 + 4 * 2 * 1276`` (about
10 KiB) per image with scores and ``8 * 8`` with clusters: for N = 20, 1.1 MiB
per 1,000 images without scores and 10.9 MiB per 1,000 images with scores and
clusters (measured by ``benchmarks/bootstrap_bench.py``).
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError

IOU_BITS = 26
COVER_BITS = 10
_SHIFT_FROM_FIXED = 53 - IOU_BITS
OSS_FINE = 256
OSS_WIDTH = 64
OSS_BINS = OSS_FINE + (65536 - OSS_FINE) // OSS_WIDTH
GS_FIELDS = ("tp", "fp", "fn", "iou", "best_iou", "num_gt", "cover", "cover_pixels")
FORMAT = "goss-bench-image-stats/1"


def coarse_histogram(hist: np.ndarray) -> np.ndarray:
    """(2, 65536) exact score histogram -> int32 (2, OSS_BINS) coarse histogram."""
    hist = np.asarray(hist)
    fine = hist[:, :OSS_FINE]
    rest = hist[:, OSS_FINE:].reshape(hist.shape[0], -1, OSS_WIDTH).sum(axis=2)
    return np.concatenate([fine, rest], axis=1).astype(np.int32)


def quantise_fixed(value: int, bits: int = IOU_BITS) -> int:
    """A value in units of 2**-53 (Python int) -> units of 2**-bits, rounded to nearest."""
    shift = 53 - bits
    return (int(value) + (1 << (shift - 1))) >> shift


@dataclass(frozen=True)
class StatsLayout:
    """Column layout of an :class:`ImageStats` table."""

    num_known: int
    has_oss: bool = False
    has_gs: bool = False

    @property
    def blocks(self) -> dict[str, slice]:
        n = self.num_known
        sizes = [("tp", n + 1), ("fp", n + 1), ("fn", n + 1), ("iou", n + 1)]
        sizes += [("sem_tp", n), ("sem_fn", n), ("sem_fp", n)]
        if self.has_oss:
            sizes.append(("oss_img", 5))
        if self.has_gs:
            sizes.append(("gs", len(GS_FIELDS)))
        out, start = {}, 0
        for name, size in sizes:
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def width(self) -> int:
        return max(s.stop for s in self.blocks.values())


def image_row(num_known: int, st: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The row of one image from the scorer's per-image statistics.

    Args:
        st: a :class:`goss_bench.metrics.accumulator.ImageStats` (what
            ``GossAccumulator.image_stats`` returns for one image).

    Returns:
        ``(row, oss)``: int64 (width,) for ``StatsLayout(N, has scores, has
        clusters)`` and int32 (2, OSS_BINS) coarse score histograms or None.
    """
    n = num_known
    layout = StatsLayout(n, st.oss_hist is not None, st.gs is not None)
    b = layout.blocks
    pq = st.pq
    row = np.zeros(layout.width, dtype=np.int64)
    row[b["tp"]] = pq.tp
    row[b["fp"]] = pq.fp
    row[b["fn"]] = pq.fn
    row[b["iou"]] = [quantise_fixed(v) for v in pq.iou_fixed]
    conf = np.asarray(pq.conf)
    diag = np.diagonal(conf)[:n]
    row[b["sem_tp"]] = diag
    row[b["sem_fn"]] = conf[:n, :].sum(axis=1) - diag
    row[b["sem_fp"]] = conf[: n + 1, :n].sum(axis=0) - diag
    oss = None
    if layout.has_oss:
        oss = coarse_histogram(st.oss_hist)
        if st.oss_fixed is not None:
            row[b["oss_img"]] = [*(quantise_fixed(v) for v in st.oss_fixed.tolist()), 1]
    if layout.has_gs:
        g = st.gs
        row[b["gs"]] = [
            g.tp,
            g.fp,
            g.fn,
            quantise_fixed(g.iou_fixed),
            quantise_fixed(g.best_iou_fixed),
            g.num_gt,
            quantise_fixed(g.cover_fixed, COVER_BITS),
            g.cover_pixels,
        ]
    return row, oss


@dataclass
class ImageStats:
    """Per-image statistics of one prediction set (rows sorted by stem).

    Attributes:
        layout: the column layout.
        stems: image names, one per row.
        rows: int64 (images, layout.width).
        oss: int32 (images, 2, OSS_BINS) coarse score histograms, or None.
        class_names: names of the N known classes.
        options: the scoring options (average, lam, fpr95, oss_per_image, ...).
    """

    layout: StatsLayout
    stems: list[str]
    rows: np.ndarray
    oss: np.ndarray | None = None
    class_names: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        return len(self.stems)

    def nbytes(self) -> int:
        return int(self.rows.nbytes + (0 if self.oss is None else self.oss.nbytes))

    def subset(self, index: np.ndarray) -> ImageStats:
        """The table restricted to rows ``index`` (in that order)."""
        idx = np.asarray(index)
        return ImageStats(
            self.layout,
            [self.stems[i] for i in idx.tolist()],
            self.rows[idx],
            None if self.oss is None else self.oss[idx],
            self.class_names,
            dict(self.options),
        )

    # ------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """A compact JSON object (zlib + base64 little-endian arrays)."""
        d: dict[str, Any] = {
            "format": FORMAT,
            "num_known": self.layout.num_known,
            "has_oss": self.layout.has_oss,
            "has_gs": self.layout.has_gs,
            "stems": list(self.stems),
            "class_names": self.class_names,
            "options": self.options,
            "rows": _encode(self.rows.astype("<i8")),
        }
        if self.oss is not None:
            d["oss"] = _encode(self.oss.astype("<i4"))
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "image_stats") -> ImageStats:
        """Inverse of :meth:`to_json`; raises GossInputError naming ``where``."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise GossInputError(f"{where}: expected per-image statistics in format {FORMAT}")
        try:
            layout = StatsLayout(int(d["num_known"]), bool(d["has_oss"]), bool(d["has_gs"]))
            stems = [str(s) for s in d["stems"]]
            rows = _decode(d["rows"], "<i8", (len(stems), layout.width))
            oss = None
            if layout.has_oss:
                oss = _decode(d["oss"], "<i4", (len(stems), 2, OSS_BINS))
        except (KeyError, TypeError, ValueError) as exc:
            raise GossInputError(f"{where}: malformed per-image statistics ({exc})") from None
        names = d.get("class_names")
        return cls(layout, stems, rows, oss, names, dict(d.get("options") or {}))


def _encode(arr: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(arr).tobytes(), 6)).decode("ascii")


def _decode(text: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(text, str):
        raise ValueError("array is not a base64 string")
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"cannot decode array: {exc}") from None
    arr = np.frombuffer(raw, dtype=dtype)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"array has {arr.size} values, expected shape {shape}")
    return arr.reshape(shape).astype(np.int64 if dtype.endswith("8") else np.int32)
