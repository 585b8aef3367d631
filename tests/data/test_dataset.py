import numpy as np
import pytest

from reglab.data import DataError, Dataset


def test_properties_and_dtypes():
    ds = Dataset("toy", np.ones((6, 2, 3), dtype=np.float64), np.array([0, 1, 2, 0, 1, 2]), "classification")
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    assert (ds.n_samples, ds.n_features, ds.input_shape, ds.n_outputs) == (6, 6, (2, 3), 3)
    assert ds.classes == ("0", "1", "2")


def test_regression_has_one_output():
    ds = Dataset("toy", np.zeros((3, 1)), [1, 2, 3], "regression")
    assert ds.y.dtype == np.float32 and ds.n_outputs == 1 and ds.classes == ()


def test_subset_keeps_classes():
    ds = Dataset("toy", np.arange(8.0).reshape(4, 2), [0, 1, 1, 0], "classification", classes=("a", "b"))
    part = ds.subset(np.array([1, 2]))
    assert part.n_samples == 2 and part.classes == ("a", "b") and part.n_outputs == 2
    np.testing.assert_array_equal(part.X, [[2, 3], [4, 5]])


@pytest.mark.parametrize(
    "X, y, task, classes",
    [
        (np.zeros((3, 2)), [0, 1], "classification", ()),
        (np.zeros(3), [0, 1, 0], "classification", ()),
        (np.zeros((3, 2)), [0, 1, 2], "classification", ("a", "b")),
        (np.zeros((3, 2)), [0, 1, 2], "clustering", ()),
    ],
)
def test_inconsistent_values_are_rejected(X, y, task, classes):
    with pytest.raises(DataError):
        Dataset("bad", X, np.array(y), task, classes=classes)
