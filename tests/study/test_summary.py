"""A study's summary from its stored trials: ties, and intervals within the metric's range."""

from __future__ import annotations

from reglab.cli.render import winner_line
from reglab.store import TrialRecord
from reglab.study import StudySettings, summarize_study

SETTINGS = StudySettings(data="wine", methods=("none", "l2=0.1", "dropout=0.5", "l1=0.1"), seeds=3, folds=2)


def stored_test(method: str, seed: int, accuracy: float) -> TrialRecord:
    metrics = {"eval_metric": accuracy, "train_metric": 1.0, "zeros": 0.0, "weight_norm": 1.0, "units_pruned": 0}
    return TrialRecord(0, 1, f"{method}|-|test|seed={seed}", method, "test", None, seed, {}, "completed", metrics,
                       0.1, None, 0.0)


def test_every_method_tied_for_best_is_named_and_intervals_stay_within_accuracy():
    scores = {"none": [1.0, 0.95, 1.0], "l2=0.1": [1.0, 0.95, 1.0], "dropout=0.5": [1.0, 0.95, 1.0],
              "l1=0.1": [0.9, 0.9, 0.85]}
    records = [stored_test(m, seed, a) for m, values in scores.items() for seed, a in enumerate(values)]
    summary = summarize_study(SETTINGS, records, "classification")
    assert summary.winner is None and summary.tied == ["none", "l2=0.1", "dropout=0.5"]
    assert winner_line(summary) == "No winner: none, l2=0.1 and dropout=0.5 tie on every seed."
    best = summary.methods[0].test_metric
    # mean 0.9833, sd 0.0289: the t-interval 0.9833 ± 4.303 · 0.0289/√3 = [0.912, 1.055] ends at 1
    assert round(best.low, 3) == 0.912 and best.high == 1.0
