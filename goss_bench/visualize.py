"""Pictures of GOSS ground truth and predictions (used by ``goss-bench show`` and the server).

A panel row is: image | GT | prediction | errors, with a legend below that
explains every colour and pattern drawn.

Colours (chosen so that an error colour is never a class colour):

* errors use the colour-blind-safe Okabe-Ito colours, each with its own
  pattern so that they differ without colour too: false positive = vermillion
  ``/`` hatching, false negative (missed GT) = blue ``\\`` hatching, matched
  segment = bluish-green outline, predicted segment ignored because it lies
  mostly on void = reddish-purple dots. They are drawn over the prediction shown
  in light grey, so no class colour appears in the errors panel;
* known class k: ``known_color(k)``, muted colours, fixed across pictures;
* unknown group: ``group_color(i)`` for the i-th distinct group of the image,
  saturated colours, with a white ring drawn *around* the group (on the
  neighbouring pixels), so that even a one-pixel group keeps its colour;
* void (GT) / no prediction: grey with dark diagonal hatching.

Known and group colours are drawn from a deterministic sequence that skips
every colour close to a reserved one (errors, void, white, black).
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from functools import lru_cache
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
HATCH_COLOR = (64, 64, 64)
OUTLINE_COLOR = (255, 255, 255)
# Okabe & Ito (2008) colour-blind-safe colours
TP_COLOR = (0, 158, 115)  # bluish green
FP_COLOR = (213, 94, 0)  # vermillion
FN_COLOR = (0, 114, 178)  # blue
IGNORED_COLOR = (204, 121, 167)  # reddish purple
BACKGROUND = (255, 255, 255)
RESERVED = (VOID_COLOR, HATCH_COLOR, OUTLINE_COLOR, TP_COLOR, FP_COLOR, FN_COLOR, IGNORED_COLOR,
            (0, 0, 0))
MIN_DISTANCE = 70.0
"""Smallest RGB distance between a class or group colour and any reserved colour."""
ERROR_BASE = (0.3, 0.7)
"""Errors panel base: ``0.3 * luminance(prediction) + 0.7 * 255`` (light grey, 179..255)."""
HATCH_PERIOD = 4


def _far_from_reserved(rgb: tuple[int, int, int]) -> bool:
    c = np.array(rgb, float)
    return all(float(np.linalg.norm(c - np.array(r, float))) >= MIN_DISTANCE for r in RESERVED)


@lru_cache(maxsize=2)
def _palette(saturations: tuple[float, ...], values: tuple[float, ...], offset: float) -> tuple:
    out: list[tuple[int, int, int]] = []
    i = 0
    while len(out) < 256:
        h = (offset + i * 0.618033988749895) % 1.0
        s = saturations[(i // 3) % len(saturations)]
        v = values[(i // 7) % len(values)]
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        rgb = (int(r * 255), int(g * 255), int(b * 255))
        if _far_from_reserved(rgb):
            out.append(rgb)
        i += 1
    return tuple(out)


def known_color(k: int) -> tuple[int, int, int]:
    """Fixed colour of known class ``k`` (muted; never close to a reserved colour)."""
    return _palette((0.35, 0.55), (0.9, 0.7), 0.0)[k % 256]


def group_color(i: int) -> tuple[int, int, int]:
    """Colour of the i-th unknown group of an image (saturated; never close to a reserved colour)."""
    return _palette((1.0, 0.85), (1.0, 0.8), 0.11)[i % 256]


def _hatch(shape: tuple[int, int], period: int = HATCH_PERIOD, back: bool = False) -> np.ndarray:
    yy, xx = np.indices(shape)
    return (((yy - xx) if back else (yy + xx)) % period) == 0


def _dots(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.indices(shape)
    return (yy % 3 == 1) & (xx % 3 == 1)


def _boundary(sem: np.ndarray, grp: np.ndarray | None, n: int) -> np.ndarray:
    """Pixels with a 4-neighbour in another segment (segment = known class, or unknown group)."""
    key = sem.astype(np.int64) << 32
    if grp is not None:
        key |= np.where(sem == n, grp.astype(np.int64), 0)
    e = np.zeros(sem.shape, bool)
    dy = key[1:, :] != key[:-1, :]
    dx = key[:, 1:] != key[:, :-1]
    e[1:, :] |= dy
    e[:-1, :] |= dy
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    return e


def _group_rings(gid: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Ring pixels around unknown groups.

    ``gid`` int64 (H, W): group index >= 0 on unknown pixels, -1 elsewhere; ``area``
    pixels per group. A non-unknown pixel next to a group is ring; between two
    touching groups the boundary is drawn on the larger group's side only, so a
    small group keeps its colour.
    """
    ring = np.zeros(gid.shape, bool)
    a = np.where(gid >= 0, area[np.maximum(gid, 0)], -1)
    for sl_p, sl_q in (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ):
        p, q = gid[sl_p], gid[sl_q]
        bigger = (a[sl_p] > a[sl_q]) | ((a[sl_p] == a[sl_q]) & (p > q))
        ring[sl_p] |= (q >= 0) & (p != q) & ((p < 0) | bigger)
    return ring


def colorize(sem: np.ndarray, grp: np.ndarray | None, num_known: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) picture of a semantic + group map.

    Args:
        sem: uint8 (H, W): 0..N-1 known, N unknown, 255 void.
        grp: integer (H, W) group ids (read where sem == N), or None (all unknown
            pixels then form one group).
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
    if unk.any():
        g = grp if grp is not None else np.zeros(sem.shape, np.uint16)
        comp, k = compact_ids(g, unk)
        glut = np.array([group_color(i) for i in range(k)], dtype=np.uint8)
        out[unk] = glut[comp]
        gid = np.full(sem.shape, -1, dtype=np.int64)
        gid[unk] = comp
        area = np.bincount(comp, minlength=k)
        out[_group_rings(gid, area)] = OUTLINE_COLOR
    return out


def error_map(
    gt_sem: np.ndarray,
    gt_grp: np.ndarray | None,
    pred_sem: np.ndarray,
    pred_grp: np.ndarray | None,
    num_known: int,
) -> np.ndarray:
    """RGB uint8 (H, W, 3): errors drawn over the prediction in light grey.

    False positives: vermillion ``/`` hatching and outline; false negatives:
    blue ``\\`` hatching and outline; matched segments: bluish-green outline;
    predicted segments ignored (mostly on void): reddish-purple dots; GT void:
    grey with dark hatching.
    """
    g, p = segment_status(gt_sem, gt_grp, pred_sem, pred_grp, num_known)
    pic = colorize(pred_sem, pred_grp, num_known).astype(np.float32)
    lum = pic @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = (ERROR_BASE[0] * lum + ERROR_BASE[1] * 255).astype(np.uint8)
    out = np.repeat(grey[..., None], 3, axis=2)
    shape = gt_sem.shape
    void = gt_sem == VOID
    out[void] = VOID_COLOR
    out[void & _hatch(shape)] = HATCH_COLOR
    fn = g == STATUS_ERROR
    fp = p == STATUS_ERROR
    ign = p == STATUS_IGNORED
    tp = (g == STATUS_MATCHED) & (p == STATUS_MATCHED)
    out[ign & _dots(shape)] = IGNORED_COLOR
    out[fn & _hatch(shape, back=True)] = FN_COLOR
    out[fp & _hatch(shape)] = FP_COLOR
    # outline of every segment, in the colour of its status
    pb = _boundary(pred_sem, pred_grp, num_known)
    gb = _boundary(gt_sem, gt_grp, num_known)
    out[gb & fn & ~fp] = FN_COLOR
    out[pb & tp] = TP_COLOR
    out[pb & fp] = FP_COLOR
    return out


@dataclass(frozen=True)
class PanelLayout:
    """Where each panel was drawn (pixel offsets in the output image)."""

    scale: int
    panel_origins: tuple[tuple[int, int], ...]  # (x, y) of image, GT, prediction, errors
    panel_size: tuple[int, int]  # (width, height) after scaling


TITLE_H = 18
PAD = 6
LEGEND_COL_W = 300
SWATCH = 12
NO_PHOTO_GREY = 200


@dataclass(frozen=True)
class LegendEntry:
    """A legend swatch: fill colour, optional pattern (``"/"``, ``"\\\\"``, ``"."``,
    ``"ring"``, ``"outline"``) in ``mark`` colour, and the explanation."""

    fill: tuple[int, int, int]
    label: str
    pattern: str = ""
    mark: tuple[int, int, int] = (0, 0, 0)


def legend_entries(
    gt_sem: np.ndarray, pred_sem: np.ndarray, num_known: int, class_names: list[str] | None,
    tiny_groups: int = 0,
) -> list[LegendEntry]:
    """Every colour and pattern a panel of these maps can show, explained."""
    names = class_names or [f"class {k}" for k in range(num_known)]
    present = sorted(set(np.unique(gt_sem).tolist()) | set(np.unique(pred_sem).tolist()))
    light = (220, 220, 220)
    out = [LegendEntry(known_color(k), f"{k}: {names[k]}") for k in present if k < num_known]
    tiny = f"; {tiny_groups} tiny (< 9 px) shown too" if tiny_groups else ""
    out += [
        LegendEntry(group_color(0), f"unknown: one colour per group, white ring{tiny}", "ring",
                    OUTLINE_COLOR),
        LegendEntry(VOID_COLOR, "void (GT) / no prediction", "/", HATCH_COLOR),
        LegendEntry(light, "errors panel: prediction in grey, and:"),
        LegendEntry(light, "matched segment (green outline)", "outline", TP_COLOR),
        LegendEntry(light, "false positive (vermillion /)", "/", FP_COLOR),
        LegendEntry(light, "false negative, missed GT (blue \\)", "\\", FN_COLOR),
        LegendEntry(light, "unmatched, mostly on void (purple dots)", ".", IGNORED_COLOR),
    ]
    return out


def _swatch(e: LegendEntry) -> Image.Image:
    a = np.empty((SWATCH, SWATCH, 3), np.uint8)
    a[:] = e.fill
    shape = (SWATCH, SWATCH)
    if e.pattern == "/":
        a[_hatch(shape)] = e.mark
    elif e.pattern == "\\":
        a[_hatch(shape, back=True)] = e.mark
    elif e.pattern == ".":
        a[_dots(shape)] = e.mark
    elif e.pattern in ("ring", "outline"):
        k = 2 if e.pattern == "ring" else 0
        a[k, k:SWATCH - k] = a[SWATCH - 1 - k, k:SWATCH - k] = e.mark
        a[k:SWATCH - k, k] = a[k:SWATCH - k, SWATCH - 1 - k] = e.mark
    return Image.fromarray(a, "RGB")


def _tiny_groups(sem: np.ndarray, grp: np.ndarray | None, n: int) -> int:
    unk = sem == n
    if grp is None or not unk.any():
        return 0
    comp, k = compact_ids(grp, unk)
    return int((np.bincount(comp, minlength=k) < 9).sum())


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
    photo_note: str = "no photo",
) -> tuple[Image.Image, PanelLayout]:
    """Draw image | GT | prediction | errors with a legend.

    Args:
        image: RGB uint8 (H, W, 3) or None: a grey placeholder carrying
            ``photo_note`` is drawn (also when its size differs from the maps).
        gt_sem, gt_grp, pred_sem, pred_grp: as in :func:`colorize`.
        class_names: names of the N known classes for the legend.
    """
    h, w = gt_sem.shape
    scale = max(1, -(-min_width // w))
    note = ""
    if image is not None and image.shape[:2] != (h, w):
        note, image = f"photo is {image.shape[1]}x{image.shape[0]}, maps {w}x{h}", None
    if image is None:
        note = note or photo_note
        image = np.full((h, w, 3), NO_PHOTO_GREY, dtype=np.uint8)
    pictures = [
        ("image" if not note else "image (none)", image),
        ("ground truth", colorize(gt_sem, gt_grp, num_known)),
        ("prediction", colorize(pred_sem, pred_grp, num_known)),
        ("errors", error_map(gt_sem, gt_grp, pred_sem, pred_grp, num_known)),
    ]
    pw, ph = w * scale, h * scale
    tiny = _tiny_groups(gt_sem, gt_grp, num_known) + _tiny_groups(pred_sem, pred_grp, num_known)
    legend = legend_entries(gt_sem, pred_sem, num_known, class_names, tiny)
    width = 4 * pw + 5 * PAD
    cols = max(1, (width - PAD) // LEGEND_COL_W)
    rows = -(-len(legend) // cols)
    top = TITLE_H + (TITLE_H if title else 0)
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
    if note:
        draw.text((PAD + 4, top + 4), note[: max(8, pw // 6)], fill=(0, 0, 0), font=font)
    y0 = top + ph + PAD
    for j, e in enumerate(legend):
        x = PAD + (j % cols) * LEGEND_COL_W
        y = y0 + (j // cols) * 16
        canvas.paste(_swatch(e), (x, y + 2))
        draw.rectangle([x - 1, y + 1, x + SWATCH, y + SWATCH + 2], outline=(0, 0, 0))
        draw.text((x + SWATCH + 5, y + 2), e.label[:46], fill=(0, 0, 0), font=font)
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


def photo_note(path: Path | None, why: str | None = None) -> str:
    """A short note drawn on the grey placeholder when no photo is shown for an image
    (``why``: the reason from :func:`load_photo_checked`, if known)."""
    if path is None:
        return "no photo (not listed in images.txt)"
    if not os.path.lexists(path):
        return f"no photo ({path.name} not found)"
    if why is not None and " is " in why and "but the label maps are" in why:
        return f"no photo ({path.name} has another size)"
    return f"no photo ({path.name} unreadable)"
