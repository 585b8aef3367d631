"""How well a classifier's predicted probabilities match how often it is right.

For N predictions p_i (class probabilities) of labels y_i:

- negative log-likelihood NLL = −(1/N) Σ_i log p_i[y_i], scikit-learn's ``log_loss``; from logits z it is
  the softmax cross-entropy, log_softmax(z) in place of log p;
- confidence c_i = max_k p_i[k], correct_i = [argmax_k p_i[k] = y_i]; B equal-width bins (i/B, (i+1)/B],
  the first also holding 0; per bin b its count n_b, mean confidence conf_b and accuracy acc_b
  (the reliability diagram);
- expected calibration error ECE = Σ_b (n_b/N) |acc_b − conf_b| (Naeini et al., AAAI 2015; Guo et al.,
  "On Calibration of Modern Neural Networks", ICML 2017), with B = 15.

The tensor functions import PyTorch when called, so that the report, which reads stored bins, needs none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin (i/B, (i+1)/B]: its count, mean confidence and accuracy (NaN for an empty bin)."""

    counts: tuple[int, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]

    @property
    def ece(self) -> float:
        """Σ_b (n_b/N) |acc_b − conf_b| over the non-empty bins; NaN without predictions."""
        total = sum(self.counts)
        if not total:
            return math.nan
        return sum(n / total * abs(a - c) for n, c, a in zip(self.counts, self.confidence, self.accuracy) if n)

    @classmethod
    def pooled(cls, parts: list[Reliability]) -> Reliability:
        """The bins of all ``parts``' predictions together (each of B bins): counts summed, confidence and
        accuracy averaged with the counts as weights."""
        counts = tuple(sum(column) for column in zip(*(p.counts for p in parts)))

        def weighted(field: str) -> tuple[float, ...]:
            sums = zip(*([n * v if n else 0.0 for n, v in zip(p.counts, getattr(p, field))] for p in parts))
            return tuple(sum(s) / n if n else math.nan for s, n in zip(sums, counts))

        return cls(counts, weighted("confidence"), weighted("accuracy"))

    def to_dict(self) -> dict:
        return {"counts": list(self.counts), "confidence": list(self.confidence), "accuracy": list(self.accuracy)}

    @classmethod
    def from_dict(cls, stored: dict) -> Reliability:
        """Stored bins; an empty bin's confidence and accuracy may come back as None (strict JSON)."""

        def numbers(key: str) -> tuple[float, ...]:
            return tuple(math.nan if v is None else float(v) for v in stored[key])

        return cls(tuple(int(n) for n in stored["counts"]), numbers("confidence"), numbers("accuracy"))


@dataclass(frozen=True)
class Calibration:
    """A set of predictions' NLL, ECE and reliability bins; ``to_dict`` is what a trial stores."""

    nll: float
    ece: float
    bins: Reliability

    def to_dict(self) -> dict:
        return {"nll": self.nll, "ece": self.ece, "bins": self.bins.to_dict()}

    @classmethod
    def from_dict(cls, stored: dict) -> Calibration:
        nll, ece = (math.nan if stored.get(k) is None else float(stored[k]) for k in ("nll", "ece"))
        return cls(nll, ece, Reliability.from_dict(stored["bins"]))


def nll(output: Tensor, y: Tensor, *, logits: bool = False) -> float:
    """−(1/N) Σ_i log p_i[y_i] of probabilities ``output`` (N, K), or with ``logits`` the softmax
    cross-entropy of logits. Probabilities are clipped below at their dtype's machine epsilon, as
    scikit-learn's ``log_loss`` clips them, so a confident miss costs −log ε rather than ∞."""
    import torch
    import torch.nn.functional as F

    log_p = F.log_softmax(output, dim=1) if logits else output.clamp_min(torch.finfo(output.dtype).eps).log()
    return float(F.nll_loss(log_p, y))


def reliability(output: Tensor, y: Tensor, bins: int = BINS, *, logits: bool = False) -> Reliability:
    """Count, mean confidence and accuracy per bin (i/B, (i+1)/B] of confidence, the first bin holding 0
    (computed in float64; a NaN output lands in the last bin and makes its means NaN)."""
    import torch

    probs = (output.softmax(dim=1) if logits else output).detach().to(torch.float64)
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == y).to(torch.float64)
    inner = torch.arange(1, bins, dtype=torch.float64, device=probs.device) / bins  # edges i/B, i = 1..B−1
    index = torch.bucketize(confidence, inner, right=False)  # bin b: inner[b−1] < c <= inner[b]
    counts = torch.bincount(index, minlength=bins)
    sums = torch.zeros((2, bins), dtype=torch.float64, device=probs.device)
    sums.index_add_(1, index, torch.stack([confidence, correct]))
    means = (sums / counts).tolist()  # 0/0 = NaN for an empty bin
    return Reliability(tuple(counts.tolist()), tuple(means[0]), tuple(means[1]))


def ece(output: Tensor, y: Tensor, bins: int = BINS, *, logits: bool = False) -> float:
    """Expected calibration error Σ_b (n_b/N) |acc_b − conf_b| over ``bins`` equal-width confidence bins."""
    return reliability(output, y, bins, logits=logits).ece


def score_calibration(output: Tensor, y: Tensor, bins: int = BINS, *, logits: bool = False) -> Calibration:
    """NLL, ECE and reliability bins of class probabilities ``output`` (N, K) (with ``logits``: of logits)
    for labels ``y`` (N,); e.g. ``score_calibration(mc_predict(model, X).mean, y)``."""
    binned = reliability(output, y, bins, logits=logits)
    return Calibration(nll(output, y, logits=logits), binned.ece, binned)


def trial_calibration(logits: Tensor, y: Tensor, task: str) -> dict | None:
    """What a trial stores of its evaluation predictions: ``Calibration.to_dict()`` of its logits (NLL the
    softmax cross-entropy, whatever loss it trained with); None for regression."""
    return score_calibration(logits, y, logits=True).to_dict() if task == "classification" else None
