"""The report's reliability diagrams and NLL/ECE columns, from a small study trained for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import reglab
from reglab.calibration import Reliability
from reglab.report import read_report, write_report
from reglab.store import Store


def test_a_classification_study_reports_a_reliability_diagram_per_method_pooled_over_seeds(tmp_path: Path, hand):
    X, y = load_digits(return_X_y=True)
    store = tmp_path / "runs.sqlite"
    reglab.compare(
        data=(X[::4].astype(np.float32), y[::4]),
        methods=["none", "l2"],
        grids={"l2": [1e-3]},
        seeds=2,
        folds=2,
        epochs=2,
        test_size=0.25,
        device="cpu",
        store=store,
        name="calibrated",
    )
    with Store(store) as opened:
        data = read_report(opened, "calibrated")
        tests = [t for t in opened.trials(opened.study("calibrated").id) if t.stage == "test" and t.method == "l2"]
    diagram = next(d for d in data.reliability if d.method == "l2")
    seeds = [Reliability.from_dict(t.metrics["eval_calibration"]["bins"]) for t in tests]
    assert diagram.seeds == 2 and diagram.bins.counts == tuple(np.add(*(s.counts for s in seeds)))
    html = write_report(store, "calibrated").read_text()
    section = html[html.index("<h2>Calibration</h2>") :]
    assert "<svg" in section[: section.index("</section>")] and "Reliability diagrams" in section
    assert "<th>test NLL</th>" in html and "<th>test ECE</th>" in html

    hand.make_study(tmp_path / "old.sqlite", methods=("none", "l1"))  # stored without calibration
    old = write_report(tmp_path / "old.sqlite", "hand").read_text()
    assert "<h2>Calibration</h2>" not in old and "<th>test NLL</th>" in old
