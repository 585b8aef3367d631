"""A study's summary from its stored trials: ties, and intervals within the metric's range."""

from __future__ import annotations

from rich.console import Console

from reglab.render import comparison_table, winner_line
from reglab.store import TrialRecord
from reglab.study import StudySettings, summarize_study

SETTINGS = StudySettings(data="wine", methods=("none", "l2=0.1", "dropout=0.5", "l1=0.1"), seeds=3, folds=2)


def stored_test(method: str, seed: int, accuracy: float) -> TrialRecord:
    metrics = {"eval_metric": accuracy, "train_metric": 1.0, "zeros": 0.0, "weight_norm": 1.0, "units_pruned": 0}
    return TrialRecord(
        0, 1, f"{method}|-|test|seed={seed}", method, "test", None, seed, {}, "completed", metrics, 0.1, None, 0.0
    )


def test_every_method_tied_for_best_is_named_and_intervals_stay_within_accuracy():
    scores = {
        "none": [1.0, 0.95, 1.0],
        "l2=0.1": [1.0, 0.95, 1.0],
        "dropout=0.5": [1.0, 0.95, 1.0],
        "l1=0.1": [0.9, 0.9, 0.85],
    }
    records = [stored_test(m, seed, a) for m, values in scores.items() for seed, a in enumerate(values)]
    summary = summarize_study(SETTINGS, records, "classification")
    assert summary.winner is None and summary.tied == ["none", "l2=0.1", "dropout=0.5"]
    assert winner_line(summary) == "No winner: none, l2=0.1 and dropout=0.5 tie on every seed."
    best = summary.methods[0].test_metric
    # mean 0.9833, sd 0.0289: the t-interval 0.9833 ± 4.303 · 0.0289/√3 = [0.912, 1.055] ends at 1
    assert round(best.low, 3) == 0.912 and best.high == 1.0


def test_the_table_names_every_chosen_value_of_a_two_knob_method():
    settings = StudySettings(data="wine", methods=("none", "elasticnet+l1_ratio"), seeds=2, folds=2)
    chosen = [{"elasticnet": 0.01, "l1_ratio": 0.8}, {"elasticnet": 0.1, "l1_ratio": 0.2}]
    records = [stored_test("none", seed, 0.9) for seed in range(2)]
    records += [
        TrialRecord(
            0,
            1,
            f"elasticnet+l1_ratio|{label}|test|seed={seed}",
            "elasticnet+l1_ratio",
            "test",
            None,
            seed,
            {},
            "completed",
            {"eval_metric": 0.95, "train_metric": 1.0},
            0.1,
            None,
            0.0,
        )
        for seed, label in enumerate(["elasticnet=0.01,l1_ratio=0.8", "elasticnet=0.1,l1_ratio=0.2"])
    ]
    summary = summarize_study(settings, records, "classification")
    summary.methods[1].chosen = chosen  # as cross-validation chose them
    out = Console(width=160, record=True)  # as piped
    out.print(comparison_table(summary, "study"))
    text = out.export_text()
    for value in ("elasticnet=0.01", "l1_ratio=0.8", "elasticnet=0.1", "l1_ratio=0.2"):  # whole, if on two lines
        assert value in text
    assert "…" not in text
