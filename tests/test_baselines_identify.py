"""Unknown identification for every N: crafted outputs of the classification branch.

For N = 8, 19 and 111 (the sizes of small, Cityscapes and COCO-Stuff models) and
every method, a pixel near a prototype / with a confident logit must be known, a
far / flat one unknown, and the scores must not be constant.  (Before the DML
score was normalised by the prototypes' distance scale, the release's clip at 400
gave every pixel of an N = 111 model the same score and called all of them unknown.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from baselines.identification import dml_confidence, identify  # noqa: E402

NS = [8, 19, 111]


def _logits(n: int, extra: int = 0) -> torch.Tensor:
    """(n+extra, 1, 4): a confident pixel (class 2), a mildly confident one (class 1),
    a flat one and an almost flat one."""
    g = torch.Generator().manual_seed(n)
    out = torch.randn(n + extra, 1, 4, generator=g) * 0.05
    out[2, 0, 0] += 12.0
    out[1, 0, 1] += 6.0
    return out


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("method", ["msp", "maxlogit"])
def test_logit_methods(n: int, method: str) -> None:
    res = identify(_logits(n), method, threshold=0.5)
    sem = res.semantic[0].tolist()
    assert sem[0] == 2 and sem[2] == n and sem[3] == n
    s = res.score[0]
    assert float(s[0]) < 0.5 < float(s[2]) and float(s[0]) <= float(s[1]) <= float(s[2])
    assert len(set(s.tolist())) > 1


@pytest.mark.parametrize("n", NS)
def test_n_plus_1_methods(n: int) -> None:
    lg = _logits(n, extra=1)
    lg[n, 0, 2] += 12.0  # the unknown class is confident here
    lg[n, 0, 3] += 1.0  # slightly more likely unknown than any known class
    plain = identify(lg, "n+1")
    assert plain.semantic[0].tolist()[:3] == [2, 1, n]
    ca = identify(lg, "n+1-ca", beta=5.0)
    assert ca.semantic[0].tolist() == [2, 1, n, n]
    assert float(ca.score[0, 0]) < 0.5 < float(ca.score[0, 2])
    # confidence adjustment only raises the unknown score
    assert (ca.score >= plain.score - 1e-7).all() and len(set(ca.score[0].tolist())) > 1


@pytest.mark.parametrize("n", NS)
def test_dml_separates_for_every_n(n: int) -> None:
    m = 3.0
    g = torch.Generator().manual_seed(n)
    emb = torch.randn(n, 1, 6, generator=g) * 0.02
    emb[4, 0, 0] += m  # on prototype 4
    emb[7, 0, 1] += 0.8 * m  # near prototype 7
    emb[:, 0, 2] = 0.0  # the origin, where DML pushes unknown pixels
    emb[:, 0, 3] *= 0.5  # near the origin
    emb[:, 0, 4] = m / n  # the prototypes' centroid (smallest possible EDS)
    emb[0, 0, 5] += 0.3 * m  # a third of the way from the origin to a prototype
    res = identify(emb, "dml", threshold=0.5, magnitude=m)
    sem = res.semantic[0].tolist()
    assert sem[0] == 4 and sem[1] == 7
    assert sem[2] == sem[3] == sem[4] == sem[5] == n
    conf = 1 - res.score[0]
    assert float(conf[0]) == pytest.approx(1.0, abs=0.05)
    assert float(conf[2]) == 0.0 and float(conf[4]) == 0.0
    assert 0 < float(conf[5]) < float(conf[1]) < float(conf[0])
    assert len(set(res.score[0].tolist())) >= 4


def test_dml_confidence_is_affine_in_eds() -> None:
    n, m = 111, 3.0
    emb = torch.zeros(n, 1, 3)
    emb[5, 0, 0] = m  # a prototype: EDS = 2(N-1) m^2
    emb[5, 0, 1] = m * 2**-0.5
    c = dml_confidence(emb, m)[0]
    # f = t*m*e_k: EDS/m^2 = N t^2 - 2t + N, so c = (N t^2 - 2t) / (N - 2)
    t = 2**-0.5
    mid = (n * t * t - 2 * t) / (n - 2)
    assert c.tolist() == pytest.approx([1.0, mid, 0.0], abs=1e-5)
    # clip: values beyond the prototype level saturate, clip=2 halves the scale
    assert dml_confidence(emb * 2, m)[0, 0] == 1.0
    assert float(dml_confidence(emb, m, clip=2.0)[0, 0]) == pytest.approx(0.5, abs=1e-6)
    # the release's per-image min-max normalisation on top
    assert dml_confidence(emb, m, image_minmax=True)[0].tolist() == pytest.approx(
        [1.0, mid, 0.0], abs=1e-5)
