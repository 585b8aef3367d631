"""The member axis: a stack's tensors lead with it, (K, ...), and one member's run alone is K = 1."""

from __future__ import annotations

from torch import Tensor


def along(values: Tensor, like: Tensor) -> Tensor:
    """Per-member values (K,) viewed as (K, 1, ...) to broadcast against ``like`` (K, ...)."""
    return values.view(-1, *(1,) * (like.dim() - 1))
