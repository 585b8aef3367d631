"""The rows a model trains or is scored on: ``(X, y)`` tensors (``X`` one tensor or several, see
``reglab.inputs``), or a map-style ``torch.utils.data.Dataset`` of ``(input, target)`` items (a user's own, with
its own transforms), read through a ``DataLoader``.

Either way the loop sees minibatches in an order drawn from the trial's generator, and scoring sees every row
once, in order, in evaluation batches of ``EVAL_BATCH``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from reglab import inputs

EVAL_BATCH = 8192
Rows = tuple[object, Tensor] | Dataset


def as_tensors(X, y, task: str, device: torch.device, dtype: torch.dtype) -> tuple[object, Tensor]:
    """``X`` (one input or several) and ``y`` as tensors on ``device``; class labels as int64."""
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).to(device)
    return inputs.to_tensors(X, device, dtype), (y.long() if task == "classification" else y.to(dtype))


def as_rows(data: tuple | Dataset, task: str, device: torch.device, dtype: torch.dtype) -> Rows:
    """``(X, y)`` as tensors on ``device``; a Dataset read once by ``reglab.cache``, its tensors; any other torch
    Dataset as it is (its items move batch by batch)."""
    from reglab.data.cache import CachedDataset

    if isinstance(data, CachedDataset):
        return as_tensors(data.inputs, data.targets, task, device, dtype)
    return data if isinstance(data, Dataset) else as_tensors(*data, task, device, dtype)


def n_rows(rows: Rows) -> int:
    return len(rows) if isinstance(rows, Dataset) else inputs.n_rows(rows[0])


def minibatches(
    rows: Rows,
    batch: int,
    generator: torch.Generator,
    task: str,
    device: torch.device,
    dtype: torch.dtype,
    num_workers: int = 0,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of minibatches in the order ``torch.randperm(n, generator=generator)``, for tensors and a torch
    Dataset alike (so a Dataset read once into tensors by ``reglab.cache`` trains as it does uncached)."""
    order = torch.randperm(n_rows(rows), generator=generator)
    if not isinstance(rows, Dataset):
        X, y = rows
        order = order.to(device)
        for i in range(0, len(y), batch):
            index = order[i : i + batch]
            yield inputs.take(X, index), y[index]
        return
    # The loader draws its workers' base seed from a generator of its own, one per epoch, so that ``generator``
    # gives the next epoch's order as it does for tensors.
    seed = int(np.random.SeedSequence(order[:64].tolist()).generate_state(1, np.uint64)[0])
    loader = DataLoader(
        rows,
        batch_size=batch,
        sampler=order.tolist(),
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
    for xb, yb in loader:
        yield as_tensors(xb, yb, task, device, dtype)


def ordered_batches(
    rows: Rows, task: str, device: torch.device, dtype: torch.dtype, num_workers: int = 0
) -> Iterator[tuple[Tensor, Tensor]]:
    """Every row once, in order, in batches of at most ``EVAL_BATCH``."""
    if not isinstance(rows, Dataset):
        X, y = rows
        for i in range(0, len(y), EVAL_BATCH):
            yield inputs.take(X, slice(i, i + EVAL_BATCH)), y[i : i + EVAL_BATCH]
        return
    # A generator of its own: a loader without one draws its workers' base seed from the global RNG, and
    # scoring would then shift the random transforms of the training that follows.
    loader = DataLoader(
        rows,
        batch_size=min(EVAL_BATCH, 512),
        shuffle=False,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(0),
    )
    for xb, yb in loader:
        yield as_tensors(xb, yb, task, device, dtype)
