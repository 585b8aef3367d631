"""Strengths of other libraries expressed in reglab's objective ``mean data loss + R(w)``.

Each conversion follows from the other library's documented objective:

- Keras ``l1(k)`` adds k Σ|w|                              → λ = k
- Keras ``l2(k)`` adds k Σw² = (2k)/2 Σw²                  → λ = 2k
- PyTorch ``weight_decay=d`` adds d·w to the gradient       → λ = d
- scikit-learn ``Lasso(alpha=a)``: 1/(2n)‖y−Xw‖² + a‖w‖₁, twice of which is reglab's objective → λ = 2a
- scikit-learn ``ElasticNet(alpha=a, l1_ratio=r)``: likewise  → λ = 2a, ρ = r
- scikit-learn ``Ridge(alpha=a)``: ‖y−Xw‖² + a‖w‖², divided by n → λ = 2a/n
- scikit-learn ``LogisticRegression(C=c)``: c Σ loss + R(w), divided by c·n → λ = 1/(c·n)
- label smoothing ε'/(K − 1) on each wrong class (another convention in some code) → ε = ε'·K/(K − 1)
"""

from __future__ import annotations

from reglab.validation import check_fraction, check_nonnegative, check_positive


def from_keras_l1(k: float) -> float:
    return check_nonnegative("k", k)


def from_keras_l2(k: float) -> float:
    return 2.0 * check_nonnegative("k", k)


def from_torch_weight_decay(d: float) -> float:
    return check_nonnegative("weight_decay", d)


def from_sklearn_lasso(alpha: float) -> float:
    return 2.0 * check_nonnegative("alpha", alpha)


def from_sklearn_elasticnet(alpha: float, l1_ratio: float) -> tuple[float, float]:
    """(λ, ρ) for ``ElasticNet(alpha, l1_ratio)``."""
    return 2.0 * check_nonnegative("alpha", alpha), check_fraction("l1_ratio", l1_ratio)


def from_sklearn_ridge(alpha: float, n_samples: int) -> float:
    return 2.0 * check_nonnegative("alpha", alpha) / check_positive("n_samples", n_samples)


def to_sklearn_ridge(strength: float, n_samples: int) -> float:
    """The ``Ridge(alpha)`` with the same minimizer as reglab's L2 of strength λ: alpha = λn/2."""
    return check_nonnegative("strength", strength) * check_positive("n_samples", n_samples) / 2.0


def from_sklearn_logistic(C: float, n_samples: int) -> float:
    return 1.0 / (check_positive("C", C) * check_positive("n_samples", n_samples))


def from_off_target_smoothing(epsilon: float, n_classes: int) -> float:
    """reglab's (and PyTorch's, Keras's) label smoothing ε for code that gives the true class 1 − ε' and
    each of the K − 1 other classes ε'/(K − 1): equal off-target mass ε/K = ε'/(K − 1) gives ε = ε'·K/(K − 1)
    (the true class then gets 1 − ε + ε/K = 1 − ε')."""
    if n_classes < 2:
        raise ValueError(
            f"Invalid value for argument n_classes: expected at least 2. Received: n_classes={n_classes!r}"
        )
    smoothing = check_fraction("epsilon", epsilon) * n_classes / (n_classes - 1)
    if smoothing >= 1:
        raise ValueError(
            f"Invalid value for argument epsilon: below (K − 1)/K = {(n_classes - 1) / n_classes:g} for K = "
            f"{n_classes}, or the target is uniform or worse. Received: epsilon={epsilon!r}"
        )
    return smoothing
