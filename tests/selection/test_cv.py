"""CV aggregation and the one-standard-error rule, checked against glmnet's definition."""

import numpy as np
import pytest

from reglab.selection import cv_curve


def glmnet_choice(lambdas, cvm, cvsd):
    """glmnet's rule, transcribed from its definition (larger λ is stronger; NaN means is dropped):
    lambda.min = the largest λ with cvm <= min(cvm); lambda.1se = the largest λ with
    cvm <= cvm[min] + cvsd[min]. Returns the indices of both."""
    lambdas, cvm, cvsd = map(np.asarray, (lambdas, cvm, cvsd))
    ok = np.isfinite(cvm)
    lambda_min = lambdas[ok & (cvm <= cvm[ok].min())].max()
    i_min = int(np.flatnonzero(lambdas == lambda_min)[0])
    lambda_1se = lambdas[ok & (cvm <= cvm[i_min] + cvsd[i_min])].max()
    return i_min, int(np.flatnonzero(lambdas == lambda_1se)[0])


def folds_with(means, spread, n_folds=5, seed=0):
    """Fold losses whose row means are exactly ``means`` and whose sds (ddof=1) are exactly ``spread``."""
    noise = np.random.default_rng(seed).normal(size=(len(means), n_folds))
    noise -= noise.mean(axis=1, keepdims=True)
    noise /= noise.std(axis=1, ddof=1, keepdims=True)
    return np.asarray(means, float)[:, None] + np.asarray(spread, float)[:, None] * noise


def test_mean_and_standard_error():
    losses = np.array([[1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0]])
    curve = cv_curve([0.1, 1.0], losses, "larger")
    np.testing.assert_allclose(curve.mean, [3.0, 2.0])
    np.testing.assert_allclose(curve.se, [np.std([1, 2, 3, 6], ddof=1) / 2, 0.0])
    assert curve.n_folds == 4 and curve.best_index == 1 == curve.one_se_index


@pytest.mark.parametrize("seed", range(5))
def test_matches_glmnet_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    lambdas = np.geomspace(10, 0.01, 12)
    means = 1 + (np.log10(lambdas) - rng.uniform(-1, 0.5)) ** 2 * 0.3
    losses = folds_with(means, rng.uniform(0.1, 1.5, size=12), n_folds=10, seed=seed)
    curve = cv_curve(lambdas, losses, "larger")
    assert (curve.best_index, curve.one_se_index) == glmnet_choice(lambdas, curve.mean, curve.se)


def test_one_se_rule_picks_the_strongest_value_within_one_standard_error():
    lambdas = [10.0, 3.0, 1.0, 0.3, 0.1]  # a glmnet grid: strongest first
    losses = folds_with([5.0, 2.25, 2.1, 2.0, 2.4], [1, 1, 1, 1, 1], n_folds=4)
    curve = cv_curve(lambdas, losses, "larger")
    np.testing.assert_allclose(curve.se, 0.5)  # sd 1 over 4 folds: the threshold is 2.0 + 0.5
    assert curve.best_index == 3
    assert curve.one_se_index == 1 == glmnet_choice(lambdas, curve.mean, curve.se)[1]


def test_grid_order_does_not_matter():
    lambdas = np.array([0.3, 10.0, 0.1, 1.0, 3.0])
    losses = folds_with([2.0, 5.0, 2.4, 2.1, 2.25], [1, 1, 1, 1, 1], n_folds=4)
    curve = cv_curve(lambdas, losses, "larger")
    np.testing.assert_array_equal(curve.values, lambdas)
    assert lambdas[curve.best_index] == 0.3 and lambdas[curve.one_se_index] == 3.0
    assert (curve.best_index, curve.one_se_index) == glmnet_choice(lambdas, curve.mean, curve.se)


def test_ties_go_to_the_stronger_value():
    lambdas = [0.01, 0.1, 1.0, 10.0]
    losses = np.array([[3.0, 3.0], [1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])  # se = 0: 1-SE is the tie-broken minimum
    curve = cv_curve(lambdas, losses, "larger")
    assert curve.best_index == curve.one_se_index == 2
    assert (curve.best_index, curve.one_se_index) == glmnet_choice(lambdas, curve.mean, curve.se)
    assert cv_curve(lambdas, losses, "smaller").best_index == 1


def test_diverged_folds_are_never_chosen():
    lambdas = [0.001, 0.01, 0.1, 1.0, 10.0]
    losses = folds_with([0.5, 1.0, 1.1, 1.3, 4.0], [0.3] * 5, n_folds=5)
    losses[0, 2] = np.nan  # the weakest value diverged in one fold: it would have been best
    losses[4, 0] = np.inf
    curve = cv_curve(lambdas, losses, "larger")
    assert np.isnan(curve.mean[0]) and not np.isfinite(curve.mean[4])
    assert curve.best_index == 1 and curve.one_se_index == 2  # se = 0.3/√5: 1.1 is within, 1.3 is not
    assert (curve.best_index, curve.one_se_index) == glmnet_choice(lambdas, curve.mean, curve.se)


def test_smaller_is_stronger_knob():
    """A max-norm radius c: smaller c constrains more, so the 1-SE rule moves toward small c."""
    radii = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    losses = folds_with([3.0, 1.25, 1.1, 1.0, 1.05], [0.8] * 5, n_folds=6)
    curve = cv_curve(radii, losses, "smaller")
    assert curve.best_index == 3  # threshold 1.0 + 0.8/√6 ≈ 1.33: c = 1 is the smallest radius within it
    # glmnet's rule on the strength -c, which grows as c shrinks
    assert (curve.best_index, curve.one_se_index) == glmnet_choice(-radii, curve.mean, curve.se)
    assert curve.one_se_index == 1


def test_one_fold_has_no_standard_error():
    curve = cv_curve([1.0, 2.0, 3.0], [[2.0], [1.0], [1.0]], "larger")
    assert np.isnan(curve.se).all() and curve.n_folds == 1
    assert curve.best_index == curve.one_se_index == 2


def test_argument_checks():
    with pytest.raises(ValueError, match="stronger"):
        cv_curve([1.0], [[1.0, 2.0]], "bigger")
    with pytest.raises(ValueError, match="fold_losses"):
        cv_curve([1.0, 2.0], [[1.0, 2.0]], "larger")
    with pytest.raises(ValueError, match="fold_losses"):
        cv_curve([1.0], [1.0, 2.0], "larger")
    with pytest.raises(ValueError, match="diverged"):
        cv_curve([1.0, 2.0], [[np.nan, 1.0], [1.0, np.inf]], "larger")
