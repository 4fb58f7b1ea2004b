"""The per-image GOSS conversion: pure functions on arrays, no I/O.

A *raw* map is the source dataset's own label map, uint8 (H, W):

* COCO-Stuff: stuffthingmaps PNG values (COCO category id - 1), 255 = unlabeled;
* Cityscapes: ``gtFine_labelIds`` label ids 0..33.

:class:`LabelTables` turns a split into 256-entry lookup tables over raw values,
so every per-pixel mapping is one table lookup. The maps are processed as
horizontal runs (:mod:`goss_bench.builder.runs`): lookups and connected
components work on the runs and the outputs are painted from them. Maps with
too many runs for that (noise) take the pixel route: table lookups on the
pixels and :func:`scipy.ndimage.label` once per class present, on the bounding
box of that class only. Both give the same arrays.

Numbering (deterministic, independent of workers):

* clusters: 1..M by class (raw value order = source id order), then by the
  raster (row-major) position of each component's first pixel; 0 = void;
* groups: 1..K in the same order, restricted to unknown classes; 0 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from goss_bench.builder.runs import Runs, run_components, runs_of
from goss_bench.errors import GossInputError
from goss_bench.io import VOID
from goss_bench.splits import Rules, Split


@dataclass(frozen=True)
class LabelTables:
    """Lookup tables over raw values 0..255 for one split.

    Attributes:
        num_known: N.
        train: uint8 (256,) raw -> train id for known classes, 255 for unknown and void
            (training maps: unknown pixels are ignored).
        test: uint8 (256,) raw -> train id for known, N for unknown, 255 for void.
        valid: bool (256,) raw values that may occur (every class of the table).
        unknown: bool (256,) raw values of unknown classes.
        cluster: bool (256,) raw values that form clusters (known or unknown).
        source_id: int32 (256,) raw -> source id (-1 where not a class).
        has_instances: bool (256,) raw values whose instances the source provides.
        status: uint8 (256,) STATUS_OK (valid, not unknown), STATUS_UNKNOWN or
            STATUS_INVALID per raw value; see :func:`scan`.
    """

    num_known: int
    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray
    unknown: np.ndarray
    cluster: np.ndarray
    source_id: np.ndarray
    has_instances: np.ndarray
    status: np.ndarray


STATUS_OK, STATUS_UNKNOWN, STATUS_INVALID = 0, 1, 2


def make_tables(split: Split) -> LabelTables:
    """Build the raw-value lookup tables of ``split`` from the dataset's label table."""
    n = split.num_known
    train = np.full(256, VOID, np.uint8)
    test = np.full(256, VOID, np.uint8)
    valid = np.zeros(256, bool)
    unknown = np.zeros(256, bool)
    source_id = np.full(256, -1, np.int32)
    has_inst = np.zeros(256, bool)
    if split.dataset == "coco":
        from goss_bench.datasets import coco

        raw_of = {c.id: c.png for c in coco.CLASSES}
        for c in coco.CLASSES:
            source_id[c.png] = c.id
            if c.in_coco2017:
                valid[c.png] = True
                has_inst[c.png] = c.kind == "thing"
        valid[coco.UNLABELED_PNG] = True
    else:
        from goss_bench.datasets import cityscapes

        raw_of = {}
        for lab in cityscapes.classes():
            if 0 <= lab.id < 256:
                raw_of[lab.id] = lab.id
                source_id[lab.id] = lab.id
                valid[lab.id] = True
                has_inst[lab.id] = lab.has_instances
    for i, sc in enumerate(split.known):
        train[raw_of[sc.source_id]] = i
        test[raw_of[sc.source_id]] = i
    train_unknown = n if split.rules.train_unknown == "unknown" else VOID
    for sc in split.unknown:
        train[raw_of[sc.source_id]] = train_unknown
        test[raw_of[sc.source_id]] = n
        unknown[raw_of[sc.source_id]] = True
    cluster = test != VOID
    status = np.where(valid, np.where(unknown, STATUS_UNKNOWN, STATUS_OK), STATUS_INVALID)
    return LabelTables(
        n, train, test, valid, unknown, cluster, source_id, has_inst, status.astype(np.uint8)
    )


def scan(raw: np.ndarray, tables: LabelTables) -> int:
    """The largest status of any pixel: STATUS_INVALID if a value is outside the
    table, else STATUS_UNKNOWN if an unknown class is present, else STATUS_OK.

    One lookup and one reduction: about half the cost of :func:`raw_histogram`,
    which images the filters exclude never need.
    """
    return int(np.take(tables.status, raw).max()) if raw.size else STATUS_OK


def scan_histogram(hist: np.ndarray, tables: LabelTables) -> int:
    """:func:`scan` from the map's :func:`raw_histogram` (the largest status of a
    value present); the builder computes the histogram anyway."""
    present = np.asarray(hist)[:256] > 0
    return int(tables.status[present].max()) if present.any() else STATUS_OK


def structure(connectivity: int) -> np.ndarray:
    """ndimage structuring element: 8-connectivity = 3x3 ones, 4 = cross."""
    if connectivity == 8:
        return np.ones((3, 3), bool)
    if connectivity == 4:
        return ndimage.generate_binary_structure(2, 1)
    raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")


def check_values(raw: np.ndarray, tables: LabelTables, hist: np.ndarray, where: str) -> None:
    """Raise GossInputError when ``raw`` holds values outside the dataset's table."""
    bad = np.flatnonzero((hist > 0) & ~tables.valid)
    if bad.size:
        raise GossInputError(
            f"{where}: label value(s) {bad.tolist()[:10]} are not in the dataset's label table"
        )


def raw_histogram(raw: np.ndarray) -> np.ndarray:
    """int64 (256,) pixel count of every raw value (uint8 map)."""
    from PIL import Image

    # Pillow's C histogram is ~2.5x faster than np.bincount on uint8 maps
    return np.asarray(Image.fromarray(np.ascontiguousarray(raw)).histogram(), np.int64)


def connectivity_of(struct: np.ndarray) -> int | None:
    """4 or 8 when ``struct`` is one of :func:`structure`'s elements, else None."""
    for conn in (8, 4):
        if struct.shape == (3, 3) and np.array_equal(struct != 0, structure(conn)):
            return conn
    return None


def components_by_class(
    raw: np.ndarray,
    select: np.ndarray,
    struct: np.ndarray,
    hist: np.ndarray | None = None,
    runs: Runs | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of every selected class, in one labelling.

    Computed on the map's runs (:func:`goss_bench.builder.runs.run_components`;
    ``runs``: those of ``raw`` when already computed) when ``struct`` is a
    4- or 8-connectivity element and the map is not noise-like, else by
    :func:`components_by_class_ndimage`; both number the components the same way.

    Args:
        raw: uint8 (H, W) raw map.
        select: bool (256,) raw values to label (255 excluded); other pixels get 0.
        struct: ndimage structuring element (3x3).
        hist: int64 (256,) pixel count per raw value (:func:`raw_histogram`);
            computed when not given.

    Returns:
        ``(labels, cls)``: labels uint16 (H, W), 1..M for the components numbered by
        raw value, then raster order of the first pixel; 0 for unselected pixels.
        cls int32 (M + 1,): raw value of each component (cls[0] = -1).
        Raises GossInputError when M > 65535.
    """
    if select[VOID]:
        raise ValueError("raw value 255 cannot be labelled (it is the background)")
    conn = connectivity_of(struct)
    if runs is None and conn is not None:
        runs = runs_of(raw)
    if runs is None or conn is None:
        return components_by_class_ndimage(raw, select, struct, hist)
    label, cls = run_components(runs, select, conn)
    _check_regions(cls.size - 1)
    return runs.paint(label.astype(np.uint16)), cls


def _check_regions(total: int) -> None:
    if total > 65535:
        raise GossInputError(f"more than 65535 connected regions in one image ({total})")


def components_by_class_ndimage(
    raw: np.ndarray,
    select: np.ndarray,
    struct: np.ndarray,
    hist: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`components_by_class` on the pixels, for any structuring element.

    Each class present is labelled with one ``ndimage.label`` call on its bounding
    box; the per-class numbers are then shifted by a per-class offset through one
    lookup table.
    """
    if select[VOID]:
        raise ValueError("raw value 255 cannot be labelled (it is the background)")
    if hist is None:
        hist = raw_histogram(raw)
    local = np.zeros(raw.shape, np.uint16)  # component index within its class, 1..n_c
    offset = np.zeros(256, np.int64)  # raw value -> ids before its first component
    cls = [np.array([-1], np.int32)]
    total = 0
    for value in np.flatnonzero((hist > 0) & select):
        mask = raw == value
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        lab = np.zeros((rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]), np.uint16)
        try:
            n = ndimage.label(mask[box], struct, output=lab)
        except RuntimeError:  # more than 65535 components of one class
            n = 65536
        # lab is 0 outside the class and local[box] is 0 inside it: a plain add merges them
        local[box] += lab
        offset[value] = total
        cls.append(np.full(n, value, np.int32))
        total += n
    _check_regions(total)
    labels = np.take(offset.astype(np.uint16), raw)
    labels += local
    return labels, np.concatenate(cls)


@dataclass
class TestMaps:
    """Outputs of :func:`convert_test` for one image.

    Attributes:
        semantic: uint8 (H, W): 0..N-1 known, N unknown, 255 void.
        groups: uint16 (H, W): 0 where semantic != N, 1..K unknown groups.
        clusters: uint16 (H, W): 1..M connected components of every class, 0 void.
        num_groups: K.
        num_clusters: M.
        dropped_pixels: int64 (256,) pixels per raw value made void by min_group_area.
    """

    semantic: np.ndarray
    groups: np.ndarray
    clusters: np.ndarray
    num_groups: int
    num_clusters: int
    dropped_pixels: np.ndarray


def convert_train(raw: np.ndarray, tables: LabelTables, runs: Runs | None = None) -> np.ndarray:
    """Training map, uint8 (H, W): known train ids, 255 for unknown and void pixels.

    ``runs``: the runs of ``raw`` when computed (the map is painted from them).
    """
    if runs is not None:
        return runs.paint(tables.train[runs.values])
    return np.take(tables.train, raw)


def convert_test(
    raw: np.ndarray,
    tables: LabelTables,
    rules: Rules,
    instances: np.ndarray | None = None,
    hist: np.ndarray | None = None,
    runs: Runs | None = None,
) -> TestMaps:
    """Test maps (semantic, groups, clusters) of one image.

    Args:
        raw: uint8 (H, W) raw map (values checked beforehand with check_values).
        tables: the split's lookup tables.
        rules: connectivity, unknown_groups and min_group_area are used.
        instances: int32 (H, W) instance id per pixel (0 = none, ids unique within
            the image) when ``rules.unknown_groups == "instances"``; pixels of
            unknown classes with an instance id form one group per instance, the
            other unknown pixels form connected components of their class.
        hist: the raw map's :func:`raw_histogram` when already computed.
        runs: the raw map's runs (:func:`goss_bench.builder.runs.runs_of`) when
            computed; None computes them (or takes the pixel route for noise).
    """
    struct = structure(rules.connectivity)
    if runs is None:
        runs = runs_of(raw)
    clu_run = None
    if runs is not None:
        clu_run, clu_cls = run_components(runs, tables.cluster, rules.connectivity)
        _check_regions(clu_cls.size - 1)
        clu_run = clu_run.astype(np.uint16)
        clu = runs.paint(clu_run)
        semantic = runs.paint(tables.test[runs.values])
    else:
        clu, clu_cls = components_by_class_ndimage(raw, tables.cluster, struct, hist)
        semantic = np.take(tables.test, raw)
    m = clu_cls.size - 1
    unk_comp = np.zeros(m + 1, bool)
    unk_comp[1:] = tables.unknown[clu_cls[1:]]

    if rules.unknown_groups == "instances":
        if instances is None:
            raise ValueError("unknown_groups='instances' needs an instance map")
        grp, grp_cls = _instance_groups(raw, instances, tables, struct)
    else:
        # groups = the clusters of unknown classes
        grp_of_comp = np.zeros(m + 1, np.uint16)
        grp_of_comp[unk_comp] = np.arange(1, int(unk_comp.sum()) + 1, dtype=np.uint16)
        if runs is not None and clu_run is not None:
            grp = runs.paint(grp_of_comp[clu_run])
        else:
            grp = np.take(grp_of_comp, clu)
        grp_cls = clu_cls[unk_comp]
        grp_cls = np.concatenate([np.array([-1], np.int32), grp_cls])

    dropped = np.zeros(256, np.int64)
    k = grp_cls.size - 1
    if rules.min_group_area > 0 and k:
        area = np.bincount(grp.ravel(), minlength=k + 1)
        drop = np.zeros(k + 1, bool)
        drop[1:] = area[1:] < rules.min_group_area
        if drop.any():
            np.add.at(dropped, grp_cls[drop], area[drop])
            dmask = drop[grp]
            semantic[dmask] = VOID
            keep = ~drop
            keep[0] = False
            renum = np.zeros(k + 1, np.int32)
            renum[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
            grp = renum[grp]
            k = int(keep.sum())
            # clusters: the connectivity labelling of what is left (void pixels
            # belong to no cluster); in "instances" mode a dropped group can split
            # a cluster, so it is recomputed rather than renumbered
            raw_left = raw.copy()
            raw_left[dmask] = VOID
            clu, clu_cls = components_by_class(raw_left, tables.cluster, struct)
            m = clu_cls.size - 1
    if k > 65535:
        raise GossInputError(f"more than 65535 unknown groups in one image ({k})")
    return TestMaps(
        semantic=semantic,
        groups=grp.astype(np.uint16, copy=False),
        clusters=clu,
        num_groups=k,
        num_clusters=m,
        dropped_pixels=dropped,
    )


def _instance_groups(
    raw: np.ndarray, instances: np.ndarray, tables: LabelTables, struct: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Groups from instance ids where available, connected components elsewhere.

    Returns ``(groups int32 (H, W), cls int32 (K + 1,))`` numbered by raw value,
    then raster position of the group's first pixel.
    """
    unk = tables.unknown[raw]
    use_inst = unk & (instances > 0) & tables.has_instances[raw]
    # components of unknown pixels without an instance id, per class; 255 is never
    # an unknown class (COCO: unlabeled; Cityscapes ids stop at 33)
    rest_raw = np.where(unk & ~use_inst, raw, VOID).astype(np.uint8)
    sel = tables.unknown.copy()
    sel[VOID] = False
    comp, comp_cls = components_by_class(rest_raw, sel, struct)
    n_comp = comp_cls.size - 1
    # one key per group: components 1..n_comp, instances n_comp + 1 + rank(instance id)
    key = comp.astype(np.int64)
    inst_ids = np.unique(instances[use_inst])
    if inst_ids.size:
        rank = np.searchsorted(inst_ids, instances[use_inst])
        key[use_inst] = n_comp + 1 + rank
    flat = key.ravel()
    uniq, first = np.unique(flat, return_index=True)
    cls_flat = raw.ravel()[first].astype(np.int32)
    nz = uniq > 0
    uniq, first, cls_flat = uniq[nz], first[nz], cls_flat[nz]
    order = np.lexsort((first, cls_flat))
    renum = np.zeros(int(flat.max()) + 1 if flat.size else 1, np.int32)
    renum[uniq[order]] = np.arange(1, uniq.size + 1, dtype=np.int32)
    groups = renum[key]
    cls = np.concatenate([np.array([-1], np.int32), cls_flat[order]])
    return groups, cls
