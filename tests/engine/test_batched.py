"""The batched engine's invariant: a member's history and final metrics are those of its sequential run
(``run_job``), whichever members share its stack; a diverging member changes no other member's numbers."""

from __future__ import annotations

import math

import pytest

from reglab.engine import run_batched
from reglab.models import ModelSpec

PENALTIES = [
    "l2=0.01",
    "l1=0.003",
    "elasticnet=0.01+l1_ratio=0.3",
    "grouplasso=0.01",
    "maxnorm=0.5",
    "decay=0.05",
    "l1=0.002+l2=0.01+maxnorm=1",
    "none",
]


@pytest.mark.parametrize("optimizer, lr, momentum", [("adam", 1e-2, 0.0), ("sgd", 0.05, 0.9)])
def test_penalized_members_equal_their_sequential_runs(cases, float64, optimizer, lr, momentum):
    """One stack per training size holds every penalty, proximal and as a loss term, max-norm and decay,
    on different folds with different seeds and learning rates: each member within 1e-10 of run_job."""
    specs = [(spec, True) for spec in PENALTIES] + [
        (s, False) for s in ("l1=0.003", "elasticnet=0.01", "grouplasso=0.01")
    ]
    jobs = [
        cases.job(
            i,
            spec,
            proximal=proximal,
            fold=1 + i % 2,
            seed=i,
            optimizer=optimizer,
            lr=lr * (1 + i % 3),
            momentum=momentum,
        )
        for i, (spec, proximal) in enumerate(specs)
    ]
    results: dict = {}
    reports = run_batched(cases.data()[0], jobs, lambda j, r: results.__setitem__(j.tag, r))
    assert [r.members for r in reports] == [len(jobs)]  # folds 1 and 2 have equally many training rows
    expected = cases.reference(jobs)
    for j in jobs:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)
    assert any(r.metrics["zeros"] > 0 for r in results.values())  # the proximal steps made exact zeros


def test_dropout_members_replay_their_own_streams(cases, float64):
    """Bernoulli and Gaussian dropout beside members without noise: each member equals its sequential run,
    alone, in a stack of 8 and among other members."""
    specs = [
        "dropout=0.2",
        "dropout=0.5",
        "gaussian-dropout=0.3",
        "dropout=0.1+l2=0.01",
        "none",
        "gaussian-dropout=0.1+l1=0.003",
        "dropout=0.3+maxnorm=1",
        "l2=0.001",
    ]
    jobs = [cases.job(i, spec, fold=1 + i % 2, seed=10 + i) for i, spec in enumerate(specs)]
    eight = cases.stacked(jobs)
    expected = cases.reference(jobs)
    for j in jobs:
        cases.assert_close(eight[j.tag], expected[j.tag], 1e-10)
    alone = cases.stacked([jobs[0]])
    mixed = cases.stacked([jobs[2], cases.job("other", "dropout=0.7", fold=2, seed=99), jobs[0]])
    for results, tag in [(alone, 0), (mixed, 0), (mixed, 2)]:
        cases.assert_close(results[tag], expected[tag], 1e-10)


@pytest.mark.parametrize("batch_size", [16, None])
def test_members_with_fewer_training_rows_share_the_stack(cases, float64, batch_size):
    """Fold 0 trains on 118 rows, folds 1 and 2 on 119: with as many minibatches per epoch (or one full
    batch each), they train in one stack, the shorter last minibatches padded; dropout draws only the
    member's own rows."""
    specs = ["dropout=0.3", "gaussian-dropout=0.2+l1=0.003", "l2=0.01", "early-stopping=1+dropout=0.2"]
    jobs = [cases.job(i, specs[i % 4], fold=i % 3, seed=i, batch_size=batch_size) for i in range(12)]
    results: dict = {}
    reports = run_batched(cases.data()[0], jobs, lambda j, r: results.__setitem__(j.tag, r))
    assert {len(j.train_idx) for j in jobs} == {118, 119}
    # early stopping monitors a fifth of the rows: 94 or 95 left, 6 minibatches of 16 instead of 8
    assert [r.members for r in reports] == ([9, 3] if batch_size else [12])
    expected = cases.reference(jobs)
    for j in jobs:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-2), ("sgd", 0.05)])
def test_batch_norm_members_keep_their_own_statistics(cases, float64, optimizer, lr):
    """Batch norm (per-member batch statistics and running averages) with dropout and penalties, in
    torch.func stacks of equally many training rows (batch statistics span the whole minibatch)."""
    jobs = [
        cases.job(i, spec, fold=1 + i % 2, seed=i, optimizer=optimizer, lr=lr)
        for i, spec in enumerate(["batchnorm", "batchnorm+dropout=0.3", "batchnorm+l1=0.003", "batchnorm+l2=0.01"])
    ]
    results, expected = cases.stacked(jobs), cases.reference(jobs)
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with") and results[j.tag].ran.endswith("torch.func")
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


def test_regression_and_linear_models(cases, float64):
    """Squared error and R² on diabetes: linear models with proximal penalties, and an MLP."""
    linear = ModelSpec("linear")
    jobs = [
        cases.job(i, spec, name="diabetes", model=linear, fold=1 + i % 2, seed=i, optimizer="sgd", lr=0.05)
        for i, spec in enumerate(["l1=0.05", "elasticnet=0.05+l1_ratio=0.7", "grouplasso=0.05", "none"])
    ]
    jobs += [cases.job("mlp", "dropout=0.2+l2=0.01", name="diabetes", fold=1, seed=5)]
    results, expected = cases.stacked(jobs, "diabetes"), cases.reference(jobs, "diabetes")
    for j in jobs:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


def test_float32_members_agree_within_rounding(cases):
    """In float32 the members' losses stay within 1e-5 (relative) of their sequential runs."""
    specs = ["l2=0.01", "l1=0.003", "dropout=0.3", "none"]
    jobs = [cases.job(i, spec, fold=1 + i % 2, seed=i) for i, spec in enumerate(specs)]
    results, expected = cases.stacked(jobs), cases.reference(jobs)
    for j in jobs:
        for mine, theirs in zip(results[j.tag].history, expected[j.tag].history):
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
            assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)


def test_early_stopped_members_keep_their_best_weights(cases, float64):
    """Members stop at different epochs with their best weights restored (their final weight norm is the
    one recorded at their best epoch) and no longer change, while the others train on."""
    jobs = [
        cases.job(i, f"early-stopping={patience}+l2=0.001", fold=0, seed=i, lr=0.1, epochs=12)
        for i, patience in enumerate([1, 2, 3, 30])
    ]
    results, expected = cases.stacked(jobs), cases.reference(jobs)
    for j in jobs:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)
    epochs = [results[j.tag].metrics["epochs"] for j in jobs]
    assert len(set(epochs)) > 1 and max(epochs) == 12
    for j in jobs:
        history = results[j.tag].history
        best = min(range(len(history)), key=lambda e: history[e]["val_loss"])
        assert results[j.tag].metrics["weight_norm"] == history[best]["weight_norm"]


def test_a_diverging_member_leaves_the_others_bit_for_bit_unchanged(cases, float64):
    """A member whose loss turns infinite (ηλ = 50: each step multiplies its weights by −49) ends
    ``diverged``, as in its sequential run; the other members' results are those of a stack where it does
    not diverge, bit for bit."""
    others = [
        cases.job(i, spec, fold=1, seed=i, optimizer="sgd", lr=0.05)
        for i, spec in enumerate(["l2=0.01", "dropout=0.2"])
    ]
    bad, good = (cases.job("x", f"l2={strength}", fold=1, seed=7, optimizer="sgd", lr=0.05) for strength in (1e3, 0.1))
    with_bad, with_good = cases.stacked(others + [bad]), cases.stacked(others + [good])
    assert with_bad["x"].status == "diverged" and with_good["x"].status == "completed"
    cases.assert_close(with_bad["x"], cases.reference([bad])["x"], 1e-10)
    for j in others:
        cases.assert_identical(with_bad[j.tag], with_good[j.tag])


def test_a_member_of_a_stack_of_256_equals_its_sequential_run(cases, float64):
    """256 members with different penalties, dropout, learning rates and seeds on two folds; a sample of
    them against their sequential runs."""
    specs = [
        "l2=0.01",
        "l1=0.003",
        "dropout=0.3",
        "gaussian-dropout=0.2",
        "elasticnet=0.01",
        "maxnorm=1",
        "decay=0.1",
        "none",
    ]
    jobs = [cases.job(i, specs[i % 8], fold=1 + i % 2, seed=i, lr=1e-2 * (1 + i % 5)) for i in range(256)]
    results = cases.stacked(jobs)
    sample = jobs[::37]
    expected = cases.reference(sample)
    for j in sample:
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


def test_exact_history_members_equal_their_sequential_runs(cases, float64):
    """history="exact" (training rows scored every epoch): each member of the MLP stack, some with fewer
    training rows (early stopping holds a fifth back), equals its sequential run within 1e-10."""
    specs = ["none", "l2=0.01", "dropout=0.3", "early-stopping=2", "l1=0.003+maxnorm=1"]
    jobs = [cases.job(i, spec, seed=i, fold=i % 3, history="exact", epochs=4) for i, spec in enumerate(specs)]
    results = cases.stacked(jobs)
    expected = cases.reference(jobs)
    for j in jobs:
        assert results[j.tag].ran.startswith("stacked with") and not results[j.tag].ran.endswith("torch.func")
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)


def test_a_one_row_minibatch_adds_to_the_loss_not_to_r2(cases, float64):
    """Minibatches of 293 on diabetes: fold 0's last minibatch has one row (no R²), folds 1 and 2's two; one
    stack of ragged minibatches, each member as its sequential run, its train_metric finite."""
    jobs = [
        cases.job(i, spec, name="diabetes", fold=i % 3, seed=i, optimizer="sgd", lr=0.05, batch_size=293)
        for i, spec in enumerate(["none", "l2=0.01", "l1=0.01", "dropout=0.2"])
    ]
    results, expected = cases.stacked(jobs, "diabetes"), cases.reference(jobs, "diabetes")
    for j in jobs:
        assert all(math.isfinite(r["train_metric"]) for r in results[j.tag].history)
        cases.assert_close(results[j.tag], expected[j.tag], 1e-10)
