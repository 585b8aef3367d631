"""Shared cases for the engine tests: small data, job builders and the comparison with ``run_job``,
handed to the tests as the ``cases`` fixture; ``float64`` makes float64 the default dtype for a test."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from types import SimpleNamespace

import pytest
import torch

from reglab.data import load
from reglab.data.splits import kfold_splits
from reglab.engine import Job, JobResult, run_batched, run_job
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.training import FitConfig
from reglab.trial import TrialConfig

MLP = ModelSpec("mlp", (16, 8))


@lru_cache
def data(name: str = "wine"):
    """A built-in dataset and its 3 folds."""
    dataset = load(name)
    return dataset, kfold_splits(dataset.y, 3, 0, dataset.task == "classification")


def job(
    tag,
    spec: str = "none",
    *,
    fold: int = 0,
    seed: int = 0,
    model: ModelSpec = MLP,
    name: str = "wine",
    proximal: bool = True,
    **fit,
) -> Job:
    """A job on fold ``fold`` of ``name``; ``fit`` overrides FitConfig (Adam, lr 1e-2, 3 epochs, batches of 16)."""
    dataset, folds = data(name)
    settings = {
        "task": dataset.task,
        "optimizer": "adam",
        "lr": 1e-2,
        "epochs": 3,
        "batch_size": 16,
        "seed": seed,
        **fit,
    }
    regularization = replace(Regularization.parse(spec), proximal=proximal)
    train_idx, eval_idx = folds[fold]
    return Job(tag, TrialConfig(regularization, model, FitConfig(**settings)), train_idx, eval_idx)


def stacked(jobs: list[Job], name: str = "wine", **options) -> dict:
    """tag → JobResult through ``run_batched``."""
    results: dict = {}
    run_batched(data(name)[0], jobs, lambda j, r: results.__setitem__(j.tag, r), **options)
    assert len(results) == len(jobs)
    return results


def assert_close(result: JobResult, reference: JobResult, rel: float) -> None:
    """Same outcome and epochs; every history value and metric within ``rel`` (relative, absolute below
    1); the same weight histogram."""
    assert (result.status, result.error) == (reference.status, reference.error)
    assert len(result.history) == len(reference.history)
    for mine, theirs in zip(result.history, reference.history):
        assert set(mine) == set(theirs)
        for key in theirs:
            if key != "seconds":
                _close(mine[key], theirs[key], rel, key)
    assert set(result.metrics) == set(reference.metrics)
    for key, value in reference.metrics.items():
        if key == "weight_histogram":
            assert result.metrics[key] == value
        else:
            _close(result.metrics[key], value, rel, key)


def _close(mine, theirs, rel: float, key: str) -> None:
    """Numbers within ``rel``; a dict or list of them (a calibration record) value by value; None as None."""
    if isinstance(theirs, dict):
        assert set(mine) == set(theirs), key
        for name in theirs:
            _close(mine[name], theirs[name], rel, f"{key}.{name}")
    elif isinstance(theirs, list):
        assert len(mine) == len(theirs), key
        for i, (a, b) in enumerate(zip(mine, theirs)):
            _close(a, b, rel, f"{key}[{i}]")
    elif theirs is None:
        assert mine is None, key
    elif isinstance(theirs, float) and not math.isfinite(theirs):
        assert _same(mine, theirs), (key, mine, theirs)
    else:
        assert abs(mine - theirs) <= rel * max(1.0, abs(theirs)), (key, mine, theirs)


def assert_identical(result: JobResult, other: JobResult) -> None:
    """Bit for bit: the same outcome, history (seconds aside) and metrics."""

    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]

    assert result.status == other.status
    assert _same(strip(result.history), strip(other.history))
    assert _same(result.metrics, other.metrics)


def _same(a, b) -> bool:
    """Equality in which NaN equals NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def reference(jobs: list[Job], name: str = "wine") -> dict:
    """tag → JobResult of the sequential runs."""
    return {j.tag: run_job(data(name)[0], j) for j in jobs}


@pytest.fixture
def cases() -> SimpleNamespace:
    return SimpleNamespace(
        data=data,
        job=job,
        stacked=stacked,
        reference=reference,
        assert_close=assert_close,
        assert_identical=assert_identical,
    )


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
