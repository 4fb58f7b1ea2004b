"""GOSS label folders (FORMAT.md): split.json / manifest.json schema and their
consistency with the maps.

* :func:`check_split_info` -- ``split.json``: ``num_known`` an integer in
  1..254; ``known`` (when present) lists exactly N classes with train ids
  0..N-1 (a split.json whose N was edited without its class list is refused).
* :func:`check_manifest` -- ``manifest.json`` of a built split directory agrees
  with its ``split.json`` (dataset, split name, N).
* :func:`check_subfolders` -- optional sub-folders (``groups``, ``scores``,
  ``clusters``) are folders when they exist (``pred/scores`` being a file is an
  error, not a silently missing OSS row).
* :func:`check_not_prediction` -- a ground-truth folder holding ``scores/`` is
  a prediction folder given as GT.
* :func:`check_gt_groups` -- GT group ids are non-zero only on unknown pixels
  (semantic value N).  This also catches an N that disagrees with the maps:
  with N = 6 on maps that use 5 as unknown, the group ids lie on value 5.
* :func:`check_groups_match_n` -- for folders that may be predictions (group
  ids anywhere): group ids but no unknown pixel, all on one other class value,
  means N is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.validate.files import load_json_file, require_regular_file
from goss_bench.validate.manifest import read_header

MAX_NUM_KNOWN = 254
"""N must leave room for N (unknown) and 255 (void) in a uint8 semantic map."""
VOID = 255


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def check_split_info(data: Any, path: Path) -> tuple[int, list[str] | None]:
    """Validate a parsed split.json; return N and the known names in train-id order."""
    if not isinstance(data, dict):
        raise GossInputError(f"{path}: a split file must hold a JSON object")
    n = data.get("num_known")
    if not _is_int(n) or not 1 <= n <= MAX_NUM_KNOWN:
        raise GossInputError(
            f"{path}: expected an integer 'num_known' in 1..{MAX_NUM_KNOWN}, got {n!r}"
        )
    known = data.get("known")
    if known is None:
        return n, None
    if not isinstance(known, list) or not all(isinstance(c, dict) for c in known):
        raise GossInputError(f"{path}: 'known' must be a list of class objects")
    if len(known) != n:
        raise GossInputError(
            f"{path}: num_known is {n} but 'known' lists {len(known)} classes; "
            "the two must agree (N is the unknown value in the maps)"
        )
    if all("train_id" in c for c in known):
        ids = [c["train_id"] for c in known]
        if not all(_is_int(i) for i in ids) or sorted(ids) != list(range(n)):
            raise GossInputError(
                f"{path}: the train_id values of 'known' must be 0..{n - 1}, each once"
            )
        known = sorted(known, key=lambda c: c["train_id"])
    if not all(isinstance(c.get("name"), str) for c in known):
        return n, None
    return n, [c["name"] for c in known]


def load_split_info(split_json: Path) -> tuple[int, list[str] | None]:
    """Read and validate a split.json (N and the known class names)."""
    return check_split_info(load_json_file(split_json, "split file"), split_json)


def check_manifest(split_dir: Path, split_json: Path, num_known: int) -> None:
    """A built split directory's manifest.json must agree with its split.json."""
    p = split_dir / "manifest.json"
    if not p.exists():
        return
    require_regular_file(p, "build manifest")
    try:
        doc, _ = read_header(p)  # the first line only: no per-image records
    except (OSError, ValueError) as exc:
        raise GossInputError(f"{p}: unreadable build manifest ({exc})") from None
    split = load_json_file(split_json, "split file")
    if not isinstance(doc, dict):
        raise GossInputError(f"{p}: a build manifest must hold a JSON object")
    for key, skey in (("dataset", "dataset"), ("split", "name")):
        if key in doc and skey in split and doc[key] != split[skey]:
            raise GossInputError(
                f"{p}: manifest is for {key} {doc[key]!r} but {split_json} says {split[skey]!r}"
            )
    classes = doc.get("classes")
    test = classes.get("test") if isinstance(classes, dict) else None
    if isinstance(test, list) and test:
        ids = [c.get("train_id") for c in test if isinstance(c, dict)]
        top = max((i for i in ids if _is_int(i)), default=None)
        if len(ids) != len(test) or not all(_is_int(i) for i in ids) or top != num_known:
            raise GossInputError(
                f"{p}: manifest's test classes use train ids up to {top!r} "
                f"but {split_json} has N = {num_known} (unknown = {num_known})"
            )


def check_subfolders(root: Path, names: tuple[str, ...], what: str) -> None:
    """Each ``root/<name>`` that exists must be a folder."""
    for name in names:
        p = root / name
        if p.exists() and not p.is_dir():
            raise GossInputError(f"{p}: expected a {name}/ folder in the {what} folder, found a file")


def check_not_prediction(root: Path) -> None:
    """Ground truth never holds scores/: such a folder is a prediction given as GT."""
    if (root / "scores").exists():
        raise GossInputError(
            f"{root}: this looks like a prediction folder (it has scores/), not ground truth; "
            "give the GT split directory (split.json + test/) as GT"
        )


def check_gt_groups(sem: np.ndarray, grp: np.ndarray, num_known: int, path: Path) -> None:
    """GT group ids must be 0 wherever the semantic value is not N (FORMAT.md).

    Args:
        sem: uint8 (H, W) GT semantic map.  grp: (H, W) GT group map, same shape.
        num_known: N.  path: the group map, for the message.
    """
    # fast path (one pass per map): no group id off the unknown pixels
    off = sem != num_known
    off &= grp != 0
    if not np.count_nonzero(off):
        return
    # values above N other than void are reported by the value check of the scorer
    outside = (grp != 0) & ((sem < num_known) | (sem == VOID))
    if not np.count_nonzero(outside):
        return
    values = np.unique(sem[outside])
    shown = ", ".join(str(int(v)) for v in values[:8])
    hint = ""
    if values.size == 1 and int(values[0]) < num_known:
        hint = (
            f"; all of them lie on value {int(values[0])}, so the maps probably use "
            f"{int(values[0])} as unknown: is N = {num_known} right (split.json / --num-known)?"
        )
    else:
        hint = " (is this a prediction folder given as ground truth?)"
    raise GossInputError(
        f"{path}: ground-truth group ids must be 0 except on unknown pixels (value {num_known}), "
        f"found {int(outside.sum())} pixels with a group id on value(s) {shown}{hint}"
    )


def check_groups_match_n(sem: np.ndarray, grp: np.ndarray, num_known: int, path: Path) -> None:
    """For an image with no unknown pixel: group ids all on one class value v < N mean N is wrong."""
    nz = grp != 0
    if not nz.any() or (sem == num_known).any():
        return
    values = np.unique(sem[nz])
    if values.size == 1 and int(values[0]) < num_known:
        v = int(values[0])
        raise GossInputError(
            f"{path}: the image has no unknown pixel (value {num_known}) but group ids, all on "
            f"pixels of value {v}: the maps probably use {v} as unknown; "
            f"is N = {num_known} right (split.json / --num-known)?"
        )
