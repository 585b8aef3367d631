"""Regularization path of a linear model: coefficients against λ, with CV, AIC/BIC or LOO choices.

Example: reglab path --data diabetes --penalty l1
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from rich.table import Table

from reglab.cli.options import add_store_arguments
from reglab.render import console, json_safe
from reglab.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reglab.study.path import PENALTIES

    parser.add_argument(
        "--data", default="diabetes", help="a regression set: built-in name or table (default: diabetes)"
    )
    parser.add_argument("--target", help="target column of a table")
    parser.add_argument("--impute", action="store_true", help="impute missing values instead of failing")
    parser.add_argument("--penalty", default="l1", choices=PENALTIES, help="(default: l1)")
    parser.add_argument("--l1-ratio", type=float, default=0.5, help="elastic net's ρ (default: 0.5)")
    parser.add_argument("--n-strengths", type=int, default=30, help="grid points (default: 30)")
    parser.add_argument("--folds", type=int, default=5, help="k of k-fold CV along the path (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args: argparse.Namespace) -> int:
    from reglab.data import load
    from reglab.study.path import path_study

    dataset = load(args.data, target=args.target, impute=args.impute)
    summary = path_study(dataset, args.penalty, args.l1_ratio, args.n_strengths, args.folds, args.seed)
    settings = {
        "kind": "path",
        "data": args.data,
        "target": args.target,
        "penalty": args.penalty,
        "l1_ratio": args.l1_ratio,
        "n_strengths": args.n_strengths,
        "folds": args.folds,
        "seed": args.seed,
    }
    with Store(args.store) as store:
        from reglab.study.runner import fresh_name

        name = args.name or fresh_name(store, f"path-{args.penalty}-{dataset.name}")
        study = store.start_study(name, settings, resume=args.resume)
        store.finish_study(study.id, summary)
    if args.json:
        print(json.dumps(json_safe({"study": name, **summary})))
        return 0
    out = console()
    out.print(path_table(summary, f"{name} · {args.penalty} path on {dataset.name}"))
    choices = ", ".join(f"{k} λ={v:.4g}" for k, v in summary["choices"].items())
    out.print(f"Choices: {choices}. Stored in {args.store}.", highlight=False)
    return 0


def path_table(summary: dict, title: str, rows: int = 12) -> Table:
    """Every few λ of the path: nonzeros, norm, CV and test MSE; the chosen λ marked. A choice off the grid
    (AIC/BIC pick from the lasso's exact path) marks the grid row nearest on the log scale, with its own λ."""
    strengths = np.asarray(summary["strengths"])
    chosen: dict[int, list[str]] = {}
    for criterion, value in summary["choices"].items():
        i = int(np.argmin(np.abs(np.log(strengths) - np.log(max(value, strengths.min())))))
        on_grid = np.isclose(value, strengths[i], rtol=1e-9, atol=0.0)
        chosen.setdefault(i, []).append(criterion if on_grid else f"{criterion} (λ={value:.4g})")
    shown = sorted(set(np.linspace(0, len(strengths) - 1, rows).round().astype(int)) | set(chosen))
    table = Table(title=title)
    for column in ("λ", "nonzero", "‖w‖", "CV MSE ± s.e.", "test MSE", "chosen by"):
        table.add_column(column, justify="right")
    for i in shown:
        table.add_row(
            f"{strengths[i]:.4g}",
            str(summary["nonzeros"][i]),
            f"{summary['norms'][i]:.4g}",
            f"{summary['cv_mean'][i]:.4g} ± {summary['cv_se'][i]:.3g}",
            f"{summary['test_mse'][i]:.4g}",
            ", ".join(chosen.get(i, [])),
        )
    return table
