"""Training losses of the GOSS baselines.

Label conventions: ``target`` is int64 (B, H, W) with 0..N-1 known train ids,
N = unknown and 255 = void.  The N-model ignores N and 255, the N+1-model
supervises N and ignores 255.

* :func:`semantic_loss` -- cross-entropy with the release's small-segment weighting.
* :func:`dml_loss` -- DML: cross-entropy on distance logits to fixed prototypes
  (magnitude * one-hot) plus a variance term (Cen et al., ICCV 2021).
* :func:`bpd_loss` -- Super-BPD norm + angle terms (sums over pixels, mean over images,
  times ``sum_images``).
* :func:`dfc_loss` -- differentiable feature clustering (Kim et al., TIP 2020):
  CE against the response map's own argmax + spatial continuity (unsupervised).

Every loss stays connected to the autograd graph of its input even when nothing is
supervised (an all-void batch gives ``0 * input.sum()``), so under DDP every rank
reduces gradients of the same parameters.
* :func:`pixel_contrast_loss` / :func:`sample_anchors` / :func:`contrastive_from_samples`
  -- the pixel-wise contrastive loss of ContrastiveSeg (Wang et al., ICCV 2021).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EPS = 1e-8


def valid_mask(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """bool (B, H, W): pixels whose label is a supervised class 0..num_classes-1."""
    return (target >= 0) & (target < num_classes)


def small_segment_weights(
    target: torch.Tensor, num_classes: int, area: int, weight: float
) -> torch.Tensor:
    """float (B, H, W): ``weight`` where the pixel's class covers fewer than ``area``
    valid pixels of its image, 1 elsewhere (0 on ignored pixels)."""
    b = target.shape[0]
    valid = valid_mask(target, num_classes)
    safe = torch.where(valid, target, torch.zeros_like(target))
    flat = safe.view(b, -1) + torch.arange(b, device=target.device)[:, None] * num_classes
    counts = torch.bincount(flat[valid.view(b, -1)], minlength=b * num_classes)
    per_pixel = counts[flat].view_as(target)
    w = 1.0 + (weight - 1.0) * (per_pixel < area).float()
    return w * valid.float()


def _weighted_ce(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    valid = weights > 0
    safe = torch.where(valid, target, torch.zeros_like(target))
    ce = F.cross_entropy(logits.float(), safe, reduction="none")
    n = valid.sum()
    return (ce * weights).sum() / n.clamp(min=1)


def semantic_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    small_area: int = 4096,
    small_weight: float = 3.0,
) -> torch.Tensor:
    """Weighted cross-entropy, averaged over supervised pixels.

    Args:
        logits: float (B, C, H, W); C = N (unknown N ignored) or N+1.
        target: int64 (B, H, W).
    """
    c = logits.shape[1]
    w = small_segment_weights(target, c, small_area, small_weight)
    return _weighted_ce(logits, target, w)


def dml_logits(embedding: torch.Tensor, magnitude: float = 3.0) -> torch.Tensor:
    """Distance logits -||f - magnitude*e_k||^2 of an embedding float (B, C, H, W)."""
    f = embedding.float()
    sq = (f * f).sum(1, keepdim=True)
    return -(sq - 2 * magnitude * f + magnitude**2)


def dml_loss(
    embedding: torch.Tensor,
    target: torch.Tensor,
    *,
    magnitude: float = 3.0,
    variance_weight: float = 0.01,
    small_area: int = 4096,
    small_weight: float = 3.0,
) -> torch.Tensor:
    """DML: weighted CE on distance logits + variance_weight * mean squared distance
    of each supervised pixel to its own class prototype."""
    c = embedding.shape[1]
    logits = dml_logits(embedding, magnitude)
    w = small_segment_weights(target, c, small_area, small_weight)
    ce = _weighted_ce(logits, target, w)
    valid = w > 0
    safe = torch.where(valid, target, torch.zeros_like(target))
    own = -logits.gather(1, safe[:, None]).squeeze(1)
    var = (own * valid).sum() / valid.sum().clamp(min=1)
    return ce + variance_weight * var


def bpd_loss(
    pred: torch.Tensor, gt: torch.Tensor, weight: torch.Tensor, sum_images: int = 1
) -> torch.Tensor:
    """Super-BPD loss: sum_images * sum_p w_p (||pred_p - u_p||^2 + acos(<pred_p/|pred_p|, u_p>)^2) / B.

    ``sum_images`` = 1 averages the per-image sums; the release sums them over its
    per-GPU batch of 5 (and DDP averages over GPUs), which is ``sum_images`` = 5.

    Args:
        pred: float (B, 2, H, W) predicted field (unnormalised).
        gt: float (B, 2, H, W) ground-truth field; u = 0.999999 * gt/|gt|.
        weight: float (B, H, W), 1/sqrt(region area), 0 on void.
    """
    pred = pred.float()
    u = gt / gt.norm(dim=1, keepdim=True).clamp(min=EPS) * 0.999999
    norm_term = ((pred - u) ** 2).sum(1)
    pu = pred / pred.norm(dim=1, keepdim=True).clamp(min=EPS)
    cos = (pu * u).sum(1).clamp(-0.999999, 0.999999)
    angle_term = torch.acos(cos) ** 2
    return ((norm_term + angle_term) * weight).sum() * (sum_images / pred.shape[0])


def dfc_loss(response: torch.Tensor, continuity: float = 1.0) -> torch.Tensor:
    """Differentiable feature clustering loss (Kim, Kanezaki and Tanaka, TIP 2020).

    The response map's own argmax is the target of a cross-entropy (feature
    similarity); ``continuity`` weighs the mean absolute difference of vertically
    and horizontally adjacent responses (spatial continuity).  No labels are used.

    Args:
        response: float (B, Q, H, W), the batch-normalised response map.
    """
    r = response.float()
    target = r.detach().argmax(1)
    sim = F.cross_entropy(r, target)
    cont = (r[:, :, 1:] - r[:, :, :-1]).abs().mean() + (r[:, :, :, 1:] - r[:, :, :, :-1]).abs().mean()
    return sim + continuity * cont


def contrastive_from_samples(
    feats: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    base_temperature: float = 0.07,
    semi_hard_fraction: float = 0.0,
) -> torch.Tensor:
    """Supervised pixel contrast over sampled embeddings.

    For anchor i and positive j (same label, j != i):
    log p_ij = s_ij/t - log(exp(s_ij/t) + sum_{k negative} exp(s_ik/t)),
    computed as a log-sum-exp (stable, no log(0)); the loss is
    -(t / base_t) * mean_i mean_j log p_ij over anchors with a positive.

    Args:
        feats: float (M, D) unit-norm embeddings.
        labels: int64 (M,) class of each sample.
        semi_hard_fraction: when > 0, each anchor keeps only the negatives ranked
            2..1+ceil(fraction * #negatives) by similarity (the hardest one dropped).
    """
    m = feats.shape[0]
    if m < 2:
        return feats.sum() * 0.0
    logits = feats.float() @ feats.float().T / temperature
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(m, dtype=torch.bool, device=feats.device)
    pos = same & ~eye
    neg = ~same
    if semi_hard_fraction > 0:
        n_neg = neg.sum(1, keepdim=True)
        keep_n = torch.ceil(n_neg.float() * semi_hard_fraction).long()
        ranked = torch.where(neg, logits.detach(), torch.full_like(logits, -math.inf))
        order = ranked.argsort(dim=1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(m, device=feats.device).expand(m, m).contiguous())
        neg = neg & (rank >= 1) & (rank < 1 + keep_n)
    # log(exp(s_ij) + sum_k exp(s_ik)) as a log-sum-exp: exact and never log(0), so the
    # NaN of ContrastiveSeg issue #68 cannot occur and no epsilon shifts the value.
    # Masked entries get -1e4: exp(-1e4 - max) is exactly 0 in float32.
    neg_lse = torch.logsumexp(logits.masked_fill(~neg, -1e4), dim=1, keepdim=True)
    log_prob = logits - torch.logaddexp(logits, neg_lse)
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not bool(has.any()):
        return feats.sum() * 0.0
    mean_pos = (log_prob * pos).sum(1)[has] / n_pos[has]
    return -(temperature / base_temperature) * mean_pos.mean()


def sample_anchors(
    embedding: torch.Tensor,
    labels: torch.Tensor,
    preds: torch.Tensor,
    num_classes: int,
    *,
    max_samples: int = 1024,
    max_views: int = 100,
    min_class_pixels: int = 10,
    min_views: int = 2,
    hard_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Segmentation-aware anchor sampling (ContrastiveSeg): for every image and class
    with more than ``min_class_pixels`` pixels, n_view = max(min_views,
    min(max_samples // groups, max_views)) pixels, floor(hard_fraction * n_view) of
    them mispredicted ("hard") and the rest predicted correctly ("easy"), each pool
    filling up for the other when it is short.

    Args:
        embedding: float (B, D, h, w).
        labels: int64 (B, h, w) GT at the embedding resolution; values outside
            0..num_classes-1 (void 255, unknown for the N-model) are never sampled.
        preds: int64 (B, h, w) predicted classes at the same resolution.

    Returns:
        (feats float (M, D), labels int64 (M,)).
    """
    b, d = embedding.shape[:2]
    flat_emb = embedding.permute(0, 2, 3, 1).reshape(b, -1, d)
    flat_lab = labels.reshape(b, -1)
    flat_pred = preds.reshape(b, -1)
    groups: list[tuple[int, int]] = []
    for i in range(b):
        lab = flat_lab[i]
        valid = (lab >= 0) & (lab < num_classes)
        counts = torch.bincount(lab[valid], minlength=num_classes)
        for c in torch.nonzero(counts > min_class_pixels).flatten().tolist():
            groups.append((i, c))
    if not groups:
        return embedding.new_zeros((0, d)), labels.new_zeros((0,))
    n_view = max(min_views, min(max_samples // len(groups), max_views))
    feats: list[torch.Tensor] = []
    out_lab: list[torch.Tensor] = []
    dev = embedding.device
    for i, c in groups:
        is_c = flat_lab[i] == c
        hard = torch.nonzero(is_c & (flat_pred[i] != c)).flatten()
        easy = torch.nonzero(is_c & (flat_pred[i] == c)).flatten()
        n_hard = min(hard.numel(), math.floor(n_view * hard_fraction))
        n_easy = min(easy.numel(), n_view - n_hard)
        n_hard = min(hard.numel(), n_view - n_easy)
        hard = hard[torch.randperm(hard.numel(), generator=generator)[:n_hard].to(dev)]
        easy = easy[torch.randperm(easy.numel(), generator=generator)[:n_easy].to(dev)]
        idx = torch.cat([hard, easy])
        feats.append(flat_emb[i, idx])
        out_lab.append(torch.full((idx.numel(),), c, dtype=torch.long, device=dev))
    return torch.cat(feats), torch.cat(out_lab)


def pixel_contrast_loss(
    embedding: torch.Tensor,
    target: torch.Tensor,
    logits: torch.Tensor,
    num_classes: int,
    *,
    temperature: float = 0.1,
    base_temperature: float = 0.07,
    max_samples: int = 1024,
    max_views: int = 100,
    min_class_pixels: int = 10,
    min_views: int = 2,
    hard_fraction: float = 0.5,
    semi_hard_fraction: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pixel contrastive loss: labels and argmax predictions are nearest-downsampled
    to the embedding grid, anchors sampled, then :func:`contrastive_from_samples`.

    Args:
        embedding: float (B, D, h, w) unit-norm.
        target: int64 (B, H, W).
        logits: float (B, C, H, W) classifier output (its argmax gives the predictions).
        num_classes: supervised classes (N or N+1); other labels are ignored.
    """
    h, w = embedding.shape[2:]
    lab = F.interpolate(target[:, None].float(), size=(h, w), mode="nearest")[:, 0].long()
    pred = logits.detach().argmax(1, keepdim=True).float()
    pred = F.interpolate(pred, size=(h, w), mode="nearest")[:, 0].long()
    feats, labels = sample_anchors(
        embedding, lab, pred, num_classes, max_samples=max_samples, max_views=max_views,
        min_class_pixels=min_class_pixels, min_views=min_views, hard_fraction=hard_fraction,
        generator=generator,
    )
    if feats.shape[0] < 2:
        # nothing to contrast on this batch: a zero that keeps the projection head in
        # the graph, so every DDP rank reduces the same parameters
        return embedding.sum() * 0.0
    return contrastive_from_samples(
        feats, labels, temperature=temperature, base_temperature=base_temperature,
        semi_hard_fraction=semi_hard_fraction,
    )
