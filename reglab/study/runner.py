"""Run a study: cross-validate every method on every seed, refit the chosen points, summarize.

Every trial is committed to the store the moment it ends; trials already in the store are not run
again, so ``resume=True`` after a crash finishes the study with the same final table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from reglab.data import Dataset, as_dataset
from reglab.devices import resolve_device
from reglab.engine import Job, JobResult, run_sequential
from reglab.store import Store, StoreError
from reglab.study.plan import (
    PlannedTrial,
    SeedSplit,
    cv_trials,
    describe_rows,
    grid_points,
    seed_split,
    test_trial,
    trial_config,
)
from reglab.study.settings import StudySettings
from reglab.study.summary import StudySummary, choose, summarize_study
from reglab.trial import check_setup

Execute = Callable[[Dataset, list[Job], Callable[[Job, JobResult], None]], None]

Progress = Callable[[int, int], None]  # (finished, total)


def run_study(
    settings: StudySettings,
    store: Store,
    name: str,
    resume: bool = False,
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    execute: Execute = run_sequential,
    kind: str = "compare",
    note: Callable[[str], None] | None = None,
) -> StudySummary:
    """Run (or finish) the study ``name`` in ``store`` and return its summary. Resuming runs the trials that
    failed again (a loss fixed since, a worker lost), and says how many to ``note``.

    ``execute(dataset, jobs, on_result)`` runs the jobs (in this process by default; batched or on a
    cluster otherwise) and calls ``on_result`` once per finished job, here in the driver, which commits it.
    ``kind`` names the command that runs it ("compare" or "tune"), stored with its settings.
    """
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {settings.device!r} asked for, but this machine has no CUDA device: "
            'use device="cpu" or device="auto"'
        )
    if dataset is None:
        dataset = as_dataset(
            settings.data, target=settings.target, impute=settings.impute, test_data=settings.test_data
        )
    splits = {
        seed: seed_split(dataset, settings, seed) for seed in range(settings.seeds)
    }  # bad splits fail before the store is touched
    for method in settings.methods:  # so do setups that no trial could train: one per set of layers in use
        configs = (
            trial_config(settings, method, point, dataset.task, 0)
            for point in grid_points(settings, settings.regularization(method))
        )
        in_use = {frozenset(k for k, v in c.regularization.to_dict().items() if v): c for c in configs}
        for config in in_use.values():
            check_setup(dataset, config)
    first = splits[0]
    rows = f"{describe_rows(dataset, settings, first.train, first.test)} · {settings.folds}-fold CV on the train rows"
    stored = stored_settings(store, name, settings, kind, resume, dataset.fingerprint(), rows)
    study = store.start_study(name, stored, resume)
    retried = store.forget_failed(study.id) if resume else 0
    if retried and note:
        note(f"{retried} failed trial{'s' * (retried != 1)} of {name} run again")
    # Trials carry the device this driver resolves, so that "auto" means the same on every worker.
    planned = replace(settings, device=str(resolve_device(settings.device)))
    cv = [t for method in settings.methods for t in cv_trials(planned, method, dataset.task)]
    total = len(cv) + len(settings.methods) * settings.seeds
    done = len(store.finished_keys(study.id) & {t.key for t in cv})  # trials finished, for progress

    def run(planned: list[PlannedTrial]) -> None:
        todo = [t for t in planned if t.key not in store.finished_keys(study.id)]
        jobs = [_job(t, splits[t.seed]) for t in todo]

        def commit(job: Job, result: JobResult) -> None:
            nonlocal done
            t: PlannedTrial = job.tag
            store.record_trial(
                study.id,
                t.key,
                t.method,
                t.stage,
                t.fold,
                t.seed,
                {"point": t.point, **t.config.to_dict()},
                result.status,
                {**result.metrics, "ran": result.ran},
                result.seconds,
                result.history,
                result.error,
            )
            done += 1
            if progress:
                progress(done, total)

        if progress:
            progress(done, total)
        execute(dataset, jobs, commit)

    run(cv)
    records = store.trials(study.id)
    tests = [
        test_trial(planned, method, choose(settings, method, seed, records)[0], dataset.task, seed)
        for method in settings.methods
        for seed in range(settings.seeds)
    ]
    done += len(store.finished_keys(study.id) & {t.key for t in tests})
    run(tests)
    summary = summarize_study(settings, store.trials(study.id), dataset.task)
    store.finish_study(study.id, summary.to_dict())
    return summary


def study_name(store: Store, settings: StudySettings, kind: str, name: str | None = None, resume: bool = False) -> str:
    """``name`` when given; with ``resume`` alone, the latest study of ``kind`` with these settings; else a
    fresh ``kind-data-N``."""
    if name:
        return name
    studies = store.studies()
    if resume:
        given = json.loads(json.dumps(settings.to_dict()))
        same = [
            s
            for s in studies
            if s.settings.get("kind", kind) == kind
            and {key: value for key, value in s.settings.items() if key not in STUDY_KEYS} == given
        ]
        if not same:
            raise ValueError(f"no study with these settings in {store.path} to resume: pass name=NAME")
        return same[-1].name
    return fresh_name(store, f"{kind}-{Path(settings.data).stem}")


def fresh_name(store: Store, stem: str) -> str:
    """``stem-1``, ``stem-2``, ...: the first name the store does not hold yet."""
    taken = {s.name for s in store.studies()}
    return next(f"{stem}-{n}" for n in range(1, len(taken) + 2) if f"{stem}-{n}" not in taken)


# Stored beside the settings: the command, what the data were, what each seed trained and tested on, and the
# version of the trials' results.
STUDY_KEYS = ("kind", "data_fingerprint", "rows", "results_version")
# Raised when a trial's result changes for the same settings (2: every model kind stacks, each member with its
# own noise streams; reglab's builders put no bias before batch norm; a Dataset's minibatches come in
# torch.randperm order. 3: an epoch's training loss and metric are the running mean of its minibatches). A
# study begun under another version is not resumed: its trials would not mix.
RESULTS_VERSION = 3


def stored_settings(
    store: Store, name: str, settings: StudySettings, kind: str, resume: bool, data_fingerprint: str, rows: str
) -> dict:
    """What a study is stored with: the command that runs it, its settings, its data's fingerprint (so that
    resuming it on other data is refused), its rows' description and its results' version. Resuming a study
    whose trials an earlier reglab computed differently (``RESULTS_VERSION``) is refused; the other keys, when
    an earlier reglab stored none, are left out of the comparison."""
    values = {
        "kind": kind,
        **settings.to_dict(),
        "data_fingerprint": data_fingerprint,
        "rows": rows,
        "results_version": RESULTS_VERSION,
    }
    try:
        stored = store.study(name).settings if resume else None
    except StoreError:  # a new study
        stored = None
    if stored is None:
        return values
    version = stored.get("results_version", 1)
    if version != RESULTS_VERSION:
        raise ValueError(
            f"study {name!r} holds trials of an earlier reglab, whose results differ (results version {version}, "
            f"this reglab's {RESULTS_VERSION}): start a new study under another name instead of resuming it"
        )
    return {k: v for k, v in values.items() if k in stored or k not in STUDY_KEYS}


def _job(trial: PlannedTrial, split: SeedSplit) -> Job:
    if trial.stage == "cv":
        train_idx, eval_idx = split.folds[trial.fold]
    else:
        train_idx, eval_idx = split.train, split.test
    return Job(trial, trial.config, train_idx, eval_idx)
