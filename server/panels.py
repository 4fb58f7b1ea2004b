"""``goss-bench show``-style panels of an uploaded submission (public GT only)."""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image

from goss_bench.errors import GossInputError
from goss_bench.submission import Layout, ZipCheck, check_zip

log = logging.getLogger("goss.panels")


class PanelUnavailable(GossInputError):
    """The stored upload cannot be read (shown as 404, logged for the operator)."""


@lru_cache(maxsize=32)
def _checked(zip_path: str, layout_json: str) -> ZipCheck:
    return check_zip(zip_path, Layout.from_json(layout_json))


def _decode(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: tuple[int, int]) -> np.ndarray:
    """Decode a member whose header was checked (PNG, GT size) by check_zip."""
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
        if im.size != size:
            raise GossInputError(f"{info.filename}: size changed since validation")
        im.load()
        return np.asarray(im)


def render_submission_panel(
    zip_path: str,
    layout_json: str,
    gt_dir: str,
    stem: str,
    class_names: list[str] | None,
    *,
    what: str = "submission",
) -> bytes:
    """PNG bytes of image | GT | prediction | errors for one stem of a submission.

    A stored zip that cannot be read (damaged, missing) raises PanelUnavailable.
    """
    if stem not in Layout.from_json(layout_json).sizes:
        raise GossInputError(f"no test image named {stem!r}")
    try:
        return _render(zip_path, layout_json, gt_dir, stem, class_names)
    except (GossInputError, zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        log.error("%s: cannot draw panel %s from %s: %s", what, stem, zip_path, exc)
        raise PanelUnavailable(
            f"{what}: the panel is unavailable because the server's stored copy of the upload "
            "cannot be read; the organisers were told"
        ) from None


def _render(
    zip_path: str, layout_json: str, gt_dir: str, stem: str, class_names: list[str] | None
) -> bytes:
    from goss_bench.scoring import resolve_gt
    from goss_bench.visualize import load_gt_maps, load_photo, photo_paths, render_panel

    layout = Layout.from_json(layout_json)
    check = _checked(zip_path, layout_json)
    gt = resolve_gt(gt_dir)
    n = gt.num_known
    gsem, ggrp = load_gt_maps(gt.root, stem)
    with zipfile.ZipFile(zip_path) as zf:
        size = layout.sizes[stem]
        psem = _decode(zf, check.members["semantic"][stem], size).astype(np.uint8)
        ginfo = check.members.get("groups", {}).get(stem)
        pgrp = None if ginfo is None else _decode(zf, ginfo, size).astype(np.uint16)
    image = load_photo(photo_paths(gt).get(stem))
    canvas, _ = render_panel(image, gsem, ggrp, psem, pgrp, n, class_names or gt.class_names, stem)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()
