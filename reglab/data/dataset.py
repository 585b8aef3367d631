"""The value every data source produces: features, targets and what they mean."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from reglab import inputs

TASKS = ("classification", "regression")


class DataError(ValueError):
    """Bad data input; the message is one line saying what is wrong and how to fix it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` and targets ``y`` of one data set, unscaled (standardization is fitted per split).

    Shapes: ``X`` is float32, ``(n, d)`` for tables, ``(n, C, L)`` for 1-D signals, ``(n, C, H, W)`` for
    images; or several arrays as a tuple, list or dict (a model's input of several tensors), each ``(n, ...)``,
    floating-point parts float32 and integer codes as given. ``y`` is ``(n,)``: int64 labels ``0..k-1``
    indexing ``classes`` for classification, float32 for
    regression. ``coef`` holds the true coefficients of a synthetic regression set, when known.
    ``test_idx`` are the rows of a given test set (an official split, or one passed separately), which
    a study keeps as its test set; None when the data have none.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    description: str = ""
    coef: np.ndarray | None = None
    test_idx: np.ndarray | None = None
    source: object = (
        None  # a torch Dataset whose (input, target) items are the rows: then ``X`` is a zero-stride stand-in
    )

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DataError(f"unknown task '{self.task}': use one of {', '.join(TASKS)}")
        X, y = input_arrays(self.X), np.asarray(self.y)  # a broadcast stand-in stays a view
        lengths = {len(part) if part.ndim else None for part in inputs.parts(X)}
        if y.ndim != 1 or lengths != {len(y)} or not inputs.is_several(X) and X.ndim < 2:
            raise DataError(
                f"X must be (n, ...) and y (n,) with the same n: got X {inputs.sample_shape(X)} with "
                f"{sorted(lengths, key=str)} rows and y {y.shape}"
            )
        if self.feature_names and len(self.feature_names) != self.n_features_of(X):
            raise DataError(f"{len(self.feature_names)} feature names for {self.n_features_of(X)} features")
        if self.task == "classification":
            y = y.astype(np.int64)
            k = len(self.classes) or int(y.max(initial=-1)) + 1
            if y.size and (y.min() < 0 or y.max() >= k):
                raise DataError(f"class labels must lie in 0..{k - 1}: got {y.min()}..{y.max()}")
            object.__setattr__(self, "classes", tuple(self.classes) or tuple(str(c) for c in range(k)))
        else:
            y = y.astype(np.float32)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        if self.test_idx is not None:
            test = np.unique(np.asarray(self.test_idx, dtype=np.int64))
            if not 0 < len(test) < len(y) or test[0] < 0 or test[-1] >= len(y):
                raise DataError(f"the given test rows must be some, but not all, of the {len(y)} rows")
            object.__setattr__(self, "test_idx", test)

    @cached_property
    def has_missing(self) -> bool:
        """Whether some feature value is missing (NaN): tables loaded with ``impute=True`` keep them so that
        each split fills them from its own training rows (``Standardizer.fit(..., impute=True)``)."""
        return self.source is None and any(
            inputs.is_float(part) and bool(np.isnan(part).any()) for part in inputs.parts(self.X)
        )

    def fingerprint(self) -> str:
        """A short hash of the rows: shapes, task, classes, targets, given test rows and features (a torch
        Dataset's items are not read: their count and shape stand in)."""
        digest = hashlib.sha256(repr((self.n_samples, self.input_shape, self.task, self.classes)).encode())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        digest.update(b"" if self.test_idx is None else self.test_idx.tobytes())
        for part in inputs.parts(self.X) if self.source is None else ():
            digest.update(np.ascontiguousarray(part).tobytes())
        return digest.hexdigest()[:16]

    @property
    def n_samples(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        """Inputs per sample: the product of ``input_shape`` (summed over the parts of several inputs)."""
        return self.n_features_of(self.X)

    @staticmethod
    def n_features_of(X) -> int:
        return sum(int(np.prod(part.shape[1:])) for part in inputs.parts(X))

    @property
    def input_shape(self) -> tuple[int, ...] | object:
        """One sample's shape; for several inputs, their structure with each part's shape."""
        return inputs.sample_shape(self.X)

    @property
    def several_inputs(self) -> bool:
        """Whether a sample is several tensors (a tuple, list or dict), which reglab's own builders cannot take."""
        return inputs.is_several(self.X)

    @property
    def n_outputs(self) -> int:
        """Number of classes, or 1 for regression."""
        return len(self.classes) if self.task == "classification" else 1

    def subset(self, idx) -> Dataset:
        """The rows ``idx`` (indices or a boolean mask), with the same names and classes (no given test set)."""
        if self.source is not None:
            from torch.utils.data import Subset

            from reglab.data.cache import CachedDataset

            idx = np.arange(self.n_samples)[idx]
            cached = isinstance(self.source, CachedDataset)
            source = CachedDataset(*self.source.rows(idx)) if cached else Subset(self.source, idx.tolist())
            return replace(self, X=inputs.take(self.X, idx), y=self.y[idx], test_idx=None, source=source)
        return replace(self, X=inputs.take(self.X, idx), y=self.y[idx], test_idx=None)


def input_arrays(X):
    """One input as float32; of several, each part as an array: floating-point ones float32, the others
    (integer codes, masks) as they are."""
    if not inputs.is_several(X):
        return np.asarray(X, dtype=np.float32)

    def array(part) -> np.ndarray:
        part = np.asarray(part)
        return part.astype(np.float32, copy=False) if inputs.is_float(part) else part

    return inputs.map_parts(array, X)
