"""Unknown-pixel identification: which pixels are "unknown", and how unknown.

Every method maps the classification branch's output of one image to an
:class:`Identification`: ``semantic`` int64 (H, W) with 0..N-1 known classes and
N = unknown, and ``score`` float32 (H, W) in [0, 1], higher = more likely unknown
(the scores written to ``scores/``).

* ``msp``: 1 - max softmax probability; unknown where max prob < threshold.
* ``maxlogit``: max logit min-max normalised over the whole image (not per column
  as in the release); unknown where it is < threshold; score = 1 - normalised.
* ``dml``: EDS = sum_k ||f - m_k||^2 over the N fixed prototypes m_k = magnitude*e_k.
  On a prototype EDS = 2(N-1)*magnitude^2; at the origin, where DML pushes the
  embeddings of unknown pixels, EDS = N*magnitude^2.  The confidence is EDS mapped
  affinely so that the origin gives 0 and a prototype 1,
  c = clip((EDS/magnitude^2 - N) / (N - 2), 0, clip) / clip, the same scale *for
  every N* (N >= 3; for N <= 2 the EDS cannot tell the origin from a prototype).
  (The DML release clips the raw EDS at 400, below the origin's 9N for N >= 45 with
  magnitude 3: every pixel of a COCO model, N = 111, got the same score.)
  ``image_minmax`` additionally min-max normalises c over the image, as the release
  does.  Unknown where c < threshold; class = nearest prototype.
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


def dml_confidence(
    embedding: torch.Tensor, magnitude: float = 3.0, clip: float = 1.0, image_minmax: bool = False
) -> torch.Tensor:
    """float32 (H, W) in [0, 1]: 1 on (or beyond) a prototype, 0 at (or inside) the origin."""
    n = embedding.shape[0]
    logits = dml_logits(embedding[None], magnitude)[0]  # -(squared distances)
    eds = (-logits).sum(0) / magnitude**2
    conf = ((eds - n) / max(n - 2, 1)).clamp(0.0, clip) / clip
    return _minmax(conf) if image_minmax else conf


def dml(
    embedding: torch.Tensor, threshold: float = 0.5, magnitude: float = 3.0, clip: float = 1.0,
    image_minmax: bool = False,
) -> Identification:
    """embedding: float (N, H, W), the DML head's output."""
    logits = dml_logits(embedding[None], magnitude)[0]
    conf = dml_confidence(embedding, magnitude, clip, image_minmax)
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
    magnitude: float = 3.0, dml_clip: float = 1.0, dml_image_minmax: bool = False,
) -> Identification:
    """Dispatch on ``method`` ("msp", "maxlogit", "dml", "n+1", "n+1-ca")."""
    if method == "msp":
        return msp(output, threshold)
    if method == "maxlogit":
        return maxlogit(output, threshold)
    if method == "dml":
        return dml(output, threshold, magnitude, dml_clip, dml_image_minmax)
    if method == "n+1":
        return n_plus_1(output, 1.0)
    if method == "n+1-ca":
        return n_plus_1(output, beta)
    raise ValueError(f"unknown identification method {method!r}")
