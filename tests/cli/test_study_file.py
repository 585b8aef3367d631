"""A TOML study file holds the same settings as the flags; a flag given beside it wins; bad keys or values
in it are one-line errors (the unknown-key case also runs as a real subprocess in test_bad_input).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from reglab.cli import main

SAME_AS_TINY = """\
# the settings of the flags in conftest.TINY
data = "wine"
methods = ["none", "l2"]
seeds = 2
folds = 2
grid_size = 2
epochs = 2
"""
SECTIONED = """\
[study]
data = "wine"
methods = "none,l2"   # a comma-separated string, as on the command line
seeds = 3
folds = 2
grid_size = 2
epochs = 5
lr = 0.01

[study.model]
kind = "mlp"
hidden = [16]
"""


def settings_of(path: Path, name: str) -> dict:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return json.loads(conn.execute("SELECT settings FROM studies WHERE name = ?", (name,)).fetchone()[0])


def test_a_study_file_gives_the_table_of_the_same_flags_and_flags_override_it(cli, tmp_path, finished, rl):
    (tmp_path / "same.toml").write_text(SAME_AS_TINY)
    (tmp_path / "sectioned.toml").write_text(SECTIONED)
    same, overridden = cli.many(
        ("compare", "--study", "same.toml", "--store", "f.sqlite", "--name", "f", "--json"),
        (
            "compare",
            "--study",
            "sectioned.toml",
            "--epochs",
            "2",
            "--seeds",
            "2",
            "--hidden",
            "8",
            "--store",
            "o.sqlite",
            "--name",
            "o",
            "--json",
        ),
    )
    assert same.returncode == 0, str(same)
    rl.assert_same(rl.table_of(same.json()), rl.table_of(finished.output))
    assert settings_of(tmp_path / "f.sqlite", "f") == settings_of(finished.store, finished.name)

    assert overridden.returncode == 0, str(overridden)
    settings = settings_of(tmp_path / "o.sqlite", "o")
    assert settings["epochs"] == 2 and settings["seeds"] == 2  # the flags
    assert (
        settings["lr"] == 0.01 and settings["methods"] == ["none", "l2"] and settings["model"]["kind"] == "mlp"
    )  # the file
    assert settings["model"]["hidden"] == [8]  # --hidden replaces the file's hidden sizes, keeps its kind
    assert [len(m["chosen"]) for m in overridden.json()["methods"]] == [2, 2]


@pytest.mark.parametrize(
    "text, says",
    [
        ('data = "wine"\ncolour = "blue"\n', ("unknown study settings", "'colour'")),
        ('data = "wine"\nmethods = 3\n', ("methods", "list of method specs")),
        ('data = "wine"\nmethods = ["none", 3]\n', ("methods", "list of method specs")),
        ('data = "wine"\nmodel = 3\n', ("model", "table")),
        ('data = "wine"\ngrids = {l2 = "abc"}\n', ("grids.l2", "list of numbers")),
        ('data = "wine"\ngrids = "l2=1e-3"\n', ("grids", "table")),
        ('data = "wine"\ngrids = {l2 = []}\n', ("grid of l2", "list of values")),
        ("data = 5\n", ("data", "dataset name")),
        ('data = "wine"\ntest_size = "0.2"\n', ("test_size", "(0, 1)")),
        ('data = "wine"\nimpute = "yes"\n', ("impute", "true or false")),
        ('data = "wine"\nseeds = 2.5\n', ("seeds", "integer")),
        ('data = "wine"\nepochs = \n', ("not valid TOML",)),
        ('data = "wine"\nbatch-size = 0\n', ("batch_size",)),  # a flag's spelling is a key too
        ('data = "wine"\nmodel = {hiden = [16]}\n', ("unknown model keys ['hiden']", "hidden")),
    ],
)
def test_bad_study_files_are_one_line_errors(tmp_path, monkeypatch, capfd, text, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(text)
    assert main(["compare", "--study", "bad.toml", "--store", "s.sqlite"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("reglab: error: "), err
    for word in says:
        assert word in err, err
    assert not (tmp_path / "s.sqlite").exists()
