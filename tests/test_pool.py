"""goss_bench.pool: ordered results, bounded in-flight chunks, one native thread per
worker, errors raised, and bit-identical scores for every worker count and executor."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred

import goss_bench
from goss_bench.pool import default_workers, map_chunks

_lock = threading.Lock()
_started: list[int] = []


def _square_chunk(job: int, chunk: Sequence[str]) -> list[int]:
    with _lock:
        _started.append(len(chunk))
    return [job * int(x) ** 2 for x in chunk]


def _blas_threads(job: int, chunk: Sequence[str]) -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(i["num_threads"]) for i in threadpool_info()]


def _fail_on_7(job: int, chunk: Sequence[str]) -> list[str]:
    if "7" in chunk:
        raise ValueError("chunk with 7")
    return list(chunk)


@pytest.mark.parametrize("executor", ["thread", "process"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_in_order(executor: str, workers: int) -> None:
    items = [str(i) for i in range(100)]
    out = [v for part in map_chunks(_square_chunk, 2, items, workers=workers, executor=executor) for v in part]
    assert out == [2 * i * i for i in range(100)]


def test_in_flight_chunks_are_bounded() -> None:
    """A slow consumer never has more than 2 * workers chunks started ahead of it."""
    _started.clear()
    items = [str(i) for i in range(400)]  # chunks of 16 with 2 workers: 25 chunks
    consumed = 0
    for part in map_chunks(_square_chunk, 1, items, workers=2, executor="thread"):
        consumed += 1
        with _lock:
            ahead = len(_started) - consumed
        assert ahead <= 2 * 2
        assert len(part) == 16
    assert consumed == 25


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_one_native_thread_per_worker(executor: str) -> None:
    pytest.importorskip("threadpoolctl")
    for workers in (1, 2):
        for part in map_chunks(_blas_threads, 0, [str(i) for i in range(8)], workers=workers,
                               executor=executor):
            assert all(n == 1 for n in part)


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_error_is_raised(executor: str) -> None:
    with pytest.raises(ValueError, match="chunk with 7"):
        list(map_chunks(_fail_on_7, 0, [str(i) for i in range(64)], workers=2, executor=executor))


def test_unknown_executor() -> None:
    with pytest.raises(ValueError, match="executor"):
        list(map_chunks(_square_chunk, 0, ["1", "2"], workers=2, executor="gpu"))


def test_default_workers_is_the_cpu_count() -> None:
    assert 1 <= default_workers() <= (__import__("os").cpu_count() or 1)


def test_scores_identical_for_every_worker_count_and_executor(tmp_path) -> None:
    rng = np.random.default_rng(11)
    n = 3
    gt, pr = {}, {}
    for i in range(40):
        s, g, c = make_gt_image(rng, n)
        p, pg = perturb_prediction(rng, s, g, n)
        sc = rng.integers(0, 60000, size=s.shape).astype(np.uint16)
        gt[f"im{i:03d}"] = (s, g, c)
        pr[f"im{i:03d}"] = (p, pg, sc, c)
    write_gt(tmp_path / "gt", gt, n)
    write_pred(tmp_path / "pred", pr)
    base = goss_bench.score(tmp_path / "pred", tmp_path / "gt", workers=1, per_image=True).to_dict()
    assert base["oss"] is not None and base["gs"] is not None
    for workers in (2, 3, None):
        for executor in ("thread", "process"):
            res = goss_bench.score(tmp_path / "pred", tmp_path / "gt", workers=workers,
                                   executor=executor, per_image=True)
            assert res.to_dict() == base
