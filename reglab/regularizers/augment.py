"""Data augmentation as a regularizer: random transforms of each training batch.

Each transform is a callable ``transform(x, generator) -> new tensor`` (of several inputs, input noise
acts on the floating-point parts and shifts refuse them) with explicit randomness (a
``torch.Generator``, or None for the global RNG); the input is never modified. Training on noisy inputs
x + ε, ε ~ N(0, σ²) is, to first order, Tikhonov regularization with strength σ² (Bishop, "Training with
Noise is Equivalent to Tikhonov Regularization", Neural Computation 1995).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reglab.inputs import is_several, map_parts
from reglab.regularizers.dropout import _draw_device
from reglab.validation import check_count, check_nonnegative


def shift(x: Tensor, shifts: Tensor) -> Tensor:
    """Moves each sample of x (N, C, *spatial) by integer ``shifts`` (N, n_spatial), filling with zeros.

    out[n, c, i] = x[n, c, i − s_n] where that index exists, else 0 (no wrap-around); a positive shift moves
    the content towards higher indices. Axes are shifted one after another, which is exact with zero fill.
    """
    for axis in range(2, x.dim()):
        x = _shift_axis(x, shifts[:, axis - 2], axis)
    return x


def _shift_axis(x: Tensor, shifts: Tensor, axis: int) -> Tensor:
    length = x.shape[axis]
    index_shape = [x.shape[0]] + [1] * (x.dim() - 1)
    index_shape[axis] = length
    source = torch.arange(length, device=x.device) - shifts.to(x.device)[:, None]
    source = source.reshape(index_shape).expand(x.shape)
    inside = (source >= 0) & (source < length)
    moved = x.gather(axis, source.clamp(0, length - 1))
    return torch.where(inside, moved, torch.zeros((), dtype=x.dtype, device=x.device))


@dataclass(frozen=True)
class GaussianNoise:
    """x + ε with ε ~ N(0, std²) drawn independently for every element."""

    std: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "std", check_nonnegative("std", self.std))

    def __call__(self, x: object, generator: torch.Generator | None) -> object:
        """Noise on every floating-point part of ``x`` (one tensor, or several: integer codes stay as they
        are), drawn part after part."""
        return map_parts(lambda part: self._noisy(part, generator) if part.is_floating_point() else part, x)

    def _noisy(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=_draw_device(x, generator))
        return x + self.std * noise.to(x.device)


@dataclass(frozen=True)
class RandomShift:
    """Shifts each sample of a signal (N, C, L) or image (N, C, H, W) by an integer drawn uniformly from
    [−max_shift, max_shift], independently per sample and spatial axis, with zero fill (see ``shift``).
    Tables (N, d) have no spatial axis and are rejected.
    """

    max_shift: int

    def __post_init__(self) -> None:
        check_count("max_shift", self.max_shift, minimum=0)

    def __call__(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        if is_several(x):
            raise ValueError(
                "RandomShift moves one signal or image tensor, and these inputs are several: shift inside your "
                "model or your Dataset's transform"
            )
        if x.dim() < 3:
            raise ValueError(
                f"RandomShift expects signals (N, C, L) or images (N, C, H, W); received x of shape "
                f"{tuple(x.shape)}: a table (N, d) has no spatial axis to shift"
            )
        m = self.max_shift
        size = (x.shape[0], x.dim() - 2)
        shifts = torch.randint(-m, m + 1, size, generator=generator, device=_draw_device(x, generator))
        return shift(x, shifts)
