"""The value every data source produces: features, targets and what they mean."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

TASKS = ("classification", "regression")


class DataError(ValueError):
    """Bad data input; the message is one line saying what is wrong and how to fix it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` and targets ``y`` of one data set, unscaled (standardization is fitted per split).

    Shapes: ``X`` is float32, ``(n, d)`` for tables, ``(n, C, L)`` for 1-D signals, ``(n, C, H, W)`` for
    images. ``y`` is ``(n,)``: int64 labels ``0..k-1`` indexing ``classes`` for classification, float32 for
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
        X, y = np.asarray(self.X, dtype=np.float32), np.asarray(self.y)  # a broadcast stand-in stays a view
        if X.ndim < 2 or y.ndim != 1 or len(X) != len(y):
            raise DataError(f"X must be (n, ...) and y (n,) with the same n: got X {X.shape} and y {y.shape}")
        if self.feature_names and len(self.feature_names) != int(np.prod(X.shape[1:])):
            raise DataError(f"{len(self.feature_names)} feature names for {int(np.prod(X.shape[1:]))} features")
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
        return self.source is None and bool(np.isnan(self.X).any())

    def fingerprint(self) -> str:
        """A short hash of the rows: shapes, task, classes, targets, given test rows and features (a torch
        Dataset's items are not read: their count and shape stand in)."""
        digest = hashlib.sha256(repr((self.X.shape, self.task, self.classes)).encode())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        digest.update(b"" if self.test_idx is None else self.test_idx.tobytes())
        digest.update(b"" if self.source is not None else np.ascontiguousarray(self.X).tobytes())
        return digest.hexdigest()[:16]

    @property
    def n_samples(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        """Inputs per sample: the product of ``input_shape``."""
        return int(np.prod(self.input_shape))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    @property
    def n_outputs(self) -> int:
        """Number of classes, or 1 for regression."""
        return len(self.classes) if self.task == "classification" else 1

    def subset(self, idx) -> Dataset:
        """The rows ``idx`` (indices or a boolean mask), with the same names and classes (no given test set)."""
        if self.source is not None:
            from torch.utils.data import Subset

            idx = np.arange(self.n_samples)[idx]
            return replace(self, X=self.X[idx], y=self.y[idx], test_idx=None, source=Subset(self.source, idx.tolist()))
        return replace(self, X=self.X[idx], y=self.y[idx], test_idx=None)
