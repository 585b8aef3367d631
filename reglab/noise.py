"""Each trial's own random streams for its noise layers (the dropout family): one generator per layer,
seeded from the trial's seed and the layer's place, so its masks do not depend on what else draws."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from reglab.regularizers.dropout import DROPOUT_MODULES


def noise_seed(seed: int, index: int) -> int:
    """Seed of a trial's ``index``-th noise layer: a hash of (trial seed, index), a stream apart from the
    data order (which a generator seeded with ``seed`` itself draws)."""
    return int(np.random.SeedSequence([seed % 2**64, index]).generate_state(1, np.uint64)[0])


def noise_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout-family layers that take a ``generator``, in ``model.modules()`` order."""
    return [m for m in model.modules() if isinstance(m, DROPOUT_MODULES) and hasattr(m, "generator")]


@contextmanager
def seeded_noise(model: nn.Module, seed: int, device: torch.device) -> Iterator[None]:
    """Gives the i-th noise layer its own generator on ``device``, seeded with ``noise_seed(seed, i)``;
    the layers get their previous generators back on exit."""
    layers = noise_layers(model)
    previous = [layer.generator for layer in layers]
    for i, layer in enumerate(layers):
        layer.generator = torch.Generator(device=device).manual_seed(noise_seed(seed, i))
    try:
        yield
    finally:
        for layer, generator in zip(layers, previous):
            layer.generator = generator
