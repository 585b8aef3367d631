"""Monte-Carlo dropout: T stochastic forward passes as an approximate predictive distribution.

With outputs f_t(x), t = 1..T, each pass drawing fresh dropout masks (Gal & Ghahramani, "Dropout as a
Bayesian Approximation", ICML 2016):

- classification: p̄ = (1/T) Σ_t softmax(f_t(x)), std_t of the probabilities, and the predictive entropy
  H = −Σ_k p̄_k log p̄_k (0 log 0 = 0);
- regression: the mean and std over passes of f_t(x); no entropy.

p̄ is scored like any classifier's probabilities: ``prediction.calibration(y)`` gives its NLL, ECE and
reliability bins (``reglab.calibration``).

Standard deviations divide by T. Only dropout-family modules draw noise; every other module, batch norm
included, runs in evaluation mode, so running statistics are neither used from the batch nor updated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reglab import inputs
from reglab.calibration import BINS, Calibration, score_calibration
from reglab.data.dataset import TASKS
from reglab.regularizers.dropout import DROPOUT_MODULES
from reglab.validation import check_count


@dataclass(frozen=True)
class MCPrediction:
    """Mean and std over passes (per sample and output) and, for classification, predictive entropy."""

    mean: Tensor  # p̄ (N, K) for classification; mean output for regression
    std: Tensor  # standard deviation over passes, same shape as ``mean``
    entropy: Tensor | None  # −Σ_k p̄_k log p̄_k, shape (N,); None for regression

    def calibration(self, y: Tensor, bins: int = BINS) -> Calibration:
        """NLL, ECE and reliability bins of the predictive probabilities p̄ for labels ``y`` (N,)."""
        if self.entropy is None:
            raise ValueError("calibration scores class probabilities: this is a regression prediction")
        return score_calibration(self.mean, y, bins)


@contextmanager
def _only_dropout_training(model: nn.Module) -> Iterator[None]:
    """Evaluation mode everywhere except dropout-family modules; every module's mode is restored after."""
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        for module in model.modules():
            if isinstance(module, DROPOUT_MODULES):
                module.train()
        yield
    finally:
        for module, training in modes.items():
            module.training = training


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seeds the global RNG inside a forked RNG state, so the caller's RNG is left as it was."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def mc_predict(
    model: nn.Module,
    X: Tensor | tuple | list | dict,
    passes: int = 30,
    task: str = "classification",
    generator_seed: int | None = None,
) -> MCPrediction:
    """Predict with ``passes`` stochastic forward passes of ``model`` on ``X`` (no gradients).

    Args:
        model: any module; its dropout-family layers (see ``DROPOUT_MODULES``) draw noise.
        X: a batch of inputs: one tensor, or several in a tuple, list or dict (the model's one argument).
        passes: number T of forward passes, at least 1.
        task: "classification" (outputs are logits) or "regression".
        generator_seed: when given, the passes draw from a global RNG seeded with it, inside a forked RNG
            state so the caller's RNG is untouched; layers with their own ``generator`` keep using it.
    """
    passes = check_count("passes", passes)
    if task not in TASKS:
        raise ValueError(f"Invalid value for argument task: expected one of {TASKS}. Received: task={task!r}")
    with torch.no_grad(), _only_dropout_training(model), _seeded(generator_seed, inputs.parts(X)[0].device):
        outputs = torch.stack([model(X) for _ in range(passes)])
    if task == "classification":
        outputs = outputs.softmax(dim=-1)
    mean = outputs.mean(dim=0)
    # The std is shift-invariant; shifting by the first pass makes it exactly 0 when all passes agree.
    std = (outputs - outputs[0]).std(dim=0, correction=0)
    entropy = -torch.special.xlogy(mean, mean).sum(dim=-1) if task == "classification" else None
    return MCPrediction(mean=mean, std=std, entropy=entropy)
