"""Mixup narrows the gap: train − test accuracy of an MLP trained with and without mixup.

On the default study's problem (about 270 digits to train on, the other 1528 to test), an MLP 64-256-10
trained with Adam, plainly and with mixup α ∈ {0.2, 0.4} (``Regularizers(mixing=Mixing(mixup=α))``: each
minibatch trains on x̃ = λx + (1 − λ)x' against λ·onehot(y) + (1 − λ)·onehot(y'), λ ~ Beta(α, α); Zhang et
al., ICLR 2018). The generalization gap is the accuracy on the training rows minus that on the test rows,
both in evaluation mode on the unmixed rows; each as its mean and 95% t-interval over seeds (initialization,
minibatch order and mixing draws; the split is fixed), with the paired difference from no mixup.

Measured (``.venv/bin/python examples/mixup_gap.py``, 10 seeds, MLP 64-256-10, 100 epochs):
    none           train 1.0000   test 0.9317 [0.9295, 0.9340]   gap 0.0683 [0.0660, 0.0705]
    mixup α = 0.2  train 1.0000   test 0.9356 [0.9338, 0.9374]   gap 0.0644 [0.0626, 0.0662]
    mixup α = 0.4  train 1.0000   test 0.9346 [0.9321, 0.9372]   gap 0.0654 [0.0628, 0.0679]

Paired: α = 0.2 − none, gap −0.0039 [−0.0061, −0.0017]; α = 0.4 − none, gap −0.0029 [−0.0047, −0.0010].
Every model fits all its training rows, so the gap narrows only as far as test accuracy rises: by
0.3–0.4 points of a 6.8-point gap, clear of 0 over 10 seeds but small. About 26 s on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared import arguments, digits_budget, plt, print_comparison, save

from reglab import FitConfig, Mixing, Regularizers, fit, mlp
from reglab.selection.stats import paired_comparison
from reglab.study.summary import interval

ALPHAS = (0.0, 0.2, 0.4)
SCORES = ("train", "test", "gap")


def train(alpha: float, seed: int, data: tuple, hidden: int, epochs: int) -> torch.nn.Module:
    """An MLP 64-``hidden``-10 trained with mixup ``alpha`` (0: none)."""
    torch.manual_seed(seed)
    model = mlp(64, 10, hidden=(hidden,))
    config = FitConfig(optimizer="adam", lr=1e-3, epochs=epochs, batch_size=32, seed=seed)
    fit(model, data, config=config, regularizers=Regularizers(mixing=Mixing(mixup=alpha) if alpha else None))
    return model


def label(alpha: float) -> str:
    return f"mixup α = {alpha:g}" if alpha else "none"


def predict(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Predicted classes, the model in evaluation mode."""
    with torch.no_grad():
        return model.eval()(torch.from_numpy(X)).argmax(dim=1).numpy()


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    hidden, epochs, seeds = (64, 15, 2) if quick else (256, 100, 10)
    (X_train, y_train), (X_test, y_test) = digits_budget()
    predictions = {a: [] for a in ALPHAS}  # per seed: (train predictions, test predictions)
    runs = {a: {s: [] for s in SCORES} for a in ALPHAS}
    for alpha in ALPHAS:
        for seed in range(seeds):
            model = train(alpha, seed, (X_train, y_train), hidden, epochs)
            on_train, on_test = predict(model, X_train), predict(model, X_test)
            predictions[alpha].append((on_train, on_test))
            accuracies = float((on_train == y_train).mean()), float((on_test == y_test).mean())
            for name, value in zip(SCORES, (*accuracies, accuracies[0] - accuracies[1])):
                runs[alpha][name].append(value)
    summary = {a: {s: interval(runs[a][s]) for s in SCORES} for a in ALPHAS}
    paired = {a: {s: paired_comparison(runs[a][s], runs[0.0][s]) for s in SCORES} for a in ALPHAS[1:]}

    print(
        f"digits, {len(y_train)} training rows, {len(y_test)} test rows, MLP 64-{hidden}-10, {epochs} epochs, "
        f"{seeds} seeds: accuracy in evaluation mode, mean [95% t-interval]"
    )
    print_comparison(summary, paired, label, digits=4)

    names = [label(a) for a in ALPHAS]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, shown, width in ((axes[0], SCORES[:2], 0.35), (axes[1], SCORES[2:], 0.6)):
        for i, score in enumerate(shown):
            v = [summary[a][score] for a in ALPHAS]
            errors = np.array([[x.mean - x.low for x in v], [x.high - x.mean for x in v]])
            place = np.arange(len(ALPHAS)) + (i - (len(shown) - 1) / 2) * width
            axis.bar(place, [x.mean for x in v], width=width, yerr=errors, capsize=4, label=score)
        axis.set_xticks(range(len(ALPHAS)), names)
    axes[0].set(ylabel="accuracy (evaluation mode)", title="train and test accuracy", ylim=(0.8, 1.0))
    axes[0].legend(fontsize=8)
    axes[1].set(ylabel="train − test accuracy", title="generalization gap (95% t-intervals over seeds)")
    save(figure, out, "mixup_gap.png")
    return {
        "alphas": ALPHAS,
        "runs": runs,
        "summary": summary,
        "paired": paired,
        "predictions": predictions,
        "labels": (y_train, y_test),
    }


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
