"""A user's own modules stacked through torch.func: every member as its run alone (``run_job``), in float64
within 1e-10 and float32 within 1e-5; a diverging member leaves the others bit for bit as they were."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab.custom_model import CustomModel
from reglab.engine import run_job
from tests.engine.conftest import assert_close, assert_identical, data, job, stacked


class Residual(nn.Module):
    """A hand-written residual MLP for the wine data (13 features, 3 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.block, self.head = nn.Linear(13, 16), nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        return self.head(h + torch.relu(self.block(h)))


def own(tag, spec: str, **options):
    with torch.random.fork_rng(devices=[]):
        model = CustomModel.of(Residual)
    return job(tag, spec, model=model, **options)


SPECS = [
    "none",
    "l2=0.01",
    "l1=0.003",
    "elasticnet=0.01+l1_ratio=0.3",
    "grouplasso=0.01",
    "decay=0.1",
    "maxnorm=0.8",
    "early-stopping=2",
    "l2=0.001+maxnorm=1+decay=0.01",
]


@pytest.mark.parametrize("optimizer, momentum", [("adam", 0.0), ("sgd", 0.9)])
def test_members_equal_their_runs_alone_in_float64(float64, optimizer, momentum):
    jobs = [
        own(
            i,
            spec,
            seed=i,
            fold=i % 3,
            optimizer=optimizer,
            momentum=momentum,
            lr=0.05 if optimizer == "sgd" else 1e-2,
            epochs=6,
        )
        for i, spec in enumerate(SPECS)
    ]
    results = stacked(jobs)
    for j in jobs:
        assert results[j.tag].ran.endswith("through torch.func"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data()[0], j), rel=1e-10)


def test_members_equal_their_runs_alone_in_float32():
    jobs = [own(i, spec, seed=i) for i, spec in enumerate(SPECS)]
    results = stacked(jobs)
    for j in jobs:
        assert_close(results[j.tag], run_job(data()[0], j), rel=1e-5)


def test_a_diverging_member_leaves_the_others_as_they_were(float64):
    calm = [own(i, "l2=0.001", seed=i) for i in range(2)]
    wild = own("wild", "none", seed=5, optimizer="sgd", lr=1e6)
    alone = stacked(calm)
    together = stacked([*calm, wild])
    assert together["wild"].status == "diverged"
    assert_close(together["wild"], run_job(data()[0], wild), rel=1e-10)
    for j in calm:
        assert_identical(together[j.tag], alone[j.tag])


def test_cnn_members_on_images_equal_their_runs_alone(float64):
    """reglab's CNN on the digits as images stacks through torch.func as well (with batch norm and noise:
    test_noise_stacks.py)."""
    from reglab.models import ModelSpec

    cnn = ModelSpec("cnn", hidden=(16,), channels=(4, 8))
    specs = ["none", "l2=0.01", "l1=0.001", "maxnorm=1", "early-stopping=2"]
    jobs = [job(i, spec, model=cnn, seed=i, fold=i % 3, name="digits-images", epochs=2) for i, spec in enumerate(specs)]
    results = stacked(jobs, name="digits-images")
    for j in jobs:
        assert results[j.tag].ran.endswith("through torch.func"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data("digits-images")[0], j), rel=1e-10)


def test_exact_history_members_equal_their_runs_alone(float64):
    """history="exact" (training rows scored every epoch, in one vmapped pass): each member as its run alone."""
    jobs = [own(i, spec, seed=i, fold=i % 3, history="exact", epochs=4) for i, spec in enumerate(SPECS[:5])]
    results = stacked(jobs)
    for j in jobs:
        assert results[j.tag].ran.endswith("through torch.func"), results[j.tag].ran
        assert_close(results[j.tag], run_job(data()[0], j), rel=1e-10)


class Line(nn.Module):
    """A linear model for diabetes (10 features)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


def test_a_one_row_minibatch_adds_to_the_loss_not_to_r2(float64):
    """Minibatches of 293 on diabetes' fold 0 (294 rows): the last has one row, whose R² is undefined;
    each member as its run alone, its train_metric finite."""
    with torch.random.fork_rng(devices=[]):
        model = CustomModel.of(Line)
    jobs = [
        job(i, spec, model=model, name="diabetes", seed=i, optimizer="sgd", lr=0.05, batch_size=293)
        for i, spec in enumerate(["none", "l2=0.01", "l1=0.01"])
    ]
    results = stacked(jobs, name="diabetes")
    for j in jobs:
        assert results[j.tag].ran.endswith("through torch.func"), results[j.tag].ran
        assert all(math.isfinite(r["train_metric"]) for r in results[j.tag].history)
        assert_close(results[j.tag], run_job(data("diabetes")[0], j), rel=1e-10)
