"""The task's own loss and metric: cross-entropy and accuracy for classification, mean squared error and R²
for regression (a study may put a user's own in their place, see ``FitConfig``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def data_loss(output: Tensor, y: Tensor, task: str) -> Tensor:
    """Mean cross-entropy, or mean squared error (torch.nn.MSELoss) on a single output."""
    if task == "classification":
        return nn.functional.cross_entropy(output, y)
    return nn.functional.mse_loss(output.reshape(y.shape), y)


def metric(output: Tensor, y: Tensor, task: str) -> float:
    """Accuracy for classification, R² = 1 − SSE/SST for regression (higher is better for both)."""
    return metric_value(output, y, task).item()


def metric_value(output: Tensor, y: Tensor, task: str) -> Tensor:
    """``metric`` as a 0-dim tensor (NaN for R² on a constant target), so that ``vmap`` scores a stack of
    members' outputs in one pass."""
    if task == "classification":
        return (output.argmax(dim=1) == y).double().mean()
    residual = ((output.reshape(y.shape) - y) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    return torch.where(total > 0, 1.0 - residual / total, torch.nan)
