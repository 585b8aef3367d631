"""The Dask strategy: trials run on the workers of a Dask cluster, results come back to the driver.

The dataset is sent to the cluster once per call and shared by its workers; each task carries only a
trial config and its row indices. Each result is handed to ``on_result`` in the driver as soon as its
task ends, so the caller commits it at once and a killed driver loses only the trials in flight. A task
runs under a fixed number of intra-op threads, so its floating point, and hence its result, is the same
on any worker and in this process under the same count (see :func:`reglab.engine.jobs.intra_op_threads`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

import dask
import numpy as np
import torch
from distributed import Client, Future, LocalCluster, WorkerPlugin, as_completed
from distributed.comm.addressing import parse_address, parse_host_port

import reglab
from reglab.custom_model import CustomModel, check_importable
from reglab.data import Dataset
from reglab.engine.host import prepare_process
from reglab.engine.jobs import Job, JobResult, run_job
from reglab.validation import check_count, check_positive

# A task whose worker dies runs again elsewhere, up to this many times; at the next death it is recorded
# as failed (a trial that exhausts memory, say) rather than take down every worker in turn.
ALLOWED_FAILURES = 2


def run_pinned(job: Job, dataset: Dataset, threads: int) -> JobResult:
    """``run_job`` under ``threads`` intra-op threads: the task each worker runs."""
    return run_job(dataset, job, threads)


class PrepareWorker(WorkerPlugin):
    """Prepares each worker process of a local cluster, restarted ones too, as the ``reglab`` command
    prepares itself (:func:`~reglab.engine.host.prepare_process`)."""

    name = "reglab-prepare-process"

    def setup(self, worker: object) -> None:
        prepare_process()


class DaskExecutor:
    """Runs jobs on a Dask cluster: a local one that it starts, or an existing scheduler.

    With ``workers=N`` it starts a ``LocalCluster`` of N worker processes on this machine, each running
    one trial at a time, so N trials run at once on N × ``threads_per_trial`` cores; its dashboard listens
    on ``dashboard_address`` (``None``: no dashboard). With ``scheduler="tcp://HOST:PORT"`` it connects to
    a running scheduler (``dask scheduler``) and its workers (``dask worker``); it fails with a
    ``ValueError`` if none answers within ``connect_timeout`` seconds, or if the scheduler or a worker
    lacks reglab or runs other versions of reglab, torch or numpy than this process. Neither given: one
    worker per ``threads_per_trial`` cores of this machine.

    Use it as a context manager; inside, it is the ``execute`` of ``run_study``::

        with DaskExecutor(workers=2) as execute:
            run_study(settings, store, "study", execute=execute)
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        *,
        connect_timeout: float = 5.0,
        dashboard_address: str | None = "127.0.0.1:0",
        threads_per_trial: int = 1,
    ) -> None:
        if workers is not None and scheduler is not None:
            raise ValueError("give either workers (a local cluster) or scheduler (an existing one), not both")
        check_count("threads_per_trial", threads_per_trial)
        if workers is not None:
            check_count("workers", workers)
        if scheduler is not None:
            _check_address(scheduler)
        if workers is None and scheduler is None:
            workers = max(1, (os.cpu_count() or 1) // threads_per_trial)
        self.workers = workers
        self.scheduler = scheduler
        self.connect_timeout = check_positive("connect_timeout", connect_timeout)
        self.dashboard_address = dashboard_address
        self.threads_per_trial = threads_per_trial
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None

    def __enter__(self) -> DaskExecutor:
        try:
            if self.scheduler is None:
                with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                    # Without a dashboard, the scheduler still serves health checks: on a free loopback port.
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        silence_logs=logging.ERROR,
                        dashboard_address=self.dashboard_address or "127.0.0.1:0",
                        scheduler_kwargs={"dashboard": self.dashboard_address is not None},
                    )
                self._client = Client(self._cluster, set_as_default=False)
                self._client.register_plugin(PrepareWorker())
            else:
                self._client = _connect(self.scheduler, self.connect_timeout)
            # This also loads reglab on every worker now rather than with its first trial.
            _check_environment(
                self._client, f"the Dask cluster at {self.scheduler}" if self.scheduler else "the local Dask cluster"
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect from the scheduler, and stop the local cluster if this executor started it."""
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    @property
    def dashboard_link(self) -> str | None:
        """The cluster's dashboard as Dask reports it; ``None`` before ``__enter__`` or when a local cluster
        was started without one. Its pages need ``bokeh`` where the scheduler runs."""
        if self._client is None or (self._cluster is not None and self.dashboard_address is None):
            return None
        return self._client.dashboard_link

    def __call__(self, dataset: Dataset, jobs: Sequence[Job], on_result: Callable[[Job, JobResult], None]) -> None:
        """Run the jobs on the cluster; call ``on_result(job, result)`` here as each one ends.

        A task that fails on the cluster (it cannot be unpickled there, its workers kept dying) is a
        ``failed`` result with the error's message. A task the cluster drops (its scheduler went away)
        stops the run with a ``RuntimeError``. Interrupted, it cancels the tasks not yet done.
        """
        if self._client is None:
            raise RuntimeError("DaskExecutor runs jobs only inside `with DaskExecutor(...) as execute:`")
        if not jobs:
            return
        for builder in {
            id(m.builder): m.builder for m in (j.config.model for j in jobs) if isinstance(m, CustomModel)
        }.values():
            check_importable(builder)
        # The dataset travels once, as a task of its own that every trial depends on: workers share its
        # result, and the scheduler can make it again if all that held it die (scattered data it could not).
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 TiB"}):
            data = self._client.submit(_value, dataset, pure=False)
        # The tag stays here: workers get only what a trial needs.
        futures = self._client.map(
            run_pinned,
            [replace(job, tag=None) for job in jobs],
            dataset=data,
            threads=self.threads_per_trial,
            pure=False,
        )
        pending = dict(zip(futures, jobs))
        try:
            done = as_completed(futures, loop=self._client.loop, with_results=True, raise_errors=False)
            for future, value in done:
                on_result(pending.pop(future), _result(future, value))
                future.release()
        finally:
            self._client.cancel(list(pending))
            data.release()


def _value(value: Dataset) -> Dataset:
    return value


def _result(future: Future, value: object) -> JobResult:
    """A finished task's result; the error of a failed one as a ``failed`` result."""
    if future.status == "finished":
        return value
    if future.status == "cancelled":  # the cluster gave up the task, not the trial: nothing to record
        raise RuntimeError(
            f"the Dask cluster dropped a trial ({value}): the study stops here; resume it to run the rest"
        )
    return JobResult("failed", {}, 0.0, [], f"{type(value).__name__}: {value}")


def _check_address(address: str) -> None:
    if not isinstance(address, str):
        raise ValueError(f"the scheduler's address must be text such as tcp://HOST:PORT, got {address!r}")
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as error:
        raise ValueError(f"{address!r} is not a Dask scheduler address ({error}): give it as tcp://HOST:PORT") from None


def _connect(address: str, timeout: float) -> Client:
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except OSError:
        raise ValueError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s: "
            f"check the address or start one with `dask scheduler`"
        ) from None
    except Exception as error:  # something other than a Dask scheduler answered
        raise ValueError(
            f"cannot connect to the Dask scheduler at {address}: {type(error).__name__}: {error}"
        ) from None


def versions() -> dict:
    """The versions that decide a trial's floating point: each node of a cluster must match the driver's."""
    return {"reglab": reglab.__version__, "torch": torch.__version__, "numpy": np.__version__}


def _check_environment(client: Client, cluster: str) -> None:
    try:
        found = {
            "the scheduler": client.run_on_scheduler(versions),
            **{f"worker {w}": v for w, v in client.run(versions).items()},
        }
    except Exception as error:
        raise ValueError(
            f"{cluster} cannot run reglab ({type(error).__name__}: {error}): "
            f"install it, with the same torch and numpy, on the scheduler and every worker"
        ) from None
    expected = versions()
    for node, found_versions in found.items():
        if found_versions != expected:
            raise ValueError(
                f"{node} of {cluster} has {found_versions}, this process {expected}: "
                f"install the same versions there, or results would differ"
            )
