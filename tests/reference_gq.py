"""Slow, obvious reference implementations of the GOSS metrics (for tests only).

Written straight from the definitions in METRICS.md with Python loops over
segments and boolean masks; no shared code with goss_bench.metrics.
"""

from __future__ import annotations

import numpy as np


def segments(sem, grp, n):
    """List of (category, bool mask) for one image; category N = unknown."""
    out = []
    for k in range(n):
        m = sem == k
        if m.any():
            out.append((k, m))
    unk = sem == n
    if unk.any():
        for g in np.unique(grp[unk]):
            out.append((n, unk & (grp == g)))
    return out


def reference_stats(images, n):
    """Per-class tp, fp, fn, iou_sum pooled over ``images`` = [(gs, gg, ps, pg), ...]."""
    tp = [0] * (n + 1)
    fp = [0] * (n + 1)
    fn = [0] * (n + 1)
    iou_sum = [0.0] * (n + 1)
    for gs, gg, ps, pg in images:
        void = gs == 255
        gsegs = segments(gs, gg, n)
        psegs = segments(ps, pg, n)
        gmatched = [False] * len(gsegs)
        pmatched = [False] * len(psegs)
        for i, (gc, gm) in enumerate(gsegs):
            for j, (pc, pm) in enumerate(psegs):
                if gc != pc:
                    continue
                inter = int((gm & pm).sum())
                if inter == 0:
                    continue
                union = int(pm.sum()) - int((pm & void).sum()) + int(gm.sum()) - inter
                iou = inter / union
                if iou > 0.5:
                    tp[gc] += 1
                    iou_sum[gc] += iou
                    gmatched[i] = True
                    pmatched[j] = True
        for i, (gc, _) in enumerate(gsegs):
            if not gmatched[i]:
                fn[gc] += 1
        for j, (pc, pm) in enumerate(psegs):
            if not pmatched[j] and not (int((pm & void).sum()) / int(pm.sum()) > 0.5):
                fp[pc] += 1
    return tp, fp, fn, iou_sum


def reference_gq(images, n, average="all", lam=0.5):
    tp, fp, fn, iou = reference_stats(images, n)
    pq = []
    for c in range(n + 1):
        den = tp[c] + 0.5 * fp[c] + 0.5 * fn[c]
        pq.append(iou[c] / den if den else 0.0)
    if average == "all":
        used = list(range(n))
    else:
        used = [c for c in range(n) if tp[c] + fp[c] + fn[c] > 0]
    kn = sum(pq[c] for c in used) / len(used) if used else 0.0
    return {"gq": lam * kn + (1 - lam) * pq[n], "gq_known": kn, "gq_unknown": pq[n], "pq": pq,
            "tp": tp, "fp": fp, "fn": fn}


def reference_miou(images, n):
    """Closed-set mIoU over known classes, Cityscapes convention."""
    tp = np.zeros(n)
    fp = np.zeros(n)
    fn = np.zeros(n)
    for gs, _, ps, _ in images:
        for k in range(n):
            g = gs == k
            p = ps == k
            tp[k] += (g & p).sum()
            fn[k] += (g & ~p).sum()
            fp[k] += (p & ~g & (gs != 255)).sum()
    ious = [tp[k] / (tp[k] + fp[k] + fn[k]) for k in range(n) if tp[k] + fp[k] + fn[k] > 0]
    return sum(ious) / len(ious) if ious else None


def reference_gs(pairs):
    """GQ^clu, mIoU^clu and covering over [(gt_clusters, pred_clusters), ...]; GT 0 = void."""
    tp = fp = fn = 0
    iou_sum = 0.0
    best_sum = 0.0
    ngt = 0
    cover = 0.0
    cover_px = 0
    for gc, pc in pairs:
        void = gc == 0
        gids = [g for g in np.unique(gc) if g != 0]
        pids = list(np.unique(pc))
        pmatched = set()
        for g in gids:
            gm = gc == g
            best = 0.0
            hit = False
            for p in pids:
                pm = pc == p
                inter = int((gm & pm).sum())
                if not inter:
                    continue
                union = int(pm.sum()) - int((pm & void).sum()) + int(gm.sum()) - inter
                iou = inter / union
                best = max(best, iou)
                if iou > 0.5:
                    tp += 1
                    iou_sum += iou
                    pmatched.add(p)
                    hit = True
            if not hit:
                fn += 1
            best_sum += best
            ngt += 1
            cover += gm.sum() * best
        cover_px += int((~void).sum())
        for p in pids:
            pm = pc == p
            if p not in pmatched and not ((pm & void).sum() / pm.sum() > 0.5):
                fp += 1
    den = tp + 0.5 * fp + 0.5 * fn
    return {"gq_clu": iou_sum / den if den else 0.0, "miou_clu": best_sum / ngt if ngt else None,
            "covering": cover / cover_px if cover_px else None, "tp": tp, "fp": fp, "fn": fn}
