"""Trial jobs and the sequential strategy: one trial after another in this process.

It knows datasets and trials, not the store or the command line: the caller's ``on_result`` commits.
A trial that raises is a ``failed`` result carrying its message; the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from reglab.data import Dataset
from reglab.trial import TrialConfig, run_trial

TRIAL_THREADS = 1  # small trials gain nothing from more; a fixed count keeps results identical everywhere
METRIC_FIELDS = (
    "train_loss",
    "train_metric",
    "eval_loss",
    "eval_metric",
    "eval_calibration",
    "zeros",
    "weight_norm",
    "units_pruned",
    "weight_histogram",
    "epochs",
)


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
    ran: str = "alone"  # how: "alone" (and why, when a stack was possible), or "stacked with N" members


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block; the previous count comes back after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_job(dataset: Dataset, job: Job, threads: int = TRIAL_THREADS) -> JobResult:
    """One trial on a fixed intra-op thread count: reductions split the same way wherever it runs, so the
    floating-point result depends only on the trial's config and seed."""
    try:
        with intra_op_threads(threads):
            result, _ = run_trial(dataset, job.train_idx, job.eval_idx, job.config)
    except Exception as error:  # a failing trial is an outcome, recorded with its message
        return JobResult("failed", {}, 0.0, [], f"{type(error).__name__}: {error}")
    metrics = {name: getattr(result, name) for name in METRIC_FIELDS}
    return JobResult(result.outcome, metrics, result.seconds, result.history)


def run_sequential(dataset: Dataset, jobs: Sequence[Job], on_result: Callable[[Job, JobResult], None]) -> None:
    """Run the jobs one after another in this process."""
    for job in jobs:
        on_result(job, run_job(dataset, job))
