"""Show a stored study's table again (finished or not), from the store alone."""

from __future__ import annotations

import argparse
import json
import shlex

from rich.console import Console

from reglab.cli.options import require_store
from reglab.cli.path import path_table
from reglab.render import comparison_table, console, json_safe, study_title, winner_line
from reglab.store import Store, StudyRecord, TrialRecord


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study name (see reglab runs)")
    parser.add_argument("--store", default="reglab.sqlite", help="(default: reglab.sqlite)")
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args: argparse.Namespace) -> int:
    require_store(args.store)
    with Store(args.store) as store:
        study = store.study(args.study)
        trials = store.trials(study.id)
    out = console()
    if study.settings.get("kind") == "path":
        if args.json:
            print(json.dumps(json_safe({"study": study.name, **(study.summary or {})})))
        elif study.summary:
            out.print(path_table(study.summary, f"{study.name} · {study.settings['penalty']} path"))
        return 0
    return show_comparison(args, study, trials, out)


def show_comparison(args: argparse.Namespace, study: StudyRecord, trials: list[TrialRecord], out: Console) -> int:
    """The table of a compare or tune study, summarized from its trials (PyTorch: the settings' model and methods)."""
    from reglab.report.data import reproduce_command
    from reglab.study import StudySettings, summarize_study
    from reglab.study.runner import STUDY_KEYS

    kind = study.settings.get("kind", "compare")
    stored = {key: value for key, value in study.settings.items() if key not in STUDY_KEYS}
    settings = StudySettings.from_dict(stored)
    task = trials[0].config["fit"]["task"] if trials else "classification"
    summary = summarize_study(settings, trials, task)
    if args.json:
        print(json.dumps(json_safe({"study": study.name, "status": study.status, **summary.to_dict()}), indent=2))
        return 0
    out.print(comparison_table(summary, study_title(study.name, study.settings, study.status, f"{len(trials)} trials")))
    if study.status == "finished":
        out.print(winner_line(summary), highlight=False)
    else:
        command = " ".join(
            (
                *reproduce_command(kind, study.settings),
                "--resume",
                "--name",
                shlex.quote(study.name),
                "--store",
                shlex.quote(args.store),
            )
        )
        out.print(f"Not finished: {len(trials)} trials stored. `{command}` finishes it.", highlight=False)
    return 0
