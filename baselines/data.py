"""Datasets over a GOSS split directory (FORMAT.md).

``<split>/train/images.txt`` lists ``<stem> <image path>``; a relative image path
is resolved against ``images_root`` (default: the split directory).  Labels are
``<split>/<subset>/semantic/<stem>.png`` (uint8: 0..N-1 known, N unknown, 255 void).

* :class:`TrainDataset` -- the release's augmentation (longest side 641, random
  scale 0.5-1.5 in steps of 0.1, 641 crop padded with void, horizontal flip) and
  the Super-BPD ground truth of the augmented label.
* :class:`TestDataset` -- the image resized so its longest side is
  ``resize_longest``, plus its stem and original size.
* :class:`StreamSampler` -- the endless, resumable order of training samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from baselines.bpd_gt import bpd_ground_truth
from goss_bench import layout
from goss_bench.errors import GossInputError
from goss_bench.io import VOID, read_label_png
from goss_bench.layout import load_split_info


@dataclass(frozen=True)
class SplitInfo:
    num_known: int
    class_names: list[str] | None


def split_info(split_dir: str | os.PathLike[str]) -> SplitInfo:
    """N and the known class names from ``<split_dir>/split.json``."""
    path = Path(split_dir) / "split.json"
    if not path.is_file():
        raise GossInputError(f"{path}: split.json not found (expected a built split directory)")
    n, names = load_split_info(path)
    return SplitInfo(n, names)


def read_image_list(
    split_dir: str | os.PathLike[str], subset: str, images_root: str | os.PathLike[str] | None = None
) -> list[tuple[str, Path]]:
    """[(stem, image path)] from ``<split_dir>/<subset>/images.txt``, in file order.

    Relative paths are resolved against ``images_root`` (default: the split directory).
    """
    split = Path(split_dir)
    listing = split / subset / "images.txt"
    try:
        out = layout.read_image_list(listing, Path(images_root) if images_root is not None else split)
    except UnicodeDecodeError as exc:
        raise GossInputError(f"{listing}: not UTF-8 text (byte {exc.start}); expected lines "
                             "'<stem> <image path>'") from None
    except OSError as exc:
        raise GossInputError(f"{listing}: cannot read ({exc.strerror or exc})") from None
    labels = split / subset / "semantic"
    without = sorted({p.stem for p in labels.glob("*.png")} - {stem for stem, _ in out})
    if without:  # the builder lists only the photos that exist (photos are optional there)
        raise GossInputError(
            f"{listing}: {len(without)} of {len(without) + len(out)} {subset} images have no "
            f"photo (e.g. {without[0]}): the split was built from the labels alone, and the "
            "baselines need the photos; put them where build-split looks (docs/building.md) "
            "and build again, or pass --require-images to build-split to catch this early"
        )
    if not out:
        raise GossInputError(f"{listing}: no images listed")
    return out


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise GossInputError(f"{path}: cannot read image ({exc})") from None


def normalise(image: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) normalised with ImageNet mean/std."""
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _resize(im: Image.Image, lab: np.ndarray | None, scale: float):  # noqa: ANN202
    w, h = im.size
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    if lab is not None:
        lab = np.asarray(Image.fromarray(lab).resize((nw, nh), Image.Resampling.NEAREST))
    return im, lab


class TrainDataset(Dataset):
    """Augmented training samples.

    Each item is a dict: ``image`` float32 (3, S, S), ``target`` int64 (S, S),
    ``field`` float32 (2, S, S), ``weight`` float32 (S, S), S = ``data.crop_size``.
    Super-BPD targets are built from the connected regions of the supervised
    classes: 0..N-1, plus the unknown class N when ``with_unknown`` (N+1-model);
    other pixels get weight 0.  (Maps written by goss-bench's builder hold no N in
    ``train/``; a split whose training maps label unknown pixels N supervises it.)
    """

    def __init__(
        self, split_dir, data_cfg, num_known: int, images_root=None, seed: int = 0,  # noqa: ANN001
        *, with_unknown: bool = False,
    ) -> None:
        self.split = Path(split_dir)
        self.items = read_image_list(split_dir, "train", images_root)
        self.cfg = data_cfg
        self.num_known = num_known
        self.with_unknown = with_unknown
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, index: int, epoch: int) -> np.random.Generator:
        """The augmentation of a sample depends only on (seed, epoch, index): the same
        in every worker process and after a resume."""
        return np.random.default_rng([self.seed, epoch, index])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        stem, img_path = self.items[index]
        cfg = self.cfg
        rng = self._rng(index, epoch)
        im = load_rgb(img_path)
        lab_path = self.split / "train" / "semantic" / f"{stem}.png"
        lab = read_label_png(lab_path, what="semantic map")
        if ((lab > self.num_known) & (lab != VOID)).any():
            raise GossInputError(
                f"{lab_path}: values must be train ids 0..{self.num_known - 1}, "
                f"{self.num_known} (unknown) or 255 (void), got {int(lab[lab != VOID].max())}"
            )
        if lab.shape != (im.size[1], im.size[0]):
            raise GossInputError(
                f"{lab_path}: size {lab.shape[::-1]} "
                f"differs from the image's {im.size}"
            )
        n_steps = int(round((cfg.scale_max - cfg.scale_min) / cfg.scale_step)) if cfg.scale_step > 0 else 0
        s = cfg.scale_min + cfg.scale_step * int(rng.integers(0, n_steps + 1))
        base = cfg.resize_longest / max(im.size)
        im, lab = _resize(im, lab, base * s)
        img = np.asarray(im)
        c = cfg.crop_size
        h, w = lab.shape
        ph, pw = max(c - h, 0), max(c - w, 0)
        if ph or pw:
            mean_px = np.rint(np.asarray(cfg.mean) * 255).astype(np.uint8)
            img = np.pad(img, ((0, ph), (0, pw), (0, 0)))
            img[h:, :] = mean_px
            img[:, w:] = mean_px
            lab = np.pad(lab, ((0, ph), (0, pw)), constant_values=VOID)
        y0 = int(rng.integers(0, lab.shape[0] - c + 1))
        x0 = int(rng.integers(0, lab.shape[1] - c + 1))
        img = img[y0 : y0 + c, x0 : x0 + c]
        lab = lab[y0 : y0 + c, x0 : x0 + c]
        if cfg.flip and rng.random() < 0.5:
            img = img[:, ::-1]
            lab = lab[:, ::-1]
        lab = np.ascontiguousarray(lab)
        n_sup = self.num_known + 1 if self.with_unknown else self.num_known
        supervised = np.where(lab < n_sup, lab, VOID)
        field, weight = bpd_ground_truth(supervised, cfg.connectivity)
        return {
            "image": normalise(img, cfg.mean, cfg.std),
            "target": torch.from_numpy(lab.astype(np.int64)),
            "field": torch.from_numpy(field),
            "weight": torch.from_numpy(weight),
        }


class TestDataset(Dataset):
    """Test images: dict with ``image`` float32 (3, h, w) resized so max(h, w) =
    ``resize_longest``, ``stem`` str and ``size`` (H, W) of the original image."""

    def __init__(self, split_dir, data_cfg, resize_longest: int, images_root=None) -> None:  # noqa: ANN001
        self.items = read_image_list(split_dir, "test", images_root)
        self.cfg = data_cfg
        self.resize_longest = resize_longest

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, object]:
        stem, img_path = self.items[index]
        im = load_rgb(img_path)
        size = (im.size[1], im.size[0])
        im, _ = _resize(im, None, self.resize_longest / max(im.size))
        return {
            "image": normalise(np.asarray(im), self.cfg.mean, self.cfg.std),
            "stem": stem,
            "size": size,
        }


class StreamSampler(Sampler):
    """Endless stream of ``(index, epoch)`` keys for one process, resumable anywhere.

    Epoch e visits the dataset in the order of a permutation drawn from (seed, e)
    alone (no global random state); with ``world`` processes the permutation is padded
    to a multiple of ``world`` by repeating its head and process ``rank`` takes every
    ``world``-th entry (as ``DistributedSampler``).  ``start`` is this process's
    position in the stream: a run resumed after k iterations of batch b continues at
    k*b and sees exactly the samples the uninterrupted run would have seen.
    """

    def __init__(self, size: int, seed: int = 0, rank: int = 0, world: int = 1, start: int = 0) -> None:
        if size < 1:
            raise ValueError("StreamSampler needs a non-empty dataset")
        self.size, self.seed, self.rank, self.world, self.start = size, seed, rank, world, start
        self.per_rank = -(-size // world)

    def epoch_order(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.size)
        padded = np.resize(perm, self.per_rank * self.world)
        return padded[self.rank :: self.world]

    def __iter__(self):  # noqa: ANN204
        pos = self.start
        while True:
            epoch, offset = divmod(pos, self.per_rank)
            order = self.epoch_order(epoch)
            for i in order[offset:].tolist():
                yield (i, epoch)
            pos = (epoch + 1) * self.per_rank
