"""Decoupled decay decouples: test accuracy over learning rate × weight decay, Adam + L2 against AdamW.

In the spirit of Loshchilov & Hutter (2019, Fig. 2), on the default study's problem (about 270 digits
to train on, an MLP 64-H-10). Adam + L2 adds λw to the gradient before Adam's scaling, so a weight's
shrinkage per step, η λw/(√v̂ + ε), depends on its gradient history; AdamW shrinks every weight by the
same factor, w ← w − ηλw, apart from the adaptive step (``torch.optim.AdamW(weight_decay=λ)``). In
reglab: ``Term(L2(λ))`` under Adam (R(w) = (λ/2) Σ w², gradient λw, as ``torch.optim.Adam(weight_decay=λ)``)
and ``Regularizers(decay=λ)``. Weights are decayed, biases are not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared import arguments, digits_budget, plt, save

from reglab import L2, FitConfig, Regularizers, Term, fit, mlp

KINDS = ("Adam + L2", "AdamW")


def train(
    kind: str, lr: float, decay: float, data: tuple, hidden: int, epochs: int, batch_size: int | None = 64
) -> torch.nn.Sequential:
    """One cell: the model trained with coupled L2 (loss term) or decoupled decay of strength ``decay``."""
    torch.manual_seed(0)
    model = mlp(64, 10, hidden=(hidden,))
    regularizers = Regularizers(penalties=[Term(L2(decay))]) if kind == "Adam + L2" else Regularizers(decay=decay)
    config = FitConfig(optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, seed=0)
    fit(model, data, config=config, regularizers=regularizers)
    return model


def accuracy(model: torch.nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model.eval()(torch.from_numpy(X)).argmax(dim=1).numpy() == y).mean())


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    hidden, epochs = (32, 10) if quick else (256, 100)
    rates = (1e-3, 1e-2) if quick else (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    decays = (0.0, 1.0) if quick else (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    train_data, (X_test, y_test) = digits_budget()
    grids = {
        kind: np.array(
            [
                [accuracy(train(kind, lr, decay, train_data, hidden, epochs), X_test, y_test) for decay in decays]
                for lr in rates
            ]
        )
        for kind in KINDS
    }
    print(f"digits, {len(train_data[1])} training rows, MLP 64-{hidden}-10, {epochs} epochs: test accuracy")
    for kind, grid in grids.items():
        print(f"{kind}: rows lr, columns λ = {', '.join(f'{d:g}' for d in decays)}")
        for lr, row in zip(rates, grid):
            print(f"  lr {lr:<7g} " + " ".join(f"{a:.3f}" for a in row) + f"   best λ {decays[int(row.argmax())]:g}")
        i, j = np.unravel_index(grid.argmax(), grid.shape)
        print(f"  best: {grid[i, j]:.3f} at lr {rates[i]:g}, λ {decays[j]:g}")

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    low, high = min(g.min() for g in grids.values()), max(g.max() for g in grids.values())
    for axis, (kind, grid) in zip(axes, grids.items()):
        image = axis.imshow(grid, origin="lower", vmin=low, vmax=high, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            axis.text(
                j,
                i,
                f"{value:.3f}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if value < (low + high) / 2 else "k",
            )
        axis.set_xticks(range(len(decays)), [f"{d:g}" for d in decays])
        axis.set_yticks(range(len(rates)), [f"{r:g}" for r in rates])
        axis.set(xlabel="weight decay λ", title=kind)
    axes[0].set_ylabel("learning rate")
    figure.colorbar(image, ax=axes, label="test accuracy")
    save(figure, out, "decoupled_decay.png")
    return {"rates": rates, "decays": decays, "grids": grids}


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
