"""The library's errors name its arguments; the command line names its flags in their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from reglab.cli import in_flags, main
from reglab.report import write_report
from reglab.store import Store, StoreError

FLAGS = {"--store", "--name", "--resume", "--device", "--target", "--methods", "--png"}


def test_argument_spellings_become_flags() -> None:
    cases = {
        "pass resume=True or another name=NAME": "pass --resume or another --name NAME",
        'use device="cpu" or device="auto"': "use --device cpu or --device auto",
        'e.g. methods=["none", "l2", "dropout"]': "e.g. --methods none,l2,dropout",
        "pass target=NAME for small.csv": "pass --target NAME for small.csv",
        "it is a file; give png_dir= a folder": "it is a file; give --png a folder",
    }
    for library, shell in cases.items():
        assert in_flags(library, FLAGS) == shell
    unchanged = "Received: target='y', impute=True without a flag, l2= has no value, name=value"
    assert in_flags(unchanged, FLAGS - {"--impute"}) == unchanged


def test_the_library_speaks_of_arguments_and_the_command_of_flags(tmp_path: Path, capsys) -> None:
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        store.start_study("s", {}, resume=False)
        with pytest.raises(StoreError) as raised:
            store.start_study("s", {}, resume=False)
    assert "pass resume=True to continue it or choose another name=NAME" in str(raised.value)

    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database")
    with pytest.raises(StoreError, match="choose another store=PATH"):
        Store(notes)
    assert main(["show", "s", "--store", str(notes)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "choose another --store PATH" in error and "store=" not in error

    with pytest.raises(ValueError, match="give png_dir= a folder"):
        write_report(path, "s", png_dir=notes)
    assert main(["report", "s", "--store", str(path), "--png", str(notes)]) == 2
    error = capsys.readouterr().err
    assert "it is a file; give --png a folder" in error and "png_dir" not in error
