"""The per-image conversion against a slow, independent reference (flood fill in Python)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from goss_bench.builder import core
from goss_bench.splits import Rules, load_split, make_split

N8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
N4 = [(-1, 0), (0, -1), (0, 1), (1, 0)]


def flood_components(key: np.ndarray, active: np.ndarray, conn: int) -> list[list[tuple[int, int]]]:
    """Components of equal ``key`` among ``active`` pixels, in raster order of first pixel."""
    h, w = key.shape
    seen = np.zeros((h, w), bool)
    comps = []
    nb = N8 if conn == 8 else N4
    for y in range(h):
        for x in range(w):
            if not active[y, x] or seen[y, x]:
                continue
            comp, q = [], deque([(y, x)])
            seen[y, x] = True
            while q:
                cy, cx = q.popleft()
                comp.append((cy, cx))
                for dy, dx in nb:
                    ny, nx = cy + dy, cx + dx
                    if (0 <= ny < h and 0 <= nx < w and active[ny, nx] and not seen[ny, nx]
                            and key[ny, nx] == key[y, x]):
                        seen[ny, nx] = True
                        q.append((ny, nx))
            comps.append(comp)
    return comps


def reference_test_maps(raw, split, conn=8, min_area=0, instances=None):
    """Slow reference: semantic/groups/clusters from the split's class lists directly."""
    dataset = split.dataset
    to_raw = (lambda sid: sid - 1) if dataset == "coco" else (lambda sid: sid)
    known = {to_raw(c.source_id): i for i, c in enumerate(split.known)}
    unknown = {to_raw(c.source_id) for c in split.unknown}
    n = split.num_known
    h, w = raw.shape
    sem = np.full((h, w), 255, np.uint8)
    for y in range(h):
        for x in range(w):
            v = int(raw[y, x])
            if v in known:
                sem[y, x] = known[v]
            elif v in unknown:
                sem[y, x] = n
    unk = sem == n
    # group keys: class, plus instance id where instances are used
    key = raw.astype(np.int64)
    if instances is not None:
        key = np.where(unk & (instances > 0), 1000 + instances.astype(np.int64) * 1000, key)
    groups_px = []
    if instances is None:
        groups_px = flood_components(key, unk, conn)
    else:
        inst_ids = sorted(set(instances[unk & (instances > 0)].tolist()))
        for i in inst_ids:
            ys, xs = np.nonzero(unk & (instances == i))
            groups_px.append(list(zip(ys.tolist(), xs.tolist(), strict=True)))
        groups_px += flood_components(key, unk & (instances == 0), conn)
    # order: class (raw value), then raster position of the first pixel
    groups_px = [sorted(g) for g in groups_px]
    groups_px.sort(key=lambda g: (int(raw[g[0]]), g[0]))
    dropped = [g for g in groups_px if len(g) < min_area]
    kept = [g for g in groups_px if len(g) >= min_area]
    for g in dropped:
        for p in g:
            sem[p] = 255
    grp = np.zeros((h, w), np.uint16)
    for i, g in enumerate(kept, 1):
        for p in g:
            grp[p] = i
    clusters_px = flood_components(raw.astype(np.int64), sem != 255, conn)
    clusters_px = [sorted(c) for c in clusters_px]
    clusters_px.sort(key=lambda c: (int(raw[c[0]]), c[0]))
    clu = np.zeros((h, w), np.uint16)
    for i, c in enumerate(clusters_px, 1):
        for p in c:
            clu[p] = i
    return sem, grp, clu


def _random_raw(rng, values, shape=(24, 28), cell=3):
    coarse = rng.choice(values, size=(shape[0] // cell + 1, shape[1] // cell + 1))
    raw = np.kron(coarse, np.ones((cell, cell), int))[: shape[0], : shape[1]]
    noise = rng.random(shape) < 0.08
    raw[noise] = rng.choice(values, size=int(noise.sum()))
    return raw.astype(np.uint8)


@pytest.mark.parametrize("conn", [8, 4])
@pytest.mark.parametrize("min_area", [0, 3])
def test_coco_test_maps_match_reference(conn, min_area):
    split = load_split("manual-20-60", "coco")
    tables = core.make_tables(split)
    rng = np.random.default_rng(conn * 10 + min_area)
    # person(0) known, bicycle(1) unknown, motorcycle(3) unknown, grass(123) known, 255 void
    values = np.array([0, 1, 3, 123, 255, 1])
    for _ in range(6):
        raw = _random_raw(rng, values)
        got = core.convert_test(raw, tables, Rules(connectivity=conn, min_group_area=min_area))
        sem, grp, clu = reference_test_maps(raw, split, conn, min_area)
        np.testing.assert_array_equal(got.semantic, sem)
        np.testing.assert_array_equal(got.groups, grp)
        np.testing.assert_array_equal(got.clusters, clu)
        assert got.groups.dtype == np.uint16 and got.clusters.dtype == np.uint16
        assert got.num_groups == grp.max() and got.num_clusters == clu.max()


def test_touching_objects_of_one_class_form_one_group_classes_never_share():
    split = load_split("manual-20-60", "coco")
    tables = core.make_tables(split)
    raw = np.full((6, 9), 122, np.uint8)  # furniture-other (known stuff)
    raw[1:3, 1:3] = 1  # bicycle
    raw[3:5, 3:5] = 1  # bicycle touching diagonally -> one group with 8-connectivity
    raw[1:3, 3:5] = 3  # motorcycle touching the bicycles -> its own group
    g8 = core.convert_test(raw, tables, Rules(connectivity=8))
    assert g8.num_groups == 2
    assert len(set(g8.groups[raw == 1].tolist())) == 1
    assert set(g8.groups[raw == 3].tolist()).isdisjoint(g8.groups[raw == 1].tolist())
    g4 = core.convert_test(raw, tables, Rules(connectivity=4))
    assert g4.num_groups == 3  # diagonal contact does not connect with 4-connectivity
    assert (g8.semantic[raw == 1] == 111).all() and (g8.groups[raw == 122] == 0).all()


def test_instances_split_touching_objects():
    split = load_split("manual-20-60", "coco")
    tables = core.make_tables(split)
    rng = np.random.default_rng(5)
    for _ in range(5):
        raw = _random_raw(rng, np.array([0, 1, 123, 99, 255]))  # 99 = cardboard (known stuff)
        inst = np.zeros(raw.shape, np.int32)
        # two instances of class 1 (bicycle), some bicycle pixels without an instance
        ys, xs = np.nonzero(raw == 1)
        inst[ys, xs] = np.where(xs < raw.shape[1] // 2, 5, 9)
        inst[(raw == 1) & (np.arange(raw.shape[0])[:, None] < 3)] = 0
        got = core.convert_test(raw, tables, Rules(unknown_groups="instances"), inst)
        sem, grp, clu = reference_test_maps(raw, split, 8, 0, inst)
        np.testing.assert_array_equal(got.semantic, sem)
        np.testing.assert_array_equal(got.groups, grp)
        np.testing.assert_array_equal(got.clusters, clu)


def test_train_map_and_values():
    split = load_split("manual-20-60", "coco")
    t = core.make_tables(split)
    raw = np.array([[0, 1, 2, 255], [91, 181, 122, 12]], np.uint8)
    # person=0, bicycle unknown->255, car=1, void, banner(92)=20, wood(182)=110,
    # furniture-other(123)=20+31, street sign(12, not in COCO 2017)->255
    np.testing.assert_array_equal(
        core.convert_train(raw, t), [[0, 255, 1, 255], [20, 110, 51, 255]]
    )
    hist = core.raw_histogram(raw)
    assert hist.sum() == raw.size and hist[255] == 1
    from goss_bench.errors import GossInputError

    bad = raw.copy()
    bad[0, 0] = 11  # id 12 "street sign": never annotated in COCO 2017
    with pytest.raises(GossInputError, match=r"\[11\]"):
        core.check_values(bad, t, core.raw_histogram(bad), "x.png")
    bad[0, 0] = 200
    with pytest.raises(GossInputError, match="x.png"):
        core.check_values(bad, t, core.raw_histogram(bad), "x.png")


def test_cityscapes_tables():
    from cityscapesscripts.helpers.labels import labels

    split = load_split("manual-16-3", "cityscapes")
    t = core.make_tables(split)
    known = [lab for lab in labels if not lab.ignoreInEval and lab.name not in ("car", "truck", "bus")]
    known.sort(key=lambda lab: lab.id)
    for lab in labels:
        if lab.id < 0:
            continue
        if lab.ignoreInEval:
            assert t.test[lab.id] == 255 and t.train[lab.id] == 255
        elif lab.name in ("car", "truck", "bus"):
            assert t.test[lab.id] == 16 and t.train[lab.id] == 255
        else:
            assert t.test[lab.id] == known.index(lab) == t.train[lab.id]
    assert t.valid[:34].all() and not t.valid[34:].any()


def test_custom_split_with_void_class():
    split = make_split("cityscapes", "v", [7, 8, 11, 23], void_ids=[24])
    t = core.make_tables(split)
    raw = np.array([[7, 24, 26, 26]], np.uint8)
    m = core.convert_test(raw, t, Rules(train_images="all", test_images="all"))
    np.testing.assert_array_equal(m.semantic, [[0, 255, 4, 4]])
    np.testing.assert_array_equal(m.groups, [[0, 0, 1, 1]])
    np.testing.assert_array_equal(m.clusters, [[1, 0, 2, 2]])


def test_scan_status():
    split = load_split("manual-20-60", "coco")
    t = core.make_tables(split)
    ok = np.array([[0, 2, 255], [91, 181, 122]], np.uint8)  # person, car, void, stuff
    assert core.scan(ok, t) == core.STATUS_OK
    unk = ok.copy()
    unk[0, 0] = 1  # bicycle: unknown in manual-20-60
    assert core.scan(unk, t) == core.STATUS_UNKNOWN
    for bad in (11, 182, 254):  # street sign (not in COCO 2017), beyond the table
        b = unk.copy()
        b[1, 1] = bad
        assert core.scan(b, t) == core.STATUS_INVALID
    # the statuses agree with the class lists
    unknown_png = {c.source_id - 1 for c in split.unknown}
    for v in range(256):
        expect = (core.STATUS_INVALID if not t.valid[v]
                  else core.STATUS_UNKNOWN if v in unknown_png else core.STATUS_OK)
        assert core.scan(np.array([[v]], np.uint8), t) == expect
