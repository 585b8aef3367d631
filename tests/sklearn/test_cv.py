"""RegularizationCV: the stacked path against one-by-one fits, cv_results_ against GridSearchCV, bad input."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from reglab.sklearn import RegularizationCV, RegularizedNetClassifier, RegularizedNetRegressor

TINY = dict(hidden_layer_sizes=(8,), epochs=6, learning_rate=1e-2, batch_size=32, random_state=0, device="cpu")


def one_by_one(estimator, grid: dict, X, y, folds) -> np.ndarray:
    """(points, folds) scores of plain fits: clone, set the value, fit on the fold's rows, score the rest."""
    ((name, values),) = grid.items()
    return np.array(
        [[clone(estimator).set_params(**{name: v}).fit(X[a], y[a]).score(X[b], y[b]) for a, b in folds] for v in values]
    )


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_the_stacked_path_scores_as_one_by_one_fits(kind):
    if kind == "classifier":
        X, y = load_breast_cancer(return_X_y=True)
        estimator, splitter = RegularizedNetClassifier(**TINY), StratifiedKFold(3, shuffle=True, random_state=0)
        tolerance = 1.5 / (len(y) / 3)  # a sample on the boundary may flip under float32 rounding
    else:
        X, y = make_regression(240, 8, noise=20.0, random_state=0)
        estimator, splitter = RegularizedNetRegressor(**TINY), KFold(3, shuffle=True, random_state=0)
        tolerance = 1e-4
    grid = {"l2": [1e-4, 1e-2, 1.0]}
    folds = list(splitter.split(X, y))
    search = RegularizationCV(estimator, grid, cv=splitter, refit=False).fit(X, y)
    stacked = np.column_stack([search.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(stacked, one_by_one(estimator, grid, X, y, folds), rtol=0, atol=tolerance)


def test_cv_results_read_as_grid_search_cvs():
    X, y = make_regression(90, 5, noise=30.0, random_state=1)
    grid = {"alpha": [0.1, 10.0, 100.0, 1000.0]}
    folds = KFold(5, shuffle=True, random_state=0)
    ours = RegularizationCV(Ridge(), grid, cv=folds, rule="min").fit(X, y)
    reference = GridSearchCV(Ridge(), grid, cv=folds).fit(X, y)
    for key in ["mean_test_score", "std_test_score", "rank_test_score", *(f"split{k}_test_score" for k in range(5))]:
        np.testing.assert_allclose(ours.cv_results_[key], reference.cv_results_[key], rtol=1e-12)
    np.testing.assert_array_equal(ours.cv_results_["param_alpha"], reference.cv_results_["param_alpha"])
    assert ours.cv_results_["params"] == reference.cv_results_["params"]
    assert ours.best_params_ == reference.best_params_ and ours.best_score_ == pytest.approx(reference.best_score_)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X))


class Table(RegressorMixin, BaseEstimator):
    """Scores looked up in a table by (a, b) and the fold (the first test row's index): no training."""

    def __init__(self, a=0.0, b=0.0, table=None):
        self.a, self.b, self.table = a, b, table

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def score(self, X, y):
        return self.table[(self.a, self.b)][int(X[0, 0])]


def test_several_knobs_are_ordered_first_knob_first():
    """Fold scores base + offset (se of every point 0.041): the 1-SE point is the strongest within one SE of
    the best, strength ordered by a first (larger is stronger), then by b (as ``stronger`` says)."""
    X = np.repeat(np.arange(4.0), 5)[:, None]  # fold k's test rows hold k
    base = np.array([0.0, 0.1, -0.1, 0.0])
    offsets = {(1.0, 1.0): 0.004, (1.0, 3.0): 0.005, (2.0, 1.0): 0.001, (2.0, 3.0): 0.002}

    def search(stronger=None):
        table = {point: base + offset for point, offset in offsets.items()}
        return RegularizationCV(
            Table(table=table), {"a": [1.0, 2.0], "b": [3.0, 1.0]}, cv=KFold(4), stronger=stronger, refit=False
        ).fit(X, X[:, 0])

    assert search().strength_min_ == {"a": 1.0, "b": 3.0}
    assert search().strength_1se_ == {"a": 2.0, "b": 3.0}
    assert search({"b": "smaller"}).strength_1se_ == {"a": 2.0, "b": 1.0}
    offsets[(2.0, 1.0)] = -0.2  # beyond one SE of the best: the next strongest is chosen
    assert search({"b": "smaller"}).strength_1se_ == {"a": 2.0, "b": 3.0}


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(grids={"alpha": [1.0]}, rule="max"), "rule"),
        (dict(grids={"gamma": [1.0]}), "no parameter 'gamma'"),
        (dict(grids={"alpha": []}), "empty"),
        (dict(grids={}), "non-empty dict"),
        (dict(grids={"alpha": [1.0]}, scoring=["r2", "max_error"]), "one scorer"),
        (dict(grids={"alpha": [1.0]}, stronger={"alpha": "up"}), "stronger"),
    ],
)
def test_bad_settings_fail_in_one_line(params, message):
    X, y = make_regression(30, 3, random_state=0)
    with pytest.raises((ValueError, TypeError), match=message) as error:
        RegularizationCV(Ridge(), **params).fit(X, y)
    assert "\n" not in str(error.value)


def test_a_grid_of_architectures_keeps_each_tuple_as_one_value():
    X, y = make_regression(60, 4, noise=5.0, random_state=0)
    sizes = [(4,), (4, 4)]
    search = RegularizationCV(
        RegularizedNetRegressor(**{**TINY, "epochs": 2}), {"hidden_layer_sizes": sizes}, cv=3, rule="min"
    ).fit(X, y)
    assert list(search.cv_results_["param_hidden_layer_sizes"]) == sizes
    assert search.best_params_["hidden_layer_sizes"] in sizes
    assert search.best_estimator_.module_[-1].in_features == 4
