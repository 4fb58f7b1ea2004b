"""PNG integrity: every chunk's CRC is checked before decoding.

Pillow does not check the CRC of the image data (IDAT) chunks and stops
inflating once it has all the pixels, so a flipped byte inside a label map can
decode to *different label values* without any error -- a silently wrong
score.  :func:`check_png_chunks` walks the chunk list (length, type, data,
CRC-32 of type + data, as in the PNG specification) and refuses a file whose
chunks are cut off or whose CRCs do not match; it costs one ``zlib.crc32`` pass
over bytes that are read anyway.
"""

from __future__ import annotations

import zlib

from goss_bench.errors import GossInputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png_chunks(data: bytes, name: str) -> None:
    """Raise GossInputError naming ``name`` unless ``data`` is a PNG with intact chunks up to IEND."""
    if data[:8] != PNG_SIGNATURE:
        raise GossInputError(f"{name}: not a PNG file (bad signature)")
    view = memoryview(data)
    pos, end = 8, len(data)
    while True:
        if pos + 12 > end:
            raise GossInputError(f"{name}: corrupt or truncated PNG (the file ends inside a chunk header)")
        length = int.from_bytes(view[pos:pos + 4], "big")
        ctype = bytes(view[pos + 4:pos + 8])
        stop = pos + 8 + length
        if length > 0x7FFFFFFF or stop + 4 > end:
            raise GossInputError(
                f"{name}: corrupt or truncated PNG (chunk {ctype!r} runs past the end of the file)"
            )
        crc = int.from_bytes(view[stop:stop + 4], "big")
        if zlib.crc32(view[pos + 4:stop]) != crc:
            raise GossInputError(
                f"{name}: corrupt or truncated PNG (CRC mismatch in chunk "
                f"{ctype.decode('latin-1')!r} at byte {pos})"
            )
        pos = stop + 4
        if ctype == b"IEND":
            return
