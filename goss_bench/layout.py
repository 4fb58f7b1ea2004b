"""Finding things in GOSS folders (FORMAT.md): split.json, label folders, image lists.

One place for the folder conventions that the scorer, the panoptic export,
``goss-bench show``, the server and the baselines all rely on:

* a *split directory* holds ``split.json`` and ``test/`` (and ``train/``);
  given a split directory, its ``test/`` folder is the label folder;
* a *label folder* holds ``semantic/<stem>.png`` (and ``groups/``, ...);
* ``images.txt`` lists ``<stem> <path of the RGB image>``; a relative path is
  relative to the split directory (the builder writes absolute paths).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from goss_bench.errors import GossInputError
from goss_bench.validate.files import read_text_file
from goss_bench.validate.labels import MAX_NUM_KNOWN, check_manifest, load_split_info

__all__ = [
    "MAX_NUM_KNOWN",
    "LabelFolder",
    "list_stems",
    "load_split_info",
    "read_image_list",
    "resolve_label_folder",
]


def list_stems(folder: Path) -> list[str]:
    """Sorted stems of the ``.png`` files in ``folder`` (hidden files skipped)."""
    return sorted(
        p.name[:-4]
        for p in folder.iterdir()
        if p.name.endswith(".png") and not p.name.startswith(".")
    )


@dataclass(frozen=True)
class LabelFolder:
    """A resolved label folder.

    root: the folder holding semantic/ (``test/`` of a split directory).
    split_json: the split.json it belongs to, if any.
    num_known: N (from split.json, else from the caller).
    class_names: known class names in train-id order, when split.json has them.
    stems: sorted stems of ``root/semantic/*.png`` (never empty).
    """

    root: Path
    split_json: Path | None
    num_known: int
    class_names: list[str] | None
    stems: list[str]

    @property
    def split_dir(self) -> Path:
        """Base of relative paths in images.txt: the split directory, else ``root``."""
        return self.split_json.parent if self.split_json is not None else self.root


def resolve_label_folder(
    path: str | os.PathLike[str], num_known: int | None = None, what: str = "GOSS"
) -> LabelFolder:
    """Resolve a split directory (uses ``test/``) or a plain folder with ``semantic/``.

    Args:
        path: the folder given by the user.
        num_known: N when there is no split.json (must agree with it when there is).
        what: how error messages call the folder ("ground-truth", ...).
    """
    src = Path(path)
    if not src.is_dir():
        raise GossInputError(f"{src}: {what} folder does not exist")
    root, split_json = src, None
    if os.path.lexists(src / "split.json"):
        root, split_json = src / "test", src / "split.json"
    elif src.name == "test" and os.path.lexists(src.parent / "split.json"):
        split_json = src.parent / "split.json"
    names = None
    if split_json is not None:
        n_split, names = load_split_info(split_json)
        check_manifest(split_json.parent, split_json, n_split)
        if num_known is not None and num_known != n_split:
            raise GossInputError(
                f"{split_json}: split has N={n_split} known classes but --num-known "
                f"{num_known} was given"
            )
        num_known = n_split
    if num_known is None:
        raise GossInputError(
            f"{src}: no split.json found; pass the number of known classes with --num-known N"
        )
    if not 1 <= num_known <= MAX_NUM_KNOWN:
        raise GossInputError(
            f"number of known classes must be in 1..{MAX_NUM_KNOWN}, got {num_known}"
        )
    sem = root / "semantic"
    if not sem.is_dir():
        raise GossInputError(
            f"{root}: expected a {what} folder with semantic/ and groups/ "
            "(or a split directory with split.json and test/)"
        )
    stems = list_stems(sem)
    if not stems:
        raise GossInputError(f"{sem}: {what} folder holds no .png files")
    return LabelFolder(root, split_json, int(num_known), names, stems)


def read_image_list(listing: Path, base: Path, required: bool = True) -> list[tuple[str, Path]]:
    """``[(stem, image path)]`` from an ``images.txt``, in file order.

    Args:
        listing: the images.txt file.
        base: folder that relative image paths are relative to (the split directory).
        required: raise when the file is missing (else return []).
    """
    if not os.path.lexists(listing):
        if required:
            raise GossInputError(f"{listing}: image list not found")
        return []
    out: list[tuple[str, Path]] = []
    text = read_text_file(listing, "image list")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise GossInputError(f"{listing}:{lineno}: expected '<stem> <image path>', got {line!r}")
        p = Path(parts[1])
        out.append((parts[0], p if p.is_absolute() else base / p))
    return out
