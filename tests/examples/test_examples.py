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
