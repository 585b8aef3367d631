"""Fast strength selection for linear regression: ridge LOO/GCV, lasso AIC/BIC, warm-started paths.

Every function minimizes reglab's objective for a linear model ŷ = b + Xw (the intercept b is never
penalized; with ``fit_intercept`` X and y are centered internally, so b = ȳ − x̄ᵀw):

    (1/n) ‖y − b − Xw‖²  +  λ (ρ ‖w‖₁ + (1 − ρ)/2 ‖w‖²)

with ρ = 0 for ridge and ρ = 1 for the lasso. In scikit-learn's units: ``Ridge(alpha=λn/2)``,
``Lasso(alpha=λ/2)``, ``ElasticNet(alpha=λ/2, l1_ratio=ρ)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import lars_path

from reglab.validation import check_count, check_fraction, check_nonnegative

PENALTIES = ("l1", "l2", "elasticnet")
_RIDGE_FLOOR = 1e-3  # ρ used for λ_max when ρ = 0, as glmnet does: a pure ridge never zeroes a coefficient


@dataclass(frozen=True)
class _Centered:
    X: np.ndarray  # X − x̄ (or X itself without an intercept)
    y: np.ndarray
    x_mean: np.ndarray
    y_mean: float

    def intercept(self, coef: np.ndarray) -> np.ndarray | float:
        return self.y_mean - coef @ self.x_mean


def _center(X, y, fit_intercept: bool) -> _Centered:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] < 2:
        raise ValueError(
            "Invalid data: expected X of shape (n, d) and y of shape (n,) with n >= 2. "
            f"Received: X.shape={X.shape}, y.shape={y.shape}"
        )
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("Invalid data: X and y must be finite (no NaN or inf).")
    if not fit_intercept:
        return _Centered(X, y, np.zeros(X.shape[1]), 0.0)
    x_mean, y_mean = X.mean(axis=0), float(y.mean())
    return _Centered(X - x_mean, y - y_mean, x_mean, y_mean)


def _check_strengths(strengths, positive: bool = False) -> np.ndarray:
    grid = np.asarray(strengths, dtype=float)
    ok = grid.ndim == 1 and grid.size > 0 and np.isfinite(grid).all()
    ok = ok and bool((grid > 0).all() if positive else (grid >= 0).all())
    if not ok:
        kind = "positive" if positive else "non-negative"
        raise ValueError(
            f"Invalid value for argument strengths: expected a non-empty 1-D array of finite {kind} "
            f"numbers. Received: strengths={strengths!r}"
        )
    return grid


def _svd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD X = U diag(s) Vᵀ with numerically zero singular values set to exactly 0."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    if s.size:
        s = np.where(s > s[0] * max(X.shape) * np.finfo(float).eps, s, 0.0)
    return U, s, Vt


def _ridge_coefs(s: np.ndarray, Vt: np.ndarray, Uty: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """w(α) = V diag(s / (s² + α)) Uᵀy for every α (rows); directions with s = 0 get 0 (minimum norm)."""
    denom = s**2 + alphas[:, None]
    gain = np.divide(s, denom, out=np.zeros_like(denom), where=s > 0)
    return (gain * Uty) @ Vt


# ---------------------------------------------------------------------------------------------- ridge


@dataclass(frozen=True)
class RidgeGCVResult:
    strengths: np.ndarray  # reglab λ grid, as given
    loo_mse: np.ndarray  # exact leave-one-out mean squared error per λ
    gcv: np.ndarray  # generalized cross-validation score per λ
    dof: np.ndarray  # effective degrees of freedom: trace of the hat matrix (intercept counts 1)
    strength_: float  # λ with the smallest LOO MSE (first one on ties), as scikit-learn's RidgeCV
    coef_: np.ndarray
    intercept_: float


def ridge_gcv(X, y, strengths, fit_intercept: bool = True) -> RidgeGCVResult:
    """Leave-one-out and GCV scores of ridge regression for a whole grid of λ from one SVD.

    With the centered X = U diag(s) Vᵀ and α = λn/2 (scikit-learn's alpha), ridge is the linear
    smoother ŷ = H y with hat matrix H = 11ᵀ/n + U diag(s²/(s² + α)) Uᵀ (drop 11ᵀ/n without an
    intercept). For such a smoother the leave-one-out residual is exact in closed form:

        e₍₋ᵢ₎ = (yᵢ − ŷᵢ) / (1 − Hᵢᵢ),     loo_mse = mean e₍₋ᵢ₎²,
        dof = tr H,                        gcv = mean (y − ŷ)² / (1 − dof/n)².

    Each leave-one-out refit keeps α fixed, as scikit-learn's ``RidgeCV`` does: on the n − 1 remaining
    samples that is reglab strength λn/(n − 1).
    """
    grid = _check_strengths(strengths, positive=True)
    data = _center(X, y, fit_intercept)
    n = data.y.shape[0]
    U, s, Vt = _svd(data.X)
    alphas = grid * n / 2.0
    shrink = s**2 / (s**2 + alphas[:, None])  # (n_strengths, rank)
    Uty = U.T @ data.y
    residuals = data.y - (shrink * Uty) @ U.T
    leverage = shrink @ (U**2).T + (1.0 / n if fit_intercept else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loo_mse = np.mean((residuals / (1.0 - leverage)) ** 2, axis=1)
        dof = shrink.sum(axis=1) + float(fit_intercept)
        gcv = np.mean(residuals**2, axis=1) / (1.0 - dof / n) ** 2
    best = int(np.argmin(np.where(np.isnan(loo_mse), np.inf, loo_mse)))
    coef = _ridge_coefs(s, Vt, Uty, alphas[best : best + 1])[0]
    return RidgeGCVResult(grid, loo_mse, gcv, dof, float(grid[best]), coef, float(data.intercept(coef)))


# ---------------------------------------------------------------------------------------------- lasso


@dataclass(frozen=True)
class LassoICResult:
    strengths: np.ndarray  # reglab λ: the LARS knots (λ = 2·alpha), or the given grid
    coefs: np.ndarray  # (n_strengths, d)
    dof: np.ndarray  # #{j : |wⱼ| > machine ε}: an unbiased estimate of the lasso's degrees of freedom
    aic: np.ndarray
    bic: np.ndarray
    noise_variance: float  # σ² used by both criteria
    criterion: str  # "aic" or "bic": which one chose strength_
    strength_: float
    coef_: np.ndarray
    intercept_: float


def _lasso_on_path(alphas: np.ndarray, coef_path: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Lasso coefficients at scikit-learn alphas ``wanted`` by linear interpolation between LARS knots.

    The lasso path is piecewise linear in alpha with breaks at the knots, so this is exact.
    """
    if alphas[-1] > 0 and wanted.min() < alphas[-1]:
        raise ValueError(
            f"Invalid value for argument strengths: the lasso path ends at λ = {2 * alphas[-1]:.6g} "
            f"(LARS stopped: more features than samples, or too many steps). Received a strength of "
            f"{2 * wanted.min():.6g}"
        )
    ascending = alphas[::-1]
    return np.stack([np.interp(wanted, ascending, row[::-1]) for row in coef_path], axis=1)


def _ols_noise_variance(data: _Centered, fit_intercept: bool) -> float:
    """σ² = RSS_OLS / (n − d − [intercept]): the unbiased estimate from the least-squares fit."""
    n, d = data.X.shape
    dof_left = n - d - int(fit_intercept)
    if dof_left <= 0:
        raise ValueError(
            f"Cannot estimate the noise variance by least squares with n={n} samples and d={d} features "
            f"(needs n > d{' + 1' if fit_intercept else ''}); pass noise_variance."
        )
    coef = np.linalg.lstsq(data.X, data.y, rcond=None)[0]
    return float(np.sum((data.y - data.X @ coef) ** 2) / dof_left)


def lasso_ic(
    X,
    y,
    criterion: str = "aic",
    strengths=None,
    noise_variance: float | None = None,
    fit_intercept: bool = True,
) -> LassoICResult:
    """AIC and BIC of the lasso along its LARS path, and the λ that minimizes the chosen one.

    With Gaussian noise of variance σ², RSS(λ) = ‖y − ŷ(λ)‖² and dof(λ) = #{j : wⱼ(λ) ≠ 0}
    (Zou, Hastie & Tibshirani, 2007; "≠ 0" is |wⱼ| > machine ε and the intercept is not counted, as in
    scikit-learn):

        AIC = n log(2πσ²) + RSS/σ² + 2 dof,      BIC = n log(2πσ²) + RSS/σ² + log(n) dof.

    σ² is ``noise_variance`` or, when None, the least-squares estimate RSS_OLS / (n − d − 1).
    Without ``strengths`` the criteria are evaluated at the knots of the LARS path (scikit-learn's
    ``LassoLarsIC``: its ``alphas_`` are λ/2); otherwise at the given λ, interpolated along the path.
    """
    if criterion not in ("aic", "bic"):
        raise ValueError(f"Invalid value for argument criterion: expected 'aic' or 'bic'. Received: {criterion!r}")
    data = _center(X, y, fit_intercept)
    n = data.y.shape[0]
    alphas, _, coef_path = lars_path(data.X, data.y, method="lasso", alpha_min=0.0)
    if strengths is None:
        grid, coefs = 2.0 * alphas, coef_path.T
    else:
        grid = _check_strengths(strengths)
        coefs = _lasso_on_path(alphas, coef_path, grid / 2.0)
    sigma2 = _ols_noise_variance(data, fit_intercept) if noise_variance is None else float(noise_variance)
    if not (math.isfinite(sigma2) and sigma2 > 0):
        raise ValueError(
            f"Invalid value for argument noise_variance: expected a finite positive number. Received: {sigma2!r}"
        )
    rss = np.sum((data.y[:, None] - data.X @ coefs.T) ** 2, axis=0)
    dof = np.sum(np.abs(coefs) > np.finfo(float).eps, axis=1)
    fit = n * np.log(2 * np.pi * sigma2) + rss / sigma2
    aic, bic = fit + 2.0 * dof, fit + np.log(n) * dof
    best = int(np.argmin(aic if criterion == "aic" else bic))
    coef = coefs[best]
    return LassoICResult(
        grid, coefs, dof, aic, bic, sigma2, criterion, float(grid[best]), coef, float(data.intercept(coef))
    )


# ---------------------------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Path:
    strengths: np.ndarray  # λ from strongest to weakest
    coefs: np.ndarray  # (n_strengths, d)
    intercepts: np.ndarray  # (n_strengths,)
    nonzeros: np.ndarray  # number of nonzero coefficients per λ
    norms: np.ndarray  # ‖w‖₁ for l1 and elastic net, ‖w‖₂ for l2
    n_iter: np.ndarray  # coordinate-descent sweeps per λ (0 for l2: closed form)
    penalty: str
    l1_ratio: float  # ρ: 1 for l1, 0 for l2


def lambda_max(X, y, l1_ratio: float = 1.0, fit_intercept: bool = True) -> float:
    """Smallest λ at which every coefficient is zero: λ_max = 2 maxⱼ |xⱼᵀy| / (n ρ) on centered data.

    At w = 0 the data term's gradient is −(2/n) Xᵀy and the subdifferential of λρ‖w‖₁ is
    [−λρ, λρ] per coordinate, so w = 0 is optimal iff (2/n)|xⱼᵀy| ≤ λρ for every j. For ρ = 0 no λ
    zeroes the ridge; like glmnet, ρ = 0.001 is used instead to place the grid.
    """
    rho = max(check_fraction("l1_ratio", l1_ratio), _RIDGE_FLOOR)
    data = _center(X, y, fit_intercept)
    return float(2.0 * np.max(np.abs(data.X.T @ data.y)) / (data.y.shape[0] * rho))


def _support_solution(
    gram: np.ndarray, xty: np.ndarray, n: int, strength: float, rho: float, w: np.ndarray
) -> np.ndarray | None:
    """The minimizer with the support and signs s of ``w`` held fixed, or None if a sign would flip.

    On the support A the optimality conditions are linear:
    (G_AA/n + λ(1 − ρ)/2 I) w_A = X_Aᵀy/n − (λρ/2) s_A  (least squares where G_AA is singular).
    """
    support = np.flatnonzero(w)
    signs = np.sign(w[support])
    lhs = gram[np.ix_(support, support)] / n + strength * (1.0 - rho) / 2.0 * np.eye(support.size)
    solution = np.linalg.lstsq(lhs, xty[support] / n - strength * rho / 2.0 * signs, rcond=None)[0]
    if not np.array_equal(np.sign(solution), signs):
        return None
    exact = np.zeros_like(w)
    exact[support] = solution
    return exact


def _coordinate_descent(
    gram: np.ndarray,
    xty: np.ndarray,
    n: int,
    null_loss: float,
    strength: float,
    rho: float,
    w: np.ndarray,
    tol: float,
    max_iter: int,
) -> int:
    """Minimize the elastic-net objective in place from the start ``w``; return the number of sweeps.

    Coordinate j's exact minimizer, with zⱼ = xⱼᵀ(y − Xw)/n + (‖xⱼ‖²/n) wⱼ, is
    wⱼ = S(zⱼ, λρ/2) / dⱼ with dⱼ = ‖xⱼ‖²/n + λ(1 − ρ)/2. The correlation c = (Xᵀy − Gw)/n (G = XᵀX) is
    kept up to date with one column of G per change. A change Δwⱼ lowers the objective by at least
    dⱼΔwⱼ², so, as in glmnet, the descent stops after the first sweep whose largest dⱼΔwⱼ² is at most
    ``tol`` times the loss of the null model, mean (y − ȳ)²: a coefficient-change tolerance that does not
    depend on the scale of the features or of y. Cyclic descent converges slowly on correlated
    features, so once two sweeps in a row end with the same signs it jumps to the exact solution for
    that support and those signs (once per sign pattern); the next sweep confirms it or moves on.
    """
    scale = np.diag(gram) / n
    denom = scale + strength * (1.0 - rho) / 2.0
    threshold = strength * rho / 2.0
    c = (xty - gram @ w) / n
    coords = np.flatnonzero(denom > 0)  # a constant feature stays at 0 when nothing else pins it
    previous = tried = None
    for sweep in range(1, max_iter + 1):
        largest_decrease = 0.0
        for j in coords:
            z = c[j] + scale[j] * w[j]
            change = math.copysign(max(abs(z) - threshold, 0.0), z) / denom[j] - w[j]
            if change != 0.0:
                c -= gram[:, j] * (change / n)
                w[j] += change
                largest_decrease = max(largest_decrease, denom[j] * change * change)
        if largest_decrease <= tol * null_loss:
            return sweep
        pattern = np.sign(w)
        if np.array_equal(pattern, previous) and not np.array_equal(pattern, tried):
            tried = pattern
            exact = _support_solution(gram, xty, n, strength, rho, w)
            if exact is not None:
                w[:] = exact
                c = (xty - gram @ w) / n
        previous = pattern
    warnings.warn(
        f"Coordinate descent did not converge at λ={strength:.6g} in {max_iter} sweeps.", RuntimeWarning, stacklevel=3
    )
    return max_iter


def regularization_path(
    X,
    y,
    penalty: str = "l1",
    strengths=None,
    l1_ratio: float = 0.5,
    n_strengths: int = 30,
    fit_intercept: bool = True,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> Path:
    """Coefficients of the penalized least-squares fit along a grid of λ, strongest first.

    The default grid is ``n_strengths`` log-spaced values from ``lambda_max`` down to λ_max·10⁻³.
    l1 and elastic net are solved by cyclic coordinate descent, each λ warm-started from the
    previous solution (``tol`` and ``max_iter`` are its stopping rule and sweep budget); l2 is solved
    in closed form from one SVD: w = V diag(s/(s² + λn/2)) Uᵀy.
    """
    if penalty not in PENALTIES:
        raise ValueError(f"Invalid value for argument penalty: expected one of {PENALTIES}. Received: {penalty!r}")
    rho = check_fraction("l1_ratio", l1_ratio) if penalty == "elasticnet" else {"l1": 1.0, "l2": 0.0}[penalty]
    tol, max_iter = check_nonnegative("tol", tol), check_count("max_iter", max_iter)
    data = _center(X, y, fit_intercept)
    n = data.y.shape[0]
    if strengths is None:
        top = lambda_max(data.X, data.y, rho, fit_intercept=False)
        if top == 0:
            raise ValueError("Xᵀy is zero after centering: every coefficient is zero at every strength.")
        grid = np.geomspace(top, top * 1e-3, check_count("n_strengths", n_strengths))
    else:
        grid = np.sort(_check_strengths(strengths))[::-1]
    if penalty == "l2":
        U, s, Vt = _svd(data.X)
        coefs = _ridge_coefs(s, Vt, U.T @ data.y, grid * n / 2.0)
        n_iter = np.zeros(grid.size, dtype=int)
    else:
        gram, xty, null_loss = data.X.T @ data.X, data.X.T @ data.y, float(np.mean(data.y**2))
        w = np.zeros(data.X.shape[1])
        coefs, n_iter = np.empty((grid.size, w.size)), np.empty(grid.size, dtype=int)
        for i, strength in enumerate(grid):
            n_iter[i] = _coordinate_descent(gram, xty, n, null_loss, strength, rho, w, tol, max_iter)
            coefs[i] = w
    norms = np.linalg.norm(coefs, ord=2 if penalty == "l2" else 1, axis=1)
    return Path(grid, coefs, data.intercept(coefs), np.count_nonzero(coefs, axis=1), norms, n_iter, penalty, float(rho))
