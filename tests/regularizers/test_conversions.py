"""Conversions from other libraries' strengths, checked by optimality in reglab's objective.

reglab's objective is ``mean data loss + R(w)``. A conversion is right when the other library's fitted
solution is a minimizer (zero gradient, or KKT for |w|) of reglab's objective with the converted λ, where
R is computed by reglab's own penalty classes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from reglab.regularizers import conversions as cv
from reglab.regularizers.penalties import L1, L2, ElasticNet


def regression_data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.array([2.0, -1.0, 0.0, 0.5, 0.0]) + 1.0 + 0.5 * rng.standard_normal(n)
    return X, y


def objective_gradient(penalty, X, y, coef, intercept):
    """∇ over (w, b) of mean (y − Xw − b)² + R(w), by autograd; R from reglab's penalty."""
    w = torch.tensor(coef, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(float(intercept), dtype=torch.float64, requires_grad=True)
    residual = torch.from_numpy(y) - torch.from_numpy(X) @ w - b
    data = (residual**2).mean()
    data.backward(retain_graph=True)
    data_grad = w.grad.clone()
    penalty.value(w).backward()
    return w.grad.numpy(), data_grad.numpy(), b.grad.item()


def test_ridge_solution_minimizes_reglab_l2():
    """sklearn Ridge(alpha=a) on n samples solves mean sq. error + L2(2a/n): gradient ≤ 1e-10,
    and it equals the closed form (XcᵀXc + nλ/2 I)⁻¹ Xcᵀyc within 1e-10."""
    X, y = regression_data()
    n, a = len(y), 7.0
    lam = cv.from_sklearn_ridge(a, n)
    ridge = Ridge(alpha=a).fit(X, y)
    grad, _, grad_b = objective_gradient(L2(lam), X, y, ridge.coef_, ridge.intercept_)
    assert np.abs(grad).max() <= 1e-10 and abs(grad_b) <= 1e-10
    Xc, yc = X - X.mean(0), y - y.mean()
    closed = np.linalg.solve(Xc.T @ Xc + n * lam / 2 * np.eye(X.shape[1]), Xc.T @ yc)
    np.testing.assert_allclose(ridge.coef_, closed, rtol=0, atol=1e-10)
    assert cv.to_sklearn_ridge(lam, n) == pytest.approx(a, rel=1e-15)


def check_kkt(penalty, l1_part, X, y, coef, intercept, tol):
    """Lasso-type optimality: total gradient 0 on the support, |data gradient| ≤ λρ off it."""
    grad, data_grad, grad_b = objective_gradient(penalty, X, y, coef, intercept)
    support = coef != 0
    assert support.any() and (~support).any()
    assert np.abs(grad[support]).max() <= tol
    assert np.all(np.abs(data_grad[~support]) <= l1_part + tol)
    assert abs(grad_b) <= tol


def test_lasso_solution_satisfies_reglab_l1_optimality():
    """sklearn Lasso(alpha=a) solves mean sq. error + L1(2a): KKT holds within 1e-8 (tol=1e-12)."""
    X, y = regression_data()
    a = 0.3
    lasso = Lasso(alpha=a, tol=1e-12, max_iter=100_000).fit(X, y)
    lam = cv.from_sklearn_lasso(a)
    check_kkt(L1(lam), lam, X, y, lasso.coef_, lasso.intercept_, 1e-8)


def test_elasticnet_solution_satisfies_reglab_elasticnet_optimality():
    """sklearn ElasticNet(alpha=a, l1_ratio=r) solves mean sq. error + ElasticNet(2a, r): KKT within 1e-8."""
    X, y = regression_data()
    a, r = 0.4, 0.6
    enet = SkElasticNet(alpha=a, l1_ratio=r, tol=1e-12, max_iter=100_000).fit(X, y)
    lam, rho = cv.from_sklearn_elasticnet(a, r)
    assert rho == r
    check_kkt(ElasticNet(lam, rho), lam * rho, X, y, enet.coef_, enet.intercept_, 1e-8)


def test_logistic_solution_minimizes_reglab_l2():
    """sklearn LogisticRegression(C=c) (multinomial, intercept unpenalized) solves mean cross-entropy +
    L2(1/(c n)) on the weight matrix: gradient ≤ 1e-7 (lbfgs, tol=1e-12)."""
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    c = 0.5
    model = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(X, y)
    lam = cv.from_sklearn_logistic(c, len(y))
    W = torch.tensor(model.coef_, requires_grad=True)
    b = torch.tensor(model.intercept_, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(X) @ W.T + b, torch.from_numpy(y))
    (loss + L2(lam).value(W)).backward()
    assert W.grad.abs().max().item() <= 1e-7
    assert b.grad.abs().max().item() <= 1e-7


def test_keras_and_torch_conversions():
    """Keras l1(k) adds k Σ|w|, Keras l2(k) adds k Σw², torch weight_decay=d adds d·w to the gradient."""
    w = torch.tensor([[0.5, -1.5], [2.0, 0.25]], dtype=torch.float64, requires_grad=True)
    k = 0.03
    assert float(L1(cv.from_keras_l1(k)).value(w.detach())) == pytest.approx(k * 4.25, abs=1e-15)
    assert float(L2(cv.from_keras_l2(k)).value(w.detach())) == pytest.approx(k * 6.5625, abs=1e-15)
    d = 5e-4
    L2(cv.from_torch_weight_decay(d)).value(w).backward()
    torch.testing.assert_close(w.grad, d * w.detach(), rtol=0, atol=1e-18)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: cv.from_keras_l1(-1), "k"),
        (lambda: cv.from_keras_l2(float("nan")), "k"),
        (lambda: cv.from_torch_weight_decay(float("inf")), "weight_decay"),
        (lambda: cv.from_sklearn_lasso(-0.1), "alpha"),
        (lambda: cv.from_sklearn_elasticnet(0.1, 1.5), "l1_ratio"),
        (lambda: cv.from_sklearn_ridge(1.0, 0), "n_samples"),
        (lambda: cv.from_sklearn_logistic(0.0, 10), "C"),
        (lambda: cv.to_sklearn_ridge(-1.0, 10), "strength"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=f"argument {name}:"):
        call()
