"""MC dropout knows when it does not know: its predictive spread grows where the training data end.

An MLP with dropout learns y = sin(3x) + N(0, 0.1²) from x in [−1, 1]. Monte-Carlo dropout (Gal &
Ghahramani, 2016) keeps dropout on at prediction: T passes give a mean μ(x) and a spread s(x) (``mc_predict``).
Its predictive distribution is N(μ(x), s(x)² + σ²), the noise σ² fitted by maximum likelihood on a
validation set. The reference is a homoscedastic model with the same mean: N(μ(x), σ_h²), σ_h² the mean
squared validation residual (its maximum-likelihood value). Both are scored on test points inside the
training range and outside it (1 < |x| < 1.6): coverage of the central 90% interval μ ± z₀.₉₅ √v, and the
mean Gaussian negative log-likelihood ½ log(2πv) + (y − μ)²/(2v).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from shared import arguments, plt, save

from reglab import FitConfig, fit, mc_predict, mlp

NOISE, LEVEL, DROPOUT = 0.1, 0.90, 0.3


def sample(n: int, rng: np.random.Generator, outside: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n points with x uniform in [−1, 1], or with 1 < |x| < 1.6 when ``outside``."""
    x = rng.uniform(-1, 1, n) if not outside else rng.choice([-1, 1], n) * rng.uniform(1, 1.6, n)
    return x[:, None].astype(np.float32), (np.sin(3 * x) + rng.normal(0, NOISE, n)).astype(np.float32)


def scores(y: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> dict:
    """Coverage of the central ``LEVEL`` interval and the mean Gaussian negative log-likelihood."""
    half = norm.ppf(0.5 + LEVEL / 2) * np.sqrt(variance)
    return {
        "coverage": float(np.mean(np.abs(y - mean) <= half)),
        "nll": float(-np.mean(norm.logpdf(y, loc=mean, scale=np.sqrt(variance)))),
    }


def spread(model: torch.nn.Module, x: np.ndarray, passes: int) -> tuple[np.ndarray, np.ndarray]:
    """μ(x) and s(x) over ``passes`` dropout passes."""
    prediction = mc_predict(model, torch.from_numpy(x), passes=passes, task="regression", generator_seed=1)
    return prediction.mean.numpy()[:, 0], prediction.std.numpy()[:, 0]


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    rng = np.random.default_rng(0)
    train, val = sample(200, rng), sample(200, rng)
    tests = {"inside": sample(1000, rng), "outside": sample(1000, rng, outside=True)}
    torch.manual_seed(0)
    model = mlp(1, 1, hidden=(128,) if quick else (256,), dropout=DROPOUT)
    fit(
        model,
        train,
        config=FitConfig(task="regression", optimizer="adam", lr=3e-3, epochs=100 if quick else 300, batch_size=32),
    )
    passes = 50 if quick else 200
    predict = lambda x: spread(model, x, passes)  # noqa: E731
    mu_val, s_val = predict(val[0])
    homoscedastic = float(np.mean((val[1] - mu_val) ** 2))
    fitted = minimize_scalar(
        lambda log_var: -norm.logpdf(val[1], mu_val, np.sqrt(s_val**2 + np.exp(log_var))).sum(),
        bounds=(np.log(1e-6), np.log(10.0)),
        method="bounded",
    )
    noise = float(np.exp(fitted.x))
    print(
        f"MC dropout (p={DROPOUT}, {passes} passes): fitted noise σ = {np.sqrt(noise):.3f}; "
        f"homoscedastic σ_h = {np.sqrt(homoscedastic):.3f} "
        f"(true noise {NOISE})"
    )
    print(
        f"{'test points':<12} {'mean s(x)':>9} {'RMSE':>6} {'MC coverage':>12} {'homo coverage':>14} "
        f"{'MC NLL':>8} {'homo NLL':>9}"
    )
    results = {"noise": noise, "homoscedastic": homoscedastic}
    for name, (x, y) in tests.items():
        mu, s = predict(x)
        mc, homo = scores(y, mu, s**2 + noise), scores(y, mu, np.full_like(mu, homoscedastic))
        results[name] = {
            "mc": mc,
            "homoscedastic": homo,
            "spread": float(s.mean()),
            "rmse": float(np.sqrt(np.mean((y - mu) ** 2))),
        }
        print(
            f"{name:<12} {s.mean():9.3f} {results[name]['rmse']:6.3f} {mc['coverage']:12.3f} {homo['coverage']:14.3f} "
            f"{mc['nll']:8.3f} {homo['nll']:9.3f}"
        )

    grid = np.linspace(-1.6, 1.6, 400, dtype=np.float32)[:, None]
    mu, s = predict(grid)
    z = norm.ppf(0.5 + LEVEL / 2)
    figure, axis = plt.subplots(figsize=(7, 3.8))
    axis.fill_between(
        grid[:, 0], mu - z * np.sqrt(s**2 + noise), mu + z * np.sqrt(s**2 + noise), alpha=0.3, label="MC dropout 90%"
    )
    axis.plot(grid[:, 0], mu - z * np.sqrt(homoscedastic), "C1--", lw=1, label="homoscedastic 90%")
    axis.plot(grid[:, 0], mu + z * np.sqrt(homoscedastic), "C1--", lw=1)
    axis.plot(grid[:, 0], np.sin(3 * grid[:, 0]), "k", lw=1, label="sin(3x)")
    axis.plot(grid[:, 0], mu, "C0", lw=1.5, label="MC mean")
    axis.plot(train[0][:, 0], train[1], ".", color="0.4", ms=3, label="training data")
    axis.axvspan(-1.6, -1, color="0.92", zorder=0)
    axis.axvspan(1, 1.6, color="0.92", zorder=0)
    axis.set(xlabel="x", ylabel="y", title="MC dropout knows when it does not know", ylim=(-3, 3))
    axis.legend(fontsize=7, loc="lower right")
    save(figure, out, "mc_dropout.png")
    return results


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
