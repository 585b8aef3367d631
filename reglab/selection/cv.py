"""Cross-validation curves: mean validation loss ± standard error per knob value, and the 1-SE rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("larger", "smaller")


@dataclass(frozen=True)
class CVCurve:
    values: np.ndarray  # grid values of the knob, in the grid's order
    mean: np.ndarray  # mean validation loss over folds (NaN or inf where a fold diverged)
    se: np.ndarray  # standard error of the mean: sd (ddof=1) / √k; NaN with one fold
    n_folds: int
    best_index: int  # smallest mean loss (the strongest value on ties)
    one_se_index: int  # strongest value whose mean loss <= mean[best] + se[best]


def cv_curve(values, fold_losses, stronger: str) -> CVCurve:
    """Aggregate a (n_values, n_folds) table of validation losses and apply the one-standard-error rule.

    For value i over k folds: mean = (1/k) Σ lossᵢₖ and se = sd/√k (sd with ddof = 1). The best value
    minimizes the mean; the 1-SE value is the most regularized one with mean ≤ mean[best] + se[best]
    (glmnet's ``lambda.1se``: the largest λ within one standard error of the minimum). ``stronger``
    says which direction regularizes more: "larger" for λ or dropout p, "smaller" for a max-norm radius
    or early-stopping patience. Ties go to the stronger value, as in glmnet. A value with a NaN or
    infinite fold loss (a diverged run) has a non-finite mean and is never chosen. With one fold the
    standard error is NaN and the 1-SE value is the best one.
    """
    if stronger not in DIRECTIONS:
        raise ValueError(f"Invalid value for argument stronger: expected one of {DIRECTIONS}. Received: {stronger!r}")
    values = np.asarray(values, dtype=float)
    losses = np.asarray(fold_losses, dtype=float)
    shape_ok = values.ndim == 1 and losses.ndim == 2 and losses.shape[0] == values.size > 0 and losses.shape[1] > 0
    if not shape_ok:
        raise ValueError(
            "Invalid value for argument fold_losses: expected shape (n_values, n_folds) with n_values = "
            f"len(values) >= 1 and n_folds >= 1. Received: values.shape={values.shape}, "
            f"fold_losses.shape={losses.shape}"
        )
    n_folds = losses.shape[1]
    mean = losses.mean(axis=1)
    with np.errstate(invalid="ignore"):
        se = losses.std(axis=1, ddof=1) / np.sqrt(n_folds) if n_folds > 1 else np.full(values.size, np.nan)
    finite = np.isfinite(mean)
    if not finite.any():
        raise ValueError("Every value has a non-finite mean loss (every grid value diverged in some fold).")
    # Rank the values from strongest to weakest so that "first" means "strongest" in every search.
    by_strength = np.argsort(-values if stronger == "larger" else values, kind="stable")
    candidates = by_strength[finite[by_strength]]
    best = int(candidates[np.argmin(mean[candidates])])
    threshold = mean[best] + (se[best] if np.isfinite(se[best]) else 0.0)
    one_se = int(candidates[np.argmax(mean[candidates] <= threshold)])
    return CVCurve(values, mean, se, n_folds, best, one_se)
