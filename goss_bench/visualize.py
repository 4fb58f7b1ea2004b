"""Pictures of GOSS ground truth and predictions (used by ``goss-bench show`` and the server).

A panel row is: image | GT | prediction | errors, with a legend below.

Colours:
* known class k: ``known_color(k)`` (a fixed palette, the same in every picture);
* unknown group: ``group_color(i)`` for the i-th distinct group of the image,
  with a white outline around each group;
* void / no prediction: grey with dark diagonal hatching;
* errors panel: matched (TP) segments green, false-positive pixels red,
  false-negative (missed GT) pixels orange, predicted segments ignored because
  they lie mostly on void light grey, void hatched.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from goss_bench.errors import GossInputError
from goss_bench.io import VOID, read_label_png
from goss_bench.layout import LabelFolder, read_image_list
from goss_bench.metrics.pq import STATUS_ERROR, STATUS_IGNORED, STATUS_MATCHED, segment_status
from goss_bench.metrics.segments import compact_ids
from goss_bench.validate.photos import load_photo as load_photo_array
from goss_bench.validate.photos import photo_size

VOID_COLOR = (128, 128, 128)
HATCH_COLOR = (80, 80, 80)
OUTLINE_COLOR = (255, 255, 255)
TP_COLOR = (0, 170, 0)
FP_COLOR = (220, 0, 0)
FN_COLOR = (255, 140, 0)
IGNORED_COLOR = (200, 200, 200)
BACKGROUND = (255, 255, 255)


def known_color(k: int) -> tuple[int, int, int]:
    """Fixed colour of known class ``k`` (golden-ratio hues, muted)."""
    h = (k * 0.618033988749895) % 1.0
    s = 0.45 + 0.2 * ((k // 7) % 2)
    v = 0.75 + 0.15 * ((k // 3) % 2)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def group_color(i: int) -> tuple[int, int, int]:
    """Colour of the i-th unknown group of an image (saturated, distinct from neighbours)."""
    h = (0.11 + i * 0.381966011250105) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 1.0, 1.0 if i % 2 == 0 else 0.7)
    return int(r * 255), int(g * 255), int(b * 255)


def _hatch(shape: tuple[int, int], period: int = 6) -> np.ndarray:
    yy, xx = np.indices(shape)
    return ((yy + xx) % period) == 0


def colorize(sem: np.ndarray, grp: np.ndarray | None, num_known: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) picture of a semantic + group map.

    Args:
        sem: uint8 (H, W): 0..N-1 known, N unknown, 255 void.
        grp: integer (H, W) group ids (read where sem == N), or None.
    """
    n = num_known
    lut = np.zeros((256, 3), dtype=np.uint8)
    for k in range(n):
        lut[k] = known_color(k)
    lut[VOID] = VOID_COLOR
    out = lut[sem]
    void = sem == VOID
    out[void & _hatch(sem.shape)] = HATCH_COLOR
    unk = sem == n
    if unk.any() and grp is not None:
        comp, k = compact_ids(grp, unk)
        glut = np.array([group_color(i) for i in range(k)], dtype=np.uint8)
        out[unk] = glut[comp]
        gid = np.full(sem.shape, -1, dtype=np.int64)
        gid[unk] = comp
        edge = np.zeros(sem.shape, dtype=bool)
        dy = gid[1:, :] != gid[:-1, :]
        dx = gid[:, 1:] != gid[:, :-1]
        edge[1:, :] |= dy
        edge[:-1, :] |= dy
        edge[:, 1:] |= dx
        edge[:, :-1] |= dx
        out[edge & unk] = OUTLINE_COLOR
    return out


def error_map(
    gt_sem: np.ndarray,
    gt_grp: np.ndarray | None,
    pred_sem: np.ndarray,
    pred_grp: np.ndarray | None,
    num_known: int,
) -> np.ndarray:
    """RGB uint8 (H, W, 3): TP green, FP red, FN orange, ignored light grey, void hatched."""
    g, p = segment_status(gt_sem, gt_grp, pred_sem, pred_grp, num_known)
    out = np.empty(gt_sem.shape + (3,), dtype=np.uint8)
    out[:] = BACKGROUND
    out[g == STATUS_ERROR] = FN_COLOR
    out[p == STATUS_IGNORED] = IGNORED_COLOR
    out[(g == STATUS_MATCHED) & (p == STATUS_MATCHED)] = TP_COLOR
    out[p == STATUS_ERROR] = FP_COLOR
    void = gt_sem == VOID
    base = np.where(void[..., None], np.array(VOID_COLOR, np.uint8), out)
    fp_on_void = void & (p == STATUS_ERROR)
    base[fp_on_void] = FP_COLOR
    base[void & _hatch(gt_sem.shape) & ~fp_on_void] = HATCH_COLOR
    return base


@dataclass(frozen=True)
class PanelLayout:
    """Where each panel was drawn (pixel offsets in the output image)."""

    scale: int
    panel_origins: tuple[tuple[int, int], ...]  # (x, y) of image, GT, prediction, errors
    panel_size: tuple[int, int]  # (width, height) after scaling


TITLE_H = 18
PAD = 6


def render_panel(
    image: np.ndarray | None,
    gt_sem: np.ndarray,
    gt_grp: np.ndarray | None,
    pred_sem: np.ndarray,
    pred_grp: np.ndarray | None,
    num_known: int,
    class_names: list[str] | None = None,
    title: str = "",
    min_width: int = 240,
) -> tuple[Image.Image, PanelLayout]:
    """Draw image | GT | prediction | errors with a legend.

    Args:
        image: RGB uint8 (H, W, 3) or None (a grey placeholder is drawn).
        gt_sem, gt_grp, pred_sem, pred_grp: as in :func:`colorize`.
        class_names: names of the N known classes for the legend.
    """
    h, w = gt_sem.shape
    scale = max(1, -(-min_width // w))
    if image is None or image.shape[:2] != (h, w):
        image = np.full((h, w, 3), 200, dtype=np.uint8)
    pictures = [
        ("image", image),
        ("ground truth", colorize(gt_sem, gt_grp, num_known)),
        ("prediction", colorize(pred_sem, pred_grp, num_known)),
        ("errors", error_map(gt_sem, gt_grp, pred_sem, pred_grp, num_known)),
    ]
    pw, ph = w * scale, h * scale
    names = class_names or [f"class {k}" for k in range(num_known)]
    present = sorted(set(np.unique(gt_sem).tolist()) | set(np.unique(pred_sem).tolist()))
    legend: list[tuple[tuple[int, int, int], str]] = [
        (known_color(k), names[k]) for k in present if k < num_known
    ]
    legend += [
        (group_color(0), "unknown (one colour per group)"),
        (VOID_COLOR, "void / no prediction"),
        (TP_COLOR, "matched segment"),
        (FP_COLOR, "false positive"),
        (FN_COLOR, "false negative (missed)"),
        (IGNORED_COLOR, "unmatched, mostly on void"),
    ]
    cols = max(1, (4 * pw + 5 * PAD) // 220)
    rows = -(-len(legend) // cols)
    top = TITLE_H + (TITLE_H if title else 0)
    width = 4 * pw + 5 * PAD
    height = top + ph + PAD + rows * 16 + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    if title:
        draw.text((PAD, 3), title, fill=(0, 0, 0), font=font)
    origins = []
    for i, (label, pic) in enumerate(pictures):
        x = PAD + i * (pw + PAD)
        y = top
        draw.text((x, top - TITLE_H + 3), label, fill=(0, 0, 0), font=font)
        im = Image.fromarray(np.ascontiguousarray(pic[..., :3]), "RGB")
        if scale > 1:
            im = im.resize((pw, ph), Image.Resampling.NEAREST)
        canvas.paste(im, (x, y))
        origins.append((x, y))
    y0 = top + ph + PAD
    for j, (color, label) in enumerate(legend):
        x = PAD + (j % cols) * 220
        y = y0 + (j // cols) * 16
        draw.rectangle([x, y + 2, x + 11, y + 13], fill=color, outline=(0, 0, 0))
        draw.text((x + 16, y + 2), label[:30], fill=(0, 0, 0), font=font)
    return canvas, PanelLayout(scale=scale, panel_origins=tuple(origins), panel_size=(pw, ph))


def load_gt_maps(gt_root: Path, stem: str) -> tuple[np.ndarray, np.ndarray | None]:
    """GT semantic (uint8 (H, W)) and group map (uint16 (H, W), None when absent) of one image.

    Raises GossInputError when the group map's size differs from the semantic map's.
    """
    sem_p = gt_root / "semantic" / f"{stem}.png"
    sem = read_label_png(sem_p, what="ground-truth semantic map")
    grp_p = gt_root / "groups" / f"{stem}.png"
    grp = read_label_png(grp_p, bits=(8, 16)) if os.path.lexists(grp_p) else None
    if grp is not None and grp.shape != sem.shape:
        raise GossInputError(
            f"{grp_p}: group map has shape {grp.shape[0]}x{grp.shape[1]} (HxW) but {sem_p} is "
            f"{sem.shape[0]}x{sem.shape[1]}"
        )
    return sem, grp


def photo_paths(gt: LabelFolder) -> dict[str, Path]:
    """stem -> RGB photo path, from the folder's images.txt ({} when there is none)."""
    return dict(read_image_list(gt.root / "images.txt", gt.split_dir, required=False))


def load_photo_checked(
    path: Path | None, shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray | None, str | None]:
    """The RGB photo (uint8 (H, W, 3)) at ``path`` and None, or None and why it is not usable.

    The photo is refused (never decoded) when it is missing, not a regular file,
    corrupt, larger than the photo pixel limit, or (with ``shape``) of another
    (H, W) than the label maps.
    """
    if path is None:
        return None, "no photo listed in images.txt"
    try:
        h, w = photo_size(path)
        if shape is not None and (h, w) != tuple(shape[:2]):
            return None, f"photo {path} is {w}x{h} but the label maps are {shape[1]}x{shape[0]}"
        return load_photo_array(path), None
    except GossInputError as exc:
        return None, str(exc)


def load_photo(path: Path | None) -> np.ndarray | None:
    """The RGB photo (uint8 (H, W, 3)) at ``path``, or None when absent or unusable
    (see :func:`load_photo_checked`). With None the panel shows a grey image instead.
    """
    return load_photo_checked(path)[0]
