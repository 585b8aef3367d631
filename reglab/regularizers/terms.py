"""Which parameters a penalty touches, and how it is applied (loss term or proximal step).

By default a penalty touches weights only: tensors with two or more dimensions that do not belong to a
normalization layer. Biases and normalization scales/shifts are left alone unless named explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch

from torch import Tensor, nn

from reglab.regularizers.penalties import Penalty
from reglab.regularizers.schedules import Schedule, constant

NORM_LAYERS = (  # PyTorch's public normalization layers (a lazy batch norm becomes its BatchNorm at its first forward)
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)

ParamChoice = None | str | Sequence[str] | Callable[[str, nn.Parameter], bool]


def _norm_parameter_names(model: nn.Module) -> set[str]:
    return {
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        if isinstance(module, NORM_LAYERS)
        for name, _ in module.named_parameters(recurse=False)
    }


def select_parameters(model: nn.Module, choice: ParamChoice = None) -> list[tuple[str, nn.Parameter]]:
    """Named parameters chosen by ``choice``.

    ``None``: weights only (ndim ≥ 2, not in a normalization layer). A string or list of strings:
    ``fnmatch`` patterns on parameter names (``"0.weight"``, ``"*.bias"``, ``"*"``). A callable:
    ``choice(name, parameter) -> bool``.
    """
    named = list(model.named_parameters())
    if choice is None:
        norms = _norm_parameter_names(model)
        chosen = [(n, p) for n, p in named if p.dim() >= 2 and n not in norms]
    elif callable(choice):
        chosen = [(n, p) for n, p in named if choice(n, p)]
    else:
        patterns = [choice] if isinstance(choice, str) else list(choice)
        chosen = [(n, p) for n, p in named if any(fnmatch(n, pat) for pat in patterns)]
        if not chosen:
            names = ", ".join(n for n, _ in named)
            raise ValueError(f"no parameter matches {patterns}: the model has {names}")
    return chosen


@dataclass(frozen=True)
class Term:
    """A penalty, the parameters it touches, how it is applied and its strength schedule.

    ``mode="loss"`` adds R(w) to the minibatch objective (autograd gives its (sub)gradient);
    ``mode="proximal"`` leaves the loss alone and applies the proximal step of lr·s(t)·R after each
    optimizer step (lr/(1 − μ) in place of lr under SGD momentum μ), which gives exact zeros for L1,
    elastic net and group lasso.
    """

    penalty: Penalty
    params: ParamChoice = None
    mode: str = "loss"
    schedule: Schedule = field(default=constant)

    def __post_init__(self) -> None:
        if self.mode not in ("loss", "proximal"):
            raise ValueError(
                f"Invalid value for argument mode: expected 'loss' or 'proximal'. Received: mode={self.mode!r}"
            )

    def bind(self, model: nn.Module) -> BoundTerm:
        return BoundTerm(self, select_parameters(model, self.params))


@dataclass(frozen=True)
class BoundTerm:
    """A term attached to one model's parameters."""

    term: Term
    named: list[tuple[str, nn.Parameter]]

    def value(self, step: int) -> Tensor | float:
        factor = self.term.schedule(step)
        return sum((factor * self.term.penalty.value(p) for _, p in self.named), 0.0)

    def prox_(self, step: int, step_size: Callable[[nn.Parameter], float | Tensor]) -> None:
        """In place: w ← prox of (η · s(t)) · R at w, with η = ``step_size(w)`` (a number or one per entry)."""
        factor = self.term.schedule(step)
        for _, p in self.named:
            p.data.copy_(self.term.penalty.prox(p.data, step_size(p) * factor))

    def describe(self) -> str:
        size = sum(p.numel() for _, p in self.named)
        names = ", ".join(n for n, _ in self.named) or "nothing"
        return (
            f"{self.term.penalty.describe()} as {self.term.mode}: {len(self.named)} tensors, {size:,} values ({names})"
        )


def summarize(model: nn.Module, terms: Iterable[Term]) -> str:
    """A readable account of what each term touches, and which parameters no term touches."""
    bound = [t.bind(model) for t in terms]
    touched = {n for b in bound for n, _ in b.named}
    untouched = [n for n, _ in model.named_parameters() if n not in touched]
    lines = [b.describe() for b in bound]
    lines.append(f"not penalized: {', '.join(untouched) or 'nothing'}")
    return "\n".join(lines)
