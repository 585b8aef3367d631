"""A classification study's test NLL and ECE: recorded by every engine, summarized, tabled, framed; an
older study without them still reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss

import reglab
from reglab import FitConfig, fit
from reglab.data.splits import Standardizer, holdout_split
from reglab.render import comparison_table
from reglab.results import StudySummary
from reglab.store import TrialRecord
from reglab.study import StudySettings, summarize_study
from tests.own_models import build

QUICK = dict(seeds=2, folds=2, epochs=2, batch_size=32, test_size=0.25, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[::3].astype(np.float32), y[::3]


def stored_tests(study: reglab.Study) -> dict:
    """(method, seed) → the stored metrics of each test trial."""
    records = study.store.trials(study.store.study(study.name).id)
    return {(r.method, r.seed): r.metrics for r in records if r.stage == "test"}


def test_the_mlp_stack_and_the_sequential_runs_record_the_same_finite_nll_and_ece(digits):
    studies = {
        strategy: reglab.compare(
            data=digits, methods=["none", "l2"], grids={"l2": [1e-4, 1e-2]}, strategy=strategy, **QUICK
        )
        for strategy in ("auto", "sequential")
    }
    assert "stacked with" in next(iter(studies["auto"].ran()["l2"]))
    stacked, sequential = (stored_tests(s) for s in studies.values())
    for key, metrics in sequential.items():
        for name in ("nll", "ece"):
            mine, theirs = stacked[key]["eval_calibration"][name], metrics["eval_calibration"][name]
            assert math.isfinite(mine) and mine == pytest.approx(theirs, rel=1e-4, abs=1e-6), (key, name)
        assert stacked[key]["eval_calibration"]["bins"]["counts"] == metrics["eval_calibration"]["bins"]["counts"]
    for study in studies.values():
        frame = study.to_frame()
        assert np.isfinite(frame[["test_nll", "test_nll_sd", "test_ece", "test_ece_sd"]].to_numpy()).all()
        header = study.table().split("\n")[:6]
        assert any("NLL" in line and "ECE" in line for line in header)


def test_a_trials_nll_is_log_loss_of_its_model_trained_by_hand(digits):
    """The test trial of seed 0, refit by hand as ``test_api`` does (a stratified quarter held out, features
    standardized on the rest, the builder called under the seed), scored by scikit-learn's log_loss."""
    X, y = digits
    study = reglab.compare(model=build, data=(X, y), methods=["none"], strategy="sequential", **{**QUICK, "seeds": 1})
    train, test = holdout_split(y, 0.25, 0, stratify=True)
    scaler = Standardizer.fit(X[train])
    torch.manual_seed(0)
    model = build()
    config = FitConfig(task="classification", epochs=2, batch_size=32, seed=0, device="cpu")
    fit(model, (scaler.transform(X[train]), y[train]), config=config)
    with torch.no_grad():
        probs = model.eval()(torch.as_tensor(scaler.transform(X[test]))).double().softmax(dim=1).numpy()
    recorded = stored_tests(study)[("none", 0)]["eval_calibration"]
    assert recorded["nll"] == pytest.approx(log_loss(y[test], probs, labels=range(10)), rel=1e-5)
    assert sum(recorded["bins"]["counts"]) == len(test)
    assert study.summary.methods[0].test_nll.mean == recorded["nll"]


def stored_test(method: str, seed: int, calibration: dict | None) -> TrialRecord:
    metrics = {"eval_metric": 0.9, "train_metric": 1.0} | ({"eval_calibration": calibration} if calibration else {})
    key = f"{method}|-|test|seed={seed}"
    return TrialRecord(0, 1, key, method, "test", None, seed, {}, "completed", metrics, 0.1, None, 0.0)


def test_the_summary_gives_mean_and_sd_over_seeds_and_a_study_stored_before_shows_dashes():
    settings = StudySettings(data="wine", methods=("none", "l2=0.1"), seeds=2, folds=2)
    bins = {"counts": [0] * 14 + [3], "confidence": [None] * 14 + [0.95], "accuracy": [None] * 14 + [1.0]}
    records = [stored_test("none", s, {"nll": 0.2 + 0.1 * s, "ece": 0.05, "bins": bins}) for s in range(2)]
    records += [stored_test("l2=0.1", s, None) for s in range(2)]  # as an earlier reglab stored them
    summary = summarize_study(settings, records, "classification")
    none, l2 = summary.methods
    assert none.test_nll.mean == pytest.approx(0.25) and none.test_nll.sd == pytest.approx(np.std([0.2, 0.3], ddof=1))
    assert none.test_ece.mean == pytest.approx(0.05) and none.test_ece.sd == 0.0
    assert math.isnan(l2.test_nll.mean) and math.isnan(l2.test_ece.mean)
    old = summary.to_dict()
    for method in old["methods"]:
        del method["test_nll"], method["test_ece"]
    table = _text(comparison_table(StudySummary.from_dict(old), "old"))
    row = next(line for line in table.splitlines() if "l2=0.1" in line)
    assert row.count("—") >= 2 and "NLL" in table
    assert "NLL" not in _text(comparison_table(summarize_study(settings, records, "regression"), "r"))


def _text(table) -> str:
    from rich.console import Console

    out = Console(width=200, color_system=None)
    with out.capture() as captured:
        out.print(table)
    return captured.get()
