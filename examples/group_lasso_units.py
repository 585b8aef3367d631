"""Group lasso prunes units: test accuracy against hidden units kept along a group-lasso path.

On the default study's problem (about 270 digits to train on, an MLP 64-H-10), the group lasso
R(W) = λ Σⱼ √64 ‖W_j‖₂ over the hidden units' incoming weight rows W_j, applied as a proximal step
(block soft-thresholding W_j ← W_j · max(0, 1 − tλ√64/‖W_j‖₂) in Adam's metric), sets whole rows to
zero. A unit whose row is zero outputs the constant relu(b_j) for every input, so it can be removed: its
contribution V[:, j]·relu(b_j) moves into the output bias. The check is a smaller network, rebuilt in
numpy from the kept units alone, that must reproduce the trained network's outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared import arguments, digits_budget, plt, save

from reglab import FitConfig, GroupLasso, Regularizers, Term, fit, mlp


def compact_logits(model: torch.nn.Sequential, X: np.ndarray) -> tuple[np.ndarray, int]:
    """Outputs of the network with its zero-row hidden units removed (numpy), and the number of units kept."""
    W, b = (t.detach().double().numpy() for t in (model[1].weight, model[1].bias))
    V, c = (t.detach().double().numpy() for t in (model[3].weight, model[3].bias))
    kept = np.any(W != 0, axis=1)
    bias = c + V[:, ~kept] @ np.maximum(b[~kept], 0.0)
    return np.maximum(X @ W[kept].T + b[kept], 0.0) @ V[:, kept].T + bias, int(kept.sum())


def train(strength: float, data: tuple, hidden: int, epochs: int) -> torch.nn.Sequential:
    torch.manual_seed(0)
    model = mlp(64, 10, hidden=(hidden,))
    term = Term(GroupLasso(strength), params="1.weight", mode="proximal")  # the hidden layer, not the classes
    fit(model, data, config=FitConfig(epochs=epochs, lr=1e-3, seed=0), regularizers=Regularizers(penalties=[term]))
    return model


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    hidden, epochs = (64, 30) if quick else (256, 100)
    strengths = (0.0, 1e-3, 1e-2) if quick else (0.0, 1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2)
    train_data, (X_test, y_test) = digits_budget()
    print(f"digits, {len(train_data[1])} training rows, MLP 64-{hidden}-10, Adam, {epochs} epochs")
    print(f"{'λ':>8} {'units kept':>10} {'test accuracy':>14} {'compact net agrees':>19}")
    rows = []
    for strength in strengths:
        model = train(strength, train_data, hidden, epochs)
        with torch.no_grad():
            logits = model.eval()(torch.from_numpy(X_test)).double().numpy()
        compact, kept = compact_logits(model, X_test.astype(np.float64))
        accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
        error = float(np.abs(compact - logits).max())
        rows.append(
            {
                "strength": strength,
                "kept": kept,
                "accuracy": accuracy,
                "compact_accuracy": float(np.mean(compact.argmax(axis=1) == y_test)),
                "max_error": error,
            }
        )
        print(f"{strength:8.0e} {kept:10d} {accuracy:14.4f} {'yes' if error < 1e-4 else 'no':>13} ({error:.1e})")

    figure, axis = plt.subplots(figsize=(6, 3.8))
    axis.plot([r["kept"] for r in rows], [r["accuracy"] for r in rows], "o-")
    for r in rows:
        axis.annotate(
            f"λ={r['strength']:.0e}",
            (r["kept"], r["accuracy"]),
            fontsize=7,
            xytext=(4, -10),
            textcoords="offset points",
        )
    axis.set(xlabel="hidden units kept", ylabel="test accuracy", title=f"Group lasso prunes units (of {hidden})")
    save(figure, out, "group_lasso_units.png")
    return {"hidden": hidden, "rows": rows}


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
