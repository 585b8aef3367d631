"""The figure data equals what the store holds: hand-made records in, the same numbers out."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict
from pathlib import Path

from reglab.cli import build_parser
from reglab.cli.options import settings_from_args
from reglab.report.data import read_report, reproduce_command
from reglab.results import StudySummary
from reglab.store import Store
from reglab.study import StudySettings


def read(path: Path, name: str = "hand"):
    with Store(path) as store:
        return read_report(store, name)


def test_comparison_is_the_stored_summary(store_path: Path, hand) -> None:
    summary = hand.make_study(store_path)
    data = read(store_path)
    assert data.methods == ("none", "l1", "dropout", "early-stopping")
    comparison = data.comparison
    assert (comparison.winner, comparison.runner_up, comparison.baseline) == ("early-stopping", "dropout", "none")
    assert asdict(comparison.lead) == summary["lead"] and not comparison.winner_significant
    for row, stored in zip(comparison.methods, summary["methods"]):
        assert row.method == stored["method"] and row.chosen_label == stored["chosen_label"]
        for key in ("test_metric", "train_metric", "gap"):
            assert asdict(getattr(row, key)) == stored[key]
        assert row.test_values == stored["test_values"]
        assert (row.zeros, row.weight_norm, row.outcome) == (stored["zeros"], stored["weight_norm"], stored["outcome"])
        assert (row.vs_baseline and asdict(row.vs_baseline)) == stored["vs_baseline"]


def test_a_summary_stored_by_an_earlier_version_reads_with_empty_fields(store_path: Path, hand) -> None:
    """An earlier reglab stored no ``tied`` (as the hand-made summary) and may lack any other field."""
    hand.make_study(store_path, methods=("none", "l1"))
    with Store(store_path) as store:
        study = store.study("hand")
        summary = study.summary
        assert "tied" not in summary
        del summary["lead"]
        for row in summary["methods"]:
            for key in ("units_pruned", "curves", "vs_baseline", "chosen_label"):
                del row[key]
            del row["test_metric"]["sd"]
        store.finish_study(study.id, summary)
    comparison = read(store_path).comparison
    assert comparison.tied == [] and comparison.lead is None and comparison.winner == "l1"
    none, l1 = comparison.methods
    assert math.isnan(l1.units_pruned) and l1.curves == [] and l1.vs_baseline is None
    assert l1.chosen_label == "l1=0.001" and math.isnan(l1.test_metric.sd) and l1.test_metric.mean == 0.81


def test_the_typed_summary_round_trips_through_the_store_format(store_path: Path, hand) -> None:
    summary = hand.make_study(store_path)
    typed = StudySummary.from_dict(summary)
    assert StudySummary.from_dict(typed.to_dict()) == typed
    stored = {k: v for k, v in typed.to_dict().items() if k not in ("tied", "greater_is_better")}  # newer keys
    newer = ("test_nll", "test_ece")  # of each method, NaN where the stored summary has none
    stored["methods"] = [{k: v for k, v in m.items() if k not in newer} for m in stored["methods"]]
    assert stored == {k: v for k, v in summary.items()}


def test_validation_curves_are_seed_zero_with_the_other_seeds_overlaid(store_path: Path, hand) -> None:
    summary = hand.make_study(store_path)
    curves = {c.method: c for c in read(store_path).curves}
    assert list(curves) == ["l1", "dropout", "early-stopping"]
    for method, curve in curves.items():
        seed0, seed1 = next(m["curves"] for m in summary["methods"] if m["method"] == method)
        assert curve.values == tuple(hand.GRIDS[method]) and curve.labels == tuple(seed0["labels"])
        assert curve.mean == tuple(seed0["mean"]) and curve.se == tuple(seed0["se"])
        assert curve.other_seeds == (tuple(seed1["mean"]),)
        assert (curve.best, curve.one_se, curve.chosen, curve.parameter) == (0, 1, 1, method)
    assert curves["l1"].log_x and not curves["dropout"].log_x and not curves["early-stopping"].log_x


def test_min_rule_and_product_grids_of_three_knobs(store_path: Path, hand) -> None:
    hand.make_study(store_path, methods=("l1",), settings={"rule": "min"})
    with Store(store_path) as store:
        study = store.study("hand")
        summary = study.summary
        summary["methods"][0]["curves"][0]["labels"] = [
            "l2=0.1,dropout=0.1,maxnorm=3",
            "l2=0.1,dropout=0.5,maxnorm=3",
            "l2=1,dropout=0.1,maxnorm=3",
            "l2=1,dropout=0.5,maxnorm=3",
        ]
        store.finish_study(study.id, summary)
    (curve,) = read(store_path).curves
    assert curve.categorical and not curve.log_x and curve.parameter == "grid point"
    assert curve.chosen == curve.best == 0


def test_two_knobs_make_a_grid_of_seed_zeros_cv_means(store_path: Path, hand) -> None:
    summary = hand.make_study(store_path, methods=("none", "l1", "elasticnet+l1_ratio"))
    data = read(store_path)
    assert [c.method for c in data.curves] == ["l1"]
    (grid,) = data.grids
    stored = summary["methods"][2]
    assert grid.method == "elasticnet+l1_ratio" and grid.parameters == ("elasticnet", "l1_ratio") and grid.seed == 0
    assert grid.x == (1e-3, 1e-2, 1e-1) and grid.y == (0.2, 0.5, 0.8)
    mean = stored["curves"][0]["mean"]  # grid order: elasticnet varies slowest
    assert grid.mean == tuple(tuple(mean[3 * i + j] for i in range(3)) for j in range(3))
    assert grid.best == grid.chosen == (1, 2)
    assert {"elasticnet": grid.x[grid.chosen[0]], "l1_ratio": grid.y[grid.chosen[1]]} == stored["chosen"][0]


def test_learning_curves_are_the_seed_zero_test_histories(store_path: Path, hand) -> None:
    hand.make_study(store_path, diverged=("dropout",))
    curves = {c.method: c for c in read(store_path).learning}
    for method, epochs in (("none", 5), ("l1", 5), ("early-stopping", 3)):
        rows = hand.history(method, 0, epochs, False)
        curve = curves[method]
        assert curve.status == "completed"
        assert curve.epochs == tuple(range(epochs))
        assert curve.train_loss == tuple(r["train_loss"] for r in rows)
        assert curve.val_loss == tuple(r["val_loss"] for r in rows)
    assert curves["none"].stopped is None and curves["none"].restored is None
    assert (curves["early-stopping"].stopped, curves["early-stopping"].restored) == (2, 1)
    diverged = curves["dropout"]
    assert diverged.status == "diverged" and diverged.stopped is None and math.isnan(diverged.val_loss[-1])


def test_weight_histograms_are_the_stored_metrics(store_path: Path, hand) -> None:
    hand.make_study(store_path, diverged=("dropout",))
    histograms = {h.method: h for h in read(store_path).histograms}
    for i, method in enumerate(("none", "l1")):
        h = histograms[method]
        assert h.edges == tuple(hand.EDGES) and h.counts == (1 + i, 10 * (i + 1), 30, 2)  # seed 0's, not seed 1's
        assert h.exact_zeros == 5 * i
    assert histograms["l1"].units_pruned == 1 and histograms["none"].units_pruned == 0
    assert histograms["dropout"].counts == () and histograms["dropout"].status == "diverged"


def test_the_test_trial_at_the_chosen_point_is_read(store_path: Path, hand) -> None:
    hand.make_study(store_path, methods=("l1",))
    with Store(store_path) as store:
        study = store.study("hand")
        store.record_trial(
            study.id,
            "l1|l1=0.1|test|seed=0",
            "l1",
            "test",
            None,
            0,
            {"point": {"l1": 0.1}},
            "completed",
            {},
            1.0,
            [{"epoch": 0, "train_loss": 9.0, "val_loss": 8.0}],
        )
        summary = study.summary
        summary["methods"][0]["chosen"][0] = {"l1": 0.1}
        store.finish_study(study.id, summary)
    (curve,) = read(store_path).learning
    assert (curve.epochs, curve.train_loss, curve.val_loss) == ((0,), (9.0,), (8.0,))


def test_regularization_path_is_the_stored_summary(store_path: Path, hand) -> None:
    summary = hand.make_path_study(store_path)
    data = read(store_path, "lasso-path")
    assert data.kind == "path" and data.comparison is None and data.methods == ()
    path = data.path
    assert path.strengths == tuple(summary["strengths"]) and path.coefs == tuple(map(tuple, summary["coefs"]))
    assert path.feature_names == ("age", "bmi") and path.choices == summary["choices"]
    assert path.nonzeros == tuple(summary["nonzeros"]) and path.cv_mean == tuple(summary["cv_mean"])
    assert path.test_mse == tuple(summary["test_mse"])
    assert [path.nonzeros_at(s) for s in (0.1, 3.0, 0.02, 0.0)] == [2, 1, 2, None]  # nearest on a log scale


def test_run_info_sums_trial_seconds_and_counts_statuses(store_path: Path, hand) -> None:
    hand.make_study(store_path, methods=("none", "l1"), diverged=("l1",))
    run = read(store_path).run
    assert run.statuses == {"completed": 2, "diverged": 2}
    assert run.trial_seconds == 2 * 0.25 + 2 * 1.25
    assert run.elapsed is not None and run.elapsed >= 0
    assert run.reglab_version and run.torch_version


def test_the_command_gives_back_the_stored_settings() -> None:
    settings = StudySettings(
        data="wine",
        methods=("none", "l2+dropout", "dropout+maxnorm=3"),
        epochs=7,
        seeds=2,
        grids={"l2": (1e-5, 0.001)},
        rule="min",
        impute=True,
        lr=3e-4,
    ).to_dict()
    program, *flags = reproduce_command("compare", settings)
    assert program == "reglab compare"
    args = build_parser().parse_args(["compare", *shlex.split(" ".join(flags))])
    assert settings_from_args(args).to_dict() == settings


def test_a_tune_command_takes_its_method_as_argument() -> None:
    settings = StudySettings(
        data="wine", methods=("dropout+maxnorm=3",), epochs=7, grids={"dropout": (0.1, 0.5)}
    ).to_dict()
    program, *flags = reproduce_command("tune", {"kind": "tune", **settings})
    assert program == "reglab tune dropout+maxnorm=3" and not any(f.startswith("--methods") for f in flags)
    args = build_parser().parse_args([*shlex.split(program)[1:], *shlex.split(" ".join(flags))])
    assert settings_from_args(args, methods=(args.method,)).to_dict() == settings


def test_a_path_command_names_its_flags() -> None:
    command = reproduce_command(
        "path", {"kind": "path", "data": "my data.csv", "target": None, "penalty": "l1", "folds": 5}
    )
    assert command == ("reglab path", "--data 'my data.csv'", "--folds 5", "--penalty l1")
    args = build_parser().parse_args(["path", *shlex.split(" ".join(command[1:]))])
    assert (args.data, args.folds, args.penalty) == ("my data.csv", 5, "l1")
