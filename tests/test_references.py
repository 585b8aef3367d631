"""Training with reglab.training.fit reaches independent references.

Every model is float64 and trained full batch (``batch_size=None``), so the loop is deterministic gradient
descent and can be compared with closed forms, scikit-learn's solvers and PyTorch's own optimizers. The
objective is ``mean data loss + R(w)`` with the intercept unpenalized, as in scikit-learn.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import load_wine
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from torch import nn

from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso
from reglab.regularizers.terms import Term
from reglab.training import FitConfig, Regularizers, fit


def regression_data(n=200, d=6, seed=0):
    """Well-conditioned Gaussian design, two true zeros and one tiny coefficient, intercept 0.3."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.array([1.5, -2.0, 0.0, 0.7, 0.0, 0.05]) + 0.3 + 0.5 * rng.standard_normal(n)
    return X, y


def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def linear(d_in: int, d_out: int) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(d_in, d_out).double()


def train(model, data, task, term, *, lr, epochs, momentum=0.9):
    config = FitConfig(task=task, optimizer="sgd", lr=lr, momentum=momentum, epochs=epochs, batch_size=None)
    result = fit(model, data, config=config, regularizers=Regularizers(penalties=[term]))
    assert result.outcome == "completed"
    return result.model.weight.detach().numpy().copy(), result.model.bias.detach().numpy().copy()


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def sklearn_l1_logistic(C: float) -> LogisticRegression:
    """L1 logistic regression by saga; ``penalty`` is deprecated from scikit-learn 1.8 on."""
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    kind = {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
    return LogisticRegression(C=C, solver="saga", tol=1e-12, max_iter=100_000, **kind)


# --- linear regression ----------------------------------------------------------------------------


def test_l2_regression_matches_closed_form_and_ridge():
    """L2(λ) on least squares = (XcᵀXc + nλ/2 I)⁻¹Xcᵀyc = sklearn Ridge(alpha=λn/2): coefficients and
    intercept within 1e-4 relative (measured 2e-15)."""
    X, y = regression_data()
    n, d, lam = *X.shape, 0.2
    w, b = train(linear(d, 1), (X, y), "regression", Term(L2(lam)), lr=0.2, momentum=0.8, epochs=300)
    Xc, yc = X - X.mean(0), y - y.mean()
    closed = np.linalg.solve(Xc.T @ Xc + n * lam / 2 * np.eye(d), Xc.T @ yc)
    ridge = Ridge(alpha=lam * n / 2).fit(X, y)
    errors = (relative_error(w.ravel(), closed), relative_error(w.ravel(), ridge.coef_))
    print(f"ridge: relative coefficient error vs closed form {errors[0]:.1e}, vs sklearn {errors[1]:.1e}")
    assert max(errors) <= 1e-4
    assert abs(b[0] - (y.mean() - X.mean(0) @ closed)) <= 1e-4 * abs(b[0])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_proximal_l1_regression_matches_lasso(momentum):
    """Proximal L1(λ) (ISTA; heavy ball when momentum > 0) = sklearn Lasso(alpha=λ/2): coefficients within
    1e-3 (measured ≤ 4e-12), the same exact zeros."""
    X, y = regression_data()
    lam = 0.3
    w, _ = train(
        linear(6, 1), (X, y), "regression", Term(L1(lam), mode="proximal"), lr=0.2, momentum=momentum, epochs=500
    )
    lasso = Lasso(alpha=lam / 2, tol=1e-12, max_iter=100_000).fit(X, y)
    error = float(np.abs(w.ravel() - lasso.coef_).max())
    print(f"lasso (momentum {momentum}): max coefficient error {error:.1e}")
    assert error <= 1e-3
    assert np.array_equal(w.ravel() == 0, lasso.coef_ == 0)
    assert 0 < (w == 0).sum() < w.size


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_proximal_l1_under_adam_matches_lasso(optimizer):
    """Proximal L1 under Adam takes its step in Adam's diagonal metric, t = lr/(√v̂ + ε) per entry, so
    its fixed points solve loss + R: full-batch Adam with a decaying-free small lr reaches sklearn
    Lasso(alpha=λ/2) within 1e-3 with the same exact zeros (measured ~1e-5)."""
    X, y = regression_data()
    lam = 0.3
    config = FitConfig(task="regression", optimizer=optimizer, lr=0.01, epochs=3000, batch_size=None)
    model = linear(6, 1)
    fit(model, (X, y), config=config, regularizers=Regularizers(penalties=[Term(L1(lam), mode="proximal")]))
    w = model.weight.detach().numpy().ravel()
    lasso = Lasso(alpha=lam / 2, tol=1e-12, max_iter=100_000).fit(X, y)
    error = float(np.abs(w - lasso.coef_).max())
    print(f"lasso under {optimizer}: max coefficient error {error:.1e}")
    assert error <= 1e-3
    assert np.array_equal(w == 0, lasso.coef_ == 0)


@pytest.mark.parametrize("lam, zero_rows", [(0.05, 0), (0.25, 3)])
def test_proximal_group_lasso_under_adam_meets_its_optimality_conditions(lam, zero_rows):
    """Group lasso on wine's softmax regression (a group = one class's 13 weights) under full-batch Adam,
    whose per-entry steps differ within a group: the weights meet the KKT conditions of mean CE + R, found
    by autograd: ∇_g CE + λ√13 w_g/‖w_g‖ = 0 on a nonzero group (1e-6, measured ~1e-8), ‖∇_g CE‖ ≤ λ√13 on
    a zero one. (A prox with the step averaged over each group misses them by 0.2 and zeroes a class.)"""
    X, y = wine()
    model = linear(13, 3)
    config = FitConfig(task="classification", optimizer="adam", lr=0.01, epochs=3000, batch_size=None)
    fit(model, (X, y), config=config, regularizers=Regularizers(penalties=[Term(GroupLasso(lam), mode="proximal")]))
    loss = nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y))
    (grad,) = torch.autograd.grad(loss, model.weight)
    w, bound = model.weight.detach(), lam * np.sqrt(13)
    norms = w.norm(dim=1)
    assert int((norms == 0).sum()) == zero_rows
    for g, row, norm in zip(grad, w, norms):
        if norm > 0:
            assert float((g + bound * row / norm).abs().max()) <= 1e-6
        else:
            assert float(g.norm()) <= bound


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_proximal_elasticnet_regression_matches_sklearn(momentum):
    """Proximal ElasticNet(λ, ρ) = sklearn ElasticNet(alpha=λ/2, l1_ratio=ρ): within 1e-3 (measured ≤ 1e-13),
    the same exact zeros."""
    X, y = regression_data()
    lam, rho = 0.5, 0.6
    term = Term(ElasticNet(lam, rho), mode="proximal")
    w, _ = train(linear(6, 1), (X, y), "regression", term, lr=0.2, momentum=momentum, epochs=500)
    enet = SkElasticNet(alpha=lam / 2, l1_ratio=rho, tol=1e-12, max_iter=100_000).fit(X, y)
    error = float(np.abs(w.ravel() - enet.coef_).max())
    print(f"elastic net (momentum {momentum}): max coefficient error {error:.1e}")
    assert error <= 1e-3
    assert np.array_equal(w.ravel() == 0, enet.coef_ == 0)
    assert 0 < (w == 0).sum() < w.size


# --- multinomial logistic regression ----------------------------------------------------------------


def test_l2_logistic_matches_sklearn():
    """Mean cross-entropy + L2(1/(C n)) on wine (3 classes, nn.Linear(13, 3)) = sklearn
    LogisticRegression(C) (multinomial, lbfgs, tol 1e-12): coefficients within 1e-4 relative (measured 3e-7,
    sklearn's own precision), intercepts equal up to the common shift softmax ignores."""
    X, y = wine()
    C = 0.5
    w, b = train(linear(13, 3), (X, y), "classification", Term(L2(1 / (C * len(y)))), lr=1.0, epochs=1000)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    error = relative_error(w, reference.coef_)
    print(f"L2 logistic: relative coefficient error {error:.1e}")
    assert error <= 1e-4
    shift = reference.intercept_ - reference.intercept_.mean()
    assert relative_error(b - b.mean(), shift) <= 1e-4


def test_proximal_l1_logistic_matches_saga():
    """Proximal L1(1/(C n)) on wine = sklearn LogisticRegression(C, L1, saga, tol 1e-12): coefficients
    within 1e-3 (measured 1e-11), the same exact zeros."""
    X, y = wine()
    C = 0.1
    term = Term(L1(1 / (C * len(y))), mode="proximal")
    w, _ = train(linear(13, 3), (X, y), "classification", term, lr=0.5, epochs=1000)
    reference = sklearn_l1_logistic(C).fit(X, y)
    error = float(np.abs(w - reference.coef_).max())
    print(f"L1 logistic: max coefficient error {error:.1e}, zeros {(w == 0).sum()} of {w.size}")
    assert error <= 1e-3
    assert np.array_equal(w == 0, reference.coef_ == 0)
    assert 0 < (w == 0).sum() < w.size


# --- PyTorch's optimizers, step for step -------------------------------------------------------------


def mlp() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def mlp_data(n=64):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 5))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)


def fit_snapshots(model, data, config, regularizers) -> list[dict]:
    """The model's state after every epoch (= every step, full batch)."""
    states: list[dict] = []
    fit(
        model,
        data,
        config=config,
        regularizers=regularizers,
        on_epoch=lambda record: states.append(copy.deepcopy(model.state_dict())),
    )
    return states


def torch_snapshots(model, data, optimizer, steps) -> list[dict]:
    X, y = (torch.from_numpy(a) for a in data)
    states = []
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X).reshape(y.shape), y).backward()
        optimizer.step()
        states.append(copy.deepcopy(model.state_dict()))
    return states


def max_difference(ours: list[dict], theirs: list[dict]) -> float:
    assert len(ours) == len(theirs)
    return max((a[k] - b[k]).abs().max().item() for a, b in zip(ours, theirs) for k in a)


def weights_and_biases(model):
    weights = [p for p in model.parameters() if p.dim() >= 2]
    return weights, [p for p in model.parameters() if p.dim() < 2]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_loss_term_equals_sgd_weight_decay(momentum):
    """L2(λ) as a loss term on the weights = torch.optim.SGD(weight_decay=λ) on the weights (biases without
    decay), compared after each of 20 full-batch steps within 1e-12 (measured ≤ 1e-15)."""
    data, lam, lr, steps = mlp_data(), 0.1, 0.05, 20
    model = mlp()
    reference = copy.deepcopy(model)
    config = FitConfig(task="regression", optimizer="sgd", lr=lr, momentum=momentum, epochs=steps, batch_size=None)
    ours = fit_snapshots(model, data, config, Regularizers(penalties=[Term(L2(lam))]))
    weights, biases = weights_and_biases(reference)
    groups = [{"params": weights, "weight_decay": lam}, {"params": biases, "weight_decay": 0.0}]
    theirs = torch_snapshots(reference, data, torch.optim.SGD(groups, lr=lr, momentum=momentum), steps)
    difference = max_difference(ours, theirs)
    print(f"SGD weight decay (momentum {momentum}): max difference {difference:.1e}")
    assert difference <= 1e-12
    assert max_difference(ours[-1:], [mlp().state_dict()]) > 1e-2  # it did train


@pytest.mark.parametrize("everything", [True, False])
def test_decoupled_decay_equals_adamw(everything):
    """Decay λ with Adam = torch.optim.AdamW(weight_decay=λ), on all parameters (``decay_params="*"``) or on
    weights only (the default), after each of 20 full-batch steps within 1e-12 (measured ≤ 1e-15)."""
    data, lam, lr, steps = mlp_data(), 0.1, 0.01, 20
    model = mlp()
    reference = copy.deepcopy(model)
    config = FitConfig(task="regression", optimizer="adam", lr=lr, epochs=steps, batch_size=None)
    regularizers = Regularizers(decay=lam, decay_params="*" if everything else None)
    ours = fit_snapshots(model, data, config, regularizers)
    weights, biases = weights_and_biases(reference)
    groups = [{"params": weights, "weight_decay": lam}, {"params": biases, "weight_decay": lam if everything else 0.0}]
    theirs = torch_snapshots(reference, data, torch.optim.AdamW(groups, lr=lr), steps)
    difference = max_difference(ours, theirs)
    print(f"AdamW (decay on {'all' if everything else 'weights'}): max difference {difference:.1e}")
    assert difference <= 1e-12
