"""GOSS split definitions: load, validate, hash and write split files.

A split file (``splits/<dataset>-<name>.json``) is a small human-readable JSON
document that divides the evaluated classes of a source dataset into *known*
and *unknown* classes and records the rules the builder applies::

    {
      "format_version": 1,
      "dataset": "coco",
      "name": "manual-20-60",
      "description": "...",
      "reference": "where the class lists come from",
      "rules": {"train_images": "without-unknown", "test_images": "with-unknown",
                "connectivity": 8, "unknown_groups": "connectivity", "min_group_area": 0},
      "expected_images": {"train": 17293, "test": 4264, "source": "GOSS paper, Table 2"},
      "known":   [{"train_id": 0, "source_id": 1, "name": "person", "kind": "thing"}, ...],
      "unknown": [{"source_id": 2, "name": "bicycle", "kind": "thing"}, ...],
      "void":    []
    }

Known classes are listed in source-id order; their train ids are 0..N-1 in that
order, N is "unknown", 255 is void. Every evaluated class of the dataset (see
:func:`goss_bench.datasets.dataset_classes`) is in exactly one of ``known``,
``unknown`` and the optional ``void`` list.

Official split files live in the repository's top-level ``splits/`` folder; a
split can also be given as a path to any file in this format.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from goss_bench.datasets import DATASETS, SourceClass, dataset_classes
from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic

FORMAT_VERSION = 1
TRAIN_IMAGE_RULES = ("all", "without-unknown")
TRAIN_UNKNOWN_RULES = ("void", "unknown")
TEST_IMAGE_RULES = ("all", "with-unknown")
UNKNOWN_GROUP_MODES = ("connectivity", "instances")
CONNECTIVITIES = (4, 8)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def splits_dir() -> Path:
    """The folder of the official split files.

    They ship inside the package (``goss_bench/split_files/``, package data) so
    that a non-editable install has them; the repository's top-level ``splits/``
    is a link to the same folder.
    """
    return Path(__file__).resolve().parent / "split_files"


@dataclass(frozen=True)
class SplitClass:
    """A class of a split: source id (COCO category id / Cityscapes label id), name, kind."""

    source_id: int
    name: str
    kind: str


@dataclass(frozen=True)
class Rules:
    """How a split is built (defaults in one place; CLI flags override them).

    Attributes:
        train_images: ``"without-unknown"`` keeps only training images with no
            unknown pixel (COCO); ``"all"`` keeps all (Cityscapes).
        train_unknown: what unknown pixels of kept training images become:
            ``"void"`` (255, the paper's benchmark) or ``"unknown"`` (N, to train an
            N+1 model with a supervised unknown class, as the authors' release did).
        test_images: ``"with-unknown"`` keeps only test images with at least one
            unknown pixel (COCO); ``"all"`` keeps all (Cityscapes).
        connectivity: 4 or 8; neighbourhood of the connected components that form
            unknown groups and clusters.
        unknown_groups: ``"connectivity"`` (connected components of each unknown
            class) or ``"instances"`` (instance masks where the source has them,
            connected components elsewhere).
        min_group_area: unknown groups with fewer pixels become void (0 keeps all).
    """

    train_images: str = "without-unknown"
    train_unknown: str = "void"
    test_images: str = "with-unknown"
    connectivity: int = 8
    unknown_groups: str = "connectivity"
    min_group_area: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_images": self.train_images,
            "train_unknown": self.train_unknown,
            "test_images": self.test_images,
            "connectivity": self.connectivity,
            "unknown_groups": self.unknown_groups,
            "min_group_area": self.min_group_area,
        }


@dataclass(frozen=True)
class Split:
    """A validated split definition.

    Attributes:
        dataset: ``"coco"`` or ``"cityscapes"``.
        name: split name, e.g. ``"manual-20-60"``.
        known: known classes in source-id order; index = train id.
        unknown: unknown classes in source-id order.
        void: evaluated classes this split ignores (usually empty).
        rules: build rules.
        expected_images: ``{"train": int, "test": int, "source": str}`` for the
            official splits (the paper's counts), else empty.
        description, reference: free text.
        path: the file it was read from (None when built in memory).
    """

    dataset: str
    name: str
    known: tuple[SplitClass, ...]
    unknown: tuple[SplitClass, ...]
    void: tuple[SplitClass, ...] = ()
    rules: Rules = field(default_factory=Rules)
    expected_images: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    reference: str = ""
    path: Path | None = None

    @property
    def num_known(self) -> int:
        """N: the number of known classes; train id N means unknown."""
        return len(self.known)

    def to_dict(self) -> dict[str, Any]:
        """The split file's JSON content."""
        d: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "dataset": self.dataset,
            "name": self.name,
            "description": self.description,
            "reference": self.reference,
            "rules": self.rules.to_dict(),
            "expected_images": dict(self.expected_images),
            "known": [
                {"train_id": i, "source_id": c.source_id, "name": c.name, "kind": c.kind}
                for i, c in enumerate(self.known)
            ],
            "unknown": [_cls_dict(c) for c in self.unknown],
            "void": [_cls_dict(c) for c in self.void],
        }
        return d

    @property
    def sha256(self) -> str:
        """Hash of the canonical JSON content (independent of whitespace and key order)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def definition_sha256(self) -> str:
        """Hash of what defines the benchmark: dataset, class lists and rules.

        Name, description, reference and expected counts are left out, so a split
        made by ``make-split`` that equals a shipped file class for class and rule
        for rule has the same definition hash. Official names are reserved for
        definitions with the shipped file's hash (:func:`provenance`).
        """
        doc = {
            "dataset": self.dataset,
            "known": [c.source_id for c in self.known],
            "unknown": [c.source_id for c in self.unknown],
            "void": [c.source_id for c in self.void],
            "rules": self.rules.to_dict(),
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def with_rules(self, **overrides: Any) -> Split:
        """A copy with some rules replaced (None values are ignored)."""
        kw = {k: v for k, v in overrides.items() if v is not None}
        if not kw:
            return self
        rules = replace(self.rules, **kw)
        _check_rules(rules.to_dict(), self.path or Path(f"<split {self.name}>"))
        expected = self.expected_images
        if (rules.train_images, rules.test_images) != (
            self.rules.train_images,
            self.rules.test_images,
        ):
            expected = {}  # the paper's counts no longer apply
        return replace(self, rules=rules, expected_images=expected)


def _cls_dict(c: SplitClass) -> dict[str, Any]:
    return {"source_id": c.source_id, "name": c.name, "kind": c.kind}


def default_rules(dataset: str) -> Rules:
    """The paper's rules: COCO filters images by unknown pixels, Cityscapes keeps all."""
    if dataset == "cityscapes":
        return Rules(train_images="all", test_images="all")
    return Rules()


def list_splits(directory: Path | None = None) -> list[tuple[str, str, Path]]:
    """(dataset, name, path) of every split file in ``directory`` (default: splits_dir())."""
    d = directory or splits_dir()
    out = []
    for p in sorted(d.glob("*.json")):
        try:
            head = json.loads(p.read_text(encoding="utf-8"))
            out.append((str(head.get("dataset")), str(head.get("name")), p))
        except (OSError, ValueError):
            continue
    return out


def official_file(dataset: str, name: str) -> Path | None:
    """The shipped split file of ``dataset`` named ``name``, or None."""
    for ds, nm, path in list_splits():
        if ds == dataset and nm == name:
            return path
    return None


@dataclass(frozen=True)
class Provenance:
    """Whether a split is one of the shipped (official) splits.

    Attributes:
        kind: ``"official"`` when the split's definition (classes and rules) has the
            hash of the shipped file of the same name, else ``"custom"``.
        definition_sha256: :attr:`Split.definition_sha256` of the split.
        official_file: file name of the shipped split of that name ("" if none).
        note: why a split named like an official one is custom ("" otherwise).
    """

    kind: str
    definition_sha256: str
    official_file: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "definition_sha256": self.definition_sha256,
                "official_file": self.official_file, "note": self.note}


def provenance(split: Split) -> Provenance:
    """Official or custom, by comparing definition hashes with the shipped file."""
    path = official_file(split.dataset, split.name)
    digest = split.definition_sha256
    if path is None:
        return Provenance("custom", digest)
    ref = load_split(path)
    if ref.definition_sha256 == digest:
        return Provenance("official", digest, path.name)
    note = ("options differ from the official split"
            if _classes_equal(ref, split) else "classes differ from the official split")
    return Provenance("custom", digest, path.name, note)


def _classes_equal(a: Split, b: Split) -> bool:
    return (a.known, a.unknown, a.void) == (b.known, b.unknown, b.void)


def check_not_impersonating(split: Split) -> None:
    """Raise GossInputError when ``split`` carries an official name with other classes
    or rules than the shipped file of that name."""
    path = official_file(split.dataset, split.name)
    if path is None or path.resolve() == (split.path.resolve() if split.path else None):
        return
    ref = load_split(path)
    if ref.definition_sha256 != split.definition_sha256:
        where = split.path or f"<split {split.name}>"
        raise GossInputError(
            f"{where}: the name {split.name!r} is reserved for the official {split.dataset} split "
            f"({path.name}, definition sha256 {ref.definition_sha256[:12]}), and this definition "
            f"differs (sha256 {split.definition_sha256[:12]}, "
            f"{'rules' if _classes_equal(ref, split) else 'classes'} differ); give it another name"
        )


def _is_plain_name(s: str) -> bool:
    return not s.endswith(".json") and "/" not in s and "\\" not in s


def find_split_file(split: str | Path, dataset: str | None = None) -> Path:
    """Resolve a split name (``manual-20-60``) or a path to a split file.

    An official name always means the shipped file, even when a file of that
    name exists in the current folder (it cannot shadow it).
    """
    s = str(split)
    p = Path(s)
    official = isinstance(split, str) and _is_plain_name(s) and any(
        name == s and dataset in (None, ds) for ds, name, _ in list_splits()
    )
    if not official and (s.endswith(".json") or p.is_file()):
        if not p.is_file():
            raise GossInputError(f"{p}: split file not found")
        return p
    d = splits_dir()
    if dataset is not None:
        cand = d / f"{dataset}-{s}.json"
        if cand.is_file():
            return cand
    matches = [path for ds, name, path in list_splits(d) if name == s and dataset in (None, ds)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{ds}/{name}" for ds, name, _ in list_splits(d)) or "none"
    if len(matches) > 1:
        raise GossInputError(f"split {s!r} is ambiguous; pass --dataset (official splits: {known})")
    where = f" for dataset {dataset!r}" if dataset else ""
    raise GossInputError(
        f"no split named {s!r}{where} in {d} (official splits: {known}); "
        "pass a split name or the path of a split .json file"
    )


def load_split(split: str | Path, dataset: str | None = None) -> Split:
    """Load and validate a split by name (looked up in ``splits/``) or by path.

    Raises GossInputError naming the file for any problem.
    """
    path = find_split_file(split, dataset)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GossInputError(f"{path}: cannot read split file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise GossInputError(f"{path}: split file is not valid JSON ({exc})") from None
    sp = split_from_dict(data, path)
    if dataset is not None and sp.dataset != dataset:
        raise GossInputError(f"{path}: split is for dataset {sp.dataset!r}, not {dataset!r}")
    check_not_impersonating(sp)
    return sp


def split_from_dict(data: Any, path: Path | None = None) -> Split:
    """Validate a split file's parsed JSON content and return the :class:`Split`."""
    where = str(path) if path is not None else "<split>"
    if not isinstance(data, dict):
        raise GossInputError(f"{where}: a split file must hold a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        raise GossInputError(
            f"{where}: unsupported format_version {data.get('format_version')!r} "
            f"(expected {FORMAT_VERSION})"
        )
    dataset = data.get("dataset")
    if dataset not in DATASETS:
        raise GossInputError(f"{where}: 'dataset' must be one of {', '.join(DATASETS)}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise GossInputError(f"{where}: 'name' must be a non-empty name (letters, digits, - _ .)")
    table = {c.source_id: c for c in dataset_classes(dataset)}
    known = _parse_classes(data.get("known"), "known", table, where, with_train_id=True)
    unknown = _parse_classes(data.get("unknown"), "unknown", table, where)
    void = _parse_classes(data.get("void", []), "void", table, where)
    if not known:
        raise GossInputError(f"{where}: 'known' must list at least one class")
    if not unknown:
        raise GossInputError(f"{where}: 'unknown' must list at least one class")
    if len(known) > 254:
        raise GossInputError(f"{where}: at most 254 known classes fit in an 8-bit map")
    seen: dict[int, str] = {}
    for part, lst in (("known", known), ("unknown", unknown), ("void", void)):
        for c in lst:
            if c.source_id in seen:
                raise GossInputError(
                    f"{where}: class {c.source_id} ({c.name}) is listed in both "
                    f"'{seen[c.source_id]}' and '{part}'"
                )
            seen[c.source_id] = part
    missing = [c for c in table.values() if c.evaluable and c.source_id not in seen]
    if missing:
        names = ", ".join(f"{c.source_id} {c.name}" for c in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        raise GossInputError(
            f"{where}: every evaluated {dataset} class must be known, unknown or void; "
            f"missing: {names}{more}"
        )
    rules_d = data.get("rules", {})
    if not isinstance(rules_d, dict):
        raise GossInputError(f"{where}: 'rules' must be an object")
    base = default_rules(dataset).to_dict()
    unknown_keys = set(rules_d) - set(base)
    if unknown_keys:
        raise GossInputError(
            f"{where}: unknown rule(s) {sorted(unknown_keys)}; known: {sorted(base)}"
        )
    base.update(rules_d)
    _check_rules(base, where)
    expected = data.get("expected_images", {})
    if not isinstance(expected, dict) or any(
        k in ("train", "test") and not (isinstance(v, int) and v >= 0) for k, v in expected.items()
    ):
        raise GossInputError(f"{where}: 'expected_images' must map train/test to image counts")
    return Split(
        dataset=dataset,
        name=name,
        known=tuple(known),
        unknown=tuple(unknown),
        void=tuple(void),
        rules=Rules(**base),
        expected_images=dict(expected),
        description=str(data.get("description", "")),
        reference=str(data.get("reference", "")),
        path=path,
    )


def _parse_classes(
    items: Any,
    part: str,
    table: dict[int, SourceClass],
    where: str,
    *,
    with_train_id: bool = False,
) -> list[SplitClass]:
    if not isinstance(items, list):
        raise GossInputError(f"{where}: '{part}' must be a list of classes")
    out: list[SplitClass] = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("source_id"), int):
            raise GossInputError(
                f"{where}: {part}[{i}] must be an object with an integer 'source_id'"
            )
        sid = it["source_id"]
        ref = table.get(sid)
        if ref is None:
            raise GossInputError(
                f"{where}: {part}[{i}]: source_id {sid} is not a class of the dataset"
            )
        if not ref.evaluable:
            raise GossInputError(
                f"{where}: {part}[{i}]: class {sid} ({ref.name}) is not evaluated in this dataset"
            )
        if "name" in it and it["name"] != ref.name:
            raise GossInputError(
                f"{where}: {part}[{i}]: source_id {sid} is {ref.name!r}, not {it['name']!r}"
            )
        if "kind" in it and it["kind"] != ref.kind:
            raise GossInputError(
                f"{where}: {part}[{i}]: {ref.name} is a {ref.kind}, not {it['kind']!r}"
            )
        if with_train_id and "train_id" in it and it["train_id"] != i:
            raise GossInputError(
                f"{where}: {part}[{i}]: train_id must be {i} (train ids follow the list order)"
            )
        out.append(SplitClass(sid, ref.name, ref.kind))
    ids = [c.source_id for c in out]
    if ids != sorted(ids):
        raise GossInputError(f"{where}: '{part}' classes must be listed in source_id order")
    return out


def _check_rules(r: dict[str, Any], where: object) -> None:
    if r["train_images"] not in TRAIN_IMAGE_RULES:
        raise GossInputError(f"{where}: rules.train_images must be one of {TRAIN_IMAGE_RULES}")
    if r["train_unknown"] not in TRAIN_UNKNOWN_RULES:
        raise GossInputError(f"{where}: rules.train_unknown must be one of {TRAIN_UNKNOWN_RULES}")
    if r["test_images"] not in TEST_IMAGE_RULES:
        raise GossInputError(f"{where}: rules.test_images must be one of {TEST_IMAGE_RULES}")
    if r["connectivity"] not in CONNECTIVITIES:
        raise GossInputError(f"{where}: rules.connectivity must be 4 or 8")
    if r["unknown_groups"] not in UNKNOWN_GROUP_MODES:
        raise GossInputError(f"{where}: rules.unknown_groups must be one of {UNKNOWN_GROUP_MODES}")
    mga = r["min_group_area"]
    if not isinstance(mga, int) or isinstance(mga, bool) or mga < 0:
        raise GossInputError(f"{where}: rules.min_group_area must be an integer >= 0")


def make_split(
    dataset: str,
    name: str,
    known_ids: list[int] | tuple[int, ...],
    *,
    void_ids: list[int] | tuple[int, ...] = (),
    rules: Rules | None = None,
    description: str = "",
    reference: str = "",
    expected_images: dict[str, Any] | None = None,
) -> Split:
    """A validated split in which every other evaluated class is unknown."""
    table = dataset_classes(dataset)
    known_set, void_set = set(known_ids), set(void_ids)
    ev = {c.source_id for c in table if c.evaluable}
    bad = sorted((known_set | void_set) - ev)
    if bad:
        raise GossInputError(f"class id(s) {bad} are not evaluated classes of {dataset}")
    data = {
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "name": name,
        "description": description,
        "reference": reference,
        "rules": (rules or default_rules(dataset)).to_dict(),
        "expected_images": expected_images or {},
        "known": [_src(c) for c in table if c.source_id in known_set],
        "unknown": [
            _src(c)
            for c in table
            if c.evaluable and c.source_id not in known_set and c.source_id not in void_set
        ],
        "void": [_src(c) for c in table if c.source_id in void_set],
    }
    return split_from_dict(data, Path(f"<new split {name}>"))


def _src(c: SourceClass) -> dict[str, Any]:
    return {"source_id": c.source_id, "name": c.name, "kind": c.kind}


def split_to_json(split: Split) -> str:
    """The split file text: one class per line, stable formatting."""
    d = split.to_dict()
    lines = ["{"]
    scalar_keys = ["format_version", "dataset", "name", "description", "reference"]
    for k in scalar_keys:
        lines.append(f"  {json.dumps(k)}: {json.dumps(d[k], ensure_ascii=False)},")
    lines.append(f'  "rules": {json.dumps(d["rules"])},')
    lines.append(f'  "expected_images": {json.dumps(d["expected_images"], ensure_ascii=False)},')
    for i, k in enumerate(("known", "unknown", "void")):
        items = d[k]
        end = "," if i < 2 else ""
        if not items:
            lines.append(f'  "{k}": []{end}')
            continue
        lines.append(f'  "{k}": [')
        lines += [f"    {json.dumps(c, ensure_ascii=False)}," for c in items[:-1]]
        lines.append(f"    {json.dumps(items[-1], ensure_ascii=False)}")
        lines.append(f"  ]{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_split(split: Split, path: str | Path) -> Path:
    """Atomically write ``split`` as a split file; returns the path."""
    p = Path(path)
    write_text_atomic(p, split_to_json(split))
    return p
