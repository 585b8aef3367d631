"""Tune one method: its validation curve over a grid, the chosen value per seed, and the test score.

Example: reglab tune l2 --data breast-cancer --grid l2=1e-5,1e-4,1e-3,1e-2,1e-1
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from reglab.cli.compare import run_and_print
from reglab.cli.options import add_study_arguments, settings_from_args

if TYPE_CHECKING:
    from reglab.study.summary import MethodSummary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "method", help="one method spec with at least one bare (tuned) name, e.g. l2 or dropout+maxnorm=3"
    )
    add_study_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from reglab.methods import Regularization

    if not Regularization.parse(args.method).tuned:
        raise ValueError(
            f"nothing to tune in {args.method!r}: name a method without a value, e.g. l2 or dropout+maxnorm=3"
        )
    settings = settings_from_args(args, methods=(args.method,))
    return run_and_print(args, settings, "tune", details=curve_tables)


def curve_tables(console: Console, method: MethodSummary) -> None:
    """One validation-curve table: mean CV loss ± standard error per grid value and seed; ◆ minimum, ✓ chosen."""
    if not method.curves:
        return
    table = Table(title=f"validation curve of {method.method} (mean validation loss ± s.e.; ◆ minimum, ✓ 1-SE choice)")
    table.add_column("value", justify="right")
    for curve in method.curves:
        table.add_column(f"seed {curve['seed']}", justify="right")
    for i, label in enumerate(method.curves[0]["labels"]):
        cells = []
        for curve in method.curves:
            mean, se = curve["mean"][i], curve["se"][i]
            mark = (" ◆" if i == curve["best"] else "") + (" ✓" if i == curve["one_se"] else "")
            cells.append(f"{mean:.4f} ± {se:.4f}{mark}" if math.isfinite(mean) else "diverged")
        table.add_row(label, *cells)
    console.print(table)
