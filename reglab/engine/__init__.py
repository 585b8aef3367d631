"""The engine runs trial jobs and hands each result back as soon as it ends.

It knows datasets and trial configs, not the store or the command line: the caller's ``on_result``
commits each result. Strategies share the ``Job`` → ``JobResult`` contract, so the store, selection and
report see the same results whichever one ran:

- ``sequential``: one trial after another (``run_sequential``);
- ``batched``: trials sharing an architecture train as one stacked model (``run_batched``);
- ``auto``: batched where a stack has at least two members, sequential for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reglab.data import Dataset
from reglab.engine.batched import StackReport, on_device, run_batched
from reglab.engine.jobs import Job, JobResult, run_job, run_sequential

STRATEGIES = ("auto", "sequential", "batched")


def run_jobs(
    dataset: Dataset,
    jobs: Sequence[Job],
    on_result: Callable[[Job, JobResult], None],
    strategy: str = "auto",
    *,
    memory_budget_bytes: int | None = None,
    device: str | None = None,
) -> list[StackReport]:
    """Run ``jobs`` with ``strategy``; returns the stacks that ran (none for ``sequential``).

    ``device`` ("cpu", "cuda", "auto") overrides every job's ``FitConfig.device``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument strategy: expected one of {STRATEGIES}. Received: strategy={strategy!r}"
        )
    if strategy == "sequential":
        for job in jobs:
            on_result(job, run_job(dataset, on_device(job, device)))
        return []
    return run_batched(
        dataset,
        jobs,
        on_result,
        memory_budget_bytes=memory_budget_bytes,
        device=device,
        min_stack=2 if strategy == "auto" else 1,
    )


__all__ = ["Job", "JobResult", "StackReport", "run_batched", "run_job", "run_jobs", "run_sequential"]
