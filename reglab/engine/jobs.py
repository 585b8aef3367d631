"""Trial jobs and the sequential strategy: one trial after another in this process.

It knows datasets and trials, not the store or the command line: the caller's ``on_result`` commits.
A trial that raises is a ``failed`` result carrying its message; the sweep goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from reglab.data import Dataset
from reglab.trial import TrialConfig, run_trial

METRIC_FIELDS = ("train_loss", "train_metric", "eval_loss", "eval_metric", "zeros", "weight_norm", "units_pruned", "weight_histogram", "epochs")


@dataclass(frozen=True)
class Job:
    """A trial config with the rows it trains on and the rows it is scored on; ``tag`` is the caller's."""

    tag: object
    config: TrialConfig
    train_idx: np.ndarray
    eval_idx: np.ndarray


@dataclass(frozen=True)
class JobResult:
    status: str  # completed | diverged | failed
    metrics: dict
    seconds: float
    history: list[dict]
    error: str | None = None


def run_job(dataset: Dataset, job: Job) -> JobResult:
    try:
        result, _ = run_trial(dataset, job.train_idx, job.eval_idx, job.config)
    except Exception as error:  # a failing trial is an outcome, recorded with its message
        return JobResult("failed", {}, 0.0, [], f"{type(error).__name__}: {error}")
    metrics = {name: getattr(result, name) for name in METRIC_FIELDS}
    return JobResult(result.outcome, metrics, result.seconds, result.history)


def run_sequential(dataset: Dataset, jobs: Sequence[Job], on_result: Callable[[Job, JobResult], None]) -> None:
    """Run the jobs one after another in this process."""
    for job in jobs:
        on_result(job, run_job(dataset, job))
