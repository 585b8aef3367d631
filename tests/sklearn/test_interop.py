"""The estimators among scikit-learn's tools, and RegularizationCV against glmnet's rule, RidgeCV and LassoCV."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LassoCV, Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from reglab.regularizers.conversions import from_sklearn_lasso, to_sklearn_ridge
from reglab.sklearn import RegularizationCV, RegularizedNetClassifier, RegularizedNetRegressor

NET = dict(hidden_layer_sizes=(16,), epochs=10, learning_rate=1e-2, batch_size=32, random_state=0, device="cpu")
LINEAR = dict(hidden_layer_sizes=(), learning_rate=0.05, batch_size=None, epochs=300, random_state=0, device="cpu")
GRADIENT_DESCENT = dict(optimizer="sgd", learning_rate=0.1, epochs=1000)  # converges linearly on a quadratic


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


def test_a_pipeline_with_the_net_in_grid_search_and_cross_val_score(cancer):
    X, y = cancer
    pipe = Pipeline([("scale", StandardScaler()), ("net", RegularizedNetClassifier(**NET))])
    search = GridSearchCV(pipe, {"net__l2": [1e-4, 1e-2], "net__dropout": [0.0, 0.3]}, cv=3).fit(X, y)
    assert search.best_params_["net__l2"] in (1e-4, 1e-2) and len(search.cv_results_["params"]) == 4
    scores = cross_val_score(pipe, X, y, cv=3)
    baseline = cross_val_score(DummyClassifier(), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > baseline.max() + 0.25


def test_regularization_cv_inside_a_pipeline_is_the_search_on_scaled_rows(cancer):
    X, y = cancer
    search = RegularizationCV(RegularizedNetClassifier(**NET), {"l2": [1e-4, 1e-2, 1.0]}, cv=3)
    pipe = make_pipeline(StandardScaler(), search).fit(X, y)
    alone = RegularizationCV(RegularizedNetClassifier(**NET), {"l2": [1e-4, 1e-2, 1.0]}, cv=3)
    alone.fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_array_equal(pipe.predict(X), alone.predict(StandardScaler().fit(X).transform(X)))
    assert pipe[-1].best_params_ == alone.best_params_
    assert cross_val_score(pipe, X, y, cv=2).min() > 0.9  # a classifier to scikit-learn: stratified folds


def glmnet_choice(lambdas: np.ndarray, fold_errors: np.ndarray) -> tuple[float, float]:
    """glmnet's cv.glmnet / getOptcv, transcribed: cvm and cvsd over folds, then
    lambda.min = max(lambda[cvm <= min(cvm)]), lambda.1se = max(lambda[cvm <= (cvm + cvsd)[lambda.min]])."""
    n_folds = fold_errors.shape[1]
    cvm = fold_errors.mean(axis=1)
    cvsd = np.sqrt(((fold_errors - cvm[:, None]) ** 2).mean(axis=1) / (n_folds - 1))
    lambda_min = lambdas[cvm <= cvm.min()].max()
    semin = (cvm + cvsd)[list(lambdas).index(lambda_min)]
    return lambda_min, lambdas[cvm <= semin].max()


def test_the_one_se_choice_is_glmnets(cancer):
    X, y = cancer
    rates = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7])
    search = RegularizationCV(RegularizedNetClassifier(**NET), {"dropout": rates}, cv=5, refit=False).fit(X, y)
    errors = 1.0 - np.column_stack([search.cv_results_[f"split{k}_test_score"] for k in range(5)])
    lambda_min, lambda_1se = glmnet_choice(rates, errors)
    assert lambda_1se != lambda_min  # the problem tells the rules apart
    assert (search.strength_min_["dropout"], search.strength_1se_["dropout"]) == (lambda_min, lambda_1se)
    assert search.best_params_ == {"dropout": lambda_1se}
    assert RegularizationCV(RegularizedNetClassifier(**NET), {"dropout": rates}, rule="min", refit=False).fit(
        X, y
    ).best_params_ == {"dropout": lambda_min}


def sparse_regression(seed: int, n: int, d: int, nonzero: list[float], noise: float):
    """Standardized (X, y) with y = X w + noise, w = ``nonzero`` then zeros."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, : len(nonzero)] @ np.array(nonzero) + noise * rng.normal(size=n)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def test_a_linear_model_with_l2_chooses_as_ridge_cv():
    """λ = 2a/n on a fold's n training rows: the same fold scores as Ridge on fold-standardized rows, and the
    index RidgeCV chooses (its features standardized once, not per fold)."""
    X, y = sparse_regression(0, 100, 30, list(0.3 * np.random.default_rng(0).normal(size=30)), 2.0)
    folds, lambdas = KFold(5, shuffle=True, random_state=0), np.logspace(-3, 1, 9)
    net = RegularizedNetRegressor(**{**LINEAR, **GRADIENT_DESCENT})
    ours = RegularizationCV(net, {"l2": lambdas}, cv=folds, rule="min", refit=False).fit(X, y)
    alphas = [to_sklearn_ridge(lam, 80) for lam in lambdas]
    per_fold = GridSearchCV(make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": alphas}, cv=folds).fit(X, y)
    for k in range(5):
        key = f"split{k}_test_score"
        np.testing.assert_allclose(ours.cv_results_[key], per_fold.cv_results_[key], rtol=0, atol=1e-4)
    ridge = RidgeCV(alphas=alphas, cv=folds).fit(X, y)
    assert 0 < ours.best_index_ < len(lambdas) - 1 and ours.best_index_ == alphas.index(ridge.alpha_)


def test_a_linear_model_with_l1_chooses_and_refits_as_lasso_cv():
    """λ = 2a: LassoCV's choice, and its refit's coefficients (both standardize nothing; the rows are already)."""
    X, y = sparse_regression(1, 100, 40, [1.5, -1.2, 1.0, 0.8, -0.6], 1.5)
    folds, alphas = KFold(5, shuffle=True, random_state=0), np.logspace(-3, 0, 7)
    lambdas = [from_sklearn_lasso(a) for a in alphas]
    ours = RegularizationCV(
        RegularizedNetRegressor(regularization="l1", **LINEAR), {"l1": lambdas}, cv=folds, rule="min"
    ).fit(X, y)
    lasso = LassoCV(alphas=alphas, cv=folds).fit(X, y)
    assert 0 < ours.best_index_ < len(alphas) - 1 and alphas[ours.best_index_] == lasso.alpha_
    coef = ours.best_estimator_.module_[-1].weight.detach().numpy().ravel()
    np.testing.assert_allclose(coef, lasso.coef_, rtol=0, atol=2e-3)
    np.testing.assert_array_equal(coef == 0, lasso.coef_ == 0)
