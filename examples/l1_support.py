"""L1 selects, L2 shrinks: support recovery on the built-in ``sparse`` set (10 true nonzeros among 200).

On one seed's training part (75 rows, features standardized), reglab's lasso path is cross-validated
(5 folds): the λ with the smallest mean squared error ("CV") and the strongest λ within one standard error
of it ("1-SE"). At each, a linear model trained by reglab with L1 as a proximal step (full-batch proximal
gradient: w ← S(w − η∇MSE, ηλ), soft-thresholding S, hence exact zeros) gives a support Ŝ = {j : wⱼ ≠ 0},
scored against the truth S: precision |Ŝ ∩ S|/|Ŝ|, recall |Ŝ ∩ S|/|S|.

The reference is scikit-learn's ``LassoCV`` on the same rows, folds and grid. Its objective
1/(2n)‖y − Xw‖² + a‖w‖₁ is half of reglab's (1/n)‖y − Xw‖² + λ‖w‖₁ at λ = 2a, so reglab's CV choice must
be 2·``alpha_``; the 1-SE choice follows from its ``mse_path_``. L2 (ridge at its own CV choice, trained
the same way as a loss term) shrinks every coefficient and sets none to zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from shared import arguments, plt, save
from sklearn.linear_model import LassoCV

from reglab import L1, L2, FitConfig, Regularizers, Term, fit, linear_model, load
from reglab.data.splits import Standardizer, holdout_split, kfold_splits
from reglab.study.path import path_study

FOLDS, SEED, TEST_SIZE = 5, 0, 0.25


def training_part(data) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``path_study`` fits on: its hold-out split's training part, standardized with its statistics."""
    train, _ = holdout_split(data.y, TEST_SIZE, SEED, stratify=False)
    return Standardizer.fit(data.X[train]).transform(data.X[train]), data.y[train]


def proximal_fit(X: np.ndarray, y: np.ndarray, term: Term, epochs: int) -> np.ndarray:
    """reglab's full-batch SGD on a linear model with ``term``; step 1/L, L = 2σ_max([X 1])²/n the gradient's
    Lipschitz constant (the proximal gradient method's safe step)."""
    design = np.c_[X, np.ones(len(y))]
    lr = len(y) / (2 * np.linalg.norm(design, 2) ** 2)
    torch.manual_seed(SEED)
    model = linear_model(X.shape[1], 1)
    config = FitConfig(task="regression", optimizer="sgd", lr=lr, epochs=epochs, batch_size=None, seed=SEED)
    fit(model, (X.astype(np.float32), y.astype(np.float32)), config=config, regularizers=Regularizers(penalties=[term]))
    return model[-1].weight.detach().double().numpy()[0]


def support_scores(coef: np.ndarray, truth: np.ndarray) -> tuple[float, float, int]:
    """(precision, recall, size) of the support of ``coef`` against that of ``truth``."""
    chosen, true = coef != 0, truth != 0
    hits = int((chosen & true).sum())
    return hits / max(int(chosen.sum()), 1), hits / int(true.sum()), int(chosen.sum())


def lasso_cv_reference(X: np.ndarray, y: np.ndarray, strengths: np.ndarray) -> dict:
    """scikit-learn's choices on reglab's folds and grid, in reglab's λ: CV minimum and the 1-SE rule."""
    folds = kfold_splits(y, FOLDS, SEED, stratify=False)
    reference = LassoCV(alphas=strengths / 2, cv=folds, tol=1e-6, max_iter=100_000).fit(X, y)
    mse = reference.mse_path_  # (alphas, folds), alphas from largest to smallest
    mean, se = mse.mean(axis=1), mse.std(axis=1, ddof=1) / np.sqrt(FOLDS)
    best = int(np.argmin(mean))
    one_se = int(np.flatnonzero(mean <= mean[best] + se[best])[0])  # the largest alpha within one se
    return {"cv": 2 * reference.alpha_, "1se": 2 * reference.alphas_[one_se], "coef": reference.coef_}


def main(quick: bool = False, out: Path = Path("figures")) -> dict:
    data = load("sparse", seed=SEED)
    epochs = 500 if quick else 3000
    l1_path, l2_path = (
        path_study(data, penalty, folds=FOLDS, seed=SEED, test_size=TEST_SIZE) for penalty in ("l1", "l2")
    )
    X, y = training_part(data)
    reference = lasso_cv_reference(X, y, np.array(l1_path["strengths"]))
    choices = {"cv": l1_path["choices"]["cv_min"], "1se": l1_path["choices"]["cv_1se"]}
    print(f"sparse: {len(y)} training rows, {X.shape[1]} features, {int((data.coef != 0).sum())} true nonzeros")
    print(f"{'choice':<8} {'reglab λ':>10} {'LassoCV 2α':>11} {'size':>5} {'precision':>10} {'recall':>7}")
    results = {}
    for name, strength in choices.items():
        coef = proximal_fit(X, y, Term(L1(strength), mode="proximal"), epochs)
        precision, recall, size = support_scores(coef, data.coef)
        results[name] = {
            "strength": strength,
            "reference": reference[name],
            "coef": coef,
            "precision": precision,
            "recall": recall,
            "size": size,
        }
        print(f"L1 {name:<5} {strength:10.4g} {reference[name]:11.4g} {size:5d} {precision:10.2f} {recall:7.2f}")
    precision, recall, size = support_scores(reference["coef"], data.coef)
    print(f"LassoCV  {'':>10} {reference['cv']:11.4g} {size:5d} {precision:10.2f} {recall:7.2f}")
    ridge_strength = l2_path["choices"]["cv_1se"]
    ridge = proximal_fit(X, y, Term(L2(ridge_strength)), epochs)
    ols_norm = np.linalg.norm(np.linalg.lstsq(X - X.mean(axis=0), y - y.mean(), rcond=None)[0])
    print(
        f"L2 1-SE λ={ridge_strength:.4g}: exact zeros {int((ridge == 0).sum())} of {ridge.size}, "
        f"smallest |w| {np.abs(ridge).min():.2e}, ‖w‖ {np.linalg.norm(ridge):.2f} "
        f"(minimum-norm least squares: {ols_norm:.2f})"
    )
    results["l2"] = {"strength": ridge_strength, "coef": ridge, "zeros": int((ridge == 0).sum())}

    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    strengths, coefs = np.array(l1_path["strengths"]), np.array(l1_path["coefs"])
    true = data.coef != 0
    axes[0].semilogx(strengths, coefs[:, ~true], color="0.75", lw=0.7)
    axes[0].semilogx(strengths, coefs[:, true], color="C3", lw=1.2)
    for name, style in (("cv", "--"), ("1se", ":")):
        axes[0].axvline(choices[name], color="k", ls=style, label=f"{name} λ={choices[name]:.3g}")
    axes[0].set(xlabel="λ", ylabel="coefficient", title="Lasso path (red: true nonzeros)")
    axes[0].legend(fontsize=8)
    order = np.argsort(-np.abs(data.coef))
    axes[1].plot(data.coef[order], "k.", label="truth")
    axes[1].plot(results["1se"]["coef"][order], "C3x", label="L1 at 1-SE (proximal)")
    axes[1].plot(ridge[order], "C0+", label="L2 at 1-SE")
    axes[1].set(xlabel="feature (by |true coefficient|)", ylabel="coefficient", title="L1 selects, L2 shrinks")
    axes[1].legend(fontsize=8)
    save(figure, out, "l1_support.png")
    return results


if __name__ == "__main__":
    args = arguments(__doc__)
    main(args.quick, args.out)
