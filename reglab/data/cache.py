"""A torch Dataset whose items are fixed, read once into tensors: ``reglab.cache(dataset)``.

A Dataset with a random transform must be read through a ``DataLoader`` every epoch (each read draws anew);
one whose items never change can be read once. Which it is, only its author knows, so caching is asked for,
never guessed. A cached Dataset is still a map-style Dataset of the same items (standardized by nothing), but
its trials train on tensors: minibatches are indexed, not collated, in the same order (a ``DataLoader``'s
random sampler and the tensor loop both take ``torch.randperm(n, generator=...)``), and they stack.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reglab import inputs
from reglab.data.dataset import DataError

MEMORY_FRACTION = 0.5  # of the available RAM a cached Dataset may take


class CachedDataset(Dataset):
    """Items ``(inputs[i], targets[i])`` held as tensors: ``inputs`` one tensor or several (tuple, list or
    dict), ``targets`` one per row."""

    def __init__(self, X: object, targets: torch.Tensor) -> None:
        self.inputs, self.targets = X, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return inputs.take(self.inputs, i), self.targets[i]

    def rows(self, idx: np.ndarray) -> tuple[object, torch.Tensor]:
        """The rows ``idx`` as ``(X, y)`` tensors."""
        index = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return inputs.take(self.inputs, index), self.targets[index]

    @staticmethod
    def concatenate(first: CachedDataset, second: CachedDataset) -> CachedDataset:
        X = inputs.map_parts(lambda a, b: torch.cat([a, b]), first.inputs, second.inputs)
        return CachedDataset(X, torch.cat([first.targets, second.targets]))


def cache(dataset: Dataset, batch_size: int = 512) -> CachedDataset:
    """Every item of a map-style ``dataset`` of ``(input, target)`` items read once, in order, collated by
    ``default_collate`` — for a Dataset whose items are fixed (no random transform). Refused when the items
    would take more than half the available memory."""
    from reglab.data.sources import torch_dataset

    torch_dataset(dataset)  # the items' one-line checks: pairs, one structure and shape, number targets
    first, _ = dataset[0]
    per_item = sum(torch.as_tensor(part).element_size() * torch.as_tensor(part).numel() for part in inputs.parts(first))
    needed, available = per_item * len(dataset), _available_ram()
    if needed > MEMORY_FRACTION * available:
        raise DataError(
            f"the Dataset's {len(dataset)} items take {needed / 2**30:.1f} GiB, more than half the available "
            f"{available / 2**30:.1f} GiB: pass it uncached (it is then read through a DataLoader)"
        )
    batches = list(DataLoader(dataset, batch_size=batch_size, shuffle=False))
    X = inputs.map_parts(lambda *parts: torch.cat(parts), *(x for x, _ in batches))
    return CachedDataset(X, torch.cat([torch.as_tensor(y) for _, y in batches]))


def _available_ram() -> int:
    from reglab.engine.batched import available_ram

    return available_ram()
