"""Unit tests of the GST baselines (CPU, tiny sizes): model, pretrained loading,
Super-BPD ground truth and post-processing, losses, identification, fusion, config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines import bpd_postprocess as bp  # noqa: E402
from baselines.bpd_gt import bpd_ground_truth, connected_regions  # noqa: E402
from baselines.config import IDENTIFICATIONS, load_config  # noqa: E402
from goss_bench.errors import GossInputError  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"


@pytest.fixture(autouse=True)
def _one_torch_thread():  # noqa: ANN202
    """Tiny tensors gain nothing from a second thread; on a busy CI runner spinning
    threads only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- model
def _tiny_model(model_type: str = "n", head: str = "softmax", n: int = 5):
    from baselines.model import build_model

    cfg = load_config(CONFIGS / "tiny_cpu.json", [f"model.type={model_type}", f"model.head={head}",
                                                   "eval.identification=" + ("dml" if head == "dml" else
                                                                             "msp" if model_type == "n" else "n+1")])
    return build_model(cfg.model, n), cfg


@pytest.mark.parametrize(("model_type", "head", "channels"), [("n", "softmax", 5), ("n+1", "softmax", 6),
                                                            ("n", "dml", 5)])
def test_output_shapes(model_type: str, head: str, channels: int) -> None:
    torch.manual_seed(0)
    model, _ = _tiny_model(model_type, head)
    x = torch.randn(2, 3, 48, 40)
    out = model(x)
    assert out.semantic.shape == (2, channels, 48, 40)
    assert out.field.shape == (2, 2, 48, 40)
    # projection head on the stride-16 encoder output, unit norm per pixel
    assert out.embedding.shape == (2, 8, 3, 3)
    assert torch.allclose(out.embedding.norm(dim=1), torch.ones(2, 3, 3), atol=1e-5)
    loss = out.semantic.mean() + out.field.mean() + out.embedding.mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.fixture(scope="module")
def r50():  # noqa: ANN201
    from baselines.model import resnet50

    return resnet50(output_stride=16)


def test_resnet50_strides_and_channels(r50) -> None:  # noqa: ANN001
    with torch.no_grad():
        feats = r50.eval()(torch.zeros(1, 3, 64, 64))
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "res2": (256, 16, 16), "res3": (512, 8, 8), "res4": (1024, 4, 4), "res5": (2048, 4, 4)}


def _torchvision_resnet50_spec(legacy: bool) -> dict[str, tuple[int, ...]]:
    """Names and shapes of torchvision's resnet50 state dict, written from its definition."""
    spec: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{prefix}.{k}"] = (c,)
        if not legacy:
            spec[f"{prefix}.num_batches_tracked"] = ()

    spec["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    inplanes = 64
    for li, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            spec[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            spec[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            spec[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                spec[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    spec["fc.weight"] = (1000, 2048)
    spec["fc.bias"] = (1000,)
    return spec


@pytest.mark.parametrize("legacy", [False, True])
def test_torchvision_state_dict_loads(tmp_path: Path, legacy: bool, r50) -> None:  # noqa: ANN001
    from baselines.model import load_torchvision_weights

    spec = _torchvision_resnet50_spec(legacy)
    assert len(spec) == (267 if legacy else 320)
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.tensor(5) if k.endswith("num_batches_tracked")
                 else torch.randn(shape, generator=gen)) for k, shape in spec.items()}
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    load_torchvision_weights(r50, path)
    own = r50.state_dict()
    for k, v in state.items():
        if not k.startswith("fc."):
            assert torch.equal(own[k], v), k
    assert not any(k.startswith("fc.") for k in own)


def test_torchvision_state_dict_errors(tmp_path: Path, r50) -> None:  # noqa: ANN001
    from baselines.model import load_torchvision_weights

    spec = _torchvision_resnet50_spec(False)
    state = {k: torch.zeros(shape) for k, shape in spec.items()}
    net = r50
    bad = dict(state, **{"layer5.0.conv1.weight": torch.zeros(1)})
    torch.save(bad, tmp_path / "extra.pth")
    with pytest.raises(GossInputError, match=r"unexpected tensor layer5\.0\.conv1\.weight \(1,\)"):
        load_torchvision_weights(net, tmp_path / "extra.pth")
    missing = {k: v for k, v in state.items() if k != "layer2.1.bn2.weight"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(GossInputError, match=r"missing tensor layer2\.1\.bn2\.weight \(128,\)"):
        load_torchvision_weights(net, tmp_path / "missing.pth")
    shape = dict(state, **{"conv1.weight": torch.zeros(64, 3, 3, 3)})
    torch.save(shape, tmp_path / "shape.pth")
    with pytest.raises(GossInputError, match=r"shape mismatch for conv1.weight: the file has "
                       r"\(64, 3, 3, 3\), the encoder .* needs \(64, 3, 7, 7\)"):
        load_torchvision_weights(net, tmp_path / "shape.pth")
    with pytest.raises(GossInputError, match="python -m baselines.weights fetch resnet50"):
        load_torchvision_weights(net, tmp_path / "absent.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "shape.pth").read_bytes()[:5000])
    with pytest.raises(GossInputError, match="cut.pth: not a readable PyTorch checkpoint"):
        load_torchvision_weights(net, tmp_path / "cut.pth")


# ---------------------------------------------------------------- Super-BPD ground truth
def _brute_distance(region: np.ndarray) -> np.ndarray:
    """Distance from each region pixel to the nearest pixel outside it (image border
    outside), by exhaustive search."""
    h, w = region.shape
    pad = np.pad(region, 1)
    out_r, out_c = np.nonzero(~pad)
    dist = np.zeros((h, w))
    for r, c in zip(*np.nonzero(region), strict=True):
        dist[r, c] = np.sqrt(((out_r - (r + 1)) ** 2 + (out_c - (c + 1)) ** 2).min())
    return dist


def test_bpd_ground_truth_points_away_from_boundary() -> None:
    sem = np.zeros((22, 26), dtype=np.uint8)
    sem[4:14, 5:20] = 1  # rectangle
    yy, xx = np.mgrid[:22, :26]
    sem[(yy - 16) ** 2 + (xx - 8) ** 2 <= 16] = 2  # disk (overlaps the rectangle's corner)
    sem[18:, 20:] = 1  # a second, separate region of class 1
    sem[0, :3] = 255  # void
    field, weight = bpd_ground_truth(sem, connectivity=8)
    regions = connected_regions(sem, 8)
    assert regions.max() == 4  # background, rectangle, disk, second class-1 region
    for rid in range(1, regions.max() + 1):
        mask = regions == rid
        # |field| is the exact Euclidean distance to the nearest outside pixel ...
        np.testing.assert_allclose(np.hypot(field[0], field[1])[mask], _brute_distance(mask)[mask],
                                   atol=1e-5)
        # ... and pixel - field is that outside pixel
        rr, cc = np.nonzero(mask)
        src_r = rr - field[0][mask].astype(int)
        src_c = cc - field[1][mask].astype(int)
        inside = (src_r >= 0) & (src_r < 22) & (src_c >= 0) & (src_c < 26)
        assert not mask[src_r[inside], src_c[inside]].any()
        # weights 1/sqrt(area)
        np.testing.assert_allclose(weight[mask], 1 / np.sqrt(mask.sum()), rtol=1e-6)
    # pointing away from the boundary: just inside the rectangle's top and bottom edges
    assert field[:, 4, 12].tolist() == [1.0, 0.0] and field[:, 13, 12].tolist() == [-1.0, 0.0]
    assert field[:, 8, 5].tolist() == [0.0, 1.0]  # left edge: points right
    assert (field[:, sem == 255] == 0).all() and (weight[sem == 255] == 0).all()


def test_bpd_ground_truth_connectivity() -> None:
    sem = np.zeros((6, 6), dtype=np.uint8)
    sem[1, 1] = sem[2, 2] = 1  # diagonal neighbours: one region with 8-, two with 4-connectivity
    _, w8 = bpd_ground_truth(sem, 8)
    _, w4 = bpd_ground_truth(sem, 4)
    assert w8[1, 1] == pytest.approx(1 / np.sqrt(2)) and w4[1, 1] == pytest.approx(1.0)


# ---------------------------------------------------------------- Super-BPD post-processing
def _boxes_scene(scale: int = 1) -> np.ndarray:
    """96 x 96 background with three rectangles apart from each other and from the
    border (every length times ``scale``)."""
    sem = np.zeros((96 * scale, 96 * scale), dtype=np.uint8)
    for k, box in enumerate([(10, 36, 12, 40), (14, 40, 54, 84), (52, 84, 24, 66)], start=1):
        r0, r1, c0, c1 = (v * scale for v in box)
        sem[r0:r1, c0:c1] = k
    return sem


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def test_postprocess_recovers_regions() -> None:
    sem = _boxes_scene()
    field, _ = bpd_ground_truth(sem)
    res = bp.super_bpd(field)
    assert res.labels.dtype == np.int32 and res.labels.shape == sem.shape
    assert res.num_regions == 4
    assert _same_partition(res.labels, sem)
    # the field's length does not matter, only its direction
    res2 = bp.super_bpd(field * 0.01 + 0)
    assert np.array_equal(res2.labels, res.labels)
    # stride 2: block-averaged vectors, area cut-offs rescaled, labels upsampled
    big = _boxes_scene(2)
    lab2 = bp.segment_field(bpd_ground_truth(big)[0], stride=2)
    assert lab2.shape == big.shape and len(np.unique(lab2)) == 4
    assert _majority_agreement(lab2, big) > 0.99
    # a blurred, noisy field: dozens of super-BPDs that the merging puts back together
    from scipy import ndimage

    rng = np.random.default_rng(0)
    noisy = ndimage.gaussian_filter(field / np.maximum(np.hypot(*field), 1e-6), (0, 1, 1))
    noisy += rng.normal(0, 0.1, field.shape)
    res3 = bp.super_bpd(noisy)
    assert res3.after_dilation.max() + 1 > 10 and res3.num_regions == 4
    assert _majority_agreement(res3.labels, sem) > 0.99


def _majority_agreement(labels: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of pixels whose ``ref`` value is the majority under their label; -1 if
    two labels share a majority value."""
    majority = np.zeros_like(ref)
    vals = []
    for v in np.unique(labels):
        vals.append(np.bincount(ref[labels == v]).argmax())
        majority[labels == v] = vals[-1]
    return float((majority == ref).mean()) if len(set(vals)) == len(vals) else -1.0


def test_postprocess_repulsion_keeps_small_regions_apart() -> None:
    # with huge area cut-offs every region is "tiny" and pass 2 would merge all of
    # them; the boxes' fields point away from the background's across their borders
    # (repulsive edges, ~180 degrees), which forbids it
    sem = _boxes_scene()
    field, _ = bpd_ground_truth(sem)
    lab = bp.super_bpd(field, bp.BPDParams(area_small=10**6, area_large=10**7)).labels
    assert _same_partition(lab, sem)
    # without repulsion (s_o = 0: no difference exceeds 180 degrees) they merge
    lab = bp.super_bpd(field, bp.BPDParams(area_small=10**6, area_large=10**7, s_o=0)).labels
    assert len(np.unique(lab)) == 1


def _reference_fields():  # noqa: ANN202
    """Small fields for the slow reference: clean GT fields (many exact 45-degree
    differences at region corners) and blurred, noisy ones."""
    from scipy import ndimage

    out = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        coarse = rng.integers(0, 4, size=(4, 5))
        sem = np.kron(coarse, np.ones((9, 9), dtype=np.int64))[:34, :41].astype(np.uint8)
        field, _ = bpd_ground_truth(sem)
        out.append((f"clean{seed}", field))
        noisy = ndimage.gaussian_filter(field / np.maximum(np.hypot(*field), 1e-6), (0, 2, 2))
        out.append((f"noisy{seed}", noisy + rng.normal(0, (0.1, 0.4, 1.0)[seed], field.shape)))
    out.append(("boxes", bpd_ground_truth(_boxes_scene())[0][:, 5:45, 5:50]))
    return out


@pytest.mark.parametrize(("name", "field"), _reference_fields(), ids=[n for n, _ in _reference_fields()])
def test_postprocess_matches_slow_reference(name: str, field: np.ndarray) -> None:
    from tests.bpd_reference import reference_super_bpd

    kw = dict(area_small=20, area_large=120)
    ref = reference_super_bpd(field, **kw)
    got = bp.super_bpd(field, bp.BPDParams(**kw))
    assert np.array_equal(got.roots, ref["roots"])
    assert np.array_equal(got.tree_root, ref["tree"])
    assert np.array_equal(got.after_dilation, ref["after_dilation"])
    assert np.array_equal(got.labels, ref["labels"])


def test_exact_45_degree_difference_is_a_root_as_in_the_reference() -> None:
    """float32 angles 0 and pi/4 differ by float32(pi/4) > pi/4: the CUDA original
    makes the pixel a root (a comparison of unit-vector dot products did not)."""
    field = np.zeros((2, 3, 3), dtype=np.float32)
    field[0] = 1.0  # angle 0: parent is the pixel below
    field[:, 2, 1] = (1.0, 1.0)  # the pixel below points at 45 degrees
    res = bp.super_bpd(field, bp.BPDParams(area_small=0, area_large=1))
    assert res.roots[1, 1]  # 45.000002 degrees > theta_a = 45
    assert not res.roots[0, 1]  # same direction as its parent
    from tests.bpd_reference import reference_super_bpd

    assert np.array_equal(reference_super_bpd(field, area_small=0, area_large=1)["roots"], res.roots)


def test_fast_decisions_equal_the_angle_decisions() -> None:
    """The kernels decide directions and roots on unit vectors away from the
    boundaries and on float32 angles near them: the result must equal deciding
    everything on the angles (directions densely sampled around every boundary)."""
    from baselines import _bpd_numba as nb

    rng = np.random.default_rng(0)
    bounds = np.pi / 8 + np.pi / 4 * np.arange(8)
    theta = np.concatenate([rng.uniform(0, 2 * np.pi, 4000),
                            (bounds[:, None] + np.linspace(-1e-5, 1e-5, 201)[None]).ravel(),
                            np.pi / 4 * np.arange(8)])
    n = rng.uniform(0.1, 10, theta.size)
    field = np.stack([n * np.cos(theta), n * np.sin(theta)]).astype(np.float32)[:, None, :]
    ang = bp.field_to_angle(field)[0]
    ux, uy = nb.unit_vectors(field)
    for i in range(theta.size):
        k = nb._octant(ux[0, i], uy[0, i], field[0, 0, i], field[1, 0, i])
        assert k == nb.octant_of_angle(ang[i]), (i, theta[i])
        assert nb.angle(field[0, 0, i], field[1, 0, i]) == ang[i]


def test_postprocess_breaks_parent_cycles() -> None:
    # a 16-pixel loop whose directions turn by < 45 degrees per step: every pixel's
    # parent is the next one, a cycle; it must become one region with one new root
    from baselines import _bpd_numba as nb

    field = np.zeros((2, 16, 16), dtype=np.float32)
    field[0] = 1
    r, c = 4, 6
    loop = []
    for i, k in enumerate([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]):
        th = np.deg2rad(45 * k + (-10 if i % 2 == 0 else 10))
        field[:, r, c] = np.cos(th), np.sin(th)
        loop.append(r * 16 + c)
        r, c = r + bp.DIRECTIONS[k, 0], c + bp.DIRECTIONS[k, 1]
    assert (r, c) == (4, 6)
    parent, _ = nb.parents_and_roots(field, *nb.unit_vectors(field), float(np.deg2rad(45.0)))
    assert [int(parent[p]) for p in loop] == loop[1:] + loop[:1]  # really a cycle
    res = bp.super_bpd(field, bp.BPDParams(area_small=1, area_large=2))
    assert res.roots.ravel()[min(loop)] and res.roots.ravel()[loop].sum() == 1
    assert len(np.unique(res.before_dilation.ravel()[loop])) == 1


def test_postprocess_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        bp.super_bpd(np.zeros((3, 4, 4)))
    bad = np.ones((2, 4, 4))
    bad[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bp.super_bpd(bad)


# ---------------------------------------------------------------- losses
def _hand_contrast(feats: np.ndarray, labels: list[int], t: float, bt: float) -> float:
    total, anchors = 0.0, 0
    for i in range(len(labels)):
        terms = []
        for j in range(len(labels)):
            if j == i or labels[j] != labels[i]:
                continue
            sij = math.exp(feats[i] @ feats[j] / t)
            neg = sum(math.exp(feats[i] @ feats[k] / t) for k in range(len(labels)) if labels[k] != labels[i])
            terms.append(math.log(sij / (sij + neg)))
        if terms:
            total += sum(terms) / len(terms)
            anchors += 1
    return -(t / bt) * total / anchors


def test_contrastive_loss_hand_computation() -> None:
    from baselines.losses import contrastive_from_samples

    rng = np.random.default_rng(0)
    feats = rng.normal(size=(5, 3))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    labels = [0, 0, 1, 1, 1]
    got = contrastive_from_samples(torch.tensor(feats, dtype=torch.float32), torch.tensor(labels),
                                   temperature=0.1, base_temperature=0.07)
    assert float(got) == pytest.approx(_hand_contrast(feats, labels, 0.1, 0.07), rel=1e-4)


def test_pixel_contrast_ignores_void_and_unknown() -> None:
    from baselines.losses import pixel_contrast_loss, sample_anchors

    torch.manual_seed(0)
    n = 3
    emb = torch.nn.functional.normalize(torch.randn(1, 4, 6, 6), dim=1)
    target = torch.randint(0, n, (1, 6, 6))
    target[0, :2] = 255
    target[0, 5, :] = n  # unknown: ignored by the N-model (num_classes = N)
    logits = torch.randn(1, n, 6, 6)
    kw = dict(max_samples=1000, max_views=1000, min_class_pixels=1)
    feats, labs = sample_anchors(emb, target, logits.argmax(1), n, **kw)
    assert set(labs.tolist()) <= set(range(n))
    assert feats.shape[0] == int(((target >= 0) & (target < n)).sum())
    base = pixel_contrast_loss(emb, target, logits, n, **kw)
    emb2 = emb.clone()
    emb2[:, :, :2] = torch.nn.functional.normalize(torch.randn(1, 4, 2, 6), dim=1)
    emb2[:, :, 5] = torch.nn.functional.normalize(torch.randn(1, 4, 6), dim=1)
    assert float(pixel_contrast_loss(emb2, target, logits, n, **kw)) == pytest.approx(float(base), rel=1e-5)
    # the sampled set is permutation-invariant, so the loss equals the hand value
    keep = (target[0] >= 0) & (target[0] < n)
    f = emb[0].permute(1, 2, 0)[keep].numpy().astype(np.float64)
    assert float(base) == pytest.approx(_hand_contrast(f, target[0][keep].tolist(), 0.1, 0.07), rel=1e-4)


def test_hard_easy_sampling() -> None:
    from baselines.losses import sample_anchors

    emb = torch.randn(1, 2, 4, 4)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    pred = torch.zeros(1, 4, 4, dtype=torch.long)
    pred[0, 0, :3] = 1  # 3 hard pixels, 13 easy ones
    feats, labs = sample_anchors(emb, target, pred, 2, max_samples=8, max_views=8, min_class_pixels=1)
    assert feats.shape == (8, 2) and (labs == 0).all()
    flat = emb[0].permute(1, 2, 0).reshape(-1, 2)
    hard = {tuple(v.tolist()) for v in flat[:3]}
    got = [tuple(v.tolist()) for v in feats]
    assert sum(g in hard for g in got) == 3  # all hard ones, filled up with easy ones


def test_semantic_and_bpd_losses() -> None:
    from baselines.losses import bpd_loss, semantic_loss, small_segment_weights

    target = torch.tensor([[[0, 1], [255, 2]]])
    logits = torch.zeros(1, 2, 2, 2)  # N = 2: label 2 (unknown) and 255 ignored
    assert float(semantic_loss(logits, target, small_area=0)) == pytest.approx(math.log(2))
    w = small_segment_weights(target, 2, area=2, weight=3.0)
    assert w.tolist() == [[[3.0, 3.0], [0.0, 0.0]]]
    gt = torch.tensor([[[[3.0]], [[4.0]]]])
    weight = torch.ones(1, 1, 1)
    assert float(bpd_loss(gt / 5 * 0.999999, gt, weight)) == pytest.approx(0.0, abs=1e-5)
    # opposite direction: norm term |(-u) - u|^2 = 4, angle term ~ pi^2
    assert float(bpd_loss(-gt / 5, gt, weight)) == pytest.approx(4 + math.pi**2, rel=1e-2)
    assert float(bpd_loss(-gt / 5, gt, weight * 0)) == 0.0


def test_dml_loss_and_logits() -> None:
    from baselines.losses import dml_logits, dml_loss

    emb = torch.zeros(1, 3, 1, 2)
    emb[0, 1, 0, 0] = 3.0  # exactly on prototype 1
    logits = dml_logits(emb)
    assert logits[0, :, 0, 0].tolist() == [-18.0, 0.0, -18.0]
    assert logits[0, :, 0, 1].tolist() == [-9.0, -9.0, -9.0]
    target = torch.tensor([[[1, 255]]])
    loss = dml_loss(emb, target, variance_weight=0.01, small_area=0)
    ce = -torch.log_softmax(logits[0, :, 0, 0], 0)[1]
    assert float(loss) == pytest.approx(float(ce))  # variance term 0 on the prototype


# ---------------------------------------------------------------- identification
def test_identification_methods() -> None:
    from baselines.identification import identify

    n = 3
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0], [0.0, 0.1]])[:, None, :].repeat(1, 2, 1)  # (3, 2, 2)
    msp = identify(logits, "msp", threshold=0.5)
    assert msp.semantic[:, 0].tolist() == [0, 0] and msp.semantic[:, 1].tolist() == [n, n]
    p0 = math.exp(5) / (math.exp(5) + 2)
    assert float(msp.score[0, 0]) == pytest.approx(1 - p0, rel=1e-5)

    # MaxLogit is normalised over the whole image, not per column
    # (per column, the pixel with max logit 2 would be the column's maximum: known)
    top = torch.tensor([[[1.0, 10.0], [2.0, 9.0]]])
    ml = identify(torch.cat([top, top - 20]), "maxlogit", threshold=0.5)  # N = 2 here
    assert ml.semantic.tolist() == [[2, 0], [2, 0]]
    assert ml.score.flatten().tolist() == pytest.approx([1.0, 0.0, 1 - 1 / 9, 1 / 9])

    emb = torch.zeros(n, 1, 2)
    emb[2, 0, 0] = 3.0  # on prototype 2: known class 2; the origin: unknown
    dml = identify(emb, "dml", threshold=0.5)  # (more in test_baselines_identify.py)
    assert dml.semantic.tolist() == [[2, n]]
    assert float(dml.score[0, 0]) == 0.0 and float(dml.score[0, 1]) == 1.0

    p = torch.tensor([0.5, 0.2, 0.05, 0.25])  # p(unknown) = 0.25
    lg = torch.log(p)[:, None, None]
    assert identify(lg, "n+1").semantic.item() == 0
    assert identify(lg, "n+1").score.item() == pytest.approx(0.25)
    ca = identify(lg, "n+1-ca", beta=5.0)
    assert ca.semantic.item() == n  # 5 * 0.25 = 1.25 > 0.5
    assert ca.score.item() == pytest.approx(1.25 / (1.25 + 0.75))
    assert set(IDENTIFICATIONS) == {"msp", "maxlogit", "dml", "n+1", "n+1-ca"}
    with pytest.raises(ValueError, match="unknown identification"):
        identify(lg, "energy")


# ---------------------------------------------------------------- fusion
def test_fusion_output_is_scored(tmp_path: Path) -> None:
    from baselines.fusion import fuse
    from goss_bench import score
    from goss_bench.io import write_label_png

    n = 4
    rng = np.random.default_rng(0)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for i in range(3):
        sem = np.kron(rng.integers(0, n, size=(4, 5)), np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
        sem[3:12, 4:15] = n
        sem[20:28, 25:36] = n
        sem[0, :5] = 255
        groups = connected_regions(np.where(sem == n, 1, 255), 8).astype(np.uint16)
        clusters = connected_regions(sem, 8).astype(np.uint16)
        stem = f"im{i}"
        write_label_png(gt_dir / "test" / "semantic" / f"{stem}.png", sem)
        write_label_png(gt_dir / "test" / "groups" / f"{stem}.png", groups)
        write_label_png(gt_dir / "test" / "clusters" / f"{stem}.png", clusters)
        # a perfect identification and clustering: semantic = GT (void -> any class),
        # Super-BPD segments = the GT's connected regions
        pred_sem = np.where(sem == 255, 0, sem)
        segments = connected_regions(pred_sem, 8) - 1
        pred = fuse(pred_sem, (pred_sem == n).astype(np.float32), segments, n)
        assert pred.semantic.dtype == np.uint8 and pred.groups.dtype == np.uint16
        assert pred.scores.dtype == np.uint16 and pred.clusters.dtype == np.uint16
        assert (pred.groups[pred_sem != n] == 0).all() and pred.clusters.min() >= 1
        assert set(np.unique(pred.scores)) <= {0, 65535}
        for sub, arr in (("semantic", pred.semantic), ("groups", pred.groups),
                         ("scores", pred.scores), ("clusters", pred.clusters)):
            write_label_png(pred_dir / sub / f"{stem}.png", arr)
    (gt_dir / "split.json").write_text(json.dumps({
        "num_known": n, "known": [{"train_id": k, "name": f"c{k}"} for k in range(n)]}))
    res = score(pred_dir, gt_dir)
    assert res.num_images == 3
    assert res.gq_unknown == pytest.approx(1.0) and res.gq_known == pytest.approx(1.0)
    assert res.oss is not None and res.oss.auroc == pytest.approx(1.0)
    assert res.gs is not None


def test_fusion_rejects_bad_input() -> None:
    from baselines.fusion import fuse

    z = np.zeros((2, 2))
    with pytest.raises(ValueError, match="semantic values"):
        fuse(np.full((2, 2), 9), z, z.astype(int), 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        fuse(np.zeros((2, 3), int), z, z.astype(int), 3)


# ---------------------------------------------------------------- config
def test_configs_cover_the_paper_tables() -> None:
    rows = {p.stem: load_config(p) for p in CONFIGS.glob("*.json") if not p.stem.endswith("_base")}
    expected = {
        "coco_n_msp": ("n", "softmax", False, "msp"),
        "coco_n_maxlogit": ("n", "softmax", False, "maxlogit"),
        "coco_n_dml": ("n", "dml", False, "dml"),
        "coco_n1": ("n+1", "softmax", False, "n+1"),
        "coco_gst": ("n+1", "softmax", True, "n+1-ca"),
        "cityscapes_n_msp": ("n", "softmax", False, "msp"),
        "cityscapes_n_maxlogit": ("n", "softmax", False, "maxlogit"),
        "cityscapes_n_dml": ("n", "dml", False, "dml"),
        "cityscapes_gst": ("n", "softmax", True, "msp"),
    }
    for name, (mt, head, proj, ident) in expected.items():
        c = rows[name]
        assert (c.model.type, c.model.head, c.model.projection, c.eval.identification) == (mt, head, proj, ident)
        assert c.train.lr == 5e-5 and c.model.aspp_rates == [6, 12, 18] and c.model.output_stride == 16
        assert c.loss.bpd_weight == 1e-4 and c.data.crop_size == 641
    assert (rows["coco_gst"].train.iterations, rows["coco_gst"].train.batch_size) == (60000, 10)
    assert (rows["cityscapes_gst"].train.iterations, rows["cityscapes_gst"].train.batch_size) == (40000, 2)
    assert rows["coco_gst"].loss.contrastive_weight == 0.01
    assert rows["tiny_cpu"].train.device == "cpu"


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    from baselines.config import save_config

    cfg = load_config(CONFIGS / "coco_gst.json", ["train.lr=1e-4", "model.aspp_rates=[3,6,9]",
                                                 "loss.contrastive_weight=0.1", "name=x"])
    assert cfg.train.lr == 1e-4 and cfg.model.aspp_rates == [3, 6, 9] and cfg.name == "x"
    save_config(cfg, tmp_path / "config.json")
    again = load_config(tmp_path / "config.json")
    assert again.to_dict() == cfg.to_dict()
    for bad, msg in (("train.lrr=1", "unknown config key train.lrr"),
                     ("train.iterations=1.5", "expected an integer"),
                     ("eval.identification=n+1", "needs model.type='n\\+1'"),
                     ("oops", "section.key=value")):
        with pytest.raises(ValueError, match=msg):
            load_config(CONFIGS / "coco_n_msp.json", [bad])


def test_train_cli_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.train import main

    assert main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(tmp_path),
                 "train.nope=1"]) == 2
    assert "unknown config key train.nope" in capsys.readouterr().err
    assert main(["--config", str(CONFIGS / "tiny_cpu.json"), "--split-dir", str(tmp_path),
                 f"train.output_dir={tmp_path / 'run'}"]) == 2
    assert "split.json not found" in capsys.readouterr().err
