"""End-to-end tests of the ``reglab`` command: the real program in a subprocess, as a user runs it.

Each ``python -m reglab`` pays for importing torch, scikit-learn and pandas (2 to 3.5 s of CPU), so the
studies are tiny and independent commands run side by side (``cli.many``). Subprocesses get one torch
thread (``OMP_NUM_THREADS=1``), like the test process itself.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

# A study of 12 trials on wine: none and l2 over 2 grid values, 2 folds, 2 seeds, 2 epochs.
TINY = ["--data", "wine", "--methods", "none,l2", "--seeds", "2", "--folds", "2", "--grid-size", "2", "--epochs", "2"]
TIMEOUT_S = 180


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # what a failing assertion shows
        head = f"reglab {' '.join(self.args)} -> {self.returncode}"
        return f"{head}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json(self):
        """stdout as strict JSON: NaN or Infinity anywhere fails the test."""
        return strict_json(self.stdout)


def strict_json(text: str):
    def reject(constant: str):
        raise AssertionError(f"non-standard JSON constant {constant} in the output")

    return json.loads(text, parse_constant=reject)


def env() -> dict[str, str]:
    """One torch thread, as in this process; the reglab this process imports; no forced colours or terminal."""
    import reglab

    root = str(Path(reglab.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    variables = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=path)
    for name in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        variables.pop(name, None)
    return variables


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reglab", *map(str, args)]


class CLI:
    """Runs ``python -m reglab ARGS`` in a directory and returns its :class:`Result`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = Path(cwd)

    def __call__(self, *args: str, cwd: Path | None = None, timeout: float = TIMEOUT_S) -> Result:
        done = subprocess.run(
            command(*args),
            cwd=cwd or self.cwd,
            env=env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(tuple(map(str, args)), done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, cwd: Path | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            command(*args),
            cwd=cwd or self.cwd,
            env=env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    def many(self, *runs: tuple[str, ...] | list[str]) -> list[Result]:
        """Several commands side by side (as many at once as there are cores, at least 2), results in order."""
        workers = max(2, min(len(runs), os.cpu_count() or 2))
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda args: self(*args), runs))


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Finished:
    """One tiny study (``TINY``) run once for the session: its store (copy it before writing to it) and its JSON."""
    where = tmp_path_factory.mktemp("finished")
    result = CLI(where)("compare", *TINY, "--store", "base.sqlite", "--name", "base", "--json")
    assert result.returncode == 0, str(result)
    return Finished(where / "base.sqlite", "base", result.json(), result)


@dataclass(frozen=True)
class Finished:
    store: Path
    name: str
    output: dict
    result: Result


def stored_trials(path: Path) -> list[tuple]:
    """Every stored trial row, read-only (the file is not changed by reading it)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT id, study_id, key, status, metrics, created FROM trials ORDER BY id").fetchall()


def stored_studies(path: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT id, name, settings, status, created, finished, summary FROM studies ORDER BY id"
        ).fetchall()


def integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


TABLE_FIELDS = (
    "method",
    "chosen",
    "chosen_label",
    "train_metric",
    "test_metric",
    "gap",
    "zeros",
    "weight_norm",
    "units_pruned",
    "outcome",
    "test_values",
    "vs_baseline",
    "curves",
)


def table_of(output: dict) -> dict:
    """The result proper of a compare/show JSON: every method's row and the verdict (no timings, names, paths)."""
    return {
        "task": output["task"],
        "metric": output["metric"],
        "methods": [{k: m[k] for k in TABLE_FIELDS} for m in output["methods"]],
        "winner": output["winner"],
        "runner_up": output["runner_up"],
        "lead": output["lead"],
    }


def assert_same(a, b, where: str = "", tol: float = 1e-9) -> None:
    """Equal JSON values; numbers within ``tol`` (relative or absolute), null only where the other is null."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", tol)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", tol)
    elif (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="session")
def rl():
    """The helpers above, for test modules (under --import-mode=importlib they cannot import this file)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        Result=Result,
        TINY=TINY,
        strict_json=strict_json,
        stored_trials=stored_trials,
        stored_studies=stored_studies,
        integrity=integrity,
        table_of=table_of,
        assert_same=assert_same,
        CLI=CLI,
        env=env,
        command=command,
    )
