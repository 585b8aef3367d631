"""The commands that train nothing start fast: ``python -m reglab`` in a fresh process does not import
PyTorch for them (nor scikit-learn, pandas or matplotlib where they need no data set).

Each case runs the real entry point and lists, as it exits, which heavy libraries it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reglab.store import Store

HEAVY = ("torch", "sklearn", "pandas", "matplotlib", "scipy", "distributed")
# The entry point as `python -m reglab ARGS` runs it; then the heavy libraries it imported, as the last line.
SCRIPT = """
import json, runpy, sys
argv = sys.argv[1:]
sys.argv = ["reglab", *argv]
try:
    runpy.run_module("reglab", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    status = exit.code
print(json.dumps({"status": status, "imported": [m for m in HEAVY if m in sys.modules]}))
"""
PATH_SUMMARY = {
    "strengths": [1.0, 0.1],
    "choices": {"cv_min": 0.1},
    "nonzeros": [1, 3],
    "norms": [0.5, 1.5],
    "cv_mean": [2.0, 1.0],
    "cv_se": [0.1, 0.1],
    "test_mse": [2.1, 1.2],
}
CASES = {  # argv -> (exit status, heavy libraries it may import)
    ("--help",): (0, ()),
    ("--version",): (0, ()),
    ("runs", "--help"): (0, ()),
    ("runs", "--store", "s.sqlite"): (0, ()),
    ("runs", "--store", "missing.sqlite"): (2, ()),
    ("show", "p", "--store", "s.sqlite"): (0, ()),  # a path study: no summary to compute
    ("datasets",): (0, ("pandas",)),  # reglab.data's table readers
}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """A store that holds one finished path study, written without the CLI."""
    where = tmp_path_factory.mktemp("startup")
    with Store(where / "s.sqlite") as store:
        study = store.start_study("p", {"kind": "path", "data": "diabetes", "penalty": "l1"}, resume=False)
        store.finish_study(study.id, PATH_SUMMARY)
    return where


def entry_point(argv: tuple[str, ...], folder: Path, rl, watched: tuple[str, ...] = HEAVY) -> dict:
    """``python -m reglab ARGV`` in a fresh process in ``folder``: its exit status and which of the
    ``watched`` modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {watched!r}\n{SCRIPT}", *argv],
        cwd=folder,
        env=rl.env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_a_command_that_trains_nothing_imports_no_pytorch(argv, store_dir, rl):
    status, allowed = CASES[argv]
    result = entry_point(argv, store_dir, rl)
    assert result["status"] == status, result
    assert "torch" not in result["imported"]
    assert set(result["imported"]) <= set(allowed), f"{' '.join(argv)} imported {result['imported']}"


def test_a_study_trains_without_importing_torchdynamo(store_dir, rl):
    """``torch.optim``'s optimizers import TorchDynamo (about a second) at their first use; reglab's own do
    not, so a study whose trials run one by one through the plain loop never loads it."""
    argv = ("compare", "--data", "wine", "--methods", "none,l2", "--seeds", "1", "--epochs", "1", "--no-report")
    result = entry_point((*argv, "--strategy", "sequential", "--store", "d.sqlite"), store_dir, rl, ("torch._dynamo",))
    assert result == {"status": 0, "imported": []}
