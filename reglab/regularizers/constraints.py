"""Constraints: projections applied to a weight after each optimizer step (not penalties in the loss).

Max-norm keeps every unit's incoming weight vector inside a ball, ‖w_j‖₂ ≤ c; Srivastava et al. (JMLR 2014)
pair it with dropout so that large learning rates cannot blow the weights up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reglab.validation import check_positive


def max_norm_scale(norms: Tensor, c: float | Tensor) -> Tensor:
    """min(1, c / ‖w_j‖₂) from the units' norms: exactly 1 for a unit already within c. A tensor c (one
    bound per member of a stack of weights) broadcasts against ``norms``; the stacked engine calls this."""
    return torch.where(norms > c, norms.reciprocal() * c, torch.ones_like(norms))


def project_units_(weight: Tensor, c: float | Tensor, unit_dim: int = 0) -> Tensor:
    """w_j ← w_j · min(1, c / ‖w_j‖₂) in place for every unit j along ``unit_dim``, its incoming weights
    in the dimensions after it; ``unit_dim=1`` with c of shape (K, 1) projects a stack of K members'
    weights (K, out, in, ...), each onto its own ball (c = inf: left exactly as it is)."""
    norms = weight.flatten(unit_dim + 1).norm(dim=-1)
    return weight.mul_(max_norm_scale(norms, c).reshape(*norms.shape, *(1,) * (weight.dim() - unit_dim - 1)))


@dataclass(frozen=True)
class MaxNorm:
    """Projection onto ‖w_j‖₂ ≤ c for every unit j: w_j ← w_j · min(1, c / ‖w_j‖₂).

    A unit's incoming weights are one row of ``w.reshape(out, -1)``: a row of a Linear weight (out, in) or
    one filter of a convolution kernel (out, in, *k) — Keras ``MaxNorm`` with its axis on the incoming
    weights. Rows already within c are left exactly as they are.
    """

    c: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", check_positive("c", self.c))

    def project_(self, weight: Tensor) -> Tensor:
        """Projects ``weight`` in place (outside autograd) and returns it."""
        if weight.dim() < 2:
            raise ValueError(
                f"MaxNorm needs a weight with one row per unit, shape (out, in, ...); received shape "
                f"{tuple(weight.shape)}"
            )
        with torch.no_grad():
            return project_units_(weight, self.c)

    def __call__(self, weight: Tensor) -> Tensor:
        return self.project_(weight)
