"""The defaults the study flags' help names are StudySettings' own."""

from __future__ import annotations

import re

import pytest

from reglab.cli import build_parser
from reglab.study.settings import StudySettings

FIELDS = {
    "--hidden": lambda s: ",".join(map(str, s.model.hidden)),
    "--epochs": "epochs",
    "--seeds": "seeds",
    "--folds": "folds",
    "--test-size": "test_size",
    "--lr": "lr",
    "--batch-size": "batch_size",
    "--grid-size": "grid_size",
    "--optimizer": "optimizer",
    "--rule": "rule",
    "--test-split": "test_split",
    "--history": "history",
}


@pytest.mark.parametrize("flag", FIELDS)
def test_the_help_of_a_study_flag_names_the_settings_default(flag):
    compare = build_parser().commands["compare"]
    assert flag in compare.flags  # the command adds its arguments when asked
    action = next(a for a in compare._actions if flag in a.option_strings)
    shown = re.search(r"\(default: ([^)]+)\)", action.help).group(1)
    field = FIELDS[flag]
    default = field(StudySettings(data="any")) if callable(field) else getattr(StudySettings(data="any"), field)
    assert shown == str(default) or float(shown) == default


@pytest.mark.parametrize("command", ["compare", "tune", "train"])
def test_a_command_s_help_formats(command):
    """argparse %-formats each help: the demo's "85%" held out reads as such."""
    text = build_parser().commands[command].format_help()
    assert "--history {running,exact}" in text
    assert command != "compare" or "with 85% held out" in " ".join(text.split())
