"""Train one model with one regularization and summarize what it did.

Example: reglab train --data digits --reg l2=1e-3+dropout=0.5 --epochs 30
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from rich.table import Table

from reglab.cli.options import add_data_arguments, add_model_arguments, add_study_file_argument, settings_from_args
from reglab.render import console, json_safe, progress_bar

if TYPE_CHECKING:
    from reglab.trial import TrialResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    add_model_arguments(parser)
    add_study_file_argument(parser)
    parser.add_argument(
        "--reg",
        default="l2=1e-3+dropout=0.3",
        help="regularization spec, e.g. l1=1e-4+maxnorm=3 (default: l2=1e-3+dropout=0.3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument(
        "--mc-passes",
        type=int,
        default=None,
        metavar="T",
        help="also predict the test set by Monte-Carlo dropout with T stochastic passes",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from reglab.data import as_dataset
    from reglab.regularizers.terms import summarize
    from reglab.study.plan import describe_rows, train_test, trial_config
    from reglab.trial import run_trial

    if args.mc_passes is not None and args.mc_passes < 2:
        raise ValueError(f"--mc-passes needs at least 2 passes, got {args.mc_passes}")
    settings = settings_from_args(args, methods=(args.reg,), seeds=1)
    dataset = as_dataset(settings.data, target=settings.target, impute=settings.impute, test_data=settings.test_data)
    config = trial_config(settings, args.reg, {}, dataset.task, args.seed)
    reg = config.regularization
    if args.mc_passes is not None and not (reg.model_options()["dropout"] or reg.spatial_dropout):
        raise ValueError(
            f"--mc-passes needs dropout in the model, and {reg.label} has none: its passes would all "
            "agree; add one, e.g. --reg dropout=0.3"
        )
    train_idx, test_idx = train_test(dataset, settings, args.seed)  # the data's own test rows, when given
    with progress_bar("train", config.fit.epochs, disable=args.json) as advance:

        def on_epoch(record: dict) -> None:
            advance(
                record["epoch"] + 1,
                status=f"loss {record['train_loss']:.4f}  test {record.get('val_loss', float('nan')):.4f}",
            )

        result, fitted = run_trial(dataset, train_idx, test_idx, config, on_epoch=on_epoch)
    mc = (
        mc_summary(fitted.model, dataset, train_idx, test_idx, config, args.mc_passes)
        if args.mc_passes is not None
        else None
    )
    if args.json:
        print(
            json.dumps(
                json_safe({**as_json(dataset.name, reg.label, result), **({"mc_dropout": mc} if mc else {})}), indent=2
            )
        )
    else:
        out = console()
        rows = describe_rows(dataset, settings, train_idx, test_idx)
        out.print(summary_table(dataset.name, rows, reg.label, result, dataset.task))
        out.print(summarize(fitted.model, reg.loop_regularizers(fitted.model).penalties), highlight=False)
        if mc:
            out.print(
                "MC dropout ({passes} passes): test {metric_name} {metric:.4f}, "
                "mean predictive std {mean_std:.4f}".format(**mc)
                + (f", mean entropy {mc['mean_entropy']:.4f} nats" if "mean_entropy" in mc else "")
                + (f", NLL {mc['nll']:.4f}, ECE {mc['ece']:.4f}" if "nll" in mc else ""),
                highlight=False,
            )
    return 0


def mc_summary(model, dataset, train_idx, test_idx, config, passes: int) -> dict:
    """Monte-Carlo dropout on the test rows: the metric of the predictive mean, its spread, and for classes its
    entropy, NLL and ECE."""
    from reglab.devices import resolve_device
    from reglab.regularizers.mc_dropout import mc_predict
    from reglab.rows import as_tensors
    from reglab.scoring import metric
    from reglab.trial import prepare

    _, (X_test, y_test) = prepare(dataset, train_idx, test_idx)
    device, dtype = resolve_device(config.fit.device), next(model.parameters()).dtype
    X, y = as_tensors(X_test, y_test, dataset.task, device, dtype)
    prediction = mc_predict(model, X, passes=passes, task=dataset.task, generator_seed=config.fit.seed)
    summary = {
        "passes": passes,
        "metric_name": "accuracy" if dataset.task == "classification" else "R²",
        "metric": metric(prediction.mean if dataset.task == "regression" else prediction.mean.log(), y, dataset.task),
        "mean_std": float(prediction.std.mean()),
    }
    if prediction.entropy is not None:
        summary["mean_entropy"] = float(prediction.entropy.mean())
        calibration = prediction.calibration(y)
        summary["nll"], summary["ece"] = calibration.nll, calibration.ece
    return summary


def as_json(data: str, label: str, result: TrialResult) -> dict:
    fields = (
        "outcome",
        "train_loss",
        "train_metric",
        "eval_loss",
        "eval_metric",
        "zeros",
        "weight_norm",
        "units_pruned",
        "epochs",
        "seconds",
    )
    calibration = result.eval_calibration or {}
    return {
        "data": data,
        "regularization": label,
        **{f: getattr(result, f) for f in fields},
        "gap": result.gap,
        **({"eval_nll": calibration["nll"], "eval_ece": calibration["ece"]} if calibration else {}),
    }


def summary_table(data: str, rows: str, label: str, result: TrialResult, task: str) -> Table:
    name = "accuracy" if task == "classification" else "R²"
    table = Table(
        title=f"{data} · {rows} · {label} · {result.outcome} after {result.epochs} epochs ({result.seconds:.1f} s)"
    )
    for column in ("", "loss", name):
        table.add_column(column, justify="right")
    table.add_row("train", f"{result.train_loss:.4f}", f"{result.train_metric:.4f}")
    table.add_row("test", f"{result.eval_loss:.4f}", f"{result.eval_metric:.4f}")
    table.add_row("gap", "", f"{result.gap:+.4f}")
    if result.eval_calibration:
        table.add_row("test NLL", "", f"{result.eval_calibration['nll']:.4f}")
        table.add_row("test ECE", "", f"{result.eval_calibration['ece']:.4f}")
    table.add_row("exact zeros", "", f"{result.zeros:.1%}")
    table.add_row("weight norm", "", f"{result.weight_norm:.3f}")
    table.add_row("units pruned", "", f"{result.units_pruned}")
    return table
