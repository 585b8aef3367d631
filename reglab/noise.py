"""Each trial's own random streams for its noise layers (the dropout family): one generator per layer,
seeded from the trial's seed and the layer's place, so its masks do not depend on what else draws.

A stack of K trials of one architecture replays them: ``StackedNoise`` draws, for every noise layer and
member, the noise member k's own layer draws in its run alone (``draw_`` with member k's generator), into
one (K, ...) tensor handed to the vmapped forward as the layer's ``noise`` buffer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from reglab.inputs import map_parts
from reglab.regularizers.dropout import NOISE_LAYERS


def noise_seed(seed: int, index: int) -> int:
    """Seed of a trial's ``index``-th noise layer: a hash of (trial seed, index), a stream apart from the
    data order (which a generator seeded with ``seed`` itself draws)."""
    return int(np.random.SeedSequence([seed % 2**64, index]).generate_state(1, np.uint64)[0])


def noise_layers(model: nn.Module) -> list[nn.Module]:
    """reglab's dropout-family layers (each with its ``generator``), in ``model.modules()`` order."""
    return [m for m in model.modules() if isinstance(m, NOISE_LAYERS)]


def seed_noise(model: nn.Module, seed: int, device: torch.device) -> list[torch.Generator | None]:
    """Gives the i-th noise layer its own generator on ``device``, seeded with ``noise_seed(seed, i)``;
    returns the generators the layers had."""
    layers = noise_layers(model)
    previous = [layer.generator for layer in layers]
    for i, layer in enumerate(layers):
        layer.generator = torch.Generator(device=device).manual_seed(noise_seed(seed, i))
    return previous


@contextmanager
def seeded_noise(model: nn.Module, seed: int, device: torch.device) -> Iterator[None]:
    """``seed_noise`` inside the block; the layers get their previous generators back on exit."""
    previous = seed_noise(model, seed, device)
    try:
        yield
    finally:
        for layer, generator in zip(noise_layers(model), previous):
            layer.generator = generator


class StackedNoise:
    """The noise of K members' layers, member k's drawn by its own layer from its own generator.

    ``base`` is the stack's module (on the meta device) whose layers receive the noise; ``models`` are the
    members' own modules, of the same architecture, with seeded generators. A layer whose p is 0 in every
    member gets nothing (it is the identity in all of them).
    """

    def __init__(self, base: nn.Module, models: Sequence[nn.Module], dtype: torch.dtype, device: torch.device):
        self.base, self.dtype, self.device = base, dtype, device
        names = [name for name, module in base.named_modules() if isinstance(module, NOISE_LAYERS)]
        self.layers = {
            name: [model.get_submodule(name) for model in models]
            for name in names
            if any(model.get_submodule(name).p for model in models)
        }
        self.known: dict[str, dict[str, tuple[int, ...]]] = {}  # input shapes → noise shapes

    def draw(self, x: object, drawing: Sequence[bool]) -> dict[str, Tensor]:
        """``{"<layer>.noise": (K, ...) tensor}`` for one member's input ``x`` (its shape: the stack's
        minibatch); members not ``drawing`` (finished or diverged) get ones and draw nothing."""
        shapes = self.shapes(x)
        noise = {}
        for name, layers in self.layers.items():
            out = torch.empty((len(layers), *shapes[name]), dtype=self.dtype, device=self.device)
            for k, layer in enumerate(layers):
                if drawing[k]:
                    layer.draw_(out[k])
                else:
                    out[k].fill_(1.0)
            noise[f"{name}.noise"] = out
        return noise

    def shapes(self, x: object) -> dict[str, tuple[int, ...]]:
        """The noise shape of every layer for inputs shaped as ``x``: one forward of ``base`` on the meta
        device, in evaluation mode (no noise drawn), its layers' inputs read by forward pre-hooks. A layer
        that runs twice in one forward (it would draw twice alone) raises ValueError."""
        key = str(map_parts(lambda part: tuple(part.shape), x))
        if key not in self.known:
            shapes: dict[str, tuple[int, ...]] = {}

            def seen(module: nn.Module, args: tuple, name: str) -> None:
                if name in shapes:
                    raise ValueError(f"the noise layer {name} runs more than once in a forward")
                shapes[name] = module.noise_shape(args[0])

            hooks = [
                self.base.get_submodule(name).register_forward_pre_hook(
                    lambda module, args, name=name: seen(module, args, name)
                )
                for name in self.layers
            ]
            self.base.eval()
            try:
                with torch.no_grad():
                    self.base(map_parts(lambda part: torch.empty(part.shape, dtype=part.dtype, device="meta"), x))
            finally:
                self.base.train()
                for hook in hooks:
                    hook.remove()
            self.known[key] = shapes
        return self.known[key]
