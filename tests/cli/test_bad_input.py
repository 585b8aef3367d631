"""Bad input through the real command line: exit status 2 and one line on stderr that says what is wrong
and what to do, never a traceback; ``--debug`` (before or after the subcommand) shows the traceback
instead. A failed command loses and corrupts nothing: stores it was pointed at keep their bytes or trials.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from reglab.cli import main

TINY = ["--data", "wine", "--methods", "none,l2", "--seeds", "2", "--folds", "2", "--grid-size", "2", "--epochs", "2"]
QUICK = ["--seeds", "2", "--folds", "2", "--grid-size", "2", "--epochs", "2", "--methods", "none,l2"]


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: tuple[str, ...]  # substrings the error line must hold: what is wrong and what to do
    exception: type[BaseException] = ValueError  # what --debug lets through (SystemExit: argparse's own errors)


def case(*args: str, says: tuple[str, ...], exception: type[BaseException] = ValueError) -> Case:
    return Case(tuple(args), says, exception)


OWN = str(Path(__file__).parents[1] / "own_models.py")

# Every compare below points at pre.sqlite, a copy of a finished study's store: none may change it.
STORE = ("--store", "pre.sqlite")
CASES = {
    "unknown-dataset": case(
        "compare", "--data", "nosuch", *QUICK, *STORE, says=("'nosuch'", "use one of", "wine", ".csv")
    ),
    "unknown-method": case(
        "compare", "--data", "wine", "--methods", "none,l3", *STORE, says=("'l3'", "use one of", "l2")
    ),
    "unknown-option": case(
        "compare", "--data", "wine", "--bogus", *STORE, says=("--bogus", "reglab compare --help"), exception=SystemExit
    ),
    "bad-int-option": case(
        "compare", "--folds", "two", *STORE, says=("--folds", "'two'", "reglab compare --help"), exception=SystemExit
    ),
    "negative-strength": case(
        "compare", "--data", "wine", "--methods", "none,l2=-1", *STORE, says=("l2", "non-negative", "-1")
    ),
    "nan-strength": case("compare", "--data", "wine", "--methods", "l2=nan", *STORE, says=("l2", "finite", "nan")),
    "dropout-1": case("compare", "--data", "wine", "--methods", "dropout=1", *STORE, says=("dropout", "[0, 1)", "1.0")),
    "dropout-1.5": case(
        "compare", "--data", "wine", "--methods", "dropout=1.5", *STORE, says=("dropout", "[0, 1)", "1.5")
    ),
    "l1-ratio-above-1": case(
        "compare", "--data", "wine", "--methods", "elasticnet+l1_ratio=1.5", *STORE, says=("l1_ratio", "[0, 1]", "1.5")
    ),
    "l1-ratio-below-0": case(
        "compare",
        "--data",
        "wine",
        "--methods",
        "elasticnet=1e-3+l1_ratio=-0.1",
        *STORE,
        says=("l1_ratio", "[0, 1]", "-0.1"),
    ),
    "missing-file": case(
        "compare", "--data", "missing.csv", "--target", "y", *QUICK, *STORE, says=("missing.csv", "not found")
    ),
    "missing-file-without-target": case(
        "compare", "--data", "missing.csv", *QUICK, *STORE, says=("missing.csv", "not found")
    ),
    "empty-data": case("compare", "--data", f"{OWN}:load_empty", *QUICK, *STORE, says=("no rows", "samples")),
    "inputs-of-other-lengths": case(
        "compare", "--data", f"{OWN}:load_uneven", *QUICK, *STORE, says=("different numbers of rows", "one row per")
    ),
    "test-data-of-other-shape": case(
        "compare",
        "--data",
        f"{OWN}:load_four_columns",
        "--test-data",
        f"{OWN}:load_five_columns",
        *QUICK,
        *STORE,
        says=("test set", "(5,)", "(4,)", "same columns"),
    ),
    "test-table-of-other-columns": case(
        "compare",
        "--data",
        "small.csv",
        "--target",
        "y",
        "--test-data",
        "other.csv",
        *QUICK,
        *STORE,
        says=("columns", "missing ['b']", "extra ['c']", "same columns"),
    ),
    "missing-target-column": case(
        "compare",
        "--data",
        "features.csv",
        "--target",
        "y",
        *QUICK,
        *STORE,
        says=("'y'", "features.csv", "columns are a, b"),
    ),
    "no-target-flag": case("compare", "--data", "small.csv", *QUICK, *STORE, says=("target", "--target", "small.csv")),
    "header-only-csv": case(
        "compare", "--data", "header.csv", "--target", "y", *QUICK, *STORE, says=("header.csv", "no rows")
    ),
    "zero-byte-csv": case(
        "compare", "--data", "zero.csv", "--target", "y", *QUICK, *STORE, says=("zero.csv", "no rows")
    ),
    "text-column-too-many-levels": case(
        "compare",
        "--data",
        "ids.csv",
        "--target",
        "y",
        *QUICK,
        *STORE,
        says=("'name'", "too many categories", "drop it or convert it"),
    ),
    "single-class-target": case(
        "compare",
        "--data",
        "oneclass.csv",
        "--target",
        "y",
        *QUICK,
        *STORE,
        says=("'y'", "single class", "at least two"),
    ),
    "nan-without-impute": case(
        "compare", "--data", "holes.csv", "--target", "y", *QUICK, *STORE, says=("b (4)", "--impute")
    ),
    "more-folds-than-samples": case(
        "compare",
        "--data",
        "twenty.csv",
        "--target",
        "y",
        "--folds",
        "50",
        "--methods",
        "none,l2",
        "--seeds",
        "1",
        "--epochs",
        "1",
        *STORE,
        says=("50 folds", "at most"),
    ),
    "grid-not-numbers": case("compare", "--grid", "l2=abc", *TINY, *STORE, says=("--grid", "l2=abc", "numbers")),
    "grid-unknown-method": case("compare", "--grid", "l3=1", *TINY, *STORE, says=("--grid", "l3=1", "NAME one of")),
    "store-directory-missing": case(
        "compare", *TINY, "--store", "nodir/x.sqlite", says=("nodir", "does not exist", "--store")
    ),
    "store-not-sqlite": case(
        "compare", *TINY, "--store", "notes.sqlite", says=("notes.sqlite", "not a reglab store", "--store")
    ),
    "study-exists-without-resume": case(
        "compare", *TINY, "--name", "base", *STORE, says=("'base'", "already exists", "--resume")
    ),
    "resume-other-settings": case(
        "compare",
        *TINY,
        "--epochs",
        "3",
        "--name",
        "base",
        "--resume",
        *STORE,
        says=("'base'", "other settings", "epochs"),
    ),
    "show-unknown-study": case("show", "NOSUCH", *STORE, says=("'NOSUCH'", "known studies: base")),
    "show-missing-store": case(
        "show", "base", "--store", "absent.sqlite", says=("absent.sqlite", "--store"), exception=FileNotFoundError
    ),
    "path-on-classification": case("path", "--data", "wine", *STORE, says=("classification", "'wine'", "diabetes")),
    "study-file-unknown-key": case(
        "compare", "--study", "bogus.toml", *STORE, says=("unknown study settings", "'colour'", "epochs")
    ),
    "study-file-missing": case(
        "compare", "--study", "absent.toml", *STORE, says=("absent.toml", "does not exist"), exception=FileNotFoundError
    ),
    "bad-device": case("compare", *TINY, "--device", "tpu", *STORE, says=("device", "'tpu'", "cpu")),
    "tune-nothing-tuned": case("tune", "l2=1e-3", "--data", "wine", *STORE, says=("nothing to tune", "l2")),
    "spec-empty-value": case(
        "compare", "--data", "wine", "--methods", "none,l2=", *STORE, says=("l2= has no value", "l2=VALUE")
    ),
    "spec-trailing-plus": case(
        "compare", "--data", "wine", "--methods", "l2+", *STORE, says=("missing in 'l2+'", "join")
    ),
    "spec-no-name": case("compare", "--data", "wine", "--methods", "=3", *STORE, says=("missing in '=3'", "join")),
    "spec-twice": case("compare", "--data", "wine", "--methods", "l2+l2=1", *STORE, says=("l2 is given twice", "once")),
    "spec-none-joined": case("compare", "--data", "wine", "--methods", "none+l2", *STORE, says=("none stands alone",)),
    "same-method-twice": case(
        "compare",
        "--data",
        "wine",
        "--methods",
        "none,l2=1e-3,none",
        *STORE,
        says=("'none' and 'none' are the same", "once"),
    ),
    "same-methods-reordered": case(
        "compare",
        "--data",
        "wine",
        "--methods",
        "none,l2+dropout,dropout+l2",
        *STORE,
        says=("'l2+dropout' and 'dropout+l2' are the same", "once"),
    ),
    "l1-ratio-alone": case(
        "compare", "--data", "wine", "--methods", "l2+l1_ratio=0.5", *STORE, says=("l1_ratio", "elasticnet+l1_ratio")
    ),
    "two-dropout-kinds": case(
        "compare",
        "--data",
        "wine",
        "--methods",
        "dropconnect=0.2+gaussian-dropout=0.3",
        *STORE,
        says=("got gaussian-dropout, dropconnect",),
    ),
    "mc-passes-0": case("train", "--data", "wine", "--mc-passes", "0", says=("--mc-passes", "at least 2", "got 0")),
    "mc-without-dropout": case(
        "train",
        "--data",
        "wine",
        "--reg",
        "l2=1e-3",
        "--mc-passes",
        "5",
        says=("--mc-passes needs dropout", "l2=0.001 has none", "--reg dropout=0.3"),
    ),
    "no-layer-for-it": case(
        "compare",
        "--data",
        "wine",
        "--methods",
        "none,spatial-dropout=0.2",
        *QUICK[:-2],
        *STORE,
        says=("spatial_dropout", "mlp model has no layer"),
    ),
}
# These also run as real subprocesses (about 2 s of imports each): one or more per layer that can fail.
REAL = (
    "unknown-option",
    "unknown-dataset",
    "nan-without-impute",
    "more-folds-than-samples",
    "store-not-sqlite",
    "study-exists-without-resume",
    "study-file-unknown-key",
)
IMPUTED = ("compare", "--data", "holes.csv", "--target", "y", "--impute", *QUICK, "--store", "imputed.sqlite", "--json")
DEBUG = {  # the traceback instead of the line, with --debug before and after the subcommand
    "before": ("--debug", *CASES["unknown-dataset"].args),
    "after": ("compare", "--debug", *CASES["store-not-sqlite"].args[1:]),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_inputs(where: Path, finished_store: Path) -> None:
    (where / "small.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    (where / "features.csv").write_text("a,b\n1,2\n3,4\n")
    (where / "other.csv").write_text("a,c,y\n1,2,0\n3,4,1\n")
    (where / "header.csv").write_text("a,b,y\n")
    (where / "zero.csv").write_bytes(b"")
    (where / "ids.csv").write_text("name,y\n" + "".join(f"id{i},{i % 2}\n" for i in range(250)))
    (where / "oneclass.csv").write_text("a,y\n" + "".join(f"{i},yes\n" for i in range(30)))
    # 40 rows, 4 holes in b; two classes
    (where / "holes.csv").write_text(
        "a,b,y\n" + "".join(f"{i},{'' if i % 10 == 3 else (i * 7) % 11},{i % 2}\n" for i in range(40))
    )
    (where / "twenty.csv").write_text("a,b,y\n" + "".join(f"{i},{(i * i) % 7},{i * 0.5 + i % 3}\n" for i in range(20)))
    (where / "notes.sqlite").write_text("these are my notes, not a database\n" * 20)
    (where / "bogus.toml").write_text('data = "wine"\nmethods = ["none", "l2"]\ncolour = "blue"\n')
    shutil.copyfile(finished_store, where / "pre.sqlite")


@pytest.fixture(scope="module")
def work(tmp_path_factory, finished) -> Path:
    where = tmp_path_factory.mktemp("bad-input")
    write_inputs(where, finished.store)
    return where


@pytest.fixture(scope="module")
def before(work: Path, rl) -> dict:
    return {
        "notes": sha(work / "notes.sqlite"),
        "trials": rl.stored_trials(work / "pre.sqlite"),
        "studies": rl.stored_studies(work / "pre.sqlite"),
    }


@pytest.fixture(scope="module")
def ran(work: Path, before, rl) -> dict:
    """The REAL cases and the --debug runs, side by side in real subprocesses."""
    runs = {**{name: CASES[name].args for name in REAL}, **{f"debug-{k}": v for k, v in DEBUG.items()}}
    results = rl.CLI(work).many(*runs.values())
    return dict(zip(runs, results))


def check_error_line(result, says: tuple[str, ...]) -> None:
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr, str(result)
    assert len(result.stderr_lines) == 1, str(result)
    line = result.stderr_lines[0]
    assert line.startswith("reglab: error: "), str(result)
    for text in says:
        assert text in line, f"{text!r} missing from: {line}"
    assert result.stdout == "", str(result)


@pytest.mark.parametrize("name", REAL)
def test_bad_input_on_the_real_command_line(ran, name):
    check_error_line(ran[name], CASES[name].says)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_and_status_2(work, before, monkeypatch, capfd, rl, name):
    """Every case through ``reglab.cli.main`` in this process, output caught at the file descriptors."""
    monkeypatch.chdir(work)
    try:
        status = main(list(CASES[name].args))
    except SystemExit as exit_:  # argparse's errors exit
        status = exit_.code
    out, err = capfd.readouterr()
    check_error_line(rl.Result(CASES[name].args, status, out, err), CASES[name].says)


@pytest.mark.parametrize("name", DEBUG)
def test_debug_shows_the_traceback(ran, name):
    result = ran[f"debug-{name}"]
    assert result.returncode not in (0, 2), str(result)
    assert "Traceback (most recent call last)" in result.stderr, str(result)
    assert "reglab: error:" not in result.stderr, str(result)
    error = "StoreError" if name == "after" else "DataError"
    assert error in result.stderr_lines[-1], str(result)


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("name", CASES)
def test_debug_lets_every_error_through(work, before, monkeypatch, capsys, name, position):
    """The same cases through ``reglab.cli.main`` in this process: with --debug the exception escapes."""
    monkeypatch.chdir(work)
    args = list(CASES[name].args)
    argv = ["--debug", *args] if position == "before" else [args[0], "--debug", *args[1:]]
    with pytest.raises(CASES[name].exception) as raised:
        main(argv)
    if CASES[name].exception is SystemExit:
        assert raised.value.code == 2
    else:
        for text in CASES[name].says:
            assert text in str(raised.value)


def test_missing_values_with_impute_succeed(work, before, monkeypatch, capsys, rl):
    """The table of the nan-without-impute case, with --impute (in this process: it trains)."""
    monkeypatch.chdir(work)
    assert main(list(IMPUTED)) == 0
    output = rl.strict_json(capsys.readouterr().out)
    assert [m["method"] for m in output["methods"]] == ["none", "l2"]
    assert all(m["outcome"] == "completed" for m in output["methods"]), output["methods"]


def test_failed_commands_lose_and_corrupt_nothing(ran, work, before, rl):
    """After every case ran (several of them against pre.sqlite), the store holds exactly what it held."""
    assert all(r.returncode != 0 for r in ran.values())
    assert "study-exists-without-resume" in ran and "more-folds-than-samples" in ran
    assert rl.integrity(work / "pre.sqlite") == "ok"
    assert rl.stored_studies(work / "pre.sqlite") == before["studies"]
    assert rl.stored_trials(work / "pre.sqlite") == before["trials"]
    assert len(before["trials"]) == 12
    assert sha(work / "notes.sqlite") == before["notes"], "a file that is not a store was overwritten"
    assert not (work / "nodir").exists()
    assert not (work / "absent.sqlite").exists(), "reglab show created a store"
