"""Hand-computed GQ cases: void handling, the strict 0.5 threshold, averaging conventions."""

from __future__ import annotations

import numpy as np
import pytest

from goss_bench import GossAccumulator

N = 2  # known classes 0, 1; 2 = unknown


def acc_of(*images, n=N):
    acc = GossAccumulator(num_known=n)
    for gs, gg, ps, pg in images:
        acc.add(np.asarray(gs, np.uint8), None if gg is None else np.asarray(gg, np.uint16),
                np.asarray(ps, np.uint8), None if pg is None else np.asarray(pg, np.uint16))
    return acc


def test_perfect_prediction_is_one():
    gs = np.array([[0, 0, 1, 1], [2, 2, 2, 2]])
    gg = np.array([[0, 0, 0, 0], [1, 1, 2, 2]])
    res = acc_of((gs, gg, gs, gg * 7)).result()
    assert res.gq == 1.0 and res.gq_known == 1.0 and res.gq_unknown == 1.0
    assert res.per_class[2].tp == 2 and res.per_class[2].fp == 0
    assert res.miou == 1.0


def test_iou_exactly_half_is_not_a_match():
    # GT class 0 has 2 pixels, prediction covers 1 of them plus 1 more: IoU = 1/3
    # Make IoU exactly 0.5: GT 0 = 2 px, pred 0 = the same 2 px + 2 other px -> 2/4
    gs = np.array([[0, 0, 1, 1, 1, 1]])
    ps = np.array([[0, 0, 0, 0, 1, 1]])
    res = acc_of((gs, None, ps, None)).result()
    c0 = res.per_class[0]
    assert (c0.tp, c0.fp, c0.fn) == (0, 1, 1)
    # class 1: GT 4 px, pred 2 px inside -> IoU 2/4 = 0.5, not a match either
    c1 = res.per_class[1]
    assert (c1.tp, c1.fp, c1.fn) == (0, 1, 1)
    assert res.gq_known == 0.0


def test_iou_just_above_half_matches():
    gs = np.array([[0, 0, 0, 1, 1, 1, 1]])
    ps = np.array([[0, 0, 0, 0, 0, 1, 1]])  # class 0: 3/5 = 0.6 ; class 1: 2/4 = 0.5
    res = acc_of((gs, None, ps, None)).result()
    assert res.per_class[0].tp == 1 and res.per_class[0].iou_sum == pytest.approx(0.6)
    assert res.per_class[1].tp == 0


def test_void_removed_from_union():
    # GT class 0: 2 px; void: 3 px. Pred class 0 covers the 2 px and the 3 void px.
    # Union without the void rule = 5 -> IoU 0.4; with void removed = 2 -> IoU 1.0
    gs = np.array([[0, 0, 255, 255, 255, 1]])
    ps = np.array([[0, 0, 0, 0, 0, 1]])
    res = acc_of((gs, None, ps, None)).result()
    assert res.per_class[0].tp == 1 and res.per_class[0].sq == 1.0


def test_fp_mostly_on_void_is_ignored():
    # pred class 1 segment of 3 px: 2 on void (>50%) -> not an FP
    gs = np.array([[0, 0, 0, 255, 255]])
    ps = np.array([[0, 0, 1, 1, 1]])
    res = acc_of((gs, None, ps, None)).result()
    assert res.per_class[1].fp == 0
    # exactly half on void -> still an FP (rule is "more than half")
    gs2 = np.array([[0, 0, 0, 255, 255, 0]])
    ps2 = np.array([[0, 0, 1, 1, 1, 1]])
    res2 = acc_of((gs2, None, ps2, None)).result()
    assert res2.per_class[1].fp == 1


def test_no_prediction_pixels_belong_to_no_segment():
    gs = np.array([[0, 0, 0, 0, 1, 1]])
    ps = np.array([[0, 0, 0, 255, 255, 255]])  # class 0: 3/4 match; class 1 missed
    res = acc_of((gs, None, ps, None)).result()
    assert res.per_class[0].tp == 1 and res.per_class[0].iou_sum == pytest.approx(0.75)
    assert res.per_class[1].fn == 1 and res.per_class[1].fp == 0


def test_unknown_groups_are_segments():
    gs = np.array([[2, 2, 2, 2, 2, 2]])
    gg = np.array([[1, 1, 1, 2, 2, 2]])
    ps = np.array([[2, 2, 2, 2, 2, 2]])
    pg = np.array([[0, 0, 0, 0, 0, 0]])  # one predicted group covering both: IoU 3/6 with each
    res = acc_of((gs, gg, ps, pg)).result()
    u = res.per_class[2]
    assert (u.tp, u.fp, u.fn) == (0, 1, 2)
    pg2 = np.array([[0, 0, 0, 9, 9, 9]])  # group id 0 is a valid id
    u2 = acc_of((gs, gg, ps, pg2)).result().per_class[2]
    assert (u2.tp, u2.fp, u2.fn) == (2, 0, 0)


def test_pooled_over_dataset_not_per_image():
    # image 1: class 0 perfect (IoU 1); image 2: class 0 missed (FN) and a FP
    a = (np.array([[0, 0, 1, 1]]), None, np.array([[0, 0, 1, 1]]), None)
    b = (np.array([[0, 0, 1, 1]]), None, np.array([[1, 1, 1, 1]]), None)
    res = acc_of(a, b).result()
    c0 = res.per_class[0]
    assert (c0.tp, c0.fp, c0.fn) == (1, 0, 1)
    assert c0.pq == pytest.approx(1.0 / 1.5)  # not the mean of per-image PQ (0.5)


def test_absent_classes_all_vs_present():
    # N = 4, only class 0 and unknown appear
    gs = np.array([[0, 0, 4, 4]])
    gg = np.array([[0, 0, 1, 1]])
    acc = acc_of((gs, gg, gs, gg), n=4)
    all_ = acc.result(average="all")
    present = acc.result(average="present")
    assert all_.gq_known == pytest.approx(0.25)  # (1 + 0 + 0 + 0) / 4
    assert all_.num_known_averaged == 4
    assert present.gq_known == 1.0 and present.num_known_averaged == 1
    assert all_.gq == pytest.approx(0.5 * 0.25 + 0.5 * 1.0)
    assert all_.per_class[1].present is False and all_.per_class[1].pq == 0.0


def test_lambda_weighting():
    gs = np.array([[0, 0, 2, 2]])
    gg = np.array([[0, 0, 1, 1]])
    ps = np.array([[0, 0, 0, 0]])
    acc = acc_of((gs, gg, ps, None))
    r = acc.result(lam=0.8, average="present")
    assert r.gq == pytest.approx(0.8 * r.gq_known + 0.2 * r.gq_unknown)


def test_miou_cityscapes_convention():
    # class 0: tp 2, fn 1 (predicted unknown), fp 1 (on GT unknown); pred on void is free
    gs = np.array([[0, 0, 0, 2, 255, 1]])
    gg = np.array([[0, 0, 0, 1, 0, 0]])
    ps = np.array([[0, 0, 2, 0, 0, 1]])
    pg = np.zeros((1, 6))
    r = acc_of((gs, gg, ps, pg)).result()
    assert r.per_class[0].iou == pytest.approx(2 / 4)
    assert r.per_class[1].iou == 1.0
    assert r.miou == pytest.approx((0.5 + 1.0) / 2)


def test_invalid_values_raise():
    from goss_bench import GossInputError

    acc = GossAccumulator(num_known=2)
    with pytest.raises(GossInputError, match="values outside 0..2 and 255: 7"):
        acc.add(np.array([[7]], np.uint8), None, np.array([[0]], np.uint8), None)
    with pytest.raises(GossInputError, match="shape mismatch"):
        acc.add(np.zeros((2, 2), np.uint8), None, np.zeros((2, 3), np.uint8), None)
    assert acc.num_images == 0  # failed adds leave no trace
