"""The store under real processes: a study killed with SIGKILL resumes to the table of an uninterrupted
run without redoing finished trials, and two commands write one store at once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

# 42 trials: l2 and dropout over 3 grid values × 3 folds × 2 seeds = 36 CV trials, and 3 methods × 2 seeds tests.
STUDY = (
    "compare",
    "--data",
    "breast-cancer",
    "--methods",
    "none,l2,dropout",
    "--seeds",
    "2",
    "--folds",
    "3",
    "--grid-size",
    "3",
    "--epochs",
    "10",
    "--name",
    "s",
    "--json",
)
TRIALS = 42
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def count_trials(path: Path) -> int:
    """Committed trials, read-only; 0 while the file or its schema does not exist yet."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:  # created but no schema yet, or briefly locked
        return 0


def trial_rows(path: Path) -> dict[str, tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT key, id, created, status, metrics FROM trials").fetchall()
    return {key: rest for key, *rest in rows}


def study_status(path: Path, name: str) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT status FROM studies WHERE name = ?", (name,)).fetchone()[0]


def test_a_killed_study_resumes_to_the_uninterrupted_table(cli, tmp_path, rl):
    reference = cli.popen(*STUDY, "--store", "reference.sqlite")
    victim = cli.popen(*STUDY, "--store", "killed.sqlite")
    store = tmp_path / "killed.sqlite"
    try:
        deadline = time.monotonic() + 150
        while count_trials(store) < 5:
            assert victim.poll() is None, f"the study ended before it could be killed: {victim.communicate()}"
            assert time.monotonic() < deadline, "no 5 trials committed in time"
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL

    assert rl.integrity(store) == "ok"
    before = trial_rows(store)
    assert 5 <= len(before) < TRIALS, f"{len(before)} trials at the kill"
    assert study_status(store, "s") == "running"

    resumed = cli(*STUDY, "--store", "killed.sqlite", "--resume")
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    assert resumed.returncode == 0, str(resumed)

    # The same table as the uninterrupted run: same choices, metrics equal to 1e-9.
    rl.assert_same(rl.table_of(resumed.json()), rl.table_of(rl.strict_json(out)))
    # Every trial once; those committed before the kill kept as they were (same id, time and result).
    after, complete = trial_rows(store), trial_rows(tmp_path / "reference.sqlite")
    assert sorted(after) == sorted(complete) and len(after) == TRIALS
    assert {key: after[key] for key in before} == before, "a trial finished before the kill was run again"
    assert study_status(store, "s") == "finished"
    assert rl.integrity(store) == "ok"


def test_two_commands_write_one_store_at_once(cli, tmp_path, rl):
    """Two studies with the same settings and different names start together on a new store file; trials
    one after another (a stack would commit its trials together at its end) of 80 epochs each make each
    study's writes span a second or two, so that they interleave."""
    flags = [*rl.TINY[:-1], "80", "--strategy", "sequential", "--store", "shared.sqlite", "--json"]
    first, second = cli.popen("compare", *flags, "--name", "a"), cli.popen("compare", *flags, "--name", "b")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    for process, (_, err) in zip((first, second), outputs):
        assert process.returncode == 0, err
    store = tmp_path / "shared.sqlite"
    assert rl.integrity(store) == "ok"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        studies = dict(conn.execute("SELECT name, status FROM studies").fetchall())
        counts = dict(
            conn.execute("SELECT s.name, count(t.id) FROM studies s JOIN trials t ON t.study_id = s.id GROUP BY s.name")
        )
        spans = dict(
            (name, (lo, hi))
            for name, lo, hi in conn.execute(
                "SELECT s.name, min(t.created), max(t.created) FROM studies s "
                "JOIN trials t ON t.study_id = s.id GROUP BY s.name"
            )
        )
    assert studies == {"a": "finished", "b": "finished"}
    assert counts == {"a": 12, "b": 12}
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1], f"the two runs did not overlap: {spans}"
    # Both deterministic: the same settings give the same table in both processes.
    a, b = (rl.strict_json(out) for out, _ in outputs)
    rl.assert_same(rl.table_of(a), rl.table_of(b))
