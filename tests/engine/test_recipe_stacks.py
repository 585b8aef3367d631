"""The regularizers of modern recipes in a stack: label smoothing, mixup, CutMix, drop path, SAM, EMA and SWA
on a user's residual network (batch norm and ``reglab.DropPath`` on its branches) and on reglab's CNN. Each
member of a stack of 3 equals its run alone (``run_job``), in float64 within 1e-10 (float32: 1e-5): its
mixing draws, its drop-path masks, its SAM radius and its averages are its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reglab
from reglab.custom_model import CustomModel
from reglab.engine import run_job
from reglab.models import ModelSpec
from tests.engine.conftest import assert_close, data, job, stacked


class Residual(nn.Module):
    """x + DropPath(f(x)), f two linear layers with a ReLU between."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.drop = reglab.DropPath()

    def forward(self, x):
        return x + self.drop(self.branch(x))


class ResidualNet(nn.Module):
    """A user's residual MLP for the wine data: two residual blocks, batch norm between them."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(13, 16), Residual(16), nn.BatchNorm1d(16), nn.ReLU(), Residual(16), nn.Linear(16, 3)
        )

    def forward(self, x):
        return self.layers(x)


def residual_net() -> CustomModel:
    with torch.random.fork_rng(devices=[]):
        return CustomModel.of(ResidualNet)


STRENGTHS = {
    "label-smoothing": ["label-smoothing=0.05", "label-smoothing=0.2", "none"],
    "mixup": ["mixup=0.2", "mixup=1", "mixup=0.4+label-smoothing=0.1"],
    "drop-path": ["drop-path=0.1", "drop-path=0.3", "drop-path=0.2+mixup=0.4"],
    "sam": ["sam=0.05", "sam=0.2+l2=0.01", "sam=0.5+sam-adaptive+l1=0.001"],
    "ema": ["ema=0.9", "ema=0.99", "none"],
    "swa": ["swa=0.3", "swa=0.6", "ema=0.9"],
    "cutmix": ["cutmix=1", "cutmix=0.5+mixup=0.2", "mixup=0.4"],
}
CASES = [*[("residual", "wine", m) for m in STRENGTHS if m != "cutmix"], ("cnn", "digits-images", "cutmix")]


def members(model: str, name: str, method: str) -> list:
    """Three members of one stack, trained by SGD with momentum (see test_noise_stacks: under Adam a user's
    bias before batch norm amplifies rounding)."""
    spec = residual_net() if model == "residual" else ModelSpec("cnn", hidden=(16,), channels=(4, 8))
    fit = {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05}
    epochs = 2 if name == "digits-images" else 3
    return [
        job(seed, s, model=spec, seed=seed, name=name, epochs=epochs, **fit)
        for seed, s in zip((0, 1, 2), STRENGTHS[method])
    ]


@pytest.mark.parametrize("model, name, method", CASES)
def test_each_member_equals_its_run_alone(float64, model, name, method):
    jobs = members(model, name, method)
    results = stacked(jobs, name)
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with 3"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data(name)[0], j), rel=1e-10)


@pytest.mark.parametrize("method", ["mixup", "sam", "swa"])
def test_each_member_equals_its_run_alone_in_float32(method):
    jobs = members("residual", "wine", method)
    results = stacked(jobs, "wine")
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with 3"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data("wine")[0], j), rel=1e-5)
