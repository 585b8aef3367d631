"""Built-in data sets: scikit-learn's bundled sets, MNIST-1D generated locally, and synthetic sets.

Nothing is downloaded. Synthetic sets (``line``, ``sparse``, ``poly``, ``moons``) are drawn from ``seed``;
the others are fixed and ignore it. scikit-learn's and MNIST-1D's modules are imported by the loaders, so
listing the sets (``BUILTIN``) imports neither.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

import numpy as np

from reglab.data.dataset import DataError, Dataset

MNIST1D_SAMPLES, MNIST1D_TEST = 5000, 1000  # the package's defaults: 4000 training and 1000 test rows


def _skd():
    """``sklearn.datasets``, imported on first use."""
    from sklearn import datasets

    return datasets


def _sklearn(name: str, bunch, task: str, classes=()) -> Dataset:
    return Dataset(name, bunch.data, bunch.target, task, tuple(bunch.feature_names), tuple(classes))


def _digits(seed: int) -> Dataset:
    bunch = _skd().load_digits()
    return _sklearn("digits", bunch, "classification", (str(c) for c in bunch.target_names))


def _digits_images(seed: int) -> Dataset:
    bunch = _skd().load_digits()
    images = (bunch.images[:, None] / 16.0).astype(np.float32)
    classes = tuple(str(c) for c in bunch.target_names)
    return Dataset("digits-images", images, bunch.target, "classification", classes=classes)


def _breast_cancer(seed: int) -> Dataset:
    bunch = _skd().load_breast_cancer()
    return _sklearn("breast-cancer", bunch, "classification", bunch.target_names)


def _wine(seed: int) -> Dataset:
    bunch = _skd().load_wine()
    return _sklearn("wine", bunch, "classification", bunch.target_names)


def _diabetes(seed: int) -> Dataset:
    return _sklearn("diabetes", _skd().load_diabetes(), "regression")


@lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D with its default generator arguments (5000 samples, seed 42: the data of the published
    figures), its 4000 training rows first, then its 1000 test rows; the global RNGs are left as they were."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    return X, np.concatenate([data["y"], data["y_test"]]).astype(np.int64)


def _mnist1d(seed: int, signals: bool = False) -> Dataset:
    X, y = _mnist1d_arrays()
    name, X = ("mnist1d-signals", X[:, None].copy()) if signals else ("mnist1d", X.copy())
    names = () if signals else tuple(f"t{i}" for i in range(X.shape[1]))
    test_idx = np.arange(len(y) - MNIST1D_TEST, len(y))  # its own split, kept as the test set
    return Dataset(name, X, y.copy(), "classification", names, tuple(map(str, range(10))), test_idx=test_idx)


def _line(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 100)
    y = 3 * x + 2 + rng.normal(0, 0.5, 100)
    description = "y = 3x + 2 + N(0, 0.5²), x uniform in [-1, 1]"
    return Dataset("line", x[:, None], y, "regression", ("x",), description=description, coef=np.array([3.0]))


def _sparse(seed: int, n: int = 100, p: int = 200, nonzero: int = 10) -> Dataset:
    rng = np.random.default_rng(seed)
    coef = np.zeros(p)
    support = rng.choice(p, nonzero, replace=False)
    coef[support] = rng.choice([-1, 1], nonzero) * rng.uniform(1, 3, nonzero)
    X = rng.normal(size=(n, p))
    y = X @ coef + rng.normal(0, 1, n)
    names = tuple(f"x{j}" for j in range(p))
    description = f"y = Xw + N(0, 1) with {nonzero} of {p} coefficients nonzero (features {sorted(support.tolist())})"
    return Dataset("sparse", X, y, "regression", names, description=description, coef=coef)


def _poly(seed: int, n: int = 30, degree: int = 9) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    y = np.sin(2 * np.pi * x) + rng.normal(0, 0.3, n)
    t = 2 * x - 1  # powers of a variable in [-1, 1] stay bounded and less collinear than powers of x
    X = t[:, None] ** np.arange(1, degree + 1)
    names = tuple(f"t^{k}" for k in range(1, degree + 1))
    description = "y = sin(2πx) + N(0, 0.3²), x uniform in [0, 1], features t^k with t = 2x - 1"
    return Dataset("poly", X, y, "regression", names, description=description)


def _moons(seed: int) -> Dataset:
    X, y = _skd().make_moons(n_samples=300, noise=0.3, random_state=seed)
    return Dataset("moons", X, y, "classification", ("x1", "x2"), ("0", "1"))


BUILTIN: dict[str, tuple[Callable[[int], Dataset], str]] = {
    "digits": (_digits, "8x8 handwritten digits as 64 features, 10 classes (1797 rows)"),
    "digits-images": (_digits_images, "the same digits as 1x8x8 images for CNNs"),
    "breast-cancer": (_breast_cancer, "Wisconsin breast cancer, 30 features, 2 classes (569 rows)"),
    "wine": (_wine, "wine cultivars, 13 features, 3 classes (178 rows)"),
    "diabetes": (_diabetes, "diabetes progression, 10 features, regression (442 rows)"),
    "mnist1d": (
        _mnist1d,
        f"MNIST-1D signals as 40 features, 10 classes ({MNIST1D_SAMPLES} rows: its own 4000/1000 split)",
    ),
    "mnist1d-signals": (lambda seed: _mnist1d(seed, signals=True), "MNIST-1D as 1x40 signals for 1-D CNNs"),
    "line": (_line, "synthetic: y = 3x + 2 + noise, 100 rows"),
    "sparse": (_sparse, "synthetic: 100 rows, 200 features, 10 true nonzero coefficients"),
    "poly": (_poly, "synthetic: sin(2πx) + noise, 30 rows, polynomial features up to degree 9"),
    "moons": (_moons, "synthetic: two noisy interleaved half circles, 2 classes (300 rows)"),
}


def builtin_names() -> list[str]:
    """Names of the built-in data sets, in registry order."""
    return list(BUILTIN)


def load_builtin(name: str, seed: int = 0) -> Dataset:
    """The built-in data set ``name``; synthetic sets are drawn from ``seed``."""
    if name not in BUILTIN:
        raise DataError(f"unknown built-in dataset '{name}': use one of {', '.join(BUILTIN)}")
    loader, text = BUILTIN[name]
    dataset = loader(seed)
    return dataset if dataset.description else replace(dataset, description=text)
