"""Pretrained encoder weights: fetch, verify and find them.

    python -m baselines.weights fetch resnet50 [--dest DIR]      # download + verify
    python -m baselines.weights fetch resnet50 --from FILE       # register a file you have
    python -m baselines.weights where resnet50                   # print the expected path

The ResNet-50 checkpoint is torchvision's published ImageNet file (IMAGENET1K_V1,
``resnet50-0676ba61.pth``); its URL is the one of torchvision's model registry
(``ResNet50_Weights.IMAGENET1K_V1``) and the file's SHA-256 starts with the 8 hex
digits in its name, as for every torchvision checkpoint.  A download or a
registered file is accepted only when its size and SHA-256 match; it is written
atomically into the weights folder: ``--dest``, else ``$GOSS_WEIGHTS``, else
``~/.cache/goss-bench/weights``.  Configs name it with ``model.pretrained=imagenet``.
Nothing is ever downloaded except by ``fetch``.

Exit codes: 0 done, 1 the download failed or was corrupt (retry), 2 bad input
(unknown name, a ``--from`` file that is not the published checkpoint, an
unwritable folder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from goss_bench.errors import GossInputError


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    url: str
    sha256: str
    size: int


WEIGHTS: dict[str, WeightFile] = {
    "resnet50": WeightFile(
        name="resnet50",
        filename="resnet50-0676ba61.pth",
        url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
        sha256="0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
        size=102_530_333,
    ),
}
ALIASES = {"imagenet": "resnet50"}
CHUNK = 1 << 20


class DownloadError(Exception):
    """The server failed or sent a corrupt file; retrying may help (exit 1)."""


def weights_dir() -> Path:
    """``$GOSS_WEIGHTS`` or ``~/.cache/goss-bench/weights``."""
    env = os.environ.get("GOSS_WEIGHTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "goss-bench" / "weights"


def _spec(name: str) -> WeightFile:
    key = ALIASES.get(name, name)
    if key not in WEIGHTS:
        raise GossInputError(f"unknown weights {name!r} (known: {sorted(WEIGHTS)})")
    return WEIGHTS[key]


def fetch_hint(name: str = "resnet50") -> str:
    return f"python -m baselines.weights fetch {ALIASES.get(name, name)}"


def resolve_pretrained(value: str) -> Path:
    """The file of a ``model.pretrained`` value ("imagenet", a registry name, or a path).

    Raises:
        GossInputError: the file does not exist (the message says how to fetch it,
            or to pass ``model.pretrained=none`` for random initialisation).
    """
    if value in ALIASES or value in WEIGHTS:
        spec = _spec(value)
        path = weights_dir() / spec.filename
        if not path.is_file():
            raise GossInputError(
                f"model.pretrained={value}: ImageNet weights not found at {path}; fetch them "
                f"with `{fetch_hint(value)}` (or set GOSS_WEIGHTS to the folder that holds "
                f"{spec.filename}), or pass model.pretrained=none to train from random weights"
            )
        return path
    path = Path(value).expanduser()
    if not path.is_file():
        raise GossInputError(
            f"model.pretrained={value}: file not found (expected a torchvision ResNet "
            f"checkpoint; `{fetch_hint()}` fetches the ImageNet one; "
            "model.pretrained=none trains from random weights)"
        )
    return path


def _target_dir(dest: str | os.PathLike[str] | None) -> Path:
    folder = Path(dest).expanduser() if dest is not None else weights_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GossInputError(f"{folder}: cannot create the weights folder ({exc.strerror})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise GossInputError(f"{folder}: not a writable folder")
    return folder


def _copy_verified(
    read: Callable[[int], bytes], spec: WeightFile, folder: Path, what: str,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Stream ``read`` into ``folder / spec.filename`` atomically (a temporary file
    renamed only after size and SHA-256 match).  Raises DownloadError on a mismatch
    and leaves nothing behind."""
    from goss_bench.io import write_atomic

    def write(fh: BinaryIO) -> None:
        digest = hashlib.sha256()
        size = 0
        while chunk := read(CHUNK):
            fh.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(size)
            if size > spec.size:
                raise DownloadError(f"{what}: more than the expected {spec.size} bytes")
        if size != spec.size:
            raise DownloadError(f"{what}: {size} bytes, expected {spec.size} (truncated?)")
        got = digest.hexdigest()
        if got != spec.sha256:
            raise DownloadError(f"{what}: SHA-256 {got} does not match the published {spec.sha256}")

    final = folder / spec.filename
    write_atomic(final, write)
    return final


def fetch(
    name: str, dest: str | os.PathLike[str] | None = None, *, url: str | None = None,
    timeout: float = 60.0, progress: Callable[[int], None] | None = None,
) -> Path:
    """Download the named checkpoint (from ``url``, default the published one), verify
    it and store it in the weights folder; returns its path.

    Raises:
        GossInputError: unknown name, unwritable folder.
        DownloadError: HTTP/network failure, wrong size or checksum.
    """
    spec = _spec(name)
    folder = _target_dir(dest)
    source = url or spec.url
    if not source.startswith(("http://", "https://")):
        raise GossInputError(f"--url {source!r}: expected an http:// or https:// URL")
    req = urllib.request.Request(source, headers={"User-Agent": "goss-bench"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
            return _copy_verified(resp.read, spec, folder, source, progress)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{source}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{source}: download failed ({reason})") from None


def register(name: str, source: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None) -> Path:
    """Copy a file the user already has into the weights folder after the same checks.

    Raises:
        GossInputError: unknown name, missing file, wrong size or checksum.
    """
    spec = _spec(name)
    src = Path(source).expanduser()
    if not src.is_file():
        raise GossInputError(f"--from {src}: file not found")
    folder = _target_dir(dest)
    try:
        with open(src, "rb") as fh:
            return _copy_verified(fh.read, spec, folder, str(src))
    except DownloadError as exc:
        raise GossInputError(f"{exc} (not torchvision's {spec.filename})") from None
    except OSError as exc:
        raise GossInputError(f"{src}: cannot read ({exc.strerror})") from None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m baselines.weights",
                                 description="Fetch and verify pretrained encoder weights.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download (or register with --from) and verify")
    f.add_argument("name", help=f"weights to fetch: {', '.join(sorted(WEIGHTS))}")
    f.add_argument("--dest", default=None, help="folder (default: $GOSS_WEIGHTS or ~/.cache/goss-bench/weights)")
    f.add_argument("--from", dest="source", default=None, metavar="FILE",
                   help="register a copy you already have (checked the same way)")
    f.add_argument("--url", default=None, help="download from this mirror instead (same checks)")
    f.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (60)")
    w = sub.add_parser("where", help="print where the configs look for the file")
    w.add_argument("name")
    args = ap.parse_args(argv)
    try:
        spec = _spec(args.name)
        if args.cmd == "where":
            print(weights_dir() / spec.filename)
            return 0
        if not (args.timeout > 0 and args.timeout < float("inf")):
            raise GossInputError(f"--timeout {args.timeout}: expected a positive number of seconds")
        if args.source is not None:
            path = register(args.name, args.source, args.dest)
        else:
            print(f"downloading {args.url or spec.url} ({spec.size / 2**20:.1f} MiB)", file=sys.stderr)
            path = fetch(args.name, args.dest, url=args.url, timeout=args.timeout)
    except GossInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DownloadError as exc:
        print(f"error: {exc}; nothing was written, run the command again to retry", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(f"{spec.filename}: SHA-256 verified; stored at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
