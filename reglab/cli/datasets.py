"""List the built-in datasets (no download needed), and how to use your own."""

from __future__ import annotations

import argparse

from rich.table import Table

from reglab.render import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from reglab.data.builtin import BUILTIN

    table = Table(title="built-in datasets")
    table.add_column("name")
    table.add_column("description")
    for name, (_, description) in BUILTIN.items():
        table.add_row(name, description)
    out = console()
    out.print(table)
    out.print(
        "Your own: --data FILE.csv|FILE.parquet --target COLUMN [--impute], --data FOLDER with MNIST-style IDX files, "
        "or --data FILE.py:NAME."
    )
    return 0
