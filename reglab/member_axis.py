"""The member axis: a stack's tensors lead with it, (K, ...), and one member's run alone is K = 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def along(values: Tensor, like: Tensor) -> Tensor:
    """Per-member values (K,) viewed as (K, 1, ...) to broadcast against ``like`` (K, ...)."""
    return values.view(-1, *(1,) * (like.dim() - 1))


def column(values: Sequence[float] | Tensor, like: Tensor) -> Tensor:
    """Per-member values as a (K, 1, …) tensor of ``like``'s dtype that broadcasts against ``like`` (K, …)."""
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(-1, *(1,) * (like.dim() - 1))
