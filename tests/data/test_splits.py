import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reglab.data import DataError, Standardizer, holdout_split, kfold_splits

Y = np.repeat([0, 1, 2], [50, 30, 20])


@pytest.mark.parametrize("stratify", [True, False])
def test_kfold_folds_are_disjoint_and_cover_all_rows(stratify):
    folds = kfold_splits(Y, 5, seed=0, stratify=stratify)
    assert len(folds) == 5
    vals = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(len(Y)))
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(Y)


def test_stratified_folds_keep_class_proportions():
    for _, val in kfold_splits(Y, 5, seed=1, stratify=True):
        np.testing.assert_array_equal(np.bincount(Y[val]), [10, 6, 4])


def test_kfold_is_seeded():
    a, b, c = (kfold_splits(Y, 4, seed=s, stratify=True) for s in (3, 3, 4))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_kfold_errors():
    with pytest.raises(DataError, match="4 samples cannot be split into 5 folds"):
        kfold_splits(np.arange(4.0), 5, seed=0, stratify=False)
    with pytest.raises(DataError, match="argument k"):
        kfold_splits(Y, 1, seed=0, stratify=False)
    with pytest.raises(DataError, match="class 1 has only 3 samples"):
        kfold_splits(np.array([0] * 10 + [1] * 3), 5, seed=0, stratify=True)
    with pytest.raises(DataError, match="1 training row cannot be split into folds: use more data"):
        kfold_splits(np.arange(1.0), 2, seed=0, stratify=False)


def test_holdout_split_is_stratified_and_disjoint():
    train, test = holdout_split(Y, 0.2, seed=0, stratify=True)
    assert len(test) == 20 and not set(train) & set(test) and len(train) + len(test) == len(Y)
    np.testing.assert_array_equal(np.bincount(Y[test]), [10, 6, 4])
    with pytest.raises(DataError, match="test_size"):
        holdout_split(Y, 1.0, seed=0, stratify=False)
    with pytest.raises(DataError, match="class 1 has only 1 samples"):
        holdout_split(np.array([0, 0, 0, 1]), 0.5, seed=0, stratify=True)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(DataError, match=r"argument seed: expected an integer in \[0, 2\*\*32\)"):
            holdout_split(Y, 0.2, seed=seed, stratify=False)


def test_standardizer_matches_sklearn_on_training_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, (40, 4)).astype(np.float32)
    X[:, 2] = 5.0  # constant feature: scale 1
    train, test = np.arange(30), np.arange(30, 40)
    scaler = Standardizer.fit(X[train])
    reference = StandardScaler().fit(X[train])
    out = scaler.transform(X[test])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference.transform(X[test]), atol=1e-5)
    np.testing.assert_allclose(scaler.transform(X[train]).mean(axis=0), 0, atol=1e-6)
    assert not np.allclose(scaler.transform(X).mean(axis=0), 0, atol=1e-3)  # test rows did not enter the fit


def test_standardizer_imputes_training_medians_like_scikit_learn():
    """NaNs become the training rows' median, then standardization: SimpleImputer(median) + StandardScaler
    fitted on the same rows, also where only held-out rows miss a value; held-out rows' values never enter
    the fit; a feature missing from every training row is 0 everywhere."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5)) * [1, 3, 0.5, 2, 1] + [0, 5, -1, 2, 3]
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:40, 3] = np.nan  # missing from every training row
    X[:40, 4] = rng.normal(size=40)  # complete in the training rows, missing in some held-out rows
    X[[41, 45], 4] = np.nan
    train, test = np.arange(40), np.arange(40, 60)
    scaler = Standardizer.fit(X[train], impute=True)
    seen = [0, 1, 2, 4]
    reference = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit(X[train][:, seen])
    for rows in (train, test):
        np.testing.assert_allclose(scaler.transform(X[rows])[:, seen], reference.transform(X[rows][:, seen]), atol=1e-5)
    assert not np.isnan(scaler.transform(X)).any() and (scaler.transform(X)[:, 3] == 0).all()
    moved = X.copy()
    moved[test, 0] = 1e6  # changing held-out rows changes nothing fitted
    assert Standardizer.fit(moved[train], impute=True).fill[0] == scaler.fill[0]
    assert np.isnan(Standardizer.fit(X[train][:, [4]]).transform(X[test][:, [4]])).any()  # imputes only when asked


def test_standardizer_is_per_channel_for_images():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 2, 3, 3)) * np.array([1, 5]).reshape(1, 2, 1, 1) + np.array([0, 7]).reshape(1, 2, 1, 1)
    scaler = Standardizer.fit(X)
    assert scaler.mean.shape == (2,)
    out = scaler.transform(X)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)
    with pytest.raises(DataError):
        scaler.transform(np.zeros((2, 3, 3, 3)))
