"""A user's own model and data through the real command line: ``--model FILE.py:NAME``, ``--data FILE.py:NAME``;
resuming with another model is refused, and each bad import string is one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import stored_studies

OWN = str(Path(__file__).resolve().parents[1] / "own_models.py")
QUICK = ["--seeds", "2", "--folds", "2", "--grid-size", "2", "--epochs", "2"]


def test_compare_a_file_model_on_file_data_then_resume_with_another_model_is_refused(cli, tmp_path):
    store = tmp_path / "s.sqlite"
    first = cli(
        "compare",
        "--model",
        f"{OWN}:build",
        "--data",
        f"{OWN}:load",
        "--methods",
        "none,dropout",
        *QUICK,
        "--store",
        store,
        "--name",
        "own",
        "--no-report",
    )
    assert first.returncode == 0, str(first)
    assert "dropout" in first.stdout and "Winner" in first.stdout or "No winner" in first.stdout
    resumed = cli(
        "compare",
        "--model",
        f"{OWN}:build",
        "--data",
        f"{OWN}:load",
        "--methods",
        "none,dropout",
        *QUICK,
        "--store",
        store,
        "--name",
        "own",
        "--resume",
        "--no-report",
    )
    assert resumed.returncode == 0, str(resumed)
    before = stored_studies(store)
    changed = cli(
        "compare",
        "--model",
        f"{OWN}:build_wider",
        "--data",
        f"{OWN}:load",
        "--methods",
        "none,dropout",
        *QUICK,
        "--store",
        store,
        "--name",
        "own",
        "--resume",
        "--no-report",
    )
    assert changed.returncode == 2 and len(changed.stderr_lines) == 1, str(changed)
    assert "fingerprint" in changed.stderr and "other settings" in changed.stderr
    assert stored_studies(store) == before


@pytest.mark.parametrize(
    "model, methods, says",
    [
        ("{own}:nothing", "none", ("no 'nothing'", "build")),
        ("nosuchpackage.models:build", "none", ("no module 'nosuchpackage'",)),
        ("{missing}:build", "none", ("no file",)),
        ("{own}:build_not_a_module", "none", ("not a torch.nn.Module",)),
        ("{own}:build_that_raises", "none", ("raised RuntimeError: out of ideas",)),
        ("{own}:build_wrong_outputs", "none", ("shape (2, 3), not (2, 10)",)),
        ("{own}:build_without_dropout", "none,dropout", ("reglab.Dropout()",)),
    ],
)
def test_bad_models_are_one_line_errors_and_store_nothing(cli, tmp_path, model, methods, says):
    store = tmp_path / "s.sqlite"
    model = model.format(own=OWN, missing=tmp_path / "missing.py")
    result = cli(
        "compare",
        "--model",
        model,
        "--data",
        f"{OWN}:load",
        "--methods",
        methods,
        *QUICK,
        "--store",
        store,
        "--no-report",
    )
    assert result.returncode == 2 and len(result.stderr_lines) == 1, str(result)
    assert result.stderr.startswith("reglab: error: ") and "Traceback" not in result.stderr
    for word in says:
        assert word in result.stderr, str(result)
    assert not store.exists() or stored_studies(store) == []
