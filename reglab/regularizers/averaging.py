"""Weight averaging: the trial is scored with a running average of its weights, not its last iterate.

- EMA with decay d (as ``torch.optim.swa_utils.AveragedModel(multi_avg_fn=get_ema_multi_avg_fn(d),
  use_buffers=True)``): after every step e ← d·e + (1 − d)·w, over the parameters and the buffers (batch
  norm's running statistics), the first update copying w;
- SWA from a start epoch (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
  Generalization", UAI 2018; ``AveragedModel`` with ``update_bn``): after each epoch from the start on, the
  mean of the weights so far, e ← e + (w − e)/(n + 1); at the end batch norm's statistics are recomputed on
  the training rows (``torch.optim.swa_utils.update_bn``), as the averaged weights never produced them. The
  optimizer's learning rate stays as it was (no SWA schedule).

Both are one update, e ← lerp(e, w, a): a = 1 − d for EMA, 1/(n + 1) for SWA, and 1 for the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reglab.member_axis import along
from reglab.validation import check_probability

KINDS = ("ema", "swa")


@dataclass(frozen=True)
class WeightAverage:
    """EMA with ``value`` = d, or SWA with ``value`` = the fraction of the epochs after which it starts."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Invalid value for argument kind: expected one of {KINDS}. Received: kind={self.kind!r}")
        check_probability(self.kind, self.value)

    def start(self, epochs: int) -> int:
        """The first epoch (0-based) whose end SWA averages: ⌊value·epochs⌋, at most the last."""
        return min(int(self.value * epochs), epochs - 1)

    def tensors(self, model: nn.Module) -> list[Tensor]:
        """What it averages: the parameters, and for EMA the buffers too (``model.state_dict()`` order)."""
        buffers = list(model.buffers()) if self.kind == "ema" else []
        return [*model.parameters(), *buffers]


class Averages:
    """Running averages of tensors with a leading member axis (K, ...): one member's (K = 1) or a stack's."""

    def __init__(self, tensors: list[Tensor]) -> None:
        self.values = [t.detach().clone() for t in tensors]
        self.count = torch.zeros(len(tensors[0]), dtype=torch.float64, device=tensors[0].device)

    @torch.no_grad()
    def update_(self, tensors: list[Tensor], include: Tensor, decay: Tensor | None = None) -> None:
        """e ← lerp(e, w, a) for the members ``include`` (K,) marks: a = 1 at a member's first update, then
        1 − d with ``decay`` d (K,) (EMA), or 1/(n + 1) after n updates without (SWA). Integer buffers (batch
        norm's step count) take w."""
        after = 1.0 / (self.count + 1) if decay is None else 1.0 - decay.to(torch.float64)
        weight = torch.where(include, torch.where(self.count > 0, after, 1.0), 0.0)
        for average, current in zip(self.values, tensors):
            shaped = along(weight, average)
            if average.is_floating_point():
                average.lerp_(current.detach(), shaped.to(average.dtype))
            else:
                average.copy_(torch.where(shaped > 0, current, average))
        self.count += include.to(torch.float64)


@torch.no_grad()
def apply_average(model: nn.Module, average: WeightAverage, values: list[Tensor], batches: object) -> None:
    """Give ``model`` one member's averaged ``values`` (in ``average.tensors`` order); for SWA, batch norm's
    statistics recomputed by ``torch.optim.swa_utils.update_bn`` over ``batches`` of the training rows
    ((input, target) pairs, in order; noise layers draw in it, as in any training-mode forward)."""
    for target, value in zip(average.tensors(model), values):
        target.detach().copy_(value)
    if average.kind == "swa":
        torch.optim.swa_utils.update_bn(batches, model)
