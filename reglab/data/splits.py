"""Row splits (hold-out, k folds; stratified for classification) and standardization fitted on training rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reglab.data.dataset import DataError


def holdout_split(y: np.ndarray, test_size: float, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx), sorted; ``test_size`` is the fraction of rows held out."""
    if not 0 < test_size < 1:
        raise DataError(
            f"Invalid value for argument test_size: expected a number in (0, 1). Received: test_size={test_size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise DataError(f"Invalid value for argument seed: expected an integer in [0, 2**32). Received: seed={seed!r}")
    from sklearn.model_selection import train_test_split  # here: listing datasets need not load scikit-learn

    idx = np.arange(len(y))
    if stratify:
        _check_class_counts(y, 2, "a stratified hold-out split")
    try:
        train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y if stratify else None)
    except ValueError as error:
        raise DataError(f"cannot hold out {test_size:g} of {len(y)} rows: {error}") from None
    return np.sort(train), np.sort(test)


def kfold_splits(y: np.ndarray, k: int, seed: int, stratify: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_idx, val_idx) pairs; the validation folds are disjoint and cover every row."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise DataError(f"Invalid value for argument k: expected an integer >= 2. Received: k={k!r}")
    if len(y) < 2:
        raise DataError(
            f"{len(y)} training row{'s' * (len(y) != 1)} cannot be split into folds: use more data "
            "or a smaller test size"
        )
    if len(y) < k:
        raise DataError(f"{len(y)} samples cannot be split into {k} folds: use at most {len(y)} folds")
    from sklearn.model_selection import KFold, StratifiedKFold

    if stratify:
        _check_class_counts(y, k, f"{k} stratified folds")
        splitter = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=int(k), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _check_class_counts(y: np.ndarray, needed: int, purpose: str) -> None:
    labels, counts = np.unique(y, return_counts=True)
    if counts.min(initial=needed) < needed:
        label, count = labels[counts.argmin()], counts.min()
        raise DataError(
            f"class {label} has only {count} samples, fewer than {purpose} need ({needed}): "
            "use fewer folds, more data, or no stratification"
        )


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-feature (tables) or per-channel (signals, images) centering and scaling, ``(X - mean) / scale``,
    after imputation when fitted with ``impute=True``: a missing value (NaN, as tables loaded with
    ``impute=True`` hold them) becomes its feature's median over the training rows — scikit-learn's
    ``SimpleImputer(strategy="median")`` then ``StandardScaler``.

    Fit it on training rows only, then transform every row set with it. A constant feature gets scale 1;
    a feature missing from every training row is 0 in every row set (the model cannot learn it).
    """

    mean: np.ndarray
    scale: np.ndarray
    fill: np.ndarray | None = None  # the medians, when fitted to impute

    @classmethod
    def fit(cls, X: np.ndarray, impute: bool = False) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim < 2 or len(X) == 0:
            raise DataError(f"cannot fit a standardizer on an array of shape {X.shape}: need (n, ...) with n >= 1")
        axes = (0, *range(2, X.ndim))
        fill, unseen = None, np.zeros(X.shape[1], dtype=bool)
        if impute:
            unseen = np.isnan(X).all(axis=axes)
            per_feature = np.moveaxis(X, 1, 0).reshape(X.shape[1], -1)
            fill = np.zeros(X.shape[1])
            fill[~unseen] = np.nanmedian(per_feature[~unseen], axis=1)
            X = _filled(X, fill)
        mean, scale = X.mean(axis=axes), X.std(axis=axes)
        tiny = scale <= np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0)
        scale = np.where(unseen, np.inf, np.where(tiny, 1.0, scale))  # ∞: an unseen feature maps to 0
        return cls(mean, scale, fill)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardized (and imputed) float32 copy of ``X`` (same shape)."""
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[1] != len(self.mean):
            raise DataError(f"standardizer fitted on {len(self.mean)} features or channels cannot take shape {X.shape}")
        shape = (1, -1) + (1,) * (X.ndim - 2)
        if self.fill is not None:
            X = _filled(X, self.fill)
        return ((X - self.mean.reshape(shape)) / self.scale.reshape(shape)).astype(np.float32)


def _filled(X: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """X with each NaN replaced by its feature's (channel's) ``fill`` value."""
    return np.where(np.isnan(X), fill.reshape((1, -1) + (1,) * (X.ndim - 2)), X)
