"""A regularization-path study of a linear model: coefficients against λ and the λ each criterion picks.

On one seed's training part (features standardized with its statistics): the whole path with warm
starts, k-fold cross-validated mean squared error along it (minimum and one-standard-error choices),
AIC/BIC with the lasso's degrees of freedom (l1), exact leave-one-out for ridge (l2), and the test MSE
of every λ on the held-out split.
"""

from __future__ import annotations

import numpy as np

from reglab.data import Dataset
from reglab.data.splits import Standardizer, holdout_split, kfold_splits
from reglab.selection import cv_curve, lasso_ic, regularization_path, ridge_gcv
from reglab.selection.linear import PENALTIES


def path_study(
    dataset: Dataset,
    penalty: str = "l1",
    l1_ratio: float = 0.5,
    n_strengths: int = 30,
    folds: int = 5,
    seed: int = 0,
    test_size: float = 0.25,
) -> dict:
    """The path and its choices as a plain dict (what the store keeps as the study's summary)."""
    if dataset.task != "regression":
        raise ValueError(
            f"reglab path fits penalized least squares: {dataset.name!r} is a classification set; "
            "use a regression set such as diabetes, sparse, line or poly"
        )
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r} for a path: use one of {', '.join(PENALTIES)}")
    X = dataset.X.reshape(dataset.n_samples, -1).astype(np.float64)
    train, test = holdout_split(dataset.y, test_size, seed, stratify=False)
    scaler = Standardizer.fit(X[train], impute=dataset.has_missing)
    X_train, X_test = scaler.transform(X[train]).astype(np.float64), scaler.transform(X[test]).astype(np.float64)
    y_train, y_test = dataset.y[train].astype(np.float64), dataset.y[test].astype(np.float64)

    # Ridge never zeroes the fit: its grid spans the scale of (2/n)XᵀX ≈ 2 on standardized features.
    grid = np.logspace(2, -5, n_strengths) if penalty == "l2" else None
    path = regularization_path(X_train, y_train, penalty, strengths=grid, l1_ratio=l1_ratio, n_strengths=n_strengths)
    strengths = path.strengths
    fold_mse = np.column_stack(
        [
            _mse(
                regularization_path(X_train[a], y_train[a], penalty, strengths=strengths, l1_ratio=l1_ratio),
                X_train[b],
                y_train[b],
            )
            for a, b in kfold_splits(y_train, folds, seed, stratify=False)
        ]
    )
    curve = cv_curve(strengths, fold_mse, "larger")
    choices = {"cv_min": float(strengths[curve.best_index]), "cv_1se": float(strengths[curve.one_se_index])}
    if penalty == "l1" and len(train) > X.shape[1] + 1:  # AIC/BIC need the least-squares noise estimate
        for criterion in ("aic", "bic"):
            choices[criterion] = float(lasso_ic(X_train, y_train, criterion).strength_)
    if penalty == "l2":
        choices["loo"] = float(ridge_gcv(X_train, y_train, strengths).strength_)
    return {
        "kind": "path",
        "data": dataset.name,
        "penalty": penalty,
        "l1_ratio": path.l1_ratio,
        "strengths": strengths.tolist(),
        "coefs": path.coefs.tolist(),
        "intercepts": path.intercepts.tolist(),
        "nonzeros": path.nonzeros.tolist(),
        "norms": path.norms.tolist(),
        "n_iter": path.n_iter.tolist(),
        "feature_names": list(dataset.feature_names) or [f"x{j}" for j in range(X.shape[1])],
        "cv_mean": curve.mean.tolist(),
        "cv_se": curve.se.tolist(),
        "test_mse": _mse(path, X_test, y_test).tolist(),
        "choices": choices,
    }


def _mse(path, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean squared error of every λ's fit on (X, y)."""
    predictions = X @ path.coefs.T + path.intercepts
    return ((predictions - y[:, None]) ** 2).mean(axis=0)
