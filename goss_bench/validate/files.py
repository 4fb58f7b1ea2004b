"""Input files must be regular files; outputs must be writable before work starts.

Opening a FIFO blocks until a writer appears and reading a device may never
end, so every reader calls :func:`require_regular_file` (one ``os.stat``, which
follows symlinks and never blocks) before it opens anything.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from goss_bench.errors import GossInputError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a FIFO (named pipe)", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def require_regular_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` when it is (a symlink to) a regular file, else raise GossInputError.

    Args:
        path: the file to check.
        what: how the message calls the file ("semantic map", "split file", ...).
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise GossInputError(
                f"{p}: {what} is a broken symbolic link (to {os.readlink(p)})"
            ) from None
        raise GossInputError(f"{p}: cannot read file ({what} not found)") from None
    except OSError as exc:
        raise GossInputError(f"{p}: cannot access {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        target = f" (symlink to {os.path.realpath(p)})" if os.path.islink(p) else ""
        raise GossInputError(
            f"{p}{target}: {what} is {file_kind(st.st_mode)}, expected a regular file"
        )
    return p


def read_bytes_file(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The bytes of a regular file (GossInputError naming it otherwise)."""
    p = require_regular_file(path, what)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise GossInputError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None


def read_text_file(path: str | os.PathLike[str], what: str = "file") -> str:
    """The UTF-8 text of a regular file (GossInputError naming it otherwise)."""
    data = read_bytes_file(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GossInputError(
            f"{path}: not UTF-8 text ({what}; byte {exc.start}: {exc.reason})"
        ) from None


def load_json_file(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Parse a regular UTF-8 JSON file (GossInputError naming it otherwise).

    NaN and Infinity literals, which are not JSON, are refused.
    """
    text = read_text_file(path, what)

    def _no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise GossInputError(f"{path}: {what} is not valid JSON ({exc})") from None


def _writable_ancestor(p: Path, flag: str) -> None:
    """The nearest existing ancestor of ``p`` must be a writable folder (it will hold ``p``)."""
    anc = p.parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise GossInputError(
            f"{flag} {p}: {anc} is {'a file' if anc.exists() else 'not usable'}, "
            "so nothing can be created below it"
        )
    if not os.access(anc, os.W_OK | os.X_OK):
        raise GossInputError(f"{flag} {p}: folder {anc} is not writable")


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """Check, before any work starts, that a file can be written at ``path``.

    The file may exist (it is replaced atomically) but must then be a regular
    file; its folder must exist and be writable or be creatable.

    Args:
        path: the output file given by the user.
        flag: the option that named it ("--json"), for the message.
    """
    if str(path).strip() == "":
        raise GossInputError(f"{flag}: empty file name")
    p = Path(path)
    if os.path.lexists(p):
        try:
            st = os.stat(p)
        except OSError:
            st = None  # a dangling symlink: it is replaced
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise GossInputError(
                f"{flag} {p}: is {file_kind(st.st_mode)}; expected a file name to write"
            )
    _writable_ancestor(p, flag)
    return p


def check_output_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """Check, before any work starts, that ``path`` is or can become a writable folder."""
    if str(path).strip() == "":
        raise GossInputError(f"{flag}: empty folder name")
    p = Path(path)
    if os.path.lexists(p):
        if not p.is_dir():
            kind = "a file" if p.is_file() else "not a folder"
            raise GossInputError(f"{flag} {p}: is {kind}; expected an output folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise GossInputError(f"{flag} {p}: folder is not writable")
        return p
    _writable_ancestor(p, flag)
    return p
