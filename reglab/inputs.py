"""A model's input: one tensor or array, or several as a tuple, list or dict of them — what PyTorch's
``default_collate`` builds from items of that form. The model's ``forward`` receives it as its one argument,
as a DataLoader loop would pass it. Rows are the first axis of every part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # PyTorch loads with the first tensor: data that are only read need none
    import torch
    from torch import Tensor


def map_parts(fn: Callable, x: object, *others: object) -> object:
    """``x`` with ``fn`` applied to each part (a tensor or array), its tuple, list or dict kept; with
    ``others`` of the same structure, ``fn`` takes the matching part of each."""
    if isinstance(x, dict):
        return {key: map_parts(fn, x[key], *(other[key] for other in others)) for key in x}
    if isinstance(x, (tuple, list)):
        return type(x)(map_parts(fn, *values) for values in zip(x, *others))
    return fn(x, *others)


def parts(x: object) -> list:
    """The tensors or arrays of ``x``, in order."""
    found: list = []
    map_parts(found.append, x)
    return found


def is_several(x: object) -> bool:
    return isinstance(x, (tuple, list, dict))


def n_rows(x: object) -> int:
    return len(parts(x)[0])


def take(x: object, index) -> object:
    """The rows ``index`` of every part."""
    return map_parts(lambda part: part[index], x)


def shapes(x: object) -> object:
    """Each part's shape: a tuple, or the same structure of tuples for several parts."""
    return map_parts(lambda part: tuple(part.shape), x)


def sample_shape(x: object) -> object:
    """The shape of one row (each part's shape without its first axis)."""
    return map_parts(lambda part: tuple(part.shape[1:]), x)


def is_float(part) -> bool:
    return part.is_floating_point() if hasattr(part, "is_floating_point") else np.issubdtype(part.dtype, np.floating)


def to_tensors(x: object, device: torch.device, dtype: torch.dtype) -> object:
    """Every part as a tensor on ``device``: one input in ``dtype``; of several, the floating-point parts in
    ``dtype`` and the others (integer codes, masks) in their own type."""

    import torch

    def move(part, cast: bool) -> Tensor:
        part = part if isinstance(part, torch.Tensor) else torch.as_tensor(np.asarray(part))
        return part.to(device=device, dtype=dtype if cast or part.is_floating_point() else part.dtype)

    if not is_several(x):
        return move(x, True)
    return map_parts(lambda part: move(part, False), x)


def stack(xs: list) -> object:
    """Inputs of the same structure stacked on a new leading axis."""
    import torch

    return map_parts(lambda *same: torch.stack(same), *xs)
