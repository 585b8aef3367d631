"""Sharpness-aware minimization (Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
Generalization", ICLR 2021): each step takes the gradient at the worst nearby point w + e of the ρ-ball,

    e = ρ · g / (‖g‖ + 10⁻¹²)                       (SAM; g the objective's gradient at w, ‖·‖ over all weights)
    e = ρ · w² ⊙ g / (‖|w| ⊙ g‖ + 10⁻¹²)            (adaptive SAM, Kwon et al., ICML 2021)

then returns to w and steps the base optimizer with that gradient: two forward and backward passes a step.
The ascent is the data term's: penalties R stay outside it, as in the paper's min_w max_e L(w + e) + λ‖w‖²,
so the step's gradient is ∇L(w + e) + ∇R(w) (L2 under SAM is ``SAM(SGD(weight_decay=λ))``). Batch norm's
running statistics follow the first pass only; noise layers draw afresh for the second pass, as the
reference implementation's two calls of the model do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reglab.member_axis import along
from reglab.validation import check_positive

EPSILON = 1e-12  # added to the gradient's norm, as the reference implementation does


@dataclass(frozen=True)
class SharpnessAware:
    """SAM's radius ρ, and whether the ball is scaled by |w| (adaptive SAM)."""

    rho: float
    adaptive: bool = False

    def __post_init__(self) -> None:
        check_positive("rho", self.rho)


def ascent(params: list[Tensor], grads: list[Tensor], rho: Tensor, adaptive: bool | Tensor) -> list[Tensor]:
    """SAM's e for each of ``params`` with a leading member axis (K, ...) and their ``grads``: ρ (K,) and the
    norm per member (one member: K = 1); ``adaptive`` a flag, or one per member."""

    if isinstance(adaptive, Tensor):
        scales = [torch.where(along(adaptive, w), w.abs(), torch.ones_like(w)) for w in params]
    else:
        scales = [w.abs() for w in params] if adaptive else [None] * len(params)
    scaled = [g if s is None else s * g for g, s in zip(grads, scales)]
    norm = torch.stack([(t * t).reshape(len(t), -1).sum(dim=1) for t in scaled]).sum(dim=0).sqrt()
    factor = rho.to(norm.dtype) / (norm + EPSILON)
    return [along(factor, g) * (g if s is None else s * s * g) for g, s in zip(grads, scales)]
