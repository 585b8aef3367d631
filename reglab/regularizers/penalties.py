"""Penalties R(w): a value (differentiable, a subgradient for |w|) and a proximal step.

The objective is always ``mean data loss + R(w)`` with (λ = ``strength``, ρ = ``l1_ratio``):

=============  ===========================================  =========================================
penalty        R(w)                                         prox of t·R at v
=============  ===========================================  =========================================
L1             λ Σ|w|                                       soft-threshold S(v, tλ)
L2             (λ/2) Σ w²                                   v / (1 + tλ)
ElasticNet     λ (ρ Σ|w| + (1−ρ)/2 Σ w²)                    S(v, tλρ) / (1 + tλ(1−ρ))
GroupLasso     λ Σ_g √(size g) ‖w_g‖₂                       v_g · max(0, 1 − tλ√(size g) / ‖v_g‖₂)
                                                            (a per-entry t: ``metric_group_shrink_``)
=============  ===========================================  =========================================

A group is one unit's incoming weights: a row of ``w.reshape(w.shape[0], -1)``. A penalty is a small
immutable value; it knows nothing of optimizers or models.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from reglab.validation import check_fraction, check_nonnegative


def soft_threshold_(v: Tensor, tau: float | Tensor) -> Tensor:
    """v ← S(v, τ) = sign(v) · max(|v| − τ, 0) = v − clip(v, −τ, τ) in place: exact zeros where |v| ≤ τ."""
    return v.sub_(torch.clamp(v, -tau, tau))


def soft_threshold(v: Tensor, tau: float | Tensor) -> Tensor:
    """S(v, τ) as a new tensor."""
    return soft_threshold_(v.clone(), tau)


def as_values(x: float | Tensor, like: Tensor) -> Tensor:
    """x as a tensor of ``like``'s dtype and device: a proximal map then rounds tλ, 1 + tλ, ... in that
    dtype, as the stacked engine rounds its per-member values, so both give the same bits."""
    return x.to(like.dtype) if isinstance(x, Tensor) else torch.tensor(x, dtype=like.dtype, device=like.device)


def unit_rows(w: Tensor) -> Tensor:
    """View of ``w`` with one row per unit (its incoming weights); a vector is one group per entry."""
    return w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(-1, 1)


def group_shrink_(v: Tensor, tau: float | Tensor, dim: int = 1) -> Tensor:
    """In place, the proximal map of τ√n ‖·‖₂ on each group g — the entries of v along ``dim``, n =
    v.shape[dim] — whole groups becoming exactly zero. A τ equal across a group (a number, or one per
    stacked member) scales it by max(0, 1 − τ√n / ‖v_g‖₂). A τ that varies within a group (one per entry:
    Adam's diagonal metric) gives the map in that metric, ``metric_group_shrink_``."""
    if isinstance(tau, Tensor) and tau.dim() == v.dim() and tau.shape[dim] > 1:
        return metric_group_shrink_(v, tau * math.sqrt(v.shape[dim]), dim)
    norms = torch.clamp(v.norm(dim=dim, keepdim=True), min=torch.finfo(v.dtype).tiny)
    return v.mul_(torch.clamp(1.0 - norms.reciprocal() * (tau * math.sqrt(v.shape[dim])), min=0.0))


def metric_group_shrink_(v: Tensor, a: Tensor, dim: int = 1, max_iter: int = 100) -> Tensor:
    """v ← argmin_u ‖u‖₂ + Σᵢ (uᵢ − vᵢ)² / (2aᵢ) on each group along ``dim``, in place (a ≥ 0 per entry;
    where aᵢ = 0, uᵢ = vᵢ).

    u = 0 where ‖v/a‖₂ ≤ 1; elsewhere uᵢ = vᵢ · r / (r + aᵢ) with r = ‖u‖₂ > 0 the root of
    g(r) = Σᵢ vᵢ² / (r + aᵢ)² = 1, g falling from ‖v/a‖² > 1 at r = 0 to at most 1 at r = ‖v‖₂.
    Newton's steps on 1/√g − 1 (linear in r when a is constant, so exact in one step from there) are
    kept inside that bracket by bisection; each group stops once its own r settles (two or three steps),
    so its result does not depend on the other groups it is solved with. Groups that hold a non-finite
    value are left to their NaN.
    """
    v2 = v.square()
    floor = torch.finfo(v.dtype).tiny ** 0.5  # d ≥ floor: vᵢ² / dᵢ² is 0 where vᵢ = 0, huge where only dᵢ is 0
    norm = v2.sum(dim=dim, keepdim=True).sqrt()
    keep = (v2 / a.clamp(min=floor).square()).sum(dim=dim, keepdim=True) > 1.0
    lo, hi = torch.zeros_like(norm), norm.clone()
    r = torch.clamp(norm - a.mean(dim=dim, keepdim=True), min=0.0)
    active = keep & norm.isfinite()
    for _ in range(max_iter):
        if not active.any():
            break
        d = (r + a).clamp_(min=floor)
        q = v2 / d.square()
        g, g3 = q.sum(dim=dim, keepdim=True), q.div_(d).sum(dim=dim, keepdim=True)  # g3 = −g′/2
        low = g > 1.0
        lo, hi = torch.where(active & low, r, lo), torch.where(active & ~low, r, hi)
        newton = r + (g * g.sqrt() - g) / g3  # Newton on h = 1/√g − 1: h′ = g^{-3/2} g3
        guess = torch.where((newton >= lo) & (newton <= hi), newton, 0.5 * (lo + hi))
        settled = (guess - r).abs() <= 4 * torch.finfo(v.dtype).eps * guess
        r = torch.where(active, guess, r)
        active &= ~settled
    return v.mul_(torch.where(keep, r / (r + a).clamp(min=floor), torch.zeros_like(r)))


def block_soft_threshold(v: Tensor, tau: float | Tensor) -> Tensor:
    """``group_shrink_`` over units, the rows of ``unit_rows(v)``, as a new tensor."""
    rows = unit_rows(v.clone())
    return group_shrink_(rows, unit_rows(tau) if isinstance(tau, Tensor) and tau.dim() else tau).reshape(v.shape)


class Penalty(ABC):
    """A regularization term R(w) on one tensor, linear in its strength λ."""

    name: str
    strength: float

    def value(self, w: Tensor) -> Tensor:
        """R(w) as a differentiable scalar."""
        return self.value_of(w, self.strength, getattr(self, "l1_ratio", 0.0))

    @staticmethod
    @abstractmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        """R(w) with λ = ``strength`` given (a number, or a 0-dim tensor: one member's, under ``vmap``);
        ``l1_ratio`` matters to the elastic net alone. λ = 0 gives 0 and a zero gradient."""

    @abstractmethod
    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        """argmin_u R(u) + ‖u − v‖² / (2t); a tensor t (one step per entry) is a diagonal metric."""

    @staticmethod
    @abstractmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        """v ← the proximal map of t·R at v, in place, with tλ given: a number, or a tensor broadcasting
        against v (one per entry, or one per member of a stack of weights); groups lie along dim 1;
        ``l1_ratio`` matters to the elastic net alone. ``prox`` applies it to a copy (the group lasso: to
        the copy's ``unit_rows``); the stacked engine to each member's weights, with per-member values."""

    def describe(self) -> str:
        return f"{self.name}(λ={self.strength:g})"


@dataclass(frozen=True)
class L1(Penalty):
    """Lasso: R(w) = λ Σ|w|; its proximal step gives exact zeros."""

    strength: float
    name = "l1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_nonnegative("strength", self.strength))

    @staticmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor = 1.0) -> Tensor:
        return strength * w.abs().sum()

    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        return self.shrink_(v.clone(), as_values(t * self.strength, v))

    @staticmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor = 1.0) -> Tensor:
        return soft_threshold_(v, tl)


@dataclass(frozen=True)
class L2(Penalty):
    """Ridge: R(w) = (λ/2) Σ w², gradient λw — the same as ``torch.optim.SGD(weight_decay=λ)``."""

    strength: float
    name = "l2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_nonnegative("strength", self.strength))

    @staticmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor = 0.0) -> Tensor:
        return 0.5 * strength * w.pow(2).sum()

    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        return self.shrink_(v.clone(), as_values(t * self.strength, v))

    @staticmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor = 0.0) -> Tensor:
        return v.div_(1.0 + tl)


@dataclass(frozen=True)
class ElasticNet(Penalty):
    """R(w) = λ (ρ Σ|w| + (1−ρ)/2 Σ w²), ρ = ``l1_ratio`` as in scikit-learn and glmnet."""

    strength: float
    l1_ratio: float = 0.5
    name = "elasticnet"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_nonnegative("strength", self.strength))
        object.__setattr__(self, "l1_ratio", check_fraction("l1_ratio", self.l1_ratio))

    @staticmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        return strength * (l1_ratio * w.abs().sum() + 0.5 * (1.0 - l1_ratio) * w.pow(2).sum())

    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        return self.shrink_(v.clone(), as_values(t * self.strength, v), as_values(self.l1_ratio, v))

    @staticmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        return soft_threshold_(v, tl * l1_ratio).div_(1.0 + tl * (1.0 - l1_ratio))

    def describe(self) -> str:
        return f"{self.name}(λ={self.strength:g}, l1_ratio={self.l1_ratio:g})"


@dataclass(frozen=True)
class GroupLasso(Penalty):
    """R(w) = λ Σ_g √(size g) ‖w_g‖₂ over units g; its proximal step removes whole units."""

    strength: float
    name = "grouplasso"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_nonnegative("strength", self.strength))

    @staticmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor = 0.0) -> Tensor:
        rows = unit_rows(w)
        return strength * math.sqrt(rows.shape[1]) * rows.norm(dim=1).sum()

    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        return block_soft_threshold(v, as_values(t * self.strength, v))

    @staticmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor = 0.0) -> Tensor:
        """Groups along dim 1: a row of ``unit_rows``, or a unit's column of stacked (K, in, out) weights."""
        return group_shrink_(v, tl)
