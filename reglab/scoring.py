"""The task's own loss and metric: cross-entropy and accuracy for classification, mean squared error and R²
for regression (a study may put a user's own in their place, see ``FitConfig``)."""

from __future__ import annotations

from torch import Tensor, nn


def data_loss(output: Tensor, y: Tensor, task: str) -> Tensor:
    """Mean cross-entropy, or mean squared error (torch.nn.MSELoss) on a single output."""
    if task == "classification":
        return nn.functional.cross_entropy(output, y)
    return nn.functional.mse_loss(output.reshape(y.shape), y)


def metric(output: Tensor, y: Tensor, task: str) -> float:
    """Accuracy for classification, R² = 1 − SSE/SST for regression (higher is better for both)."""
    if task == "classification":
        return (output.argmax(dim=1) == y).double().mean().item()
    residual = ((output.reshape(y.shape) - y) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    return (1.0 - residual / total).item() if total > 0 else float("nan")
