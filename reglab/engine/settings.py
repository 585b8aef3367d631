"""K members' regularizers as per-member (K,) settings over the stacked parameters (K, ...), applied to
all members at once with the regularizers' own functions.

Member k's penalty on parameter i is its strength λ[i, k] (0 where it has no such term: the value and its
gradient are then 0 and the proximal map the identity, so its weights stay bit for bit as they are); its
decoupled decay the factor 1 − η λ_d (1 where none); its max-norm bound c (inf where none). Values,
factors and steps are computed in float64 as the plain loop computes them in Python floats, and rounded
to the weights' dtype last, so each member gets the bits of its run alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import vmap

from reglab.member_axis import column
from reglab.optimizers import SGD, Adam
from reglab.regularizers.constraints import project_units_
from reglab.regularizers.schedules import constant
from reglab.regularizers.terms import select_parameters
from reglab.training import _Loop


@dataclass
class StackedPenalty:
    """One penalty class in one mode (the members' n-th term of it): λ per parameter and member."""

    cls: type
    mode: str
    strengths: dict[int, Tensor]  # stacked parameter → λ per member, float64 (K,)
    l1_ratio: Tensor  # (K,) in the weights' dtype
    factors: Tensor | None  # schedule factor per step and member, float64 (steps, K); None: all constant

    def factor(self, step: int) -> Tensor | None:
        return None if self.factors is None else self.factors[step]


class StackSettings:
    """The members' penalties, decay and max-norm on the stack's parameters, in the plain loop's order."""

    def __init__(self, models: list[nn.Module], loops: list[_Loop], steps: int) -> None:
        names = [name for name, _ in models[0].named_parameters()]
        first = next(models[0].parameters())
        self.dtype, self.device = first.dtype, first.device
        index = {name: i for i, name in enumerate(names)}
        if any(loop.constrained for loop in loops):
            raise ValueError("a registered constraint has no stacked form")
        self.penalties = self._penalties(loops, index, steps)
        lr = [loop.config.lr for loop in loops]
        self.decay = self._per_parameter(
            models,
            [loop.regularizers.decay_params for loop in loops],
            [lr[k] * loop.regularizers.decay for k, loop in enumerate(loops)],
            0.0,
            index,
        )
        bounds = [loop.regularizers.max_norm.c if loop.regularizers.max_norm else math.inf for loop in loops]
        self.max_norm = {
            i: c.to(self.dtype)
            for i, c in self._per_parameter(
                models, [loop.regularizers.max_norm_params for loop in loops], bounds, math.inf, index
            ).items()
        }
        vectors = [names[i] for i in self.max_norm if models[0].get_parameter(names[i]).dim() < 2]
        if vectors:
            raise ValueError(f"MaxNorm needs weights with one row per unit; {', '.join(vectors)} has none")

    def _per_parameter(self, models, choices, values, none: float, index) -> dict[int, Tensor]:
        """Parameter → (K,) float64 of each member's value where its ``choice`` selects the parameter,
        ``none`` elsewhere; only parameters some member gives a value other than ``none``."""
        table: dict[int, list[float]] = {}
        for k, (model, choice, value) in enumerate(zip(models, choices, values)):
            if value == none:
                continue
            for name, _ in select_parameters(model, choice):
                table.setdefault(index[name], [none] * len(models))[k] = value
        return {i: torch.tensor(v, dtype=torch.float64, device=self.device) for i, v in table.items()}

    def _penalties(self, loops: list[_Loop], index: dict[str, int], steps: int) -> list[StackedPenalty]:
        """A member's n-th term of one (class, mode) meets the others' n-th; its proximal terms must come
        in the stack's order (their maps do not commute)."""
        size, slots, order = len(loops), {}, []
        for k, loop in enumerate(loops):
            seen: dict[tuple, int] = {}
            places = []
            for bound in loop.terms:
                kind = (type(bound.term.penalty), bound.term.mode)
                seen[kind] = seen.get(kind, -1) + 1
                key = (*kind, seen[kind])
                slot = slots.setdefault(key, {"lam": {}, "ratio": [0.0] * size, "schedule": [constant] * size})
                for name, _ in bound.named:
                    slot["lam"].setdefault(index[name], [0.0] * size)[k] = bound.term.penalty.strength
                slot["ratio"][k] = getattr(bound.term.penalty, "l1_ratio", 0.0)
                slot["schedule"][k] = bound.term.schedule
                if bound.term.mode == "proximal":
                    places.append(list(slots).index(key))
            order.append(places == sorted(places))
        if not all(order):
            raise ValueError("the members apply their proximal terms in different orders")
        made = []
        for (cls, mode, _), slot in slots.items():
            schedules = slot["schedule"]
            factors = None
            if any(s is not constant for s in schedules):
                factors = torch.tensor([[s(t) for s in schedules] for t in range(steps)], dtype=torch.float64)
                factors = factors.to(self.device)
            strengths = {
                i: torch.tensor(lam, dtype=torch.float64, device=self.device)
                for i, lam in slot["lam"].items()
                if any(lam)
            }
            ratio = torch.tensor(slot["ratio"], dtype=self.dtype, device=self.device)
            made.append(StackedPenalty(cls, mode, strengths, ratio, factors))
        return made

    def penalty(self, params: list[Tensor], step: int) -> Tensor | float:
        """Σ s(t) R(w) per member (K,) over the loss-mode terms, differentiable: ``value_of`` vmapped."""
        total: Tensor | float = 0.0
        for term in self.penalties:
            if term.mode != "loss":
                continue
            factor, part = term.factor(step), 0.0
            for i, lam in term.strengths.items():
                value = vmap(term.cls.value_of)(params[i], lam.to(self.dtype), term.l1_ratio)
                part = part + (value if factor is None else factor.to(self.dtype) * value)
            total = total + part
        return total

    @torch.no_grad()
    def decay_(self, params: list[Tensor], live: Tensor) -> None:
        """w ← w (1 − η λ_d) per member, before the optimizer's step (``live`` 0: factor 1)."""
        for i, rate in self.decay.items():
            params[i].detach().mul_(column(1.0 - rate * live, params[i]))

    @torch.no_grad()
    def prox_(self, params: list[Tensor], optimizer: Adam | SGD, step: int, live: Tensor) -> None:
        """The proximal terms in order: w ← prox of t s(t) λ R at w, t the optimizer's step (Adam's per
        entry, SGD's η/(1 − μ) per member), by the penalty's own ``shrink_`` on every member's units."""
        for term in self.penalties:
            if term.mode != "proximal":
                continue
            factor = term.factor(step)
            for i, lam in term.strengths.items():
                t = optimizer.step_size(i, live)
                if isinstance(optimizer, Adam):
                    if factor is not None:
                        t.mul_(column(factor, t))
                    tl = units(t.mul_(column(lam, t)))
                else:
                    tl = (t if factor is None else t * factor) * lam
                    tl = tl.to(self.dtype).view(-1, 1, 1)
                term.cls.shrink_(units(params[i].detach()), tl, term.l1_ratio.view(-1, 1, 1))

    @torch.no_grad()
    def project_(self, params: list[Tensor], alive: Tensor) -> None:
        """Max-norm on every member's units, each with its own c (a dead member's: none)."""
        for i, bound in self.max_norm.items():
            c = torch.where(alive, bound, math.inf)
            project_units_(params[i].detach(), c.view(-1, 1), unit_dim=1)


def units(t: Tensor) -> Tensor:
    """View of stacked (K, out, ...) values as (K, in, out): member k's ``unit_rows`` transposed, so that
    a unit's incoming weights lie along dim 1, where ``Penalty.shrink_`` finds a group."""
    return t.reshape(t.shape[0], t.shape[1] if t.dim() > 1 else 1, -1).transpose(1, 2)
