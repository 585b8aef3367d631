"""Wall time of a trial-heavy study in this process and on local Dask clusters, and the cost of one task.

The study (digits, an MLP of 128 units, 15 epochs, L2 and dropout over 4 strengths, 2 folds, 2 seeds:
36 trials) runs in this process and on clusters of 1 and 2 workers, one intra-op thread per trial
everywhere. The clusters are started first (timed apart), then the runs take turns ``--repeat`` times,
so a change in the machine's load falls on all of them; the best wall time of each is kept. ``busy`` is
the trials' training seconds over the wall time: about how many trials ran at once. The per-task
overhead is the extra wall time per job of many very short jobs (a linear model, one epoch) on the
1-worker cluster over the same jobs in this process.

Run: python bench/distributed.py [--workers 1,2] [--repeat 3] [--short-jobs 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script, this file would stand in for the `distributed` package

import numpy as np  # noqa: E402

from reglab.data import load  # noqa: E402
from reglab.engine import Job, run_sequential  # noqa: E402
from reglab.engine.distributed import DaskExecutor
from reglab.engine.jobs import intra_op_threads  # noqa: E402
from reglab.models import ModelSpec  # noqa: E402
from reglab.store import Store  # noqa: E402
from reglab.study.runner import run_study  # noqa: E402
from reglab.study.settings import StudySettings  # noqa: E402
from reglab.training import FitConfig  # noqa: E402
from reglab.trial import TrialConfig  # noqa: E402

SETTINGS = StudySettings(data="digits", methods=("l2", "dropout"), epochs=15, folds=2, seeds=2, grid_size=4)


def study(execute, path: Path) -> tuple[float, str, dict]:
    """Wall seconds of one fresh run of the study, a line about it, and its summary."""
    with Store(path) as store:
        start = time.perf_counter()
        summary = run_study(SETTINGS, store, "bench", dataset=load(SETTINGS.data), execute=execute)
        wall = time.perf_counter() - start
        trials = store.trials(store.study("bench").id)
    busy = sum(t.seconds for t in trials) / wall
    return wall, f"wall_s={wall:.2f} trials={len(trials)} busy={busy:.2f}", summary.to_dict()


def short_jobs(count: int) -> tuple:
    """``count`` jobs of a few milliseconds each on wine."""
    dataset = load("wine")
    rows = np.random.default_rng(0).permutation(len(dataset.y))
    config = TrialConfig(model=ModelSpec(kind="linear"), fit=FitConfig(epochs=1, batch_size=None))
    return dataset, [Job(i, config, rows[:120], rows[120:]) for i in range(count)]


def timed(execute, dataset, jobs) -> float:
    start = time.perf_counter()
    execute(dataset, jobs, lambda job, result: None)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", default="1,2", help="cluster sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--short-jobs", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(n) for n in args.workers.split(",")]
    print(f"cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder, intra_op_threads(1), ExitStack() as clusters:
        executors = {"in-process": run_sequential}
        for n in sizes:
            start = time.perf_counter()
            executors[f"dask workers={n}"] = clusters.enter_context(DaskExecutor(workers=n, dashboard_address=None))
            print(f"dask workers={n} start_s={time.perf_counter() - start:.1f}", flush=True)
        runs = {name: [] for name in executors}
        for i in range(args.repeat):
            for name, execute in executors.items():
                runs[name].append(study(execute, Path(folder) / f"{name}-{i}.sqlite"))
        for name, results in runs.items():
            print(f"{name} {min(results)[1]} (best of {args.repeat})")
        if {"dask workers=1", "dask workers=2"} <= set(runs):
            speedup = min(runs["dask workers=1"])[0] / min(runs["dask workers=2"])[0]
            print(f"speedup 2 workers over 1 = {speedup:.2f} (goal >= 1.6)")
        if "dask workers=1" in executors:
            dataset, jobs = short_jobs(args.short_jobs)
            timed(run_sequential, dataset, jobs[:5])
            local = timed(run_sequential, dataset, jobs)
            remote = timed(executors["dask workers=1"], dataset, jobs)
            print(
                f"overhead per task ms={1000 * (remote - local) / len(jobs):.1f} (goal < 50; {len(jobs)} jobs of "
                f"{1000 * local / len(jobs):.1f} ms in-process)"
            )
        summaries = [r[2] for results in runs.values() for r in results]
        print(f"same summary in-process and on every cluster: {all(s == summaries[0] for s in summaries)}")


if __name__ == "__main__":
    main()
