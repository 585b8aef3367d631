"""The MLP stack's regularizers on stacked tensors, one hyperparameter per member (its optimizers are the
loop's own, ``reglab.optimizers``).

Each step repeats the plain loop's arithmetic with a per-member value in place of the scalar:

- decoupled decay w ← w·(1 − ηλ_d) before the step; penalties as loss terms (their gradient added to the
  data gradient: λ sign w, λw, λ(ρ sign w + (1 − ρ)w), λ√n w_j/‖w_j‖) or proximal steps after it;
  max-norm projection last.

The proximal maps and the max-norm scale are the regularizers' own functions (``Penalty.shrink_``,
``max_norm_scale``) called with per-member columns. Penalty values and gradients are stated here per
member: values from norms (no temporaries the size of the stack), gradients in closed form where the plain
loop lets autograd differentiate the value; tests hold both to the single-model penalties.

Each regularizer touches only the members that use it (``Rows``: a slice of the stack when they are
contiguous, which ``Stack`` arranges by sorting its members).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from reglab.engine.members import Member
from reglab.member_axis import column
from reglab.regularizers.constraints import max_norm_scale
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso


class Rows:
    """Some members of a stack, by position: a slice (views) when contiguous, else an index (copies)."""

    def __init__(self, index: list[int], device: torch.device) -> None:
        self.index = index
        contiguous = index == list(range(index[0], index[-1] + 1))
        self.slice = slice(index[0], index[-1] + 1) if contiguous else None
        self.tensor = None if contiguous else torch.tensor(index, device=device)

    def take(self, t: Tensor) -> Tensor:
        return t[self.slice] if self.slice else t.index_select(0, self.tensor)

    def update_(self, t: Tensor, change_: Callable[[Tensor], object]) -> None:
        """Applies the in-place ``change_`` to these members' part of ``t``."""
        if self.slice:
            change_(t[self.slice])
        else:
            part = t.index_select(0, self.tensor)
            change_(part)
            t.index_copy_(0, self.tensor, part)

    def add_to(self, total: Tensor, values: Tensor) -> None:
        """total[rows] += values."""
        if self.slice:
            total[self.slice] += values
        else:
            total.index_add_(0, self.tensor, values)


@dataclass
class StackedTerm:
    """One penalty class in one mode, over the members that use it: λ per weight layer and member."""

    cls: type
    mode: str
    rows: Rows
    strengths: list[list[float]]  # [layer][member of rows]
    ratios: list[float]  # l1_ratio per member of rows

    def layers(self):
        """(layer, λ per member of rows) for the layers this term touches."""
        return [(i, lam) for i, lam in enumerate(self.strengths) if any(lam)]


class StackedRegularizers:
    """Every member's penalties, decay and max-norm, applied to the members that have them."""

    def __init__(self, members: list[Member], n_weights: int, device: torch.device) -> None:
        self.size = len(members)
        kinds: list[tuple[type, str]] = []
        for member in members:
            kinds += [(cls, mode) for cls, mode, _, _ in member.terms if (cls, mode) not in kinds]
        self.terms = [self._term(members, cls, mode, n_weights, device) for cls, mode in kinds]
        decayed = [k for k, m in enumerate(members) if m.decay]
        factors = [1.0 - members[k].fit.lr * members[k].decay for k in decayed]
        self.decay = (Rows(decayed, device), factors) if decayed else None
        bounded = [k for k, m in enumerate(members) if math.isfinite(m.max_norm)]
        self.max_norm = (Rows(bounded, device), [members[k].max_norm for k in bounded]) if bounded else None

    @staticmethod
    def _term(members: list[Member], cls: type, mode: str, n_weights: int, device: torch.device) -> StackedTerm:
        users = {k: term for k, m in enumerate(members) for term in m.terms if term[:2] == (cls, mode)}
        index = sorted(users)
        strengths = [[users[k][2].get(layer, 0.0) for k in index] for layer in range(n_weights)]
        return StackedTerm(cls, mode, Rows(index, device), strengths, [users[k][3] for k in index])

    @torch.no_grad()
    def value(self, weights: list[Tensor], mode: str | None = None) -> Tensor:
        """Σ R(w) per member (K,) over the terms of ``mode`` (all terms when None)."""
        total = weights[0].new_zeros(self.size)
        for term in self.terms:
            if mode in (None, term.mode):
                part: Tensor | float = 0.0
                for i, lam in term.layers():
                    part = part + penalty_value(term.cls, term.rows.take(weights[i]), lam, term.ratios)
                if isinstance(part, Tensor):
                    term.rows.add_to(total, part)
        return total

    @torch.no_grad()
    def add_gradients_(self, weights: list[Tensor], grads: list[Tensor]) -> None:
        """Adds the (sub)gradients of the loss-mode terms to the data gradients."""
        for term in self.terms:
            if term.mode == "loss":
                for i, lam in term.layers():
                    w = term.rows.take(weights[i])
                    gradient = partial(add_penalty_gradient_, term.cls, w=w, lam=lam, ratios=term.ratios)
                    term.rows.update_(grads[i], gradient)

    @torch.no_grad()
    def decay_(self, weights: list[Tensor]) -> None:
        """w ← w · (1 − η λ_d), before the optimizer step."""
        if self.decay is not None:
            rows, factors = self.decay
            for w in weights:
                rows.update_(w, lambda part: part.mul_(column(factors, part)))

    @torch.no_grad()
    def prox_(self, weights: list[Tensor], step: Callable[[int, Rows], Tensor | list[float]]) -> None:
        """The proximal terms in order, each w ← prox of t·R at w with t = ``step(layer, rows)``."""
        for term in self.terms:
            if term.mode == "proximal":
                for i, lam in term.layers():
                    t = step(i, term.rows)
                    term.rows.update_(weights[i], partial(penalty_prox_, term.cls, t=t, lam=lam, ratios=term.ratios))

    @torch.no_grad()
    def project_(self, weights: list[Tensor]) -> None:
        """Max-norm: each unit's weights w_j ← w_j · min(1, c/‖w_j‖₂), as ``MaxNorm.project_``."""
        if self.max_norm is not None:
            rows, bounds = self.max_norm
            for w in weights:
                rows.update_(w, lambda part: max_norm_(part, bounds))


def max_norm_(w: Tensor, bounds: list[float]) -> None:
    """w_j ← w_j · min(1, c/‖w_j‖₂) for every unit (column of w = Wᵀ, (K, in, out)), c per member."""
    norms = w.norm(dim=1, keepdim=True)
    w.mul_(max_norm_scale(norms, column(bounds, norms)))


def penalty_value(cls: type, w: Tensor, lam: list[float], ratios: list[float]) -> Tensor:
    """R(w) per member of w = Wᵀ (K, in, out), from norms: Σ|w| = ‖w‖₁, Σw² = ‖w‖₂² (no temporaries)."""
    like = w[:, 0, 0]
    if cls is GroupLasso:
        return column([s * math.sqrt(w.shape[1]) for s in lam], like) * w.norm(dim=1).sum(dim=1)
    absolute = torch.linalg.vector_norm(w, 1, dim=(1, 2)) if cls in (L1, ElasticNet) else None
    square = torch.linalg.vector_norm(w, 2, dim=(1, 2)).square() if cls in (L2, ElasticNet) else None
    if cls is L1:
        return column(lam, like) * absolute
    if cls is L2:
        return column([0.5 * s for s in lam], like) * square
    if cls is ElasticNet:
        rho, half = column(ratios, like), column([0.5 * (1.0 - r) for r in ratios], like)
        return column(lam, like) * (rho * absolute + half * square)
    raise ValueError(f"no stacked form for penalty {cls.__name__}")


def add_penalty_gradient_(cls: type, g: Tensor, w: Tensor, lam: list[float], ratios: list[float]) -> None:
    """g += ∇R(w) per member (a subgradient with sign 0 at 0), as autograd differentiates ``penalty_value``."""
    if cls is L1:
        g.addcmul_(torch.sign(w), column(lam, w))
    elif cls is L2:
        g.addcmul_(w, column(lam, w))
    elif cls is ElasticNet:
        g.addcmul_(torch.sign(w), column([s * r for s, r in zip(lam, ratios)], w))
        g.addcmul_(w, column([s * (1.0 - r) for s, r in zip(lam, ratios)], w))
    elif cls is GroupLasso:
        norms = w.norm(dim=1, keepdim=True)
        scale = (column([s * math.sqrt(w.shape[1]) for s in lam], w) / norms).masked_fill_(norms == 0, 0.0)
        g.addcmul_(w, scale)
    else:
        raise ValueError(f"no stacked form for penalty {cls.__name__}")


def penalty_prox_(cls: type, v: Tensor, t: Tensor | list[float], lam: list[float], ratios: list[float]) -> None:
    """v ← prox of t·R at v = Wᵀ per member, in place, by the penalty's own map (``shrink_``); t is Adam's
    per-entry tensor (consumed) or one step per member (SGD); a unit's incoming weights lie along dim 1."""
    tl = t.mul_(column(lam, v)) if isinstance(t, Tensor) else column([a * b for a, b in zip(t, lam)], v)
    cls.shrink_(v, tl, column(ratios, v))
