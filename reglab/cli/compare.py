"""Compare regularization methods: tune each by cross-validation, test on held-out data over several seeds.

With no data: the demo study (the digits with 85% held out, none, l1, l2, dropout, early
stopping, l2+dropout). Example: reglab compare --data wine --methods none,l2,elasticnet,dropout+maxnorm=3 --seeds 5
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from reglab.cli.execution import executor
from reglab.cli.options import add_study_arguments, default, settings_from_args, study_name
from reglab.render import comparison_table, console, json_safe, progress_bar, winner_line
from reglab.store import Store

if TYPE_CHECKING:
    from reglab.study import StudySettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--methods",
        default=argparse.SUPPRESS,
        help=f"comma-separated specs; bare names are tuned, name=value is fixed (default: {default('methods')})",
    )
    add_study_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    return run_and_print(args, settings, "compare")


def run_and_print(
    args: argparse.Namespace, settings: StudySettings, command: str, details: Callable | None = None
) -> int:
    """Run the study behind a progress bar; print the table (or JSON), and ``details(out, method)`` per
    method when given. Returns the exit status."""
    from reglab.api import run
    from reglab.report import write_report

    with Store(args.store) as store:
        name = study_name(store, args, settings, command)
        with executor(args) as execute, progress_bar(name, disable=args.json) as update:
            study = run(
                settings,
                store=store,
                name=name,
                resume=args.resume,
                progress=lambda done, total: update(done, total),
                execute=execute,
                kind=command,
            )
    summary, seconds = study.summary, study.seconds
    report = None if args.no_report else write_report(args.store, name)
    if args.json:
        print(
            json.dumps(
                json_safe(
                    {
                        "study": name,
                        "store": args.store,
                        "data": settings.data,
                        "seconds": seconds,
                        "report": str(report) if report else None,
                        "notes": study.notes,
                        **summary.to_dict(),
                    }
                ),
                indent=2,
            )
        )
    else:
        out = console()
        for method in summary.methods if details else ():
            details(out, method)
        out.print(comparison_table(summary, study.title))
        out.print(winner_line(summary), highlight=False)
        for line in study.notes:
            out.print(line, style="dim", highlight=False)
        out.print(f"{seconds:.1f} s · stored in {args.store} as {name!r}", style="dim", highlight=False)
        if report:
            out.print(f"report: {report}", highlight=False)
    return 0
