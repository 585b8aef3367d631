"""Soft targets: label smoothing, and mixup and CutMix, which train each minibatch on mixtures of its samples.

**Label smoothing** ε (Szegedy et al., CVPR 2016) fits the target q = (1 − ε)·onehot(y) + ε/K, so its
cross-entropy is (1 − ε)·CE(ŷ, y) + ε·mean_k(−log softmax(ŷ)_k), as ``torch.nn.CrossEntropyLoss(
label_smoothing=ε)`` and Keras's ``label_smoothing``; code that puts ε'/(K − 1) on each wrong class instead
has ε = ε'·K/(K − 1) (``conversions.from_off_target_smoothing``).

**Mixup** α (Zhang et al., ICLR 2018) and **CutMix** α (Yun et al., ICCV 2019) draw λ ~ Beta(α, α) per
minibatch and pair sample i with sample B − 1 − i of the same (shuffled) minibatch: the batch flipped, as
timm pairs them (Keras permutes the batch at random; on a shuffled minibatch both pair at random). Both are
one weight map w over a sample, x̃ = w·x + (1 − w)·x_partner:

- mixup: w = λ everywhere;
- CutMix: w = 0 in a box, 1 outside. On the last two spatial axes (the one axis of a signal), with side
  s_a = ⌊r·S_a⌋, r = √(1 − λ) (1 − λ on signals), and a centre c_a drawn uniformly from 0..S_a − 1, the box
  spans c_a − ⌊s_a/2⌋ ≤ i < c_a + ⌊s_a/2⌋, clipped to the sample (timm's ``rand_bbox``);
  λ becomes 1 − (clipped box)/(S_1···S_d), as timm corrects it.

The loss fits the mixed target: λ·loss(ŷ, y) + (1 − λ)·loss(ŷ, y_partner) for classes (for cross-entropy,
the cross-entropy against the soft target λ·onehot(y) + (1 − λ)·onehot(y_partner)), and loss(ŷ, λ·y + (1 − λ)·
y_partner) for regression. With both α set, each minibatch is CutMix or mixup with probability ½ (timm's
switch). A minibatch's draws come from the trial's own stream (``Mixing.draws``), so they depend on its seed
only, and a stacked engine mixes every member's slot with its own draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from reglab.validation import check_nonnegative

MIXING_STREAM = 0x4D495855  # a seed's mixing stream, apart from its data order and its noise layers'


def smoothed_cross_entropy(output: Tensor, y: Tensor, epsilon: float | Tensor) -> Tensor:
    """Mean cross-entropy of logits ``output`` (N, K) against (1 − ε)·onehot(y) + ε/K; ε a number, or a 0-d
    tensor (one member's, under ``vmap``)."""
    uniform = -F.log_softmax(output, dim=1).mean(dim=1).mean()
    return (1.0 - epsilon) * F.cross_entropy(output, y) + epsilon * uniform


@dataclass(frozen=True)
class Mixing:
    """Mixup's α and CutMix's α (0: off); a minibatch draws one of those set, each with probability ½ when
    both are."""

    mixup: float = 0.0
    cutmix: float = 0.0

    def __post_init__(self) -> None:
        check_nonnegative("mixup", self.mixup)
        check_nonnegative("cutmix", self.cutmix)

    def draws(self, seed: int, steps: int) -> Tensor:
        """(steps, 4) float64: per minibatch (CutMix or not, λ, the box centre's place on two axes in [0, 1)),
        from the stream of ``seed``. Without mixing every row is (0, 1, 0, 0): x̃ = x."""
        rows = np.tile([0.0, 1.0, 0.0, 0.0], (steps, 1))
        if self.mixup or self.cutmix:
            rng = np.random.default_rng([seed % 2**64, MIXING_STREAM])
            switch, centre = rng.random(steps), rng.random((steps, 2))
            cut = switch < 0.5 if self.mixup and self.cutmix else np.full(steps, self.cutmix > 0)
            lam_mixup = rng.beta(self.mixup, self.mixup, steps) if self.mixup else np.ones(steps)
            lam_cutmix = rng.beta(self.cutmix, self.cutmix, steps) if self.cutmix else np.ones(steps)
            rows = np.column_stack([cut, np.where(cut, lam_cutmix, lam_mixup), centre])
        return torch.from_numpy(rows)

    def check(self, x: object) -> None:
        """Refuse, in one line, inputs these mixtures cannot mix."""
        if not isinstance(x, Tensor):
            raise ValueError(
                "mixup and CutMix mix one input tensor, and these inputs are several: mix inside your model"
            )
        if not x.is_floating_point():
            raise ValueError(f"mixup and CutMix mix floating-point inputs, not {x.dtype} codes")
        if self.cutmix and x.dim() < 3:
            raise ValueError(
                f"CutMix pastes boxes into signals (N, C, L) or images (N, C, H, W); received x of shape "
                f"{tuple(x.shape)}: a table has no spatial axis (use mixup)"
            )


def mix(x: Tensor, draw: Tensor) -> tuple[Tensor, Tensor]:
    """(x̃, λ) for one minibatch ``x`` (B, ...) and its ``draw`` (CutMix or not, λ, centre): x̃ = w·x + (1 − w)·
    x_partner, the partner the batch flipped; λ the target's weight. Tensor operations only, so a stack maps
    it over its members with ``vmap``."""
    cut, lam = draw[0] > 0, draw[1]
    spatial = x.shape[2:]
    inside = torch.ones((), dtype=torch.bool, device=x.device)
    if spatial:
        boxed = spatial[-2:]  # a box on the last two axes (one, for signals), deeper axes whole
        ratio = (1.0 - lam) ** (1.0 / len(boxed))
        for axis, size in enumerate(boxed):
            side = torch.floor(size * ratio)
            centre = torch.floor(draw[2 + axis] * size)
            low = (centre - torch.floor(side / 2)).clamp(0, size)
            high = (centre + torch.floor(side / 2)).clamp(0, size)
            index = torch.arange(size, device=x.device, dtype=draw.dtype)
            shape = [1] * len(spatial)
            shape[len(spatial) - len(boxed) + axis] = size
            inside = inside & ((index >= low) & (index < high)).reshape(shape)
        kept = 1.0 - inside.to(draw.dtype).mean()
    else:
        kept = torch.ones((), dtype=draw.dtype, device=x.device)
    weight = torch.where(cut, (~inside).to(x.dtype), lam.to(x.dtype))
    return weight * x + (1 - weight) * x.flip(0), torch.where(cut, kept, lam)


def mixed_loss(loss: Callable[[Tensor, Tensor], Tensor], output: Tensor, y: Tensor, lam: Tensor, task: str) -> Tensor:
    """The loss against the mixed target: λ·loss(ŷ, y) + (1 − λ)·loss(ŷ, y_partner) for classes,
    loss(ŷ, λ·y + (1 − λ)·y_partner) for regression (``lam`` 1: loss(ŷ, y))."""
    partner, lam = y.flip(0), lam.to(output.dtype)
    if task == "classification":
        return lam * loss(output, y) + (1 - lam) * loss(output, partner)
    return loss(output, lam * y + (1 - lam) * partner)
