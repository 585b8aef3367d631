"""The Dask strategy on loopback: a real scheduler and two worker processes, a local cluster, and faults
(killed workers, a killed driver, a lost or unreachable scheduler). A study's summary must equal the
in-process one."""

import contextlib
import gc
import json
import operator
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from reglab.data import Dataset, load  # noqa: E402
from reglab.engine import Job, run_sequential  # noqa: E402
from reglab.engine.distributed import DaskExecutor  # noqa: E402
from reglab.engine.jobs import intra_op_threads  # noqa: E402
from reglab.store import Store  # noqa: E402
from reglab.study.runner import run_study  # noqa: E402
from reglab.study.settings import StudySettings  # noqa: E402
from reglab.trial import TrialConfig  # noqa: E402

SETTINGS = StudySettings(data="wine", methods=("none", "l2"), seeds=2, folds=2, grid_size=2, epochs=3)
TRIALS = 12  # 8 cross-validation trials of "l2" (2 strengths × 2 folds × 2 seeds), 4 test trials
DRIVER = Path(__file__).with_name("driver.py")


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, each in its own process group."""

    def __init__(self, folder: Path, workers: int = 2) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        try:
            self.address = self._start_scheduler(folder / "scheduler.json")
            for _ in range(workers):
                self.workers.append(
                    self._start(
                        "worker",
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--death-timeout",
                        "30",
                        "--scheduler-file",
                        str(folder / "scheduler.json"),
                    )
                )
            with distributed.Client(self.address, timeout=10, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=60)
        except BaseException:
            self.stop()
            raise

    def _start_scheduler(self, scheduler_file: Path) -> str:
        self._start(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                return json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.1)
        raise TimeoutError("the scheduler did not write its address within 30 s")

    def _start(self, *args: str) -> subprocess.Popen:
        with open(self.folder / f"{args[0]}{len(self.processes)}.log", "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process

    def n_workers(self) -> int:
        with distributed.Client(self.address, timeout=10, set_as_default=False) as client:
            return len(client.scheduler_info()["workers"])

    def stop(self) -> None:
        for process in self.processes:
            kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = Cluster(tmp_path_factory.mktemp("cluster"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def dataset():
    return load("wine")


@pytest.fixture(scope="module")
def local_summary(tmp_path_factory, dataset):
    """The study run in this process, one intra-op thread per trial as on the workers."""
    with Store(tmp_path_factory.mktemp("local") / "local.sqlite") as store, intra_op_threads(1):
        return run_study(SETTINGS, store, "local", dataset=dataset, execute=run_sequential).to_dict()


def test_a_cluster_gives_the_in_process_summary_committing_in_the_driver(
    cluster, local_summary, dataset, tmp_path, monkeypatch
):
    pickled, threads, counts = [], set(), []

    def reduce(self, protocol):
        pickled.append(self)
        return object.__reduce_ex__(self, protocol)

    monkeypatch.setattr(Dataset, "__reduce_ex__", reduce, raising=False)

    def progress(finished: int, total: int) -> None:
        threads.add(threading.get_ident())
        counts.append((finished, total))

    with Store(tmp_path / "s.sqlite") as store, DaskExecutor(scheduler=cluster.address) as execute:
        summary = run_study(SETTINGS, store, "s", progress=progress, dataset=dataset, execute=execute)
        records = store.trials(store.study("s").id)
    assert summary.to_dict() == local_summary
    assert [r.status for r in records] == ["completed"] * TRIALS
    assert len(pickled) == 2 and all(d is dataset for d in pickled)  # once per stage (cv, test), not per trial
    assert threads == {threading.get_ident()}
    assert counts[-1] == (TRIALS, TRIALS) and [c for c, _ in counts] == sorted(c for c, _ in counts)


class Unpicklable:
    """Pickles in the driver, fails when the cluster unpickles it."""

    def __reduce__(self):
        return operator.truediv, (1, 0)


def test_a_task_that_fails_on_the_cluster_is_a_failed_result_and_the_next_ones_run(cluster, dataset):
    rows = np.arange(40)
    good = Job("good", TrialConfig(), rows[:30], rows[30:])
    results = {}

    def keep(job: Job, result) -> None:
        results[job.tag] = result

    with DaskExecutor(scheduler=cluster.address) as execute:
        execute(dataset, [replace(good, tag="bad", train_idx=Unpicklable())], keep)
        execute(dataset, [good], keep)
    assert results["bad"].status == "failed" and "deserialization" in results["bad"].error
    assert results["good"].status == "completed"


def test_a_cluster_with_other_versions_is_refused(cluster, monkeypatch):
    monkeypatch.setattr(np, "__version__", "0.0")
    with pytest.raises(ValueError, match="of the Dask cluster at .* has .* this process .*install the same versions"):
        DaskExecutor(scheduler=cluster.address).__enter__()


def test_an_unreachable_scheduler_is_a_clear_error_within_the_timeout():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(ValueError, match=f"cannot reach the Dask scheduler at {address} within 5 s"):
        DaskExecutor(scheduler=address).__enter__()
    assert time.monotonic() - start < 6.5


def test_bad_arguments_are_rejected_at_once():
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        DaskExecutor(scheduler="localhost")
    with pytest.raises(ValueError, match="not both"):
        DaskExecutor(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="argument workers"):
        DaskExecutor(workers=0)
    with pytest.raises(ValueError, match="must be text such as tcp://HOST:PORT, got 5"):
        DaskExecutor(scheduler=5)  # as a study file's ``scheduler = 5`` gives it
    with pytest.raises(RuntimeError, match="inside `with DaskExecutor"):
        DaskExecutor(workers=1)(None, [], print)


def test_a_local_cluster_survives_losing_all_its_workers_and_is_closed_after(local_summary, dataset, tmp_path):
    """Its nannies restart the killed workers; the dataset they held is sent again; the summary is the same."""
    psutil = pytest.importorskip("psutil")
    before = {p.pid for p in psutil.Process().children(recursive=True)}

    def workers() -> list:
        return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]

    killed = []

    def progress(finished: int, total: int) -> None:
        if finished == 3:
            killed.extend(workers())
            for worker in killed:
                worker.kill()

    with Store(tmp_path / "s.sqlite") as store, DaskExecutor(workers=2) as execute:
        assert execute.dashboard_link.startswith("http://127.0.0.1:")
        assert len(workers()) == 2
        summary = run_study(SETTINGS, store, "s", progress=progress, dataset=dataset, execute=execute)
        assert [r.status for r in store.trials(store.study("s").id)] == ["completed"] * TRIALS
        frozen = execute._client.run(gc.get_freeze_count)  # the restarted workers too
        assert frozen and 0 not in frozen.values(), frozen
    assert len(killed) == 2
    assert summary.to_dict() == local_summary
    assert execute.dashboard_link is None
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert all("resource_tracker" in " ".join(p.cmdline()) for p in left), left


def test_a_killed_driver_resumes_on_the_same_cluster_losing_only_trials_in_flight(
    cluster, local_summary, dataset, tmp_path
):
    path = tmp_path / "s.sqlite"
    driver = subprocess.Popen(
        [sys.executable, str(DRIVER), cluster.address, str(path), "s", "5", json.dumps(SETTINGS.to_dict())],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(60, kill_group, [driver])
    watchdog.start()
    try:
        assert "stalled\n" in iter(driver.stdout.readline, ""), "the driver ended before it stalled"
    finally:
        watchdog.cancel()
        kill_group(driver)
        driver.stdout.close()
    with Store(path) as store:
        assert len(store.trials(store.study("s").id)) == 5
        with DaskExecutor(scheduler=cluster.address) as execute:
            summary = run_study(SETTINGS, store, "s", resume=True, dataset=dataset, execute=execute)
        assert len(store.trials(store.study("s").id)) == TRIALS
    assert summary.to_dict() == local_summary


def test_a_lost_scheduler_stops_the_study_without_recording_failures(cluster, local_summary, dataset, tmp_path):
    """The trials it dropped are not stored as failed: resuming on another cluster gives the full study."""
    doomed = Cluster(tmp_path, workers=1)
    try:

        def progress(finished: int, total: int) -> None:
            if finished == 3:
                kill_group(doomed.processes[0])

        with Store(tmp_path / "s.sqlite") as store:
            with (
                DaskExecutor(scheduler=doomed.address) as execute,
                pytest.raises(RuntimeError, match="dropped a trial"),
            ):
                run_study(SETTINGS, store, "s", progress=progress, dataset=dataset, execute=execute)
            kept = [r.status for r in store.trials(store.study("s").id)]  # and results already on their way
            assert 3 <= len(kept) < TRIALS and set(kept) == {"completed"}
            with DaskExecutor(scheduler=cluster.address) as execute:
                summary = run_study(SETTINGS, store, "s", resume=True, dataset=dataset, execute=execute)
    finally:
        doomed.stop()
    assert summary.to_dict() == local_summary


def test_a_worker_killed_mid_study_loses_nothing(cluster, local_summary, dataset, tmp_path):
    """Runs last: it kills one of the module's two workers."""
    victim = cluster.workers[0]

    def progress(finished: int, total: int) -> None:
        if finished == 1:
            kill_group(victim)

    with Store(tmp_path / "s.sqlite") as store, DaskExecutor(scheduler=cluster.address) as execute:
        summary = run_study(SETTINGS, store, "s", progress=progress, dataset=dataset, execute=execute)
        records = store.trials(store.study("s").id)
    assert victim.returncode == -signal.SIGKILL
    assert cluster.n_workers() == 1
    assert [r.status for r in records] == ["completed"] * TRIALS
    assert summary.to_dict() == local_summary
