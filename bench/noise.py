"""The cost of a stack's noise, in ms per million uniforms (1 thread, best of 5): K members' masks drawn by
their own generators (the design the engine uses), a counter-based hash of (seed, layer, step, index) in int64
tensor ops (the alternative), and one ``torch.rand`` for the whole stack (the floor).

Run: .venv/bin/python bench/noise.py
"""

from __future__ import annotations

import math
import os
import time
from functools import partial

import torch

M32 = 0xFFFFFFFF


def own_generators(out: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    for k, generator in enumerate(generators):
        out[k].uniform_(generator=generator)
    return out


def hashed_uniform(shape: tuple[int, ...], seeds: torch.Tensor, layer: int, step: int) -> torch.Tensor:
    """A 32-bit integer mix (two multiply-xorshift rounds) of (seed, layer, step, index), as uniforms."""
    index = torch.arange(math.prod(shape[1:]), dtype=torch.int64).expand(shape[0], -1)
    x = (index ^ (seeds[:, None] * 0x9E3779B1 + layer * 0x85EBCA77 + step * 0xC2B2AE3D)) & M32
    for multiplier in (0x7FEB352D, 0x846CA68B):
        x = ((x ^ (x >> 16)) * multiplier) & M32
    return ((x ^ (x >> 16)).to(torch.float32) / 2**32).reshape(shape)


def ms_per_million(draw, count: int) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        draw()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times) / (count / 1e6)


def main() -> None:
    torch.set_num_threads(1)
    print(f"# load average {os.getloadavg()[0]:.2f}")
    for members, shape in ((64, (64, 64)), (64, (64, 256)), (32, (64, 16, 8, 8))):
        full = (members, *shape)
        out = torch.empty(full)
        generators = [torch.Generator().manual_seed(k) for k in range(members)]
        seeds = torch.arange(members, dtype=torch.int64)
        count = math.prod(full)
        own = ms_per_million(partial(own_generators, out, generators), count)
        hashed = ms_per_million(partial(hashed_uniform, full, seeds, 3, 17), count)
        floor = ms_per_million(partial(torch.rand, full), count)
        print(f"noise K={members} {shape} own_generators={own:.1f} hash_int64={hashed:.1f} torch_rand={floor:.1f}")
    print(f"# load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
