import numpy as np
import pytest

from reglab.data import DataError, builtin_names, load_builtin

SHAPES = {
    "digits": ((1797, 64), "classification", 10),
    "digits-images": ((1797, 1, 8, 8), "classification", 10),
    "breast-cancer": ((569, 30), "classification", 2),
    "wine": ((178, 13), "classification", 3),
    "diabetes": ((442, 10), "regression", 1),
    "mnist1d": ((5000, 40), "classification", 10),
    "mnist1d-signals": ((5000, 1, 40), "classification", 10),
    "line": ((100, 1), "regression", 1),
    "sparse": ((100, 200), "regression", 1),
    "poly": ((30, 9), "regression", 1),
    "moons": ((300, 2), "classification", 2),
}


def test_registry_lists_every_set():
    assert builtin_names() == list(SHAPES)


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes_dtypes_and_task(name):
    shape, task, outputs = SHAPES[name]
    ds = load_builtin(name)
    assert ds.name == name and ds.X.shape == shape and ds.task == task and ds.n_outputs == outputs
    assert ds.X.dtype == np.float32 and ds.description
    assert ds.y.dtype == (np.int64 if task == "classification" else np.float32)
    assert np.isfinite(ds.X).all()
    if task == "classification":
        assert set(np.unique(ds.y)) == set(range(outputs))
    if ds.feature_names:
        assert len(ds.feature_names) == ds.n_features


@pytest.mark.parametrize("name", ["line", "sparse", "poly", "moons"])
def test_synthetic_sets_follow_the_seed(name):
    a, b, c = load_builtin(name, seed=1), load_builtin(name, seed=1), load_builtin(name, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, c.y)


def test_line_least_squares_recovers_slope_and_intercept():
    ds = load_builtin("line")
    slope, intercept = np.polyfit(ds.X[:, 0], ds.y, 1)
    assert slope == pytest.approx(3, abs=0.3) and intercept == pytest.approx(2, abs=0.2)


def test_sparse_has_more_features_than_samples_and_ten_true_nonzeros():
    ds = load_builtin("sparse", seed=3)
    assert ds.n_samples < ds.n_features
    assert np.count_nonzero(ds.coef) == 10 and ds.coef.shape == (200,)
    residual = ds.y - ds.X @ ds.coef.astype(np.float32)
    assert residual.std() == pytest.approx(1, abs=0.3)


def test_mnist1d_is_cached_copied_and_leaves_global_rng_alone():
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    first = load_builtin("mnist1d")
    assert np.random.rand() == expected
    first.X[:] = 0
    assert load_builtin("mnist1d").X.any()
    np.testing.assert_array_equal(load_builtin("mnist1d-signals").X[:, 0], load_builtin("mnist1d").X)


def test_unknown_name_lists_choices():
    with pytest.raises(DataError, match="use one of digits"):
        load_builtin("cifar")


def test_mnist1d_is_the_canonical_set_with_its_own_test_split():
    """The package's default generator (5000 samples): its x/x_test are reglab's training and given test rows."""
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())
    ds = load_builtin("mnist1d")
    train = np.setdiff1d(np.arange(ds.n_samples), ds.test_idx)
    np.testing.assert_array_equal(ds.X[ds.test_idx], reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y[ds.test_idx], reference["y_test"])
    np.testing.assert_array_equal(ds.X[train], reference["x"].astype(np.float32))
    assert (len(train), len(ds.test_idx)) == (4000, 1000)
