"""What the commands report: strict JSON with every method's row, divergence as an outcome, and the
show, tune, path and train commands (real subprocesses, side by side); what is cheap to check here runs
through ``reglab.cli.main`` in this process.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import sqlite3
from pathlib import Path

import pytest

from reglab.cli import build_parser, main
from reglab.cli.options import settings_from_args
from reglab.report.data import read_report
from reglab.store import Store
from reglab.study import StudySettings

DIVERGE = (
    "--test-size",
    "0.25",
    "--data",
    "diabetes",
    "--model",
    "linear",
    "--optimizer",
    "sgd",
    "--seeds",
    "2",
    "--folds",
    "2",
    "--grid-size",
    "2",
    "--epochs",
    "2",
)
BUILTIN = ("digits", "digits-images", "breast-cancer", "wine", "diabetes", "mnist1d", "line", "sparse", "poly", "moons")


@pytest.fixture(scope="module")
def work(tmp_path_factory, finished) -> Path:
    where = tmp_path_factory.mktemp("results")
    shutil.copyfile(finished.store, where / "base.sqlite")
    return where


@pytest.fixture(scope="module")
def ran(work: Path, rl) -> dict:
    runs = {
        "diverged": (
            "compare",
            *DIVERGE,
            "--lr",
            "1e6",
            "--methods",
            "none,l2",
            "--store",
            "div.sqlite",
            "--name",
            "div",
            "--json",
        ),
        "show": ("show", "base", "--store", "base.sqlite", "--json"),
        "tune": (
            "tune",
            "l2",
            "--data",
            "wine",
            "--grid",
            "l2=1e-4,1e-2",
            "--seeds",
            "2",
            "--folds",
            "2",
            "--epochs",
            "2",
            "--store",
            "tune.sqlite",
            "--name",
            "t",
        ),
        "path": (
            "path",
            "--data",
            "diabetes",
            "--penalty",
            "l1",
            "--n-strengths",
            "12",
            "--folds",
            "3",
            "--store",
            "path.sqlite",
        ),
        "train": ("train", "--data", "wine", "--epochs", "2", "--json"),
    }
    return dict(zip(runs, rl.CLI(work).many(*runs.values())))


def test_json_has_every_methods_row_and_the_winner(finished):
    output = finished.output  # parsed strictly: NaN or Infinity would have failed the fixture
    assert output["study"] == "base" and output["data"] == "wine" and output["metric"] == "accuracy"
    methods = {m["method"]: m for m in output["methods"]}
    assert list(methods) == ["none", "l2"]
    grid = {1e-5, 1e-1}  # 2 points of l2's default grid: its ends
    for m in methods.values():
        assert m["outcome"] == "completed"
        for key in ("train_metric", "test_metric", "gap"):
            interval = m[key]
            assert set(interval) == {"mean", "sd", "low", "high"}
            assert interval["low"] <= interval["mean"] <= interval["high"]
        assert 0 <= m["test_metric"]["mean"] <= 1 and 0 <= m["train_metric"]["mean"] <= 1
        assert math.isclose(m["gap"]["mean"], m["train_metric"]["mean"] - m["test_metric"]["mean"], abs_tol=1e-12)
        assert len(m["test_values"]) == 2
        assert math.isclose(sum(m["test_values"]) / 2, m["test_metric"]["mean"], abs_tol=1e-12)
        assert 0 <= m["zeros"] <= 1 and m["weight_norm"] > 0
        assert len(m["chosen"]) == 2  # one chosen point per seed
    assert methods["none"]["chosen"] == [{}, {}] and methods["none"]["chosen_label"] == "fixed"
    for seed, (point, curve) in enumerate(zip(methods["l2"]["chosen"], methods["l2"]["curves"])):
        assert set(point) == {"l2"} and any(math.isclose(point["l2"], g) for g in grid)
        assert curve["seed"] == seed and point["l2"] == curve["values"][curve["one_se"]]
    assert methods["l2"]["vs_baseline"]["n"] == 2
    best = max(methods.values(), key=lambda m: m["test_metric"]["mean"])
    if output["tied"]:  # the best score the same on every seed: no winner is named
        tied = [methods[name] for name in output["tied"]]
        assert (
            output["winner"] is None
            and len(tied) >= 2
            and all(t["test_values"] == tied[0]["test_values"] for t in tied)
        )
        assert tied[0]["test_metric"]["mean"] == best["test_metric"]["mean"]
    else:
        assert (
            output["winner"] in methods and output["runner_up"] in methods and output["winner"] != output["runner_up"]
        )
        assert methods[output["winner"]]["test_metric"]["mean"] == best["test_metric"]["mean"]


def test_divergence_is_an_outcome_not_an_error(ran, work, monkeypatch, capsys):
    result = ran["diverged"]
    assert result.returncode == 0, str(result)
    output = result.json()  # strict: the NaN scores are null
    assert [m["method"] for m in output["methods"]] == ["none", "l2"], "a diverged method was dropped"
    for m in output["methods"]:
        assert m["outcome"] == "diverged 2/2"
        assert m["test_metric"]["mean"] is None and m["test_values"] == [None, None]
    assert output["winner"] is None
    monkeypatch.chdir(work)
    assert main(["show", "div", "--store", "div.sqlite"]) == 0
    table = capsys.readouterr().out
    assert len(re.findall(r"diverged 2/2", table)) == 2, table
    assert "No method has a test score" in table


def test_a_diverged_method_stays_in_the_table_beside_the_winner(work, monkeypatch, capsys, rl):
    """In this process: l2=1000 overshoots with plain SGD at lr 0.01 and diverges; none does not."""
    monkeypatch.chdir(work)
    argv = [
        "compare",
        *DIVERGE[:-1],
        "6",
        "--lr",
        "0.01",
        "--methods",
        "none,l2=1000",
        "--store",
        "mixed.sqlite",
        "--json",
    ]
    assert main(argv) == 0
    output = rl.strict_json(capsys.readouterr().out)
    methods = {m["method"]: m for m in output["methods"]}
    assert list(methods) == ["none", "l2=1000"]
    assert methods["none"]["outcome"] == "completed" and methods["l2=1000"]["outcome"] == "diverged 2/2"
    assert methods["l2=1000"]["test_metric"]["mean"] is None
    assert output["winner"] == "none"


def test_show_json_gives_the_compare_table(ran, finished, rl):
    result = ran["show"]
    assert result.returncode == 0, str(result)
    shown = result.json()
    assert shown["study"] == "base" and shown["status"] == "finished"
    rl.assert_same(rl.table_of(shown), rl.table_of(finished.output), tol=1e-12)


def test_show_prints_the_table(finished, work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    assert main(["show", "base", "--store", "base.sqlite"]) == 0
    table = capsys.readouterr().out
    best = max(finished.output["methods"], key=lambda m: m["test_metric"]["mean"])
    verdict = f"Winner: {finished.output['winner']}" if finished.output["winner"] else "No winner"
    assert "base" in table and f"{best['test_metric']['mean']:.4f}" in table and verdict in table


def test_runs_lists_the_study(work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    assert main(["runs", "--store", "base.sqlite"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " base " in line)
    for cell in ("finished", "wine", " 12 "):
        assert cell in row, row


def test_datasets_lists_the_builtin_sets(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert re.search(rf"│ {re.escape(name)}\s+│", out), name
    assert "--target" in out


def test_tune_prints_the_validation_curve_and_the_choice(ran, work):
    result = ran["tune"]
    assert result.returncode == 0, str(result)
    out = result.stdout
    assert "validation curve of l2" in out
    curve = [line for line in out.splitlines() if re.match(r"│\s+l2=(0\.0001|0\.01) │", line)]
    assert len(curve) == 2, out  # one row per grid value, a column per seed
    assert out.count("◆") >= 2 and out.count("✓") >= 2  # each seed marks its minimum and its 1-SE choice
    with sqlite3.connect(work / "tune.sqlite") as conn:
        summary = json.loads(conn.execute("SELECT summary FROM studies WHERE name = 't'").fetchone()[0])
    chosen = summary["methods"][0]["chosen_label"]
    assert chosen in ("l2=0.0001", "l2=0.01", "l2=0.0001 | l2=0.01", "l2=0.01 | l2=0.0001")
    assert re.search(rf"│ l2\s+│ {re.escape(chosen)}\s", out), out


def test_runs_and_the_report_name_a_tune_study_by_its_command(ran, work, monkeypatch, capsys):
    assert ran["tune"].returncode == 0, str(ran["tune"])
    monkeypatch.chdir(work)
    assert main(["runs", "--store", "tune.sqlite"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " t " in line)
    assert " tune " in row and " compare " not in row, row
    with Store(work / "tune.sqlite") as store:
        assert read_report(store, "t").command[0] == "reglab tune l2"


def test_path_prints_the_choices_of_every_criterion(ran):
    result = ran["path"]
    assert result.returncode == 0, str(result)
    choices = dict(re.findall(r"(cv_min|cv_1se|aic|bic) λ=([0-9][0-9.e+-]*[0-9])", result.stdout))
    assert set(choices) == {"cv_min", "cv_1se", "aic", "bic"}, result.stdout
    assert all(float(v) > 0 for v in choices.values())
    assert float(choices["cv_1se"]) >= float(choices["cv_min"])  # the 1-SE rule picks the stronger penalty
    assert "chosen by" in result.stdout


def test_train_json_summary(ran):
    result = ran["train"]
    assert result.returncode == 0, str(result)
    output = result.json()
    assert output["data"] == "wine" and output["regularization"] == "l2=0.001+dropout=0.3"
    assert output["outcome"] == "completed" and output["epochs"] == 2
    assert 0 <= output["eval_metric"] <= 1 and 0 <= output["train_metric"] <= 1
    assert math.isclose(output["gap"], output["train_metric"] - output["eval_metric"], abs_tol=1e-12)
    assert math.isclose(output["eval_nll"], output["eval_loss"], rel_tol=1e-6)  # the built-in loss is the NLL
    assert 0 <= output["eval_ece"] <= 1
    assert result.stderr == ""


def test_train_scores_mc_dropouts_predictions_for_calibration(capsys):
    argv = ["train", "--data", "wine", "--epochs", "2", "--reg", "dropout=0.3", "--mc-passes", "4", "--json"]
    assert main(argv) == 0
    mc = json.loads(capsys.readouterr().out)["mc_dropout"]
    assert mc["nll"] > 0 and 0 <= mc["ece"] <= 1


def test_resume_without_a_name_finds_the_study_with_these_settings(work, monkeypatch, capsys, rl):
    """--resume alone picks the latest study of the same command and settings (here: already finished,
    so nothing runs again); a study of another command is not it."""
    monkeypatch.chdir(work)
    flags = [*rl.TINY, "--store", "again.sqlite", "--json", "--no-report"]
    assert main(["compare", *flags]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["compare", *flags, "--resume"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["study"] == first["study"] and again["methods"] == first["methods"]
    assert (
        main(["tune", "l2", *flags[: flags.index("--methods")], *flags[flags.index("--methods") + 2 :], "--resume"])
        == 2
    )
    assert "no study with these settings" in capsys.readouterr().err


def test_show_of_an_unfinished_tune_study_prints_the_command_that_finishes_it(work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    settings = StudySettings(data="wine", methods=("l2",), epochs=2, grids={"l2": (1e-4, 1e-2)})
    with Store(work / "unfinished.sqlite") as store:
        store.start_study("u", {"kind": "tune", **settings.to_dict()}, resume=False)
    assert main(["show", "u", "--store", "unfinished.sqlite"]) == 0
    command = re.search(r"`(reglab tune .*)` finishes it", " ".join(capsys.readouterr().out.split())).group(1)
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.method, args.resume, args.name, args.store) == ("l2", True, "u", "unfinished.sqlite")
    assert settings_from_args(args, methods=(args.method,)).to_dict() == settings.to_dict()
