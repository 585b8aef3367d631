"""Where a study's trials run: in this process (one after another, or stacked), on a Dask cluster that reglab
starts, or on an existing one.

Precedence: flag, then the ``REGLAB_SCHEDULER`` environment variable, then the study file's ``workers`` /
``scheduler`` keys, then in-process. None of these change results, so they are not study settings: a
study may be resumed on another executor.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reglab.study.runner import Execute

EXECUTION_KEYS = ("workers", "scheduler")
SCHEDULER_VARIABLE = "REGLAB_SCHEDULER"


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    from reglab.engine import STRATEGIES

    parser.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="in-process: trials one after another, or sharing an architecture as one stacked model "
        "(batched); auto picks batched where at least two trials can stack (default: auto)",
    )
    group = parser.add_argument_group("execution").add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, help="start a local Dask cluster of N worker processes")
    group.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=f"run on an existing Dask cluster (also ${SCHEDULER_VARIABLE} or the study file)",
    )


def execution_values(args: argparse.Namespace) -> dict:
    """``workers`` and ``scheduler`` by precedence: flag, environment, study file."""
    from reglab.study.settings import StudySettings

    if args.workers is not None or args.scheduler:
        return {"workers": args.workers, "scheduler": args.scheduler}
    if os.environ.get(SCHEDULER_VARIABLE):
        return {"workers": None, "scheduler": os.environ[SCHEDULER_VARIABLE]}
    file = StudySettings.from_toml(args.study, keep=EXECUTION_KEYS) if getattr(args, "study", None) else {}
    return {key: file.get(key) for key in EXECUTION_KEYS}


@contextmanager
def executor(args: argparse.Namespace) -> Iterator[Execute]:
    """The ``execute`` for ``run_study``; a Dask cluster it starts is closed on exit."""
    values = execution_values(args)
    if values["workers"] is None and not values["scheduler"]:
        from reglab.engine import run_jobs

        with nullcontext(partial(run_jobs, strategy=args.strategy)) as execute:
            yield execute
        return
    from reglab.engine.distributed import DaskExecutor  # imports distributed only when asked for

    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
    with DaskExecutor(workers=values["workers"], scheduler=values["scheduler"]) as dask_executor:
        if dask_executor.dashboard_link:
            print(f"Dask dashboard: {dask_executor.dashboard_link}", file=sys.stderr)
        yield dask_executor
