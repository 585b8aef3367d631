"""A study expanded into trials: for every method and seed, cross-validation over its grid, then a test run.

Each seed s is one honest replicate: its own stratified test split, its own k folds of the remaining
training part, initialization and minibatch order. A trial's key names everything that decides its
result, so a resumed study recognizes finished work.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from reglab.data import Dataset
from reglab.data.splits import holdout_split, kfold_splits
from reglab.methods import METHODS, Regularization
from reglab.study.settings import StudySettings
from reglab.trial import TrialConfig


@dataclass(frozen=True)
class PlannedTrial:
    """One trial to run: where it belongs (method, stage, fold, seed, grid point) and its config."""

    key: str
    method: str
    stage: str  # "cv" (scored on a validation fold) | "test" (trained on the training part, scored on the test split)
    fold: int | None
    seed: int
    point: dict  # tuned method name -> value
    config: TrialConfig


@dataclass(frozen=True)
class SeedSplit:
    """Row indices of one seed's replicate: training part, test split, and k (train, validation) folds."""

    train: np.ndarray
    test: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]


def train_test(dataset: Dataset, settings: StudySettings, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) rows: the data's given test rows (an official split) unless ``test_split="random"``, else
    a hold-out of ``test_size`` drawn with the seed (stratified for classes)."""
    if dataset.test_idx is not None and settings.test_split == "given":
        return np.setdiff1d(np.arange(dataset.n_samples), dataset.test_idx), dataset.test_idx
    return holdout_split(dataset.y, settings.test_size, seed, dataset.task == "classification")


def seed_split(dataset: Dataset, settings: StudySettings, seed: int) -> SeedSplit:
    """The seed's train and test rows (``train_test``) and k folds of the train rows, drawn with the seed."""
    train, test = train_test(dataset, settings, seed)
    stratify = dataset.task == "classification"
    folds = [(train[a], train[b]) for a, b in kfold_splits(dataset.y[train], settings.folds, seed, stratify)]
    return SeedSplit(train, test, folds)


def describe_rows(dataset: Dataset, settings: StudySettings, train: np.ndarray, test: np.ndarray) -> str:
    """What a seed trains and tests on, e.g. "train 4000 · test 1000 (given)" or "train 800 · test 200 (random
    20%, stratified)"."""
    if dataset.test_idx is not None and settings.test_split == "given":
        how = "given"
    else:
        how = f"random {settings.test_size:.0%}" + (", stratified" if dataset.task == "classification" else "")
    return f"train {len(train)} · test {len(test)} ({how})"


def grid_points(settings: StudySettings, reg: Regularization) -> list[dict]:
    """Every combination of the tuned methods' grid values; one empty point when nothing is tuned."""
    names = list(reg.tuned)
    return [dict(zip(names, values)) for values in itertools.product(*(settings.grid(n) for n in names))]


def apply_point(reg: Regularization, point: dict) -> Regularization:
    for name, value in point.items():
        reg = reg.with_value(name, value)
    return reg


def point_label(point: dict) -> str:
    return ",".join(f"{name}={value:g}" for name, value in point.items()) or "-"


def trial_config(settings: StudySettings, method: str, point: dict, task: str, seed: int) -> TrialConfig:
    reg = apply_point(settings.regularization(method), point)
    return TrialConfig(replace(reg, tuned=()), settings.model, settings.fit_config(task, seed))


def cv_trials(settings: StudySettings, method: str, task: str) -> list[PlannedTrial]:
    """Cross-validation trials of one method: seeds × grid points × folds (none when nothing is tuned)."""
    reg = settings.regularization(method)
    if not reg.tuned:
        return []
    return [
        PlannedTrial(
            f"{method}|{point_label(point)}|cv|fold={fold}|seed={seed}",
            method,
            "cv",
            fold,
            seed,
            point,
            trial_config(settings, method, point, task, seed),
        )
        for seed in range(settings.seeds)
        for point in grid_points(settings, reg)
        for fold in range(settings.folds)
    ]


def test_trial_key(method: str, point: dict, seed: int) -> str:
    """The key of a seed's test trial at ``point``."""
    return f"{method}|{point_label(point)}|test|seed={seed}"


def test_trial(settings: StudySettings, method: str, point: dict, task: str, seed: int) -> PlannedTrial:
    """The refit of a chosen point on a seed's whole training part, scored on its test split."""
    return PlannedTrial(
        test_trial_key(method, point, seed),
        method,
        "test",
        None,
        seed,
        point,
        trial_config(settings, method, point, task, seed),
    )


def stronger_direction(reg: Regularization) -> str:
    """The 1-SE rule's direction for a single tuned method; a product grid has no single direction."""
    return METHODS[reg.tuned[0]].stronger if len(reg.tuned) == 1 else "larger"
