"""Linear-model selection checked against scikit-learn (RidgeCV, LassoLarsIC, lasso/enet paths) and brute force."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LassoLars, LassoLarsIC, Ridge, RidgeCV, enet_path, lasso_path

from reglab.regularizers.conversions import from_sklearn_lasso, to_sklearn_ridge
from reglab.selection import lambda_max, lasso_ic, regularization_path, ridge_gcv

DIABETES = load_diabetes(return_X_y=True)


def synthetic(n=40, d=60, seed=1):
    """A wide, noisy regression problem: more features than samples, five of them informative."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 3.0
    return X, X[:, :5] @ np.arange(1.0, 6.0) + 3.0 * rng.normal(size=n) + 7.0


def hat_matrix(X, strength, fit_intercept):
    """Z (ZᵀZ + P)⁻¹ Zᵀ with Z = [1, X] and P = diag(0, α I), α = λn/2: the intercept is not penalized."""
    n, d = X.shape
    Z = np.hstack([np.ones((n, 1)), X]) if fit_intercept else X
    penalty = np.eye(Z.shape[1]) * to_sklearn_ridge(strength, n)
    if fit_intercept:
        penalty[0, 0] = 0.0
    return Z @ np.linalg.solve(Z.T @ Z + penalty, Z.T)


# ---------------------------------------------------------------------------------------------- ridge


@pytest.mark.parametrize(
    "data, grid",
    [(DIABETES, np.geomspace(1e-6, 1e-1, 50)), (synthetic(), np.geomspace(1e-3, 1e2, 30))],
    ids=["diabetes", "synthetic-wide"],
)
def test_ridge_gcv_chooses_what_ridgecv_chooses(data, grid):
    X, y = data
    n = len(y)
    ours = ridge_gcv(X, y, grid)
    theirs = RidgeCV(alphas=[to_sklearn_ridge(s, n) for s in grid]).fit(X, y)
    assert 0 < np.argmin(ours.loo_mse) < len(grid) - 1  # an interior optimum, not a grid edge
    assert ours.strength_ == pytest.approx(2 * theirs.alpha_ / n, rel=1e-12)
    assert ours.loo_mse.min() == pytest.approx(-theirs.best_score_, rel=1e-10)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-10)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("data", [DIABETES, synthetic()], ids=["diabetes", "synthetic-wide"])
def test_ridge_loo_mse_equals_brute_force_leave_one_out(data, fit_intercept):
    X, y = data
    X, y = X[:30], y[:30]
    n = len(y)
    grid = np.array([1e-3, 3e-2, 1.0])
    ours = ridge_gcv(X, y, grid, fit_intercept=fit_intercept)
    for strength, loo_mse in zip(grid, ours.loo_mse):
        # Each refit keeps scikit-learn's alpha = λn/2 (the weight of ‖w‖² against the summed squared error).
        model = Ridge(alpha=to_sklearn_ridge(strength, n), fit_intercept=fit_intercept, solver="svd")
        errors = [y[i] - model.fit(np.delete(X, i, 0), np.delete(y, i)).predict(X[i : i + 1])[0] for i in range(n)]
        assert loo_mse == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_dof_and_gcv_from_the_explicit_hat_matrix(fit_intercept):
    X, y = synthetic(n=25, d=8)
    n = len(y)
    grid = np.array([1e-2, 1.0, 30.0])
    ours = ridge_gcv(X, y, grid, fit_intercept=fit_intercept)
    for strength, dof, gcv in zip(grid, ours.dof, ours.gcv):
        H = hat_matrix(X, strength, fit_intercept)
        assert dof == pytest.approx(np.trace(H), rel=1e-10)
        assert gcv == pytest.approx(np.mean((y - H @ y) ** 2) / (1 - np.trace(H) / n) ** 2, rel=1e-8)


def test_ridge_gcv_rejects_a_bad_grid():
    X, y = DIABETES
    for bad in ([], [0.0, 1.0], [-1.0], [np.nan], [[1.0]]):
        with pytest.raises(ValueError, match="strengths"):
            ridge_gcv(X, y, bad)


# ---------------------------------------------------------------------------------------------- lasso


@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_lasso_ic_equals_lasso_lars_ic(criterion):
    X, y = DIABETES
    ours = lasso_ic(X, y, criterion)
    theirs = LassoLarsIC(criterion=criterion).fit(X, y)
    np.testing.assert_allclose(ours.strengths, 2 * theirs.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.aic if criterion == "aic" else ours.bic, theirs.criterion_, rtol=1e-8)
    assert ours.noise_variance == pytest.approx(theirs.noise_variance_, rel=1e-10)
    assert ours.strength_ == pytest.approx(from_sklearn_lasso(theirs.alpha_), rel=1e-12)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10, atol=1e-9)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-10)
    assert ours.dof[0] == 0 and ours.dof[-1] == X.shape[1]


def test_lasso_ic_with_a_given_noise_variance_and_no_intercept():
    X, y = synthetic(n=80, d=10)
    ours = lasso_ic(X, y, "bic", noise_variance=2.5, fit_intercept=False)
    theirs = LassoLarsIC(criterion="bic", noise_variance=2.5, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(ours.bic, theirs.criterion_, rtol=1e-8)
    assert ours.strength_ == pytest.approx(2 * theirs.alpha_, rel=1e-12)


def test_lasso_ic_on_a_given_grid_interpolates_the_exact_path():
    X, y = DIABETES
    grid = np.array([10.0, 1.0, 0.1, 0.01, 0.0])
    ours = lasso_ic(X, y, "aic", strengths=grid)
    for strength, coef in zip(grid, ours.coefs):
        exact = LassoLars(alpha=strength / 2).fit(X, y).coef_
        np.testing.assert_allclose(coef, exact, rtol=1e-9, atol=1e-8)
    assert ours.strength_ in grid and ours.dof[-1] == X.shape[1]


def test_lasso_ic_explains_what_it_cannot_do():
    X, y = synthetic()  # d > n: no least-squares noise estimate, and LARS stops before λ = 0
    with pytest.raises(ValueError, match="noise_variance"):
        lasso_ic(X, y)
    with pytest.raises(ValueError, match="path ends"):
        lasso_ic(X, y, noise_variance=1.0, strengths=[0.0])
    with pytest.raises(ValueError, match="criterion"):
        lasso_ic(*DIABETES, criterion="cp")
    assert np.isfinite(lasso_ic(X, y, noise_variance=1.0).aic).all()


# ---------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.5), ("elasticnet", 0.1)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coordinate_descent_path_equals_sklearn(penalty, l1_ratio, fit_intercept):
    X, y = DIABETES
    path = regularization_path(X, y, penalty, l1_ratio=l1_ratio, fit_intercept=fit_intercept)
    Xc, yc = (X - X.mean(0), y - y.mean()) if fit_intercept else (X, y)
    _, coefs, _ = enet_path(Xc, yc, l1_ratio=l1_ratio, alphas=path.strengths / 2, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-6)
    expected_intercepts = y.mean() - path.coefs @ X.mean(0) if fit_intercept else np.zeros(len(path.strengths))
    np.testing.assert_allclose(path.intercepts, expected_intercepts, atol=1e-9)
    np.testing.assert_array_equal(path.nonzeros, np.count_nonzero(path.coefs, axis=1))
    np.testing.assert_allclose(path.norms, np.abs(path.coefs).sum(axis=1))


def test_lasso_path_is_exact_along_the_lars_path():
    """LARS gives the exact lasso path; coordinate descent with its support jumps reaches it to rounding."""
    X, y = DIABETES
    path = regularization_path(X, y, "l1")
    exact = [LassoLars(alpha=s / 2).fit(X, y).coef_ for s in path.strengths]
    np.testing.assert_allclose(path.coefs, exact, rtol=1e-10, atol=1e-8)


def test_a_duplicated_feature_converges():
    X, y = DIABETES
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "did not converge"
        path = regularization_path(np.hstack([X, X[:, [2]]]), y, "l1", n_strengths=10)
    single = regularization_path(X, y, "l1", n_strengths=10)
    np.testing.assert_allclose(path.coefs[:, 2] + path.coefs[:, -1], single.coefs[:, 2], atol=1e-8)
    np.testing.assert_allclose(np.delete(path.coefs, [2, 10], axis=1), np.delete(single.coefs, 2, axis=1), atol=1e-8)


def test_lasso_path_on_a_wide_problem_equals_sklearn():
    X, y = synthetic()
    path = regularization_path(X, y, "l1", n_strengths=15)
    _, coefs, _ = lasso_path(X - X.mean(0), y - y.mean(), alphas=path.strengths / 2, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-6)


def test_default_grid_starts_where_every_coefficient_is_zero():
    X, y = DIABETES
    n = len(y)
    top = np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) * 2 / n
    path = regularization_path(X, y, "l1", n_strengths=20)
    assert path.strengths[0] == pytest.approx(top) == lambda_max(X, y)
    assert path.strengths[-1] == pytest.approx(top * 1e-3)
    np.testing.assert_allclose(np.diff(np.log(path.strengths)), np.log(1e-3) / 19)
    assert path.nonzeros[0] == 0 and path.nonzeros[1] > 0
    assert regularization_path(X, y, "l1", strengths=[top * (1 - 1e-6)]).nonzeros[0] == 1
    assert lambda_max(X, y, l1_ratio=0.25) == pytest.approx(4 * top)


def test_warm_starts_need_far_fewer_sweeps_than_cold_starts():
    X, y = DIABETES
    warm = regularization_path(X, y, "l1")
    cold = [regularization_path(X, y, "l1", strengths=[s]) for s in warm.strengths]
    np.testing.assert_allclose(np.vstack([c.coefs for c in cold]), warm.coefs, atol=1e-8)
    assert warm.n_iter.sum() * 3 < sum(c.n_iter.sum() for c in cold)


def test_ridge_path_is_closed_form_ridge():
    X, y = DIABETES
    n = len(y)
    path = regularization_path(X, y, "l2", strengths=[1e-4, 1.0, 1e-2, 0.0])
    np.testing.assert_array_equal(path.strengths, [1.0, 1e-2, 1e-4, 0.0])  # strongest first
    for strength, coef, intercept in zip(path.strengths, path.coefs, path.intercepts):
        model = Ridge(alpha=to_sklearn_ridge(strength, n), solver="svd").fit(X, y)
        np.testing.assert_allclose(coef, model.coef_, rtol=1e-9)
        assert intercept == pytest.approx(model.intercept_, rel=1e-10)
    np.testing.assert_allclose(path.norms, np.linalg.norm(path.coefs, axis=1))
    assert (path.n_iter == 0).all() and path.l1_ratio == 0.0
    default = regularization_path(X, y, "l2")  # glmnet's grid for a ridge: λ_max as if ρ = 0.001
    assert default.strengths[0] == pytest.approx(lambda_max(X, y, l1_ratio=1e-3))


def test_lasso_at_zero_strength_is_least_squares():
    X, y = DIABETES
    path = regularization_path(X, y, "l1", strengths=[0.0])
    ols = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(path.coefs[0], ols, rtol=1e-9)


def test_a_constant_feature_stays_at_zero():
    X, y = DIABETES
    X = np.hstack([X, np.ones((len(y), 1))])
    path = regularization_path(X, y, "l1", n_strengths=5)
    assert (path.coefs[:, -1] == 0).all()


def test_path_argument_checks():
    X, y = DIABETES
    with pytest.raises(ValueError, match="penalty"):
        regularization_path(X, y, "l0")
    with pytest.raises(ValueError, match="l1_ratio"):
        regularization_path(X, y, "elasticnet", l1_ratio=1.5)
    with pytest.raises(ValueError, match="n_strengths"):
        regularization_path(X, y, n_strengths=0)
    with pytest.raises(ValueError, match="Invalid data"):
        regularization_path(X, y[:-1])
    with pytest.raises(ValueError, match="zero"):
        regularization_path(X, np.full(len(y), 3.0))
