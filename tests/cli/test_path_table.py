"""The path command's table marks each choice on the row of its λ, or, off the grid, the nearest row on the
log scale with the choice's own λ."""

from __future__ import annotations

import io

from rich.console import Console

from reglab.cli.path import path_table

SUMMARY = {
    "strengths": [100.0, 10.0, 1.0, 0.1, 0.01],
    "nonzeros": [0, 1, 2, 3, 3],
    "norms": [0, 1, 2, 3, 3.5],
    "cv_mean": [5, 4, 3, 3.5, 4],
    "cv_se": [0.1] * 5,
    "test_mse": [5, 4, 3, 3.4, 4],
    "choices": {"cv_min": 1.0, "cv_1se": 10.0, "aic": 0.04, "bic": 0.0},
}


def rows(summary: dict) -> dict[str, str]:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(path_table(summary, "t"))
    lines = [line.split("│") for line in console.export_text().splitlines() if line.startswith("│")]
    return {cells[1].strip(): cells[-2].strip() for cells in lines}


def test_choices_mark_their_rows():
    marked = rows(SUMMARY)
    assert marked["1"] == "cv_min" and marked["10"] == "cv_1se"
    # 0.04 is nearer 0.1 on the log scale (on the linear one, 0.01); λ = 0 marks the smallest
    assert marked["0.1"] == "aic (λ=0.04)" and marked["0.01"] == "bic (λ=0)"
