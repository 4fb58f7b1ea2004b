"""RGB photos (JPEG, PNG, ...): size from the header, checked before decoding.

Pillow refuses images above ``2 * Image.MAX_IMAGE_PIXELS`` with
``DecompressionBombError`` (not an ``OSError``); here every photo is compared
with an explicit pixel limit first, so no bomb is ever decoded and no Pillow
exception escapes.
"""

from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.validate.files import require_regular_file

DEFAULT_MAX_PHOTO_PIXELS = 64 * 1024 * 1024
"""Photos with more pixels are refused (8x a Cityscapes frame, 200x a COCO photo)."""


def _open_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image, UnidentifiedImageError

    return (
        OSError,
        SyntaxError,
        ValueError,
        zlib.error,
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    )


def photo_size(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PHOTO_PIXELS
) -> tuple[int, int]:
    """(height, width) of a photo from its header; nothing is decoded.

    Raises GossInputError when the file is missing, not a regular file, not an
    image, or larger than ``max_pixels``.
    """
    from PIL import Image

    p = require_regular_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:  # parses the header only
                w, h = im.size
    except _open_errors() as exc:
        if isinstance(exc, Image.DecompressionBombError):
            raise GossInputError(
                f"{p}: image header declares more pixels than allowed (possible decompression "
                f"bomb; {exc})"
            ) from None
        raise GossInputError(f"{p}: cannot read image ({exc})") from None
    if w * h > max_pixels:
        raise GossInputError(
            f"{p}: {w}x{h} image exceeds the limit of {max_pixels} pixels "
            "(possible decompression bomb)"
        )
    if w < 1 or h < 1:
        raise GossInputError(f"{p}: image has no pixels ({w}x{h})")
    return h, w


def load_photo(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PHOTO_PIXELS
) -> np.ndarray:
    """Decode a photo as RGB uint8 (H, W, 3) after checking its header (see photo_size)."""
    from PIL import Image

    p = Path(path)
    photo_size(p, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB"))
    except _open_errors() as exc:
        raise GossInputError(f"{p}: corrupt or truncated image ({exc})") from None
