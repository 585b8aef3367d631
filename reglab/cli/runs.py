"""List the studies kept in a store."""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from reglab.cli.options import require_store
from reglab.render import console
from reglab.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="reglab.sqlite", help="(default: reglab.sqlite)")


def run(args: argparse.Namespace) -> int:
    require_store(args.store)
    with Store(args.store) as store:
        table = Table(title=f"studies in {args.store}")
        for column in ("name", "kind", "data", "status", "trials", "winner", "created"):
            table.add_column(column)
        for study in store.studies():
            summary = study.summary or {}
            table.add_row(
                study.name,
                study.settings.get("kind", "compare"),
                str(study.settings.get("data", "")),
                study.status,
                str(len(store.trials(study.id))),
                str(summary.get("winner") or ""),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(study.created)),
            )
    console().print(table)
    return 0
