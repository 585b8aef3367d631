"""Hand-made studies for the report tests: records written straight into a store, nothing trained."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from reglab.report import write_report
from reglab.store import Store

EDGES = [-1.0, -0.5, 0.0, 0.5, 1.0]
SETTINGS = {
    "data": "digits",
    "epochs": 5,
    "folds": 2,
    "seeds": 2,
    "rule": "1se",
    "lr": 0.01,
    "model": {"kind": "mlp", "hidden": [8], "activation": "relu"},
    "grids": {},
}
GRIDS = {
    "l1": [1e-4, 1e-3, 1e-2, 1e-1],
    "dropout": [0.1, 0.3, 0.5],
    "early-stopping": [2, 5],
    "elasticnet+l1_ratio": {"elasticnet": [1e-3, 1e-2, 1e-1], "l1_ratio": [0.2, 0.5, 0.8]},
}
BEST_2D = 5  # the grid point of a two-knob method with the least CV loss: elasticnet=0.01, l1_ratio=0.8


def grid_points(method: str) -> list[dict]:
    """The hand-made grid of ``method`` as points (a product of two knobs' values for a two-knob method)."""
    grid = GRIDS.get(method, [])
    if isinstance(grid, dict):
        return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return [{method: value} for value in grid]


def label(point: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in point.items()) or "-"


def interval(mean: float) -> dict:
    return {"mean": mean, "sd": 0.01, "low": mean - 0.02, "high": mean + 0.02}


def history(method: str, seed: int, epochs: int, diverged: bool) -> list[dict]:
    rows = [
        {
            "epoch": e,
            "train_loss": 2.0 / (e + 1) + seed,
            "val_loss": 2.5 / (e + 1) + 0.6 * (e == 2) + seed,
            "train_metric": 0.5,
            "val_metric": 0.5,
            "penalty": 0.0,
            "zeros": 0.0,
            "weight_norm": 1.0,
            "units_pruned": 0,
            "seconds": 0.01,
        }
        for e in range(epochs)
    ]
    if diverged:
        rows[-1]["train_loss"] = rows[-1]["val_loss"] = math.nan
    return rows


def make_study(
    path: Path,
    name: str = "hand",
    methods=("none", "l1", "dropout", "early-stopping"),
    diverged=(),
    settings: dict | None = None,
) -> dict:
    """A finished study with seed-0 and seed-1 test trials per method and a summary in the stored format.

    Each method's numbers differ (index ``i`` shifts them), so a test can tell which record was read.
    Returns the summary it stored.
    """
    settings = {**SETTINGS, "methods": list(methods), **(settings or {})}
    rows = []
    with Store(path) as store:
        study = store.start_study(name, settings, resume=False)
        for i, method in enumerate(methods):
            tuned = method in GRIDS
            points = grid_points(method)
            two_knobs = isinstance(GRIDS.get(method), dict)
            point = points[BEST_2D if two_knobs else 1] if tuned else {}
            bad = method in diverged
            for seed in range(2):
                epochs = 3 if method == "early-stopping" else settings["epochs"]
                metrics = (
                    {}
                    if bad
                    else {
                        "eval_metric": 0.8 + 0.01 * i,
                        "train_metric": 0.9,
                        "zeros": 0.1 * i,
                        "weight_norm": 2.0 + i,
                        "units_pruned": i if method == "l1" else 0,
                        "epochs": epochs,
                        "weight_histogram": {
                            "edges": EDGES,
                            "counts": [1 + i, 10 * (i + 1), 30, 2 + seed],
                            "exact_zeros": 5 * i,
                        },
                    }
                )
                config = {
                    "point": point,
                    "regularization": {"early_stopping": point.get(method) if method == "early-stopping" else None},
                }
                store.record_trial(
                    study.id,
                    f"{method}|{label(point)}|test|seed={seed}",
                    method,
                    "test",
                    None,
                    seed,
                    config,
                    "diverged" if bad else "completed",
                    metrics,
                    0.25 + i,
                    history(method, seed, epochs, bad),
                )
            best = BEST_2D if two_knobs else 0
            curves = (
                [
                    {
                        "seed": seed,
                        "values": list(range(len(points))) if two_knobs else GRIDS[method],
                        "labels": [label(p) for p in points],
                        "mean": [0.5 + 0.1 * abs(k - best) + 0.01 * seed + 0.001 * i for k in range(len(points))],
                        "se": [0.02 + 0.001 * k for k in range(len(points))],
                        "best": best,
                        "one_se": best if two_knobs else 1,
                    }
                    for seed in range(2)
                ]
                if tuned and not bad
                else []
            )
            test = math.nan if bad else 0.8 + 0.01 * i
            rows.append(
                {
                    "method": method,
                    "chosen": [point, point],
                    "chosen_label": label(point) if tuned else "fixed",
                    "train_metric": interval(math.nan if bad else 0.9),
                    "test_metric": interval(test),
                    "gap": interval(math.nan if bad else 0.9 - test),
                    "zeros": math.nan if bad else 0.1 * i,
                    "weight_norm": math.nan if bad else 2.0 + i,
                    "units_pruned": 0.0,
                    "outcome": "diverged 2/2" if bad else "completed",
                    "test_values": [test, test],
                    "curves": curves,
                    "vs_baseline": None
                    if method == "none" or "none" not in methods or bad
                    else {
                        "mean_diff": 0.01 * i,
                        "low": -0.01,
                        "high": 0.03,
                        "p_value": 0.2,
                        "n": 2,
                        "significant": False,
                    },
                }
            )
        finished = [r for r in rows if math.isfinite(r["test_metric"]["mean"])]
        ranked = sorted(finished, key=lambda r: -r["test_metric"]["mean"])
        summary = {
            "task": "classification",
            "metric": "accuracy",
            "methods": rows,
            "winner": ranked[0]["method"] if ranked else None,
            "runner_up": ranked[1]["method"] if len(ranked) > 1 else None,
            "winner_significant": False,
            "lead": {"mean_diff": 0.01, "low": -0.02, "high": 0.04, "p_value": 0.3, "n": 2, "significant": False}
            if len(ranked) > 1
            else None,
        }
        store.finish_study(study.id, summary)
    return summary


def make_path_study(path: Path, name: str = "lasso-path") -> dict:
    summary = {
        "kind": "path",
        "data": "diabetes",
        "penalty": "l1",
        "l1_ratio": 1.0,
        "strengths": [10.0, 1.0, 0.1, 0.01],
        "coefs": [[0.0, 0.0], [0.5, 0.0], [1.0, -0.2], [1.2, -0.4]],
        "nonzeros": [0, 1, 2, 2],
        "feature_names": ["age", "bmi"],
        "cv_mean": [3.0, 2.0, 1.5, 1.6],
        "cv_se": [0.1, 0.1, 0.1, 0.1],
        "test_mse": [3.1, 2.1, 1.6, 1.7],
        "choices": {"aic": 0.1, "cv_min": 0.1, "cv_1se": 1.0},
    }
    settings = {
        "kind": "path",
        "data": "diabetes",
        "target": None,
        "penalty": "l1",
        "l1_ratio": 0.5,
        "n_strengths": 4,
        "folds": 5,
        "seed": 0,
    }
    with Store(path) as store:
        study = store.start_study(name, settings, resume=False)
        store.finish_study(study.id, summary)
    return summary


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture(scope="session")
def hand() -> SimpleNamespace:
    """The builders and constants above (test modules cannot import a conftest)."""
    return SimpleNamespace(
        make_study=make_study, make_path_study=make_path_study, history=history, EDGES=EDGES, GRIDS=GRIDS
    )


@pytest.fixture(scope="session")
def full_report(tmp_path_factory) -> Path:
    """The report of a four-method study (none, l1, dropout, early stopping), written once."""
    path = tmp_path_factory.mktemp("full") / "runs.sqlite"
    make_study(path)
    return write_report(path, "hand")
