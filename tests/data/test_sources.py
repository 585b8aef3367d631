"""Data handed over from Python: DataFrames, arrays and torch Datasets as one Dataset, given test sets kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from reglab.data import DataError, as_dataset, load


def test_a_train_and_a_test_frame_are_encoded_together():
    """Categories only the test frame has get their own indicator (as pandas' get_dummies of both gives),
    and classes only one part has keep their names."""
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["red", "blue", "red", "blue"], "y": ["a", "b", "a", "b"]})
    test = pd.DataFrame({"x": [5.0, 6.0], "c": ["blue", "green"], "y": ["b", "c"]})
    data = as_dataset(train, target="y", test_data=test)
    expected = pd.get_dummies(pd.concat([train, test]).drop(columns="y"), dtype=np.float32).to_numpy()
    np.testing.assert_array_equal(data.X, expected[:, [0, 1, 2, 3]])
    assert data.test_idx.tolist() == [4, 5] and data.classes == ("a", "b", "c")
    assert [data.classes[k] for k in data.y[data.test_idx]] == ["b", "c"]


def test_string_labels_of_arrays_and_their_test_set_share_one_encoding():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    data = as_dataset((X[:4], np.array(["cat", "dog", "cat", "dog"])), test_data=(X[4:], np.array(["emu", "dog"])))
    assert data.classes == ("cat", "dog", "emu") and data.test_idx.tolist() == [4, 5]


def test_data_with_its_own_test_set_refuses_another():
    with pytest.raises(DataError, match="its own test set"):
        as_dataset("mnist1d", test_data="mnist1d")


@pytest.mark.parametrize(
    "item, says",
    [
        (("text", 1), "tensors with at least one axis"),
        ((torch.zeros(3), torch.tensor([1, 2])), "single numbers"),
        (torch.zeros(3), "pairs"),
    ],
)
def test_a_torch_dataset_with_bad_items_is_one_line(item, says):
    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return item

    with pytest.raises(DataError, match=says):
        as_dataset(Items())


def test_the_fingerprint_follows_the_rows():
    a, b = load("wine"), load("wine")
    assert a.fingerprint() == b.fingerprint()
    assert a.subset(np.arange(100)).fingerprint() != a.fingerprint()
