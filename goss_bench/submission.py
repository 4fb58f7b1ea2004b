"""The rules a submission must follow: layout check, zip writer, validation
of a prediction zip against a benchmark's GT layout.

Used by ``goss-bench submit`` (before uploading) and by the leaderboard server
(before queueing and again before scoring), so participants see the same
message locally and from the server.  Imports only the standard library,
numpy/Pillow and goss_bench; never the server.

Memory: the zip's end-of-central-directory record is read and checked (entry
count, directory size) before :class:`zipfile.ZipFile` parses the directory,
so a zip of millions of empty entries is refused after reading ~64 KiB.

Nothing is extracted to a path taken from the archive: members are matched
against the exact expected set ``<folder>/<stem>.png`` and copied, after all
checks, to names built from the stem (:func:`extract_predictions`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from goss_bench.errors import GossInputError
from goss_bench.io import VOID, parse_png_header, read_png_header
from goss_bench.validate.files import require_regular_file
from goss_bench.validate.labels import check_subfolders

FOLDERS = ("semantic", "groups", "scores", "clusters")
# folder -> accepted PNG bit depths (single-channel: colour type 0, or 3 = palette for 8-bit)
BIT_DEPTHS = {"semantic": (8,), "groups": (8, 16), "scores": (8, 16), "clusters": (8, 16)}
IGNORED_PREFIXES = ("__MACOSX/",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db")
MAX_LISTED = 5
MAX_PREFIX = 255  # longest accepted top-level folder name in the archive
_CD_ENTRY = 46  # fixed part of a central-directory file header
_CD_SLACK = 160  # extra fields (timestamps, unix ids, zip64) and comments per entry


@dataclass(frozen=True)
class Layout:
    """What a benchmark expects: N and each test image's stem and (width, height)."""

    num_known: int
    sizes: dict[str, tuple[int, int]]

    @property
    def stems(self) -> list[str]:
        return sorted(self.sizes)

    @property
    def max_pixels(self) -> int:
        return max(w * h for w, h in self.sizes.values())

    def to_json(self) -> str:
        images = [[s, w, h] for s, (w, h) in sorted(self.sizes.items())]
        return json.dumps({"num_known": self.num_known, "images": images}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "layout") -> Layout:
        try:
            d = json.loads(text)
            sizes = {str(s): (int(w), int(h)) for s, w, h in d["images"]}
            return cls(num_known=int(d["num_known"]), sizes=sizes)
        except (ValueError, KeyError, TypeError) as exc:
            raise GossInputError(f"{what}: not a benchmark layout ({exc})") from None


def layout_from_gt(gt_dir: str | os.PathLike[str]) -> Layout:
    """Read N and every test image's size (PNG headers only) from a GT split directory."""
    from goss_bench.scoring import resolve_gt

    gt = resolve_gt(gt_dir)
    sizes = {}
    for stem in gt.stems:
        w, h, _, _ = read_png_header(gt.root / "semantic" / f"{stem}.png")
        sizes[stem] = (w, h)
    return Layout(num_known=gt.num_known, sizes=sizes)


@dataclass(frozen=True)
class Limits:
    """Archive limits.  0 means "derive from the layout"."""

    max_entries: int = 0
    max_uncompressed: int = 0
    max_ratio: float = 100.0

    def resolve(self, layout: Layout) -> tuple[int, int]:
        n = len(layout.sizes)
        entries = self.max_entries or 4 * n + 64
        # four maps per image at 16 bit, plus PNG overhead
        per_image = sum(4 * (2 * w * h + 4096) for w, h in layout.sizes.values())
        return entries, self.max_uncompressed or per_image + (1 << 20)

    def max_directory_bytes(self, layout: Layout) -> int:
        """Largest central directory accepted: every entry with the longest valid name."""
        entries, _ = self.resolve(layout)
        longest = MAX_PREFIX + 1 + len("clusters/") + max(map(len, layout.sizes), default=0) + 4
        return entries * (_CD_ENTRY + 2 * longest + _CD_SLACK) + 4096


def directory_extent(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(entry count, central-directory bytes) from a zip's end-of-central-directory
    record (zip64 aware), read from the last 64 KiB only.

    Raises GossInputError when there is no such record or it does not fit the file.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        tail_len = min(size, 22 + 0xFFFF)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        i = tail.rfind(b"PK\x05\x06")
        if i < 0 or len(tail) - i < 22:
            raise GossInputError("no end-of-central-directory record (not a zip file, or truncated)")
        _, _, _, _, count, cd_size, cd_off, _ = struct.unpack("<4s4H2LH", tail[i : i + 22])
        eocd_pos = size - tail_len + i
        if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_off == 0xFFFFFFFF:
            if eocd_pos < 20:
                raise GossInputError("zip64 archive without its zip64 locator (truncated)")
            fh.seek(eocd_pos - 20)
            sig, _, rec_off, _ = struct.unpack("<4sLQL", fh.read(20))
            if sig != b"PK\x06\x07" or rec_off + 56 > size:
                raise GossInputError("corrupt zip64 end-of-central-directory locator")
            fh.seek(rec_off)
            rec = struct.unpack("<4sQ2H2L4Q", fh.read(56))
            if rec[0] != b"PK\x06\x06":
                raise GossInputError("corrupt zip64 end-of-central-directory record")
            count, cd_size = rec[7], rec[8]
    if cd_size > size:
        raise GossInputError(
            f"the central directory claims {cd_size} bytes in a {size}-byte file (corrupt or forged)"
        )
    return count, cd_size


@dataclass
class ZipCheck:
    """The result of a successful check: folder -> stem -> member name."""

    members: dict[str, dict[str, zipfile.ZipInfo]] = field(default_factory=dict)
    prefix: str = ""
    total_uncompressed: int = 0

    @property
    def folders(self) -> list[str]:
        return [f for f in FOLDERS if f in self.members]


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return shown + more


def _unsafe_name(name: str) -> str | None:
    """Why a member name is unsafe, or None."""
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if any(part in ("..",) for part in name.split("/")):
        return "contains '..'"
    if "\x00" in name:
        return "contains a NUL byte"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def check_zip(
    path: str | os.PathLike[str], layout: Layout, limits: Limits | None = None, *, name: str = ""
) -> ZipCheck:
    """Validate a prediction zip without extracting it.

    Checks, in order: it is a zip; entry count; every name is safe (no absolute
    path, ``..``, backslash, symlink) and unique; each entry's compressed size
    fits the archive and its ratio is below ``max_ratio``; the total
    uncompressed size; the names are exactly ``<folder>/<stem>.png`` (optionally
    under one top-level folder) with ``semantic/`` holding every GT stem;
    each PNG's signature, mode and size against the GT (header only).

    Raises GossInputError naming the archive (``name`` or the path) and member.
    """
    p = Path(path)
    label = name or p.name
    limits = limits or Limits()
    max_entries, max_uncompressed = limits.resolve(layout)
    archive_size = p.stat().st_size
    _check_directory(p, label, layout, limits, max_entries)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GossInputError(
            f"{label}: not a valid zip archive ({exc}); zip the prediction folder "
            "(semantic/, groups/, ...) and upload the .zip file"
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise GossInputError(
                f"{label}: {len(infos)} entries, the limit is {max_entries} "
                f"(at most 4 maps per image for {len(layout.sizes)} images)"
            )
        seen: set[str] = set()
        files: list[zipfile.ZipInfo] = []
        total = 0
        for info in infos:
            n = info.filename
            why = _unsafe_name(n)
            if why:
                raise GossInputError(f"{label}: member {n!r} {why}; refusing the archive")
            if _is_symlink(info):
                raise GossInputError(f"{label}: member {n!r} is a symbolic link")
            if n in seen:
                raise GossInputError(f"{label}: member {n!r} appears twice")
            seen.add(n)
            if n.endswith("/") or n.startswith(IGNORED_PREFIXES):
                continue
            if n.rsplit("/", 1)[-1] in IGNORED_NAMES:
                continue
            if info.compress_size > archive_size:
                raise GossInputError(
                    f"{label}: member {n!r} claims {info.compress_size} compressed bytes in a "
                    f"{archive_size}-byte archive (corrupt or forged)"
                )
            if info.file_size > 4096 and info.file_size > limits.max_ratio * max(
                1, info.compress_size
            ):
                raise GossInputError(
                    f"{label}: member {n!r} expands {info.file_size / max(1, info.compress_size):.0f}x "
                    f"(limit {limits.max_ratio:.0f}x): PNG files do not compress like that "
                    "(possible zip bomb)"
                )
            total += info.file_size
            if total > max_uncompressed:
                raise GossInputError(
                    f"{label}: uncompressed size exceeds {max_uncompressed} bytes "
                    "(possible zip bomb, or files that are not label PNGs)"
                )
            files.append(info)
        check = _match_names(label, files, layout)
        check.total_uncompressed = total
        for folder, by_stem in check.members.items():
            bits = BIT_DEPTHS[folder]
            for stem, info in by_stem.items():
                _check_png_member(zf, info, label, folder, stem, bits, layout.sizes[stem])
    return check


def _check_directory(p: Path, label: str, layout: Layout, limits: Limits, max_entries: int) -> None:
    """Refuse, before zipfile parses it, a central directory larger than any valid one."""
    try:
        count, cd_size = directory_extent(p)
    except GossInputError as exc:
        raise GossInputError(
            f"{label}: not a valid zip archive ({exc}); zip the prediction folder "
            "(semantic/, groups/, ...) and upload the .zip file"
        ) from None
    except OSError as exc:
        raise GossInputError(f"{label}: cannot read the file ({exc.strerror or exc})") from None
    if count > max_entries:
        raise GossInputError(
            f"{label}: {count} entries, the limit is {max_entries} "
            f"(at most 4 maps per image for {len(layout.sizes)} images)"
        )
    cap = limits.max_directory_bytes(layout)
    if cd_size > cap:
        raise GossInputError(
            f"{label}: the zip directory is {cd_size} bytes, more than {cap} bytes needed for "
            f"{max_entries} entries with the longest valid names (too many or too long names)"
        )


def _match_names(label: str, files: list[zipfile.ZipInfo], layout: Layout) -> ZipCheck:
    if not files:
        raise GossInputError(f"{label}: the archive holds no files")
    tops = {f.filename.split("/", 1)[0] for f in files}
    prefix = ""
    if not tops & set(FOLDERS) and len(tops) == 1:
        only = next(iter(tops))
        if all("/" in f.filename for f in files):
            prefix = only + "/"
    expected = set(layout.sizes)
    members: dict[str, dict[str, zipfile.ZipInfo]] = {}
    unexpected: list[str] = []
    for info in files:
        rel = info.filename[len(prefix) :] if info.filename.startswith(prefix) else None
        parts = rel.split("/") if rel is not None else []
        if (
            len(parts) != 2
            or parts[0] not in FOLDERS
            or not parts[1].endswith(".png")
            or parts[1][:-4] not in expected
        ):
            unexpected.append(info.filename)
            continue
        members.setdefault(parts[0], {})[parts[1][:-4]] = info
    if "semantic" not in members:
        raise GossInputError(
            f"{label}: no semantic/<stem>.png files found; the archive must hold semantic/, "
            f"groups/ (and optionally scores/, clusters/) at its top level or inside one folder "
            f"(see FORMAT.md){'; unexpected entries: ' + _listed(unexpected) if unexpected else ''}"
        )
    problems = []
    missing = sorted(expected - set(members["semantic"]))
    if missing:
        problems.append(
            f"semantic/ is missing {len(missing)} of {len(expected)} images: {_listed(missing)}"
        )
    for folder in ("scores", "clusters"):
        if folder in members:
            miss = sorted(expected - set(members[folder]))
            if miss:
                problems.append(
                    f"{folder}/ is present but misses {len(miss)} images: {_listed(miss)} "
                    "(the folder is optional, but must then cover every image)"
                )
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected entries: {_listed(sorted(unexpected))} "
            "(expected only <folder>/<stem>.png for the benchmark's test stems)"
        )
    if problems:
        raise GossInputError(f"{label}: " + "; ".join(problems))
    return ZipCheck(members=members, prefix=prefix)


def _check_png_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    label: str,
    folder: str,
    stem: str,
    bits: tuple[int, ...],
    size: tuple[int, int],
) -> None:
    where = f"{label}: {info.filename}"
    try:
        with zf.open(info) as fh:
            head = fh.read(33)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        raise GossInputError(f"{where}: cannot read the member ({exc})") from None
    width, height, depth, color_type = parse_png_header(head, where)
    if color_type not in (0, 3) or (color_type == 3 and depth != 8):
        kind = {2: "RGB", 4: "grayscale+alpha", 6: "RGBA", 3: "palette"}.get(
            color_type, f"colour type {color_type}"
        )
        raise GossInputError(
            f"{where}: {folder} maps must be single-channel grayscale PNGs "
            f"({' or '.join(f'{b}-bit' for b in bits)}), got {kind}"
        )
    if depth not in bits:
        raise GossInputError(
            f"{where}: {folder} maps must be {' or '.join(f'{b}-bit' for b in bits)} "
            f"grayscale, got {depth}-bit"
        )
    if (width, height) != size:
        raise GossInputError(
            f"{where}: image is {width}x{height} (WxH) but the ground truth of {stem} is "
            f"{size[0]}x{size[1]}"
        )


def extract_predictions(path: str | os.PathLike[str], check: ZipCheck, dest: Path) -> Path:
    """Copy the checked members to ``dest/<folder>/<stem>.png``; returns ``dest``.

    Names come from the checked stems, never from the archive; each member's
    size is capped at its declared size (zipfile also verifies the CRC).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as zf:
        for folder, by_stem in check.members.items():
            out_dir = dest / folder
            out_dir.mkdir(exist_ok=True)
            for stem, info in by_stem.items():
                target = out_dir / f"{stem}.png"
                if target.resolve().parent != out_dir.resolve():
                    raise GossInputError(f"{info.filename}: refusing to write outside {dest}")
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise GossInputError(f"{info.filename}: corrupt zip member ({exc})") from None
    return dest


def check_values(
    path: str | os.PathLike[str], check: ZipCheck, layout: Layout, *, name: str = ""
) -> None:
    """Decode every checked ``semantic/`` map (one at a time) and refuse values
    other than 0..N (classes, N = unknown) and 255 (void).

    Raises GossInputError naming the member, the bad values and N.
    """
    import numpy as np
    from PIL import Image

    label = name or Path(path).name
    n = layout.num_known
    with zipfile.ZipFile(path) as zf:
        for stem, info in sorted(check.members.get("semantic", {}).items()):
            where = f"{label}: {info.filename}"
            try:
                with zf.open(info) as fh, Image.open(fh, formats=["PNG"]) as im:
                    if im.size != layout.sizes[stem]:
                        raise GossInputError(f"{where}: size changed while reading")
                    arr = np.asarray(im)
            except (zipfile.BadZipFile, OSError, ValueError, SyntaxError) as exc:
                if isinstance(exc, GossInputError):
                    raise
                raise GossInputError(f"{where}: cannot decode the PNG ({exc})") from None
            counts = np.bincount(arr.ravel(), minlength=256)
            bad = [v for v in np.flatnonzero(counts).tolist() if v > n and v != VOID]
            if bad:
                raise GossInputError(
                    f"{where}: values {_listed([str(v) for v in bad])} are not allowed; "
                    f"semantic maps hold 0..{n - 1} (known classes), {n} (unknown) "
                    f"or {VOID} (void)"
                )


def zip_folder(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Zip a prediction folder's semantic/, groups/, scores/, clusters/ PNGs to ``out``.

    PNGs are stored without recompression (they are already deflated).
    """
    src = Path(folder)
    if not (src / "semantic").is_dir():
        raise GossInputError(
            f"{src}: expected a prediction folder with semantic/ and groups/ (see FORMAT.md)"
        )
    check_subfolders(src, FOLDERS, "prediction")  # scores/ as a file is no silent OSS drop
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for sub in FOLDERS:
                d = src / sub
                if not d.is_dir():
                    continue
                for png in sorted(d.iterdir()):
                    if png.name.endswith(".png") and not png.name.startswith("."):
                        zf.write(require_regular_file(png, "prediction map"), f"{sub}/{png.name}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return out
