"""Property-based fuzzing (hypothesis) of ``goss-bench score``.

* Any single changed byte inside a label PNG (up to IEND) is refused with exit 2
  -- the chunk CRCs are checked, so no corruption can silently change a label
  value; bytes appended after IEND are ignored and the score is unchanged.
* Any JSON value for ``num_known`` other than the maps' N is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.conftest import N
from fuzz.harness import BAD, VALID, check, run_cli

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fresh(goss_pair, tmp: Path) -> tuple[Path, Path]:
    if tmp.exists():
        shutil.rmtree(tmp)
    pred, gt = goss_pair
    return Path(shutil.copytree(pred, tmp / "pred")), Path(shutil.copytree(gt, tmp / "gt"))


def _gq(pred: Path, gt: Path, out: Path):
    res = run_cli(["score", pred, gt, "--quiet", "--json", out])
    return res, (json.loads(out.read_text())["gq"] if res.code == 0 else None)


@SETTINGS
@given(target=st.sampled_from(["pred/semantic", "pred/groups", "pred/scores", "gt/test/semantic",
                               "gt/test/groups"]),
       where=st.floats(0.0, 1.0, exclude_max=True), delta=st.integers(1, 255))
def test_any_changed_byte_is_refused(goss_pair, tmp_path_factory, target, where, delta):
    tmp = tmp_path_factory.getbasetemp() / "hyp_byte"
    pred, gt = _fresh(goss_pair, tmp)
    p = (pred if target.startswith("pred") else gt) / target.split("/", 1)[1] / "a2.png"
    data = bytearray(p.read_bytes())
    i = int(where * len(data))
    data[i] = (data[i] + delta) % 256
    p.write_bytes(bytes(data))
    res, _ = _gq(pred, gt, tmp / "r.json")
    check("score", f"hypothesis: byte {i} of {target} changed", BAD, res)


@SETTINGS
@given(tail=st.binary(min_size=1, max_size=64))
def test_bytes_after_iend_change_nothing(goss_pair, tmp_path_factory, tail):
    tmp = tmp_path_factory.getbasetemp() / "hyp_tail"
    pred, gt = _fresh(goss_pair, tmp)
    _, base = _gq(pred, gt, tmp / "base.json")
    p = pred / "semantic" / "a0.png"
    p.write_bytes(p.read_bytes() + tail)
    res, gq = _gq(pred, gt, tmp / "r.json")
    check("score", "hypothesis: bytes after IEND", VALID, res)
    assert gq == base


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


@SETTINGS
@given(value=JSON_VALUES)
def test_num_known_other_than_the_maps_n_is_refused(goss_pair, tmp_path_factory, value):
    tmp = tmp_path_factory.getbasetemp() / "hyp_n"
    pred, gt = _fresh(goss_pair, tmp)
    d = json.loads((gt / "split.json").read_text())
    d["num_known"] = value
    (gt / "split.json").write_text(json.dumps(d))
    res, _ = _gq(pred, gt, tmp / "r.json")
    valid = isinstance(value, int) and not isinstance(value, bool) and value == N
    check("score", f"hypothesis: num_known = {value!r:.40}", VALID if valid else BAD, res)
