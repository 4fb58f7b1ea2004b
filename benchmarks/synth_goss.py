"""Synthetic GOSS data with realistic label-map statistics (for benchmarks).

A *scene* is a warped power diagram of "stuff" regions (known classes, a few
void regions) with "objects" (warped ellipses) on top: known thing classes or
unknown objects, one group per unknown object.  Boundaries are wiggly at
full resolution (smooth domain warping at two scales), so the PNGs compress
like real annotations rather than like synthetic blocks.

The prediction is the same scene rendered with an extra small warp (boundaries
shift by a few pixels) plus typical mistakes: swapped classes, missed and
hallucinated objects, unknown predicted as known and vice versa, split
groups, arbitrary group ids (0 included) and a little "no prediction" (255).

Written in the FORMAT.md layout: ``gt/split.json``, ``gt/test/semantic``,
``gt/test/groups``; ``pred/semantic``, ``pred/groups``.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from goss_bench.io import encode_label_png, write_bytes_atomic, write_label_png

VOID = 255


@dataclass(frozen=True)
class SynthConfig:
    """One synthetic dataset.

    name: folder name; num_images, height, width: size; num_known: N.
    regions: stuff regions per image; objects: objects per image (min, max);
    unknown_p: probability that an object is unknown; warp: boundary wiggle (px).
    """

    name: str
    num_images: int
    height: int
    width: int
    num_known: int
    regions: tuple[int, int]
    objects: tuple[int, int]
    unknown_p: float
    classes_per_image: tuple[int, int]
    warp: float
    void_region_p: float
    bottom_void: float = 0.0  # Cityscapes' ego vehicle: void band at the bottom (fraction of H)
    seed: int = 0
    extras: bool = False  # also write pred/scores, pred/clusters and gt/test/clusters
    # GT maps written as `goss-bench build-split` writes them ("builder":
    # goss_bench.io.encode_label_png) or with Pillow ("pillow"); predictions are
    # always written with Pillow's adaptive filters, as most users' tools do
    gt_writer: str = "builder"


COCO_LIKE = SynthConfig(
    name="coco_like",
    num_images=500,
    height=480,
    width=640,
    num_known=111,
    regions=(6, 16),
    objects=(6, 30),
    unknown_p=0.4,
    classes_per_image=(3, 9),
    warp=10.0,
    void_region_p=0.04,
)

CITYSCAPES_LIKE = SynthConfig(
    name="cityscapes_like",
    num_images=100,
    height=1024,
    width=2048,
    num_known=15,
    regions=(8, 16),
    objects=(10, 40),
    unknown_p=0.3,
    classes_per_image=(6, 12),
    warp=24.0,
    void_region_p=0.03,
    bottom_void=0.12,
)


def _bspline_matrix(n_out: int, n_coarse: int, cell: int) -> np.ndarray:
    """float32 (n_out, n_coarse): cubic B-spline interpolation of a coarse grid."""
    t = np.arange(n_out, dtype=np.float64) / cell + 1.0  # coarse coordinate, 1 cell margin
    i = np.floor(t).astype(np.int64)
    f = t - i
    w = [
        (1 - f) ** 3 / 6,
        (3 * f**3 - 6 * f**2 + 4) / 6,
        (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6,
        f**3 / 6,
    ]
    m = np.zeros((n_out, n_coarse), dtype=np.float32)
    rows = np.arange(n_out)
    for k, wk in enumerate(w):
        m[rows, np.clip(i - 1 + k, 0, n_coarse - 1)] += wk
    return m


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """float32 (H, W) smooth noise in about [-1, 1] with feature size ``cell`` px."""
    h, w = shape
    gh, gw = h // cell + 4, w // cell + 4
    coarse = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    return _bspline_matrix(h, gh, cell) @ coarse @ _bspline_matrix(w, gw, cell).T * 1.5


def _warp(rng: np.random.Generator, shape: tuple[int, int], amp: float):
    """Displacement fields (dy, dx), float32 (H, W): a large and a small scale."""
    big = max(16, int(min(shape) / 6))
    small = max(4, big // 6)
    dy = amp * _smooth_noise(rng, shape, big) + 0.25 * amp * _smooth_noise(rng, shape, small)
    dx = amp * _smooth_noise(rng, shape, big) + 0.25 * amp * _smooth_noise(rng, shape, small)
    return dy, dx


@dataclass
class _Scene:
    seeds: np.ndarray  # (R, 3): y, x, weight
    region_label: np.ndarray  # (R,) semantic value per stuff region
    objects: np.ndarray  # (O, 4): cy, cx, ry, rx
    object_label: np.ndarray  # (O,) semantic value per object
    object_group: np.ndarray  # (O,) group id (unknown objects)


def _scene(cfg: SynthConfig, rng: np.random.Generator, popularity: np.ndarray) -> _Scene:
    h, w = cfg.height, cfg.width
    n = cfg.num_known
    k = int(rng.integers(*cfg.classes_per_image, endpoint=True))
    classes = rng.choice(n, size=min(k, n), replace=False, p=popularity)
    r = int(rng.integers(*cfg.regions, endpoint=True))
    seeds = np.c_[rng.uniform(0, h, r), rng.uniform(0, w, r), rng.uniform(0, 0.08 * h * w, r)]
    region_label = rng.choice(classes, size=r).astype(np.int64)
    region_label[rng.random(r) < cfg.void_region_p] = VOID
    o = int(rng.integers(*cfg.objects, endpoint=True))
    size = np.exp(rng.uniform(np.log(0.02), np.log(0.25), o)) * min(h, w)
    aspect = np.exp(rng.normal(0, 0.4, o))
    objects = np.c_[rng.uniform(0, h, o), rng.uniform(0, w, o), size * aspect, size / aspect]
    unknown = rng.random(o) < cfg.unknown_p
    unknown[0] = True  # every image has an unknown object
    object_label = np.where(unknown, n, rng.choice(classes, size=o))
    object_group = np.arange(1, o + 1)
    return _Scene(seeds, region_label, objects, object_label, object_group)


def _render(cfg: SynthConfig, scene: _Scene, dy: np.ndarray, dx: np.ndarray):
    """(semantic uint8, groups uint16) of a scene under a displacement field."""
    h, w = cfg.height, cfg.width
    yy = np.arange(h, dtype=np.float32)[:, None] + dy
    xx = np.arange(w, dtype=np.float32)[None, :] + dx
    best = np.full((h, w), np.inf, dtype=np.float32)
    region = np.zeros((h, w), dtype=np.int32)
    for i, (sy, sx, wt) in enumerate(scene.seeds):
        d = (yy - np.float32(sy)) ** 2 + (xx - np.float32(sx)) ** 2 - np.float32(wt)
        closer = d < best
        best[closer] = d[closer]
        region[closer] = i
    sem = scene.region_label[region].astype(np.uint8)
    grp = np.zeros((h, w), dtype=np.uint16)
    # draw larger objects first so small ones stay visible
    order = np.argsort(-(scene.objects[:, 2] * scene.objects[:, 3]))
    for j in order:
        cy, cx, ry, rx = scene.objects[j]
        y0, y1 = max(0, int(cy - 1.5 * ry) - 30), min(h, int(cy + 1.5 * ry) + 30)
        x0, x1 = max(0, int(cx - 1.5 * rx) - 30), min(w, int(cx + 1.5 * rx) + 30)
        if y0 >= y1 or x0 >= x1:
            continue
        ey = (yy[y0:y1, x0:x1] - np.float32(cy)) / np.float32(ry)
        ex = (xx[y0:y1, x0:x1] - np.float32(cx)) / np.float32(rx)
        m = ey * ey + ex * ex <= 1.0
        sem[y0:y1, x0:x1][m] = scene.object_label[j]
        grp[y0:y1, x0:x1][m] = scene.object_group[j]
    return sem, grp


def _void_borders(rng: np.random.Generator, sem: np.ndarray, grp: np.ndarray, p: float) -> None:
    """Set about a fraction ``p`` of the object/region boundary pixels to void (in place)."""
    key = sem.astype(np.int32) * 65536 + grp
    edge = np.zeros(sem.shape, dtype=bool)
    edge[:, 1:] |= key[:, 1:] != key[:, :-1]
    edge[1:, :] |= key[1:, :] != key[:-1, :]
    edge = ndimage.binary_dilation(edge, iterations=1)
    keep = _smooth_noise(rng, sem.shape, 32) > (1 - 2 * p)
    sel = edge & keep
    sem[sel] = VOID
    grp[sel] = 0


def make_pair(cfg: SynthConfig, index: int, popularity: np.ndarray):
    """GT (sem, grp) and prediction (sem, grp) of image ``index``."""
    rng = np.random.default_rng([cfg.seed, index])
    n = cfg.num_known
    scene = _scene(cfg, rng, popularity)
    shape = (cfg.height, cfg.width)
    dy, dx = _warp(rng, shape, cfg.warp)
    gt_sem, gt_grp = _render(cfg, scene, dy, dx)
    _void_borders(rng, gt_sem, gt_grp, 0.35)
    if cfg.bottom_void > 0:
        h = cfg.height
        top = h * (1 - cfg.bottom_void) + 0.3 * cfg.bottom_void * h * _smooth_noise(
            rng, (1, cfg.width), 256
        )
        gt_sem[np.arange(h)[:, None] >= top] = VOID
        gt_grp[gt_sem == VOID] = 0
    gt_grp[gt_sem != n] = 0

    # prediction: perturbed scene, shifted boundaries
    ps = _Scene(
        scene.seeds.copy(),
        scene.region_label.copy(),
        scene.objects.copy(),
        scene.object_label.copy(),
        rng.permutation(60000)[: len(scene.object_group)].astype(np.int64),
    )
    r = len(ps.region_label)
    swap = rng.random(r) < 0.15
    ps.region_label[swap] = rng.integers(0, n, size=int(swap.sum()))
    ps.region_label[ps.region_label == VOID] = rng.integers(0, n)
    o = len(ps.object_label)
    u = ps.object_label == n
    roll = rng.random(o)
    ps.object_label[u & (roll < 0.15)] = rng.integers(0, n)  # unknown -> known
    ps.object_label[~u & (roll < 0.05)] = n  # known -> unknown
    ps.objects[:, 2:] *= np.exp(rng.normal(0, 0.08, (o, 2)))
    missed = rng.random(o) < 0.1
    ps.objects[missed, 2:] = 0.01  # vanishes
    extra = int(rng.integers(0, 4))
    if extra:
        h, w = shape
        sz = rng.uniform(0.02, 0.1, extra) * min(h, w)
        ps.objects = np.r_[
            ps.objects, np.c_[rng.uniform(0, h, extra), rng.uniform(0, w, extra), sz, sz]
        ]
        ps.object_label = np.r_[ps.object_label, np.full(extra, n)]
        ps.object_group = np.r_[ps.object_group, rng.integers(0, 60000, extra)]
    ps.object_group[rng.integers(0, len(ps.object_group))] = 0  # group id 0 is valid
    ddy, ddx = _warp(rng, shape, cfg.warp * 0.3)
    pred_sem, pred_grp = _render(cfg, ps, dy + ddy, dx + ddx)
    nopred = _smooth_noise(rng, shape, 24) > 0.93
    pred_sem[nopred] = VOID
    pred_grp[pred_sem != n] = 0
    return gt_sem, gt_grp, pred_sem, pred_grp


def _popularity(cfg: SynthConfig) -> np.ndarray:
    rng = np.random.default_rng([cfg.seed, 999999])
    p = 1.0 / (1.0 + np.arange(cfg.num_known)) ** 0.8
    p = p[rng.permutation(cfg.num_known)]
    return p / p.sum()


def _clusters(sem: np.ndarray, grp: np.ndarray, void: bool) -> np.ndarray:
    """uint16 cluster map: one id per (semantic, group) value; 0 = void when ``void``."""
    key = (sem.astype(np.int64) << 16) | grp
    _, inv = np.unique(key, return_inverse=True)
    out = (inv.reshape(sem.shape) + 1).astype(np.uint16)
    if void:
        out[sem == VOID] = 0
    return out


def make_extras(cfg: SynthConfig, index: int, gs, gg, ps, pg):
    """(pred scores uint16, GT clusters uint16, pred clusters uint16) of image ``index``.

    Scores: smooth unknown-ness, higher where the prediction is unknown, plus
    per-pixel noise (16-bit noise compresses like real network outputs).
    """
    rng = np.random.default_rng([cfg.seed, index, 7])
    base = np.where(ps == cfg.num_known, 40000.0, 15000.0)
    smooth = 9000.0 * _smooth_noise(rng, gs.shape, 32)
    noise = rng.normal(0.0, 1500.0, gs.shape)
    scores = np.clip(base + smooth + noise, 0, 65535).astype(np.uint16)
    return scores, _clusters(gs, gg, True), _clusters(ps, pg, False)


def _gt_writer(cfg: SynthConfig):  # noqa: ANN202
    if cfg.gt_writer == "pillow":
        return write_label_png
    if cfg.gt_writer != "builder":
        raise ValueError(f"gt_writer must be 'builder' or 'pillow', got {cfg.gt_writer!r}")
    return lambda path, arr: write_bytes_atomic(path, encode_label_png(arr))


def _write_range(cfg: SynthConfig, root: Path, start: int, stop: int) -> None:
    pop = _popularity(cfg)
    write_gt = _gt_writer(cfg)
    for i in range(start, stop):
        gs, gg, ps, pg = make_pair(cfg, i, pop)
        stem = f"{i:06d}"
        write_gt(root / "gt" / "test" / "semantic" / f"{stem}.png", gs)
        write_gt(root / "gt" / "test" / "groups" / f"{stem}.png", gg)
        write_label_png(root / "pred" / "semantic" / f"{stem}.png", ps)
        write_label_png(root / "pred" / "groups" / f"{stem}.png", pg)
        if cfg.extras:
            sc, gc, pc = make_extras(cfg, i, gs, gg, ps, pg)
            write_label_png(root / "pred" / "scores" / f"{stem}.png", sc)
            write_gt(root / "gt" / "test" / "clusters" / f"{stem}.png", gc)
            write_label_png(root / "pred" / "clusters" / f"{stem}.png", pc)


def generate(cfg: SynthConfig, root: Path, workers: int = 2) -> Path:
    """Write dataset ``cfg`` under ``root`` (gt/ split dir + pred/); cached by config."""
    root = Path(root)
    marker = root / "synth.json"
    want = json.loads(json.dumps(asdict(cfg)))  # tuples -> lists, as in the marker
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return root
    known = [
        {"train_id": i, "source_id": i + 1, "name": f"class_{i:03d}", "kind": "stuff"}
        for i in range(cfg.num_known)
    ]
    (root / "gt").mkdir(parents=True, exist_ok=True)
    (root / "gt" / "split.json").write_text(
        json.dumps(
            {
                "dataset": "synthetic",
                "name": cfg.name,
                "num_known": cfg.num_known,
                "known": known,
                "unknown": [{"source_id": 0, "name": "unknown", "kind": "thing"}],
                "options": {"synthetic": want},
            }
        )
    )
    step = max(1, cfg.num_images // (8 * max(1, workers)))
    ranges = [(s, min(cfg.num_images, s + step)) for s in range(0, cfg.num_images, step)]
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for f in [pool.submit(_write_range, cfg, root, a, b) for a, b in ranges]:
            f.result()
    marker.write_text(json.dumps(want))
    return root
