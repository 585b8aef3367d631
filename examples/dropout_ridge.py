"""Dropout is adaptive ridge: input dropout on linear regression equals, in expectation, a weighted ridge.

With inverted dropout x̃ᵢⱼ = xᵢⱼ mᵢⱼ/(1 − p), mᵢⱼ ~ Bernoulli(1 − p), each x̃ᵢⱼ has mean xᵢⱼ and variance
xᵢⱼ² p/(1 − p), so reglab's objective (mean squared error) averaged over the masks is

    E (1/n) Σᵢ (yᵢ − b − wᵀx̃ᵢ)² = (1/n) Σᵢ (yᵢ − b − wᵀxᵢ)² + Σⱼ λⱼ wⱼ²,   λⱼ = p/(1 − p) · (1/n) Σᵢ xᵢⱼ²

(Srivastava et al. 2014, §9; Wager et al. 2013): a ridge whose weight per coefficient grows with the
feature's second moment, and the intercept b unpenalized. Setting the gradient to zero with centered
X_c = X − x̄, y_c = y − ȳ gives the closed form

    (X_cᵀX_c/n + diag λ) w = X_cᵀy_c/n,   b = ȳ − x̄ᵀw.

The stochastic gradient of a minibatch under fresh masks is an unbiased estimate of the gradient of
this quadratic, so the mean of SGD's iterates has no bias once started: averaged iterates differ from
the closed form by noise alone. Its size is measured, not assumed: R independent runs (own
initialization, minibatches and masks) each average their iterates over the second half of training,
and the tolerance is 4 standard errors of the mean over runs, se = sd/√R, per coefficient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared import arguments, plt, save

from reglab import FitConfig, fit, mlp

MEANS = np.array([1.0, 0.0, -1.0, 0.5])
SCALES = np.array([0.5, 1.0, 2.0, 1.0])
TRUE_COEF = np.array([2.0, -1.0, 0.5, 1.0])


def design(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with different means and scales, so that the ridge weights λⱼ differ."""
    rng = np.random.default_rng(seed)
    X = MEANS + SCALES * rng.normal(size=(n, MEANS.size))
    return X, 1.0 + X @ TRUE_COEF + rng.normal(0.0, 0.5, n)


def weighted_ridge(X: np.ndarray, y: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(w, λ) of the closed form above."""
    n = len(y)
    weights = p / (1 - p) * (X**2).mean(axis=0)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    return np.linalg.solve(Xc.T @ Xc / n + np.diag(weights), Xc.T @ yc / n), weights


def averaged_dropout_fit(X: np.ndarray, y: np.ndarray, p: float, seed: int, epochs: int, lr: float) -> np.ndarray:
    """reglab's input dropout on a linear model, SGD; the coefficients averaged over the last half of the epochs."""
    torch.manual_seed(seed)
    model = mlp(X.shape[1], 1, hidden=(), input_dropout=p)
    snapshots: list[np.ndarray] = []

    def keep(record: dict) -> None:
        if record["epoch"] >= epochs // 2:
            snapshots.append(model[-1].weight.detach().double().numpy()[0].copy())

    fit(
        model,
        (X.astype(np.float32), y.astype(np.float32)),
        config=FitConfig(task="regression", optimizer="sgd", lr=lr, epochs=epochs, batch_size=10, seed=seed),
        on_epoch=keep,
    )
    return np.mean(snapshots, axis=0)


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    p, runs, epochs, lr = 0.5, (4 if quick else 10), (40 if quick else 200), 2e-2
    X, y = design()
    closed, weights = weighted_ridge(X, y, p)
    Xc = X - X.mean(axis=0)
    ols = np.linalg.lstsq(Xc, y - y.mean(), rcond=None)[0]
    fits = np.array([averaged_dropout_fit(X, y, p, seed, epochs, lr) for seed in range(runs)])
    mean, se = fits.mean(axis=0), fits.std(axis=0, ddof=1) / np.sqrt(runs)
    tolerance = 4 * se
    print(f"input dropout p = {p} on y = 1 + Xw + noise ({len(y)} rows), SGD lr {lr}, {epochs} epochs, {runs} runs")
    print(f"{'j':>2} {'λⱼ':>7} {'OLS':>8} {'ridge (closed)':>15} {'dropout (SGD)':>14} {'± 4 se':>8}")
    for j in range(X.shape[1]):
        print(f"{j:>2} {weights[j]:7.3f} {ols[j]:8.4f} {closed[j]:15.4f} {mean[j]:14.4f} {tolerance[j]:8.4f}")
    agree = bool(np.all(np.abs(mean - closed) <= tolerance))
    print(
        f"dropout within 4 se of the weighted ridge for every coefficient: {agree}; "
        f"largest |dropout − ridge| = {np.abs(mean - closed).max():.4f}, "
        f"|OLS − ridge| = {np.abs(ols - closed).max():.4f}"
    )

    figure, axis = plt.subplots(figsize=(6, 3.5))
    index = np.arange(X.shape[1])
    axis.bar(index - 0.27, ols, 0.27, label="least squares")
    axis.bar(index, closed, 0.27, label="weighted ridge (closed form)")
    axis.bar(index + 0.27, mean, 0.27, yerr=tolerance, capsize=3, label=f"input dropout p={p} (SGD, ± 4 se)")
    axis.set_xticks(index, [f"w{j}\nλ={w:.2f}" for j, w in enumerate(weights)])
    axis.set_ylabel("coefficient")
    axis.set_title("Dropout is adaptive ridge")
    axis.legend(fontsize=8)
    save(figure, out, "dropout_ridge.png")
    return {
        "p": p,
        "weights": weights,
        "ols": ols,
        "ridge": closed,
        "dropout": mean,
        "tolerance": tolerance,
        "agree": agree,
    }


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
