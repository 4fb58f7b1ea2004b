"""GossAccumulator(oss_image_metrics=False): the pooled OSS result is unchanged, the
per-image one is refused with a clear message instead of a silent wrong number."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction

from goss_bench import GossAccumulator
from goss_bench.errors import GossInputError


def _fill(acc: GossAccumulator, seed: int = 3) -> GossAccumulator:
    rng = np.random.default_rng(seed)
    n = acc.num_known
    for _ in range(4):
        s, g, _c = make_gt_image(rng, n, (40, 56))
        p, pg = perturb_prediction(rng, s, g, n)
        sc = rng.integers(0, 65536, size=s.shape, dtype=np.uint16)
        sc[s == n] //= 2
        sc[s == n] += 32768
        acc.add(s, g, p, pg, pred_scores=sc)
    return acc


def test_skipping_image_metrics_keeps_pooled_results() -> None:
    full = _fill(GossAccumulator(num_known=3)).result()
    lean = _fill(GossAccumulator(num_known=3, oss_image_metrics=False)).result()
    assert lean == full


def test_per_image_result_needs_the_image_metrics() -> None:
    acc = _fill(GossAccumulator(num_known=3, oss_image_metrics=False))
    with pytest.raises(GossInputError, match="oss_image_metrics=True"):
        acc.result(oss_per_image=True)
    merged = _fill(GossAccumulator(num_known=3)).merge(acc)
    with pytest.raises(GossInputError, match="per-image OSS metrics were not accumulated"):
        merged.result(oss_per_image=True)
    assert _fill(GossAccumulator(num_known=3)).result(oss_per_image=True).oss.auroc is not None
