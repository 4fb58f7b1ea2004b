"""A slow re-statement of the GOSS release's evaluator (tests only).

Follows the release's code path (JHome1/GOSS_Segmentor @ b7f40219,
GOSS_segmentor_online/): predictions are encoded as panoptic ids the way
``COCOWholisticEvaluator.update`` does (``class * 256`` for known classes,
``N * 256 + k`` for unknown groups, void ``255 * 256`` reset to 0, a segment for
every id in ``np.unique``, category = train id of ``id // 256``), matched with
``pq_compute_single_core`` (dicts of segments, GT void = id 0), averaged with
``PQStat.pq_average`` (``n += 1`` first; the unknown call divides by
``iou_num``), and the OSS loop of ``test_net_single_core.main`` with sklearn
and hendrycks' ``fpr_and_fdr_at_recall``. No code is shared with goss_bench.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

OFFSET = 256 * 256 * 256


def fpr_and_fdr_at_recall(y_true, y_score, recall_level=0.95):
    """hendrycks/anomaly-seg anom_utils: FPR at the recall nearest to ``recall_level``."""
    y_true = y_true == 1
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    distinct = np.where(np.diff(y_score))[0]
    idx = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true, dtype=np.float64)[idx]
    fps = 1 + idx - tps
    recall = tps / tps[-1]
    last = tps.searchsorted(tps[-1])
    sl = slice(last, None, -1)
    recall, fps = np.r_[recall[sl], 1], np.r_[fps[sl], 0]
    cutoff = np.argmin(np.abs(recall - recall_level))
    return fps[cutoff] / np.sum(np.logical_not(y_true))


def _gt_segments(sem, grp, n):
    """GT panoptic ids: 0 void, 1 + class for known, 1000 + group for unknown."""
    ids = np.zeros(sem.shape, np.int64)
    segs = {}
    for k in range(n):
        m = sem == k
        if m.any():
            ids[m] = 1 + k
            segs[1 + k] = {"category_id": k, "area": int(m.sum()), "iscrowd": 0}
    unk = sem == n
    for g in np.unique(grp[unk]) if unk.any() else []:
        m = unk & (grp == g)
        ids[m] = 1000 + int(g)
        segs[1000 + int(g)] = {"category_id": n, "area": int(m.sum()), "iscrowd": 0}
    return ids, segs


DIVISOR = 1 << 17  # the release uses 256 (its groups stay below it); ours may reach 65535


def _pred_segments(sem, grp, n):
    """Prediction encoded as the release does (void -> 0, which is also class 0's id)."""
    g = np.zeros(sem.shape, np.int64) if grp is None else grp.astype(np.int64)
    who = sem.astype(np.int64) * DIVISOR
    who[sem == n] += 1 + g[sem == n]  # unknown groups: class * divisor + k, k >= 1
    who[who == 255 * DIVISOR] = 0
    labels, counts = np.unique(who, return_counts=True)
    segs = {int(lab): {"category_id": int(lab) // DIVISOR, "area": int(c)}
            for lab, c in zip(labels, counts, strict=True)}
    return who, segs


def authors_pq(images, n):
    """(pq_known, pq_unknown, wq) and the per-category stats; raises ZeroDivisionError like
    the release when no predicted unknown segment overlaps a GT unknown segment."""
    stat = defaultdict(lambda: {"iou": 0.0, "tp": 0, "fp": 0, "fn": 0, "iou_num": 0,
                                "iou_cluster": 0.0})
    for gs, gg, ps, pg in images:
        gt_ids, gt_segs = _gt_segments(gs, gg, n)
        pr_ids, pr_segs = _pred_segments(ps, pg, n)
        key = gt_ids.astype(np.uint64) * OFFSET + pr_ids.astype(np.uint64)
        labels, counts = np.unique(key, return_counts=True)
        pairs = {(int(lab // OFFSET), int(lab % OFFSET)): int(c)
                 for lab, c in zip(labels, counts, strict=True)}
        gm, pm = set(), set()
        for (gl, pl), inter in pairs.items():
            if gl not in gt_segs or pl not in pr_segs:
                continue
            if gt_segs[gl]["category_id"] != pr_segs[pl]["category_id"]:
                continue
            union = pr_segs[pl]["area"] + gt_segs[gl]["area"] - inter - pairs.get((0, pl), 0)
            iou = inter / union
            cat = gt_segs[gl]["category_id"]
            stat[cat]["iou_num"] += 1
            stat[cat]["iou_cluster"] += iou
            if iou > 0.5:
                stat[cat]["tp"] += 1
                stat[cat]["iou"] += iou
                gm.add(gl)
                pm.add(pl)
        for gl, info in gt_segs.items():
            if gl not in gm:
                stat[info["category_id"]]["fn"] += 1
        for pl, info in pr_segs.items():
            if pl in pm:
                continue
            if pairs.get((0, pl), 0) / info["area"] > 0.5:
                continue
            stat[info["category_id"]]["fp"] += 1

    def average(cats):
        pq, nn, iou_c, iou_n = 0.0, 0, 0.0, 0
        for c in cats:
            nn += 1
            s = stat[c]
            iou_c += s["iou_cluster"]
            iou_n += s["iou_num"]
            if s["tp"] + s["fp"] + s["fn"] == 0:
                continue
            pq += s["iou"] / (s["tp"] + 0.5 * s["fp"] + 0.5 * s["fn"])
        _ = iou_c / iou_n  # "mIoU for pure clustering": ZeroDivisionError when iou_n == 0
        return pq / nn

    known = average(range(n))
    unknown = average([n])
    return known, unknown, 0.5 * known + 0.5 * unknown


def authors_oss(images, n):
    """Mean AUROC, AUPR, FPR95 as ``test_net_single_core.main`` prints them."""
    sums = [0.0, 0.0, 0.0]
    open_num = 1
    for gs, scores in images:
        label = gs.astype(np.int64).copy()
        label[label == 255] = n
        out = label == n
        pos, neg = scores[out].astype(np.float64), scores[~out].astype(np.float64)
        if len(pos) and len(neg):
            y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
            x = np.r_[pos, neg]
            auroc = roc_auc_score(y, x)
            aupr = average_precision_score(y, x)
            fpr = fpr_and_fdr_at_recall(y, x)
        else:
            auroc, aupr, fpr = 0.0, 0.0, 1.0
        if auroc != 0.0:
            sums = [sums[0] + auroc, sums[1] + aupr, sums[2] + fpr]
            open_num += 1
    return tuple(s / open_num for s in sums)
