"""Regularizers registered by the user: usable in specs, trained as the built-in ones they restate, stored and
resumed in studies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import reglab
from reglab import FitConfig, Regularization, fit
from reglab.methods import METHODS
from reglab.regularizers.penalties import soft_threshold

CONFIG = FitConfig(task="classification", optimizer="sgd", lr=0.05, epochs=3, batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    return X[::4].astype(np.float32), y[::4]


@pytest.fixture(autouse=True)
def registered():
    """Register the test's methods, and take them away after it."""
    before = dict(METHODS)
    reglab.register_penalty("half-square", lambda w: 0.5 * (w**2).sum(), default=1e-3)
    reglab.register_penalty("lasso-by-hand", lambda w: w.abs().sum(), lambda v, t: soft_threshold(v, t), default=1e-3)
    reglab.register_constraint(
        "ball", lambda w, c: w * torch.clamp(c / w.norm(), max=1.0), default=1.0, grid=(0.5, 1.0)
    )
    yield
    METHODS.clear()
    METHODS.update(before)


def trained(spec: str, data) -> torch.nn.Module:
    torch.manual_seed(0)
    model = reglab.mlp(64, 10, hidden=(16,))
    fit(model, data, config=CONFIG, regularizers=Regularization.parse(spec).loop_regularizers(model))
    return model


@pytest.mark.parametrize("mine, builtin", [("half-square=0.01", "l2=0.01"), ("lasso-by-hand=0.003", "l1=0.003")])
def test_a_registered_penalty_trains_as_the_builtin_one_it_restates(digits, mine, builtin):
    """½λΣw² as a loss term is L2; λΣ|w| with soft-thresholding as its prox is proximal L1 (exact zeros)."""
    a, b = trained(mine, digits), trained(builtin, digits)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    if "lasso" in mine:
        assert (a[1].weight == 0).any()


def test_a_registered_constraint_holds_after_every_step_on_weights_only(digits):
    model = trained("ball=0.5", digits)
    assert model[1].weight.norm() <= 0.5 + 1e-5 and model[3].weight.norm() <= 0.5 + 1e-5
    assert model[1].bias.norm() > 0  # biases are not constrained by default


def test_specs_name_registered_methods_and_their_values_round_trip():
    reg = Regularization.parse("l2=0.001+half-square")
    assert reg.tuned == ("half-square",) and reg.value("half-square") == 1e-3
    assert reg.with_value("half-square", 0.1).label == "l2=0.001+half-square=0.1"
    assert Regularization.from_dict(reg.to_dict()) == reg


def test_a_study_of_a_registered_method_is_stored_resumed_and_tabled(digits, tmp_path):
    settings = dict(
        methods=["none", "half-square"],
        grids={"half-square": [1e-4, 1e-1]},
        seeds=2,
        folds=2,
        epochs=2,
        device="cpu",
        store=tmp_path / "s.sqlite",
        name="mine",
    )
    first = reglab.compare(data=digits, **settings)
    again = reglab.compare(data=digits, resume=True, **settings)
    assert again.table() == first.table() and "half-square" in first.table()
    assert next(m for m in first.summary.methods if m.method == "half-square").chosen[0]["half-square"] in (1e-4, 1e-1)


def test_registering_under_a_builtin_name_or_running_an_unregistered_method_is_refused():
    with pytest.raises(ValueError, match="built-in method"):
        reglab.register_penalty("l2", lambda w: w.sum())
    stored = Regularization.parse("half-square=0.1").to_dict()
    del METHODS["half-square"]
    with pytest.raises(ValueError, match="not registered in this process"):
        Regularization.from_dict(stored).loop_regularizers(reglab.mlp(4, 2))
