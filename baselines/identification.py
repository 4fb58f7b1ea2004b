"""Unknown-pixel identification: which pixels are "unknown", and how unknown.

Every method maps the classification branch's output of one image to an
:class:`Identification`: ``semantic`` int64 (H, W) with 0..N-1 known classes and
N = unknown, and ``score`` float32 (H, W) in [0, 1], higher = more likely unknown
(the scores written to ``scores/``).

* ``msp``: 1 - max softmax probability; unknown where max prob < threshold.
* ``maxlogit``: max logit min-max normalised over the whole image (not per column
  as in the release); unknown where it is < threshold; score = 1 - normalised.
* ``dml``: EDS = sum_k ||f - m_k||^2, clipped at ``eds_clip`` and min-max normalised
  over the image (low = unknown); unknown where < threshold; class = nearest prototype.
* ``n+1``: argmax over N+1 classes; score = p(unknown).
* ``n+1-ca``: the unknown probability multiplied by beta (5) before the argmax
  (confidence adjustment); score = beta*p_u / (beta*p_u + sum_known p).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.losses import dml_logits


@dataclass
class Identification:
    semantic: torch.Tensor  # int64 (H, W), 0..N-1 known, N unknown
    score: torch.Tensor  # float32 (H, W) in [0, 1]


def _minmax(x: torch.Tensor) -> torch.Tensor:
    lo, hi = x.min(), x.max()
    if float(hi - lo) <= 0:
        return torch.zeros_like(x)
    return (x - lo) / (hi - lo)


def msp(logits: torch.Tensor, threshold: float = 0.5) -> Identification:
    """logits: float (N, H, W) of an N-model."""
    prob = torch.softmax(logits.float(), dim=0)
    conf, cls = prob.max(0)
    n = logits.shape[0]
    sem = torch.where(conf < threshold, torch.full_like(cls, n), cls)
    return Identification(sem, (1.0 - conf).clamp(0, 1))


def maxlogit(logits: torch.Tensor, threshold: float = 0.5) -> Identification:
    """logits: float (N, H, W) of an N-model; normalisation over the whole image."""
    top, cls = logits.float().max(0)
    conf = _minmax(top)
    n = logits.shape[0]
    sem = torch.where(conf < threshold, torch.full_like(cls, n), cls)
    return Identification(sem, 1.0 - conf)


def dml(
    embedding: torch.Tensor, threshold: float = 0.5, magnitude: float = 3.0, eds_clip: float = 400.0
) -> Identification:
    """embedding: float (N, H, W), the DML head's output."""
    logits = dml_logits(embedding[None], magnitude)[0]  # -(squared distances)
    eds = (-logits).sum(0).clamp(max=eds_clip)
    conf = _minmax(eds)
    cls = logits.argmax(0)
    n = embedding.shape[0]
    sem = torch.where(conf < threshold, torch.full_like(cls, n), cls)
    return Identification(sem, 1.0 - conf)


def n_plus_1(logits: torch.Tensor, beta: float = 1.0) -> Identification:
    """logits: float (N+1, H, W); beta > 1 applies confidence adjustment."""
    prob = torch.softmax(logits.float(), dim=0)
    adj = prob.clone()
    adj[-1] = adj[-1] * beta
    sem = adj.argmax(0)
    score = adj[-1] / adj.sum(0).clamp(min=1e-12)
    return Identification(sem, score.clamp(0, 1))


def identify(
    output: torch.Tensor, method: str, *, threshold: float = 0.5, beta: float = 5.0,
    magnitude: float = 3.0,
) -> Identification:
    """Dispatch on ``method`` ("msp", "maxlogit", "dml", "n+1", "n+1-ca")."""
    if method == "msp":
        return msp(output, threshold)
    if method == "maxlogit":
        return maxlogit(output, threshold)
    if method == "dml":
        return dml(output, threshold, magnitude)
    if method == "n+1":
        return n_plus_1(output, 1.0)
    if method == "n+1-ca":
        return n_plus_1(output, beta)
    raise ValueError(f"unknown identification method {method!r}")
