"""Choosing the known classes of a new split (the paper's Manual and Random rules)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from goss_bench.datasets import SourceClass, dataset_classes
from goss_bench.errors import GossInputError


def _things(dataset: str) -> list[SourceClass]:
    return [c for c in dataset_classes(dataset) if c.evaluable and c.kind == "thing"]


def _stuff(dataset: str) -> list[SourceClass]:
    return [c for c in dataset_classes(dataset) if c.evaluable and c.kind == "stuff"]


def manual_things(dataset: str, image_counts: dict[int, int], k: int) -> list[int]:
    """The paper's Manual rule: ``k`` known things, one or two per supercategory.

    Per supercategory the things are ranked by the number of images containing
    them (ties: lower source id first). The most frequent thing of every
    supercategory is taken; the remaining ``k - S`` slots (S = number of
    supercategories) go to the most frequent second-ranked things.

    Returns:
        the chosen thing source ids, sorted.
    """
    groups: dict[str, list[SourceClass]] = defaultdict(list)
    for c in _things(dataset):
        if c.source_id not in image_counts:
            raise GossInputError(f"the stats have no image count for thing {c.source_id} ({c.name})")
        groups[c.supercategory].append(c)
    ranked = {
        sc: sorted(cs, key=lambda c: (-image_counts[c.source_id], c.source_id))
        for sc, cs in groups.items()
    }
    s = len(ranked)
    seconds = sum(len(v) >= 2 for v in ranked.values())
    if not s <= k <= s + seconds:
        raise GossInputError(
            f"--manual-things must be between {s} (one per supercategory) and {s + seconds} "
            f"(two per supercategory) for {dataset}, got {k}"
        )
    chosen = [v[0].source_id for v in ranked.values()]
    second = sorted(
        (v[1] for v in ranked.values() if len(v) >= 2),
        key=lambda c: (-image_counts[c.source_id], c.source_id),
    )
    chosen += [c.source_id for c in second[: k - s]]
    return sorted(chosen)


def random_classes(dataset: str, known_things: int, known_stuff: int, seed: int) -> list[int]:
    """``known_things`` things and ``known_stuff`` stuff classes drawn without replacement.

    Uses ``numpy.random.default_rng(seed).choice`` on the classes in source-id
    order (things first, then stuff), so a seed always gives the same split.
    """
    things, stuff = _things(dataset), _stuff(dataset)
    if not 0 <= known_things <= len(things):
        raise GossInputError(f"--known-things must be 0..{len(things)} for {dataset}")
    if not 0 <= known_stuff <= len(stuff):
        raise GossInputError(f"--known-stuff must be 0..{len(stuff)} for {dataset}")
    rng = np.random.default_rng(seed)
    t = rng.choice(len(things), known_things, replace=False)
    st = rng.choice(len(stuff), known_stuff, replace=False)
    return sorted([things[i].source_id for i in t] + [stuff[i].source_id for i in st])


def resolve_classes(dataset: str, names_or_ids: list[str]) -> list[int]:
    """Source ids of classes given by id or name (comma-separated items allowed)."""
    table = {c.name: c for c in dataset_classes(dataset)}
    ids = {c.source_id for c in dataset_classes(dataset)}
    out = []
    for token in names_or_ids:
        for part in (p.strip() for p in token.split(",")):
            if not part:
                continue
            if part.lstrip("-").isdigit():
                if int(part) not in ids:
                    raise GossInputError(f"{part} is not a {dataset} class id")
                out.append(int(part))
            elif part in table:
                out.append(table[part].source_id)
            else:
                raise GossInputError(f"{part!r} is not a {dataset} class name or id")
    return sorted(set(out))


def stuff_ids(dataset: str) -> list[int]:
    """All evaluated stuff classes (known in the paper's Manual and VOC splits)."""
    return [c.source_id for c in _stuff(dataset)]
