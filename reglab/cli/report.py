"""Write a stored study as one self-contained HTML page (figures inline; no scripts, no network).

The page shows the comparison with 95% intervals, validation curves, learning curves, weight histograms
(or a regularization path) and the settings with the command that reproduces them. It reads the store
only. Example: reglab report compare-digits-1 --store reglab.sqlite --png figures/
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="name of a study in the store (see reglab runs)")
    parser.add_argument(
        "--store", default="reglab.sqlite", help="SQLite file that holds the study (default: reglab.sqlite)"
    )
    parser.add_argument("--out", help="HTML file to write (default: <store stem>-<study>.html beside the store)")
    parser.add_argument("--png", metavar="DIR", help="also write each figure as a PNG file into DIR")


def run(args: argparse.Namespace) -> int:
    from reglab.report import write_report

    print(write_report(args.store, args.study, args.out, args.png))
    return 0
