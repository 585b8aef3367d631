"""The examples' short runs reproduce their known results, each checked against an independent reference."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, Ridge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def example(monkeypatch, tmp_path):
    """``example(name)``: the example's quick run (its figures), with its PNG written under a temporary folder."""
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def run(name: str) -> dict:
        figures = importlib.import_module(name).main(quick=True, out=tmp_path)
        assert (tmp_path / f"{name}.png").stat().st_size > 0
        return figures

    yield run
    for name in [n for n, m in sys.modules.items() if getattr(m, "__file__", "") and str(EXAMPLES) in m.__file__]:
        del sys.modules[name]


def test_dropout_is_a_ridge_weighted_by_each_features_second_moment(example):
    figures = example("dropout_ridge")
    from dropout_ridge import design

    X, y = design()
    n, p = len(y), figures["p"]
    # scikit-learn's Ridge takes one alpha; a per-feature ridge is plain ridge on features rescaled by 1/√λⱼ.
    weights = p / (1 - p) * (X**2).mean(axis=0)
    scale = 1 / np.sqrt(weights)
    reference = Ridge(alpha=n).fit(X * scale, y).coef_ * scale  # (1/n)‖·‖² + Σ uⱼ² ⇔ ‖·‖² + n Σ uⱼ², w = u·scale
    assert np.allclose(figures["ridge"], reference, atol=1e-10)
    assert np.all(np.abs(figures["dropout"] - reference) <= figures["tolerance"])
    assert np.all(np.abs(figures["ols"] - reference) > 5 * figures["tolerance"])  # dropout did shrink
    uniform = Ridge(alpha=n * weights.mean()).fit(X, y).coef_  # the same total penalty, not adaptive
    assert np.any(np.abs(figures["dropout"] - uniform) > figures["tolerance"])


def test_l1_selects_the_support_and_l2_only_shrinks(example):
    figures = example("l1_support")
    from l1_support import training_part

    from reglab import load

    data = load("sparse")
    X, y = training_part(data)
    for choice in ("cv", "1se"):
        result = figures[choice]
        assert result["strength"] == pytest.approx(result["reference"], rel=1e-12)  # LassoCV picks the same λ = 2α
        lasso = Lasso(alpha=result["strength"] / 2, tol=1e-7, max_iter=100_000).fit(X, y).coef_
        assert np.array_equal(result["coef"] != 0, lasso != 0)  # the same support, exact zeros included
        assert np.abs(result["coef"] - lasso).max() < 1e-3
        assert result["recall"] == 1.0  # every true feature is selected
    assert figures["1se"]["size"] < figures["cv"]["size"] and figures["1se"]["precision"] > figures["cv"]["precision"]
    ridge = figures["l2"]
    assert ridge["zeros"] == 0
    reference = Ridge(alpha=ridge["strength"] * len(y) / 2).fit(X, y).coef_
    assert np.abs(ridge["coef"] - reference).max() < 0.05 * np.abs(reference).max()


def test_mc_dropout_widens_its_intervals_outside_the_training_range(example):
    figures = example("mc_dropout")
    inside, outside = figures["inside"], figures["outside"]
    assert 0.85 <= inside["mc"]["coverage"] <= 0.95  # near the nominal 90% where there is data
    assert outside["spread"] > 2 * inside["spread"]
    assert outside["mc"]["coverage"] >= 0.9 > outside["homoscedastic"]["coverage"]


def test_group_lasso_removes_whole_units(example):
    figures = example("group_lasso_units")
    first, last = figures["rows"][0], figures["rows"][-1]
    assert first["strength"] == 0 and first["kept"] == figures["hidden"]
    assert last["kept"] < 0.9 * figures["hidden"]
    for row in figures["rows"]:  # the network without its pruned units computes the same function
        assert row["max_error"] < 1e-4 and row["compact_accuracy"] == row["accuracy"]


def test_decay_heatmaps_share_their_undecayed_column(example):
    figures = example("decoupled_decay")
    grids = figures["grids"]
    assert {k: g.shape for k, g in grids.items()} == {k: (2, 2) for k in grids}
    assert figures["decays"][0] == 0 and np.array_equal(grids["Adam + L2"][:, 0], grids["AdamW"][:, 0])


@pytest.mark.parametrize("kind", ["Adam + L2", "AdamW"])
def test_decay_cells_train_as_torch_optimizers_do(monkeypatch, kind):
    """A cell, full batch, against torch.optim.Adam(weight_decay=λ) or AdamW(weight_decay=λ) on the weights."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from decoupled_decay import train
    from shared import digits_budget

    from reglab import mlp

    (X, y), _ = digits_budget()
    lr, decay, epochs = 1e-2, 0.1, 5
    model = train(kind, lr, decay, (X, y), hidden=16, epochs=epochs, batch_size=None)
    torch.manual_seed(0)
    reference = mlp(64, 10, hidden=(16,))
    weights = [p for n, p in reference.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in reference.named_parameters() if n.endswith("bias")]
    optimizer = (torch.optim.Adam if kind == "Adam + L2" else torch.optim.AdamW)(
        [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}], lr=lr
    )
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y).long()
    for _ in range(epochs):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(reference(inputs), targets).backward()
        optimizer.step()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def plain_ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Σ_b (n_b/N) |acc_b − conf_b| over bins (b/B, (b+1)/B] of the top probability (the first holding 0), one
    sample at a time."""
    counts, confidence, correct = [0] * bins, [0.0] * bins, [0] * bins
    for p, label in zip(probabilities.tolist(), labels.tolist()):
        top = max(p)
        b = next(i for i in range(bins) if top <= (i + 1) / bins)
        counts[b] += 1
        confidence[b] += top
        correct[b] += p.index(top) == label
    return sum(
        counts[b] / len(labels) * abs(correct[b] / counts[b] - confidence[b] / counts[b])
        for b in range(bins)
        if counts[b]
    )


def test_label_smoothing_scores_match_log_loss_and_a_plain_ece(example):
    from sklearn.metrics import accuracy_score, log_loss

    figures = example("label_smoothing_calibrates")
    y = figures["labels"]
    for epsilon, probabilities in figures["probabilities"].items():  # seed 0's test probabilities
        runs = figures["runs"][epsilon]
        assert runs["nll"][0] == pytest.approx(log_loss(y, probabilities, labels=range(10)), rel=1e-9)
        assert runs["ece"][0] == pytest.approx(plain_ece(probabilities, y), abs=1e-12)
        assert runs["accuracy"][0] == accuracy_score(y, probabilities.argmax(axis=1))
        assert figures["summary"][epsilon]["ece"].mean == pytest.approx(np.mean(runs["ece"]))
    confidence = {e: p.max(axis=1).mean() for e, p in figures["probabilities"].items()}
    assert confidence[0.2] < confidence[0.1] < confidence[0.0]  # softer targets, less confident predictions


def test_weight_averages_match_torch_swa_utils_on_a_transcribed_run(example):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

    figures = example("weight_averaging")
    from residual import build
    from shared import digits_budget
    from weight_averaging import train

    run, weights = figures["setting"], figures["weights"]  # seed 0's state dicts
    (X, y), _ = digits_budget(test_size=0.5)
    plain = train(0, (X, y), run, None).state_dict()  # averaging reads the trajectory and does not change it
    assert all(torch.equal(value, weights["last"][name]) for name, value in plain.items())

    torch.manual_seed(0)
    model = build(width=run["width"], blocks=run["blocks"])
    swa = AveragedModel(model)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(run["ema_decay"]), use_buffers=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=run["lr"], momentum=run["momentum"])
    decayed = [p for p in model.parameters() if p.dim() >= 2]  # the linear layers' weights
    generator = torch.Generator().manual_seed(0)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(run["epochs"]):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), run["batch_size"]):
            index = order[i : i + run["batch_size"]]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs[index]), targets[index]).backward()
            with torch.no_grad():
                for p in decayed:  # decoupled decay w ← (1 − ηλ)w, then the step
                    p.mul_(1 - run["lr"] * run["decay"])
            optimizer.step()
            ema.update_parameters(model)
        if epoch >= int(run["swa_start"] * run["epochs"]):
            swa.update_parameters(model)
    update_bn([(inputs, targets)], swa)  # the training rows in one batch
    for ours, reference in (("last", model), ("swa", swa.module), ("ema", ema.module)):
        for name, value in reference.state_dict().items():
            if value.is_floating_point():  # torch's EMA also averages batch norm's integer step count; reglab copies it
                assert torch.allclose(weights[ours][name], value, rtol=1e-5, atol=1e-6), (ours, name)
    assert figures["summary"]["swa"].mean == pytest.approx(np.mean(figures["scores"]["swa"]))


def test_mixup_gaps_match_accuracies_from_scikit_learn(example):
    from sklearn.metrics import accuracy_score

    figures = example("mixup_gap")
    y_train, y_test = figures["labels"]
    for alpha in figures["alphas"]:
        runs = figures["runs"][alpha]
        for seed, (on_train, on_test) in enumerate(figures["predictions"][alpha]):
            train, test = accuracy_score(y_train, on_train), accuracy_score(y_test, on_test)
            assert (runs["train"][seed], runs["test"][seed]) == (train, test)
            assert runs["gap"][seed] == pytest.approx(train - test, abs=1e-12)
        assert figures["summary"][alpha]["gap"].mean == pytest.approx(np.mean(runs["gap"]))
    plain, mixed = figures["predictions"][0.0][0][1], figures["predictions"][figures["alphas"][1]][0][1]
    assert not np.array_equal(plain, mixed)  # mixup did change the training
