"""Noise and buffers in a stack: the dropout family, DropConnect, augmentation and batch norm, on reglab's MLP
and CNN and on a user's own modules. Each member of a stack of 3 equals its run alone (``run_job``): float64
within 1e-10, float32 within 1e-5; a member draws the same masks in stacks of any
size and at any position; batch norm's running statistics are each member's own."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

import reglab
from reglab.custom_model import CustomModel
from reglab.engine import run_job
from reglab.engine.functional import FunctionalStack, Member
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.trial import run_trial
from tests.engine.conftest import assert_close, assert_identical, data, job, stacked

MLP, CNN = ModelSpec("mlp", (16, 8)), ModelSpec("cnn", hidden=(16,), channels=(4, 8))


class TableNet(nn.Module):
    """A user's MLP for the wine data with batch norm and a place for every unit and weight noise."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(13, 16),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            reglab.Dropout(),
            reglab.DropConnect(nn.Linear(16, 16)),
            nn.ReLU(),
            reglab.GaussianDropout(),
            nn.Linear(16, 3),
        )

    def forward(self, x):
        return self.layers(x)


class ImageNet(nn.Module):
    """A user's CNN for the digits as 1x8x8 images: conv, batch norm, spatial dropout, a dense head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), reglab.SpatialDropout(), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), reglab.Dropout(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.features(x))


def own(builder) -> CustomModel:
    with torch.random.fork_rng(devices=[]):
        return CustomModel.of(builder)


STRENGTHS = {  # method -> three specs of it, one per member
    "dropout": ["dropout=0.1", "dropout=0.3", "dropout=0.5"],
    "gaussian-dropout": ["gaussian-dropout=0.1", "gaussian-dropout=0.3", "gaussian-dropout=0.5"],
    "spatial-dropout": ["spatial-dropout=0.1", "spatial-dropout=0.3", "spatial-dropout=0.5"],
    "dropconnect": ["dropconnect=0.1", "dropconnect=0.3", "dropconnect=0.5"],
    "augment": ["augment=0.05", "augment=0.1", "augment=0.3"],
    "shift": ["shift=1", "shift=2", "shift=1+l2=0.01"],
    "batchnorm": ["batchnorm", "batchnorm+l2=0.01", "batchnorm+maxnorm=1"],
    "batchnorm+dropconnect": ["batchnorm+dropconnect=0.2", "batchnorm+dropconnect=0.4", "batchnorm+dropconnect=0.6"],
    "batchnorm+dropout+shift": [f"batchnorm+dropout={p}+shift={s}" for p, s in ((0.2, 1), (0.4, 1), (0.6, 2))],
}
CASES = [
    *[("mlp", "wine", m) for m in ("dropout", "gaussian-dropout", "dropconnect", "augment", "batchnorm+dropconnect")],
    *[("cnn", "digits-images", m) for m in ("dropout", "spatial-dropout", "batchnorm", "augment", "shift")],
    ("cnn", "digits-images", "batchnorm+dropout+shift"),
    *[("table-net", "wine", m) for m in ("dropout", "gaussian-dropout", "dropconnect", "augment")],
    *[("image-net", "digits-images", m) for m in ("dropout", "spatial-dropout", "shift", "augment")],
]
MODELS = {
    "mlp": lambda: MLP,
    "cnn": lambda: CNN,
    "table-net": lambda: own(TableNet),
    "image-net": lambda: own(ImageNet),
}


def members(model: str, name: str, method: str, seeds=(0, 1, 2)) -> list:
    """Three members of one stack. The user's modules train by SGD with momentum: they keep a bias in the
    layer before each batch norm, whose gradient is 0 in exact arithmetic, and Adam scales its rounding
    noise up to steps of the learning rate, so under Adam two runs whose sums differ by one rounding
    (vmapped products, another thread count) part by 1e-3 in float32 within two epochs; SGD keeps rounding
    small. (reglab's builders put no bias before batch norm.)"""
    epochs = 2 if name == "digits-images" else 3
    fit = {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05} if model in ("table-net", "image-net") else {}
    spec = MODELS[model]()
    return [
        job(seed, s, model=spec, seed=seed, name=name, epochs=epochs, **fit)
        for seed, s in zip(seeds, STRENGTHS[method])
    ]


@pytest.mark.parametrize("model, name, method", CASES)
def test_each_member_equals_its_run_alone_in_float64(float64, model, name, method):
    jobs = members(model, name, method)
    results = stacked(jobs, name)
    rel = 1e-10
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with 3"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data(name)[0], j), rel=rel)


@pytest.mark.parametrize(
    "model, name, method",
    [
        ("cnn", "digits-images", "batchnorm+dropout+shift"),
        ("table-net", "wine", "dropconnect"),
        ("mlp", "wine", "augment"),
        ("mlp", "wine", "batchnorm+dropconnect"),
    ],
)
def test_each_member_equals_its_run_alone_in_float32(model, name, method):
    jobs = members(model, name, method)
    results = stacked(jobs, name)
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with 3"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data(name)[0], j), rel=1e-5)


def test_a_member_is_the_same_in_stacks_of_any_size_and_position(float64):
    """The member with seed 7 first of 3 and fifth of 5: the same history and metrics within 1e-10."""
    first = members("image-net", "digits-images", "dropout", seeds=(7, 1, 2))
    spatial = Regularization.parse("spatial-dropout=0.4")
    larger = [*members("image-net", "digits-images", "dropout", seeds=(3, 4, 5)), first[0]]
    larger.insert(1, replace(larger[0], tag=8, config=replace(larger[0].config, regularization=spatial)))
    small, large = stacked(first, "digits-images"), stacked(larger, "digits-images")
    assert large[first[0].tag].ran.startswith("stacked with 5")
    assert_close(small[first[0].tag], large[first[0].tag], rel=1e-10)


def built(jobs: list, name: str) -> list[Member]:
    with torch.random.fork_rng(devices=[]):
        return [Member(data(name)[0], j, torch.device("cpu")) for j in jobs]


def test_a_member_draws_its_masks_in_any_stack_and_as_its_layers_alone():
    """``StackedNoise`` slot k is member k's own draw: equal across stacks of 3 and 5 at every step, and
    equal to what its layer draws alone (a fresh generator seeded as ``fit`` seeds it)."""
    jobs = members("cnn", "digits-images", "batchnorm+dropout+shift", seeds=(7, 1, 2))
    others = members("cnn", "digits-images", "batchnorm+dropout+shift", seeds=(3, 4, 5))
    small, large = built(jobs, "digits-images"), built([others[0], others[1], jobs[0], others[2]], "digits-images")
    noises = [FunctionalStack(group, torch.device("cpu")).noise for group in (small, large)]
    alone = built(jobs[:1], "digits-images")[0].model
    (dropout,) = [name for name, module in alone.named_modules() if isinstance(module, reglab.Dropout)]
    x = torch.zeros(16, 1, 8, 8)
    for _ in range(3):
        a, b = (noise.draw(x, [True] * len(group)) for noise, group in zip(noises, (small, large)))
        assert a.keys() == b.keys() == {f"{dropout}.noise"}  # a batch-norm CNN's only noise layer
        assert torch.equal(a[f"{dropout}.noise"][0], b[f"{dropout}.noise"][2])
        assert torch.equal(alone.get_submodule(dropout)(torch.ones(16, 16)), a[f"{dropout}.noise"][0])


def test_batch_norm_running_statistics_are_each_members_own(float64):
    """After training, each member's running mean, variance and batch count equal its run alone's (and
    differ between members), and its evaluation output, which uses them, equals the alone model's."""
    jobs = members("table-net", "wine", "dropout")
    group = built(jobs, "wine")
    FunctionalStack(group, torch.device("cpu")).run(lambda job, result: None)
    norms = [m.model.get_submodule("layers.1") for m in group]
    assert not torch.equal(norms[0].running_mean, norms[1].running_mean)
    X = torch.as_tensor(group[0].evaluation[0], dtype=torch.float64)
    for j, m, mine in zip(jobs, group, norms):
        _, fitted = run_trial(data()[0], j.train_idx, j.eval_idx, j.config)
        theirs = fitted.model.get_submodule("layers.1")
        assert int(mine.num_batches_tracked) == int(theirs.num_batches_tracked) > 0
        for name in ("running_mean", "running_var"):
            torch.testing.assert_close(getattr(mine, name), getattr(theirs, name), rtol=1e-10, atol=1e-12)
        m.model.eval()
        fitted.model.eval()
        with torch.no_grad():
            torch.testing.assert_close(m.model(X), fitted.model(X), rtol=1e-10, atol=1e-12)


class TorchDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(13, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))

    def forward(self, x):
        return self.layers(x)


class CumulativeNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(13, 8), nn.BatchNorm1d(8, momentum=None), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.layers(x)


@pytest.mark.parametrize(
    "builder, reason",
    [
        (
            TorchDropout,
            "alone: PyTorch's own dropout layer (it draws from the global generator: use reglab.Dropout(p))",
        ),
        (CumulativeNorm, "alone: batch norm with momentum=None (a cumulative average: give it a momentum such as 0.1)"),
    ],
)
def test_what_cannot_stack_runs_alone_and_says_why(builder, reason):
    jobs = [job(i, "l2=0.01", model=own(builder), seed=i) for i in range(3)]
    results = stacked(jobs)
    assert {r.ran for r in results.values()} == {reason}
    for j in jobs:
        assert_identical(results[j.tag], run_job(data()[0], j))


class StudyNet(nn.Module):
    """A user's CNN for the digits as images with both batch norms, spatial dropout and dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), reglab.SpatialDropout(), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), reglab.Dropout(), nn.Linear(16, 10)
        )

    def forward(self, x):
        return self.head(self.features(x))


@pytest.mark.parametrize(
    "model, methods",
    [
        (CNN, ["batchnorm", "dropout", "shift", "batchnorm+dropout+shift"]),
        (StudyNet, ["none", "dropout", "spatial-dropout", "l2+dropout"]),
    ],
)
def test_a_study_of_batch_norm_and_noise_stacks_every_trial(model, methods):
    study = reglab.compare("digits-images", model=model, methods=methods, seeds=2, folds=3, epochs=1, grid_size=2)
    ran = study.ran()
    assert set(ran) == set(methods)
    assert all(how.startswith("stacked with") for counts in ran.values() for how in counts), ran


class LinearNoise(nn.Module):
    """Two linear layers with dropout and DropConnect between and no activation: a large step overflows."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(13, 16), reglab.Dropout(), reglab.DropConnect(nn.Linear(16, 3)))

    def forward(self, x):
        return self.layers(x)


def test_a_diverging_member_leaves_the_others_as_they_were(float64):
    """With noise: a member that diverges mid-epoch changes no other member, bit for bit, and equals its own
    run alone."""
    model = own(LinearNoise)
    calm = [job(i, f"dropout={p}", model=model, seed=i, optimizer="sgd", lr=0.05) for i, p in enumerate((0.2, 0.4))]
    wild = job("wild", "dropout=0.3", model=model, seed=5, optimizer="sgd", lr=1e30)
    alone, together = stacked(calm), stacked([*calm, wild])
    assert together["wild"].status == "diverged"
    assert {r.ran for r in together.values()} == {"stacked with 3 through torch.func"}
    assert_close(together["wild"], run_job(data()[0], wild), rel=1e-10)
    for j in calm:
        assert_identical(together[j.tag], alone[j.tag])


class GlobalNoise(nn.Module):
    """Draws from the global generator in its forward: vmap cannot replay it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(13, 3)

    def forward(self, x):
        return self.linear(x + 0.1 * torch.randn_like(x))


class SharedDropout(nn.Module):
    """One dropout layer used twice in a forward: alone it draws twice, a stack hands in one noise."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second, self.drop = nn.Linear(13, 13), nn.Linear(13, 3), reglab.Dropout()

    def forward(self, x):
        return self.second(self.drop(self.first(self.drop(x))))


@pytest.mark.parametrize(
    "builder, spec, reason",
    [
        (GlobalNoise, "l2=0.01", "called random operation"),
        (SharedDropout, "dropout=0.2", "the noise layer drop runs more than once in a forward"),
    ],
)
def test_a_forward_a_stack_cannot_replay_runs_alone_and_says_why(builder, spec, reason):
    jobs = [job(i, spec, model=own(builder), seed=i) for i in range(2)]
    results = stacked(jobs)
    for j in jobs:
        ran = results[j.tag].ran
        assert ran.startswith("alone: a stack cannot replay its forward") and reason in ran, ran
        assert results[j.tag].status == "completed"
        assert_identical(results[j.tag], run_job(data()[0], j))
