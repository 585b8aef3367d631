"""Choosing a strategy: ``run_jobs`` sequential, batched or auto; devices; memory budgets; and the
per-trial noise streams of the plain loop that make stacking dropout exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.engine import run_jobs
from reglab.engine.batched import member_bytes
from reglab.models import ModelSpec
from reglab.noise import noise_seed
from reglab.regularizers.dropout import Dropout, GaussianDropout
from reglab.training import FitConfig, fit


def collect(dataset, jobs, **options) -> tuple[dict, list]:
    results: dict = {}
    reports = run_jobs(dataset, jobs, lambda j, r: results.__setitem__(j.tag, r), **options)
    assert set(results) == {j.tag for j in jobs}
    return results, reports


def test_auto_stacks_groups_and_runs_the_rest_sequentially(cases):
    """A cnn, a lone MLP and a DropConnect MLP, each without another trial to stack with, run sequentially
    (exactly their run_job results); the two MLPs that share a stack run batched."""
    images = cases.data("digits-images")[0]
    cnn = cases.job("cnn", "dropout=0.2", name="digits-images", model=ModelSpec("cnn", (8,), channels=(4,)), epochs=1)
    lone = cases.job("lone", "l2=0.01", name="digits-images", model=ModelSpec("mlp", (8,)), epochs=1)
    dropconnect = cases.job("dc", "dropconnect=0.2", name="digits-images", fold=1, epochs=1)
    pair = [cases.job(f"pair{i}", "l1=0.001", name="digits-images", fold=1, seed=i, epochs=1) for i in range(2)]
    jobs = [cnn, lone, dropconnect, *pair]
    results, reports = collect(images, jobs)
    assert [r.members for r in reports] == [2]
    expected = cases.reference(jobs, "digits-images")
    for j in (cnn, lone, dropconnect):
        cases.assert_identical(results[j.tag], expected[j.tag])
    for j in pair:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-5)


def test_every_strategy_gives_the_sequential_results(cases, float64):
    jobs = [cases.job(i, spec, fold=1, seed=i) for i, spec in enumerate(["l2=0.01", "dropout=0.3", "l1=0.003"])]
    expected = cases.reference(jobs)
    for strategy in ("sequential", "batched", "auto"):
        results, reports = collect(cases.data()[0], jobs, strategy=strategy, device="cpu")
        assert [r.members for r in reports] == ([] if strategy == "sequential" else [3])
        for j in jobs:
            cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


def test_an_unknown_strategy_is_rejected(cases):
    with pytest.raises(ValueError, match="strategy"):
        run_jobs(cases.data()[0], [], lambda j, r: None, strategy="parallel")


def test_a_small_memory_budget_cuts_a_group_into_stacks(cases, float64):
    dataset = cases.data()[0]
    jobs = [cases.job(i, "l2=0.01", fold=1, seed=i) for i in range(5)]
    budget = 2 * member_bytes(dataset, jobs[0])
    results, reports = collect(dataset, jobs, strategy="batched", memory_budget_bytes=budget)
    assert [r.members for r in reports] == [2, 2, 1]
    assert all(0 < r.estimated_bytes <= budget and r.measured_bytes > 0 for r in reports)
    expected = cases.reference(jobs)
    for j in jobs:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stacks_equal_cuda_sequential_runs(cases):
    jobs = [
        cases.job(i, spec, fold=1, seed=i, device="cuda")
        for i, spec in enumerate(["l2=0.01", "dropout=0.3", "l1=0.003"])
    ]
    results, reports = collect(cases.data()[0], jobs, strategy="batched")
    assert reports[0].device.startswith("cuda") and reports[0].measured_bytes > 0
    expected = cases.reference(jobs)
    for j in jobs:
        for mine, theirs in zip(results[j.tag].history, expected[j.tag].history):
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)


def network(p: float) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(13, 16), nn.ReLU(), Dropout(p), nn.Linear(16, 16), nn.ReLU(), GaussianDropout(p), nn.Linear(16, 3)
    ).double()


def test_fit_draws_each_noise_layer_from_its_own_trial_stream(cases):
    """The plain loop's masks depend on the seed alone: not on the global RNG, which ``fit`` leaves to
    others; each noise layer has its own stream, seeded with ``noise_seed(seed, i)``; the layers get
    their previous generators back after training."""
    dataset, folds = cases.data()
    X, y = dataset.X[folds[0][0]], dataset.y[folds[0][0]]
    config = FitConfig(optimizer="adam", lr=1e-2, epochs=2, batch_size=32, seed=3)
    runs = []
    for global_seed in (1, 2):
        model = network(0.3)
        torch.manual_seed(global_seed)
        torch.rand(100)
        runs.append([r["train_loss"] for r in fit(model, (X, y), config=config).history])
        assert all(layer.generator is None for layer in model if hasattr(layer, "generator"))
    assert runs[0] == runs[1]
    assert noise_seed(3, 0) != noise_seed(3, 1) != noise_seed(4, 0)
