"""The page: written from the store alone, escaped, self-contained, and the store left as it was."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from reglab.cli import main
from reglab.report import default_path, draw_figures, write_report
from reglab.report.data import read_report
from reglab.store import Store

ATTACK = "<script>alert(1)</script>"
ROOT = Path(__file__).parents[2]


def figure_count(html: str) -> int:
    return len(re.findall(r"<svg\b", html))


def test_a_full_study_has_every_figure_and_table(full_report: Path) -> None:
    html = full_report.read_text()
    assert figure_count(html) == 4
    for heading in (
        "Comparison",
        "Validation curves",
        "Learning curves",
        "Weight histograms",
        "Settings and reproduction",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert "Winner: <strong>early-stopping</strong>" in html and "<strong>not significant</strong>" in html
    assert "Against the unregularized baseline: +0.0300 [-0.0100, 0.0300], p = 0.200." in html
    assert "<td>0.8300</td>" in html and "<td>[0.810, 0.850]</td>" in html  # early-stopping's test accuracy
    assert "reglab compare \\\n  --data digits" in html


def test_stored_strings_are_escaped(store_path: Path, hand) -> None:
    hand.make_study(
        store_path,
        name=ATTACK,
        methods=("none", ATTACK, "costs $5 or $6"),
        settings={"data": f"{ATTACK}.csv", "optimizer": f'"{ATTACK}'},
    )
    out = write_report(store_path, ATTACK)
    html = out.read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert out.name == "runs-script_alert_1_script.html" and out.parent == store_path.parent
    assert figure_count(html) == 3  # a method that is not tuned has no validation curve


def test_the_page_loads_nothing_from_elsewhere(full_report: Path) -> None:
    html = full_report.read_text()
    references = re.findall(r"""\b(?:href|src|action|srcset)\s*=\s*["']?([^"'\s>]*)""", html, flags=re.I)
    assert references and all(r.startswith("#") for r in references)  # SVG's internal links only
    for needle in ("<script", "<link", "<iframe", "<img", "@import", "url(http", "url(//"):
        assert needle not in html.lower()


def test_diverged_and_single_method_studies_render(tmp_path: Path, hand) -> None:
    diverged = hand.make_study(tmp_path / "a.sqlite", methods=("none", "l1"), diverged=("l1",))
    html = write_report(tmp_path / "a.sqlite", "hand").read_text()
    assert diverged["winner"] == "none" and "diverged 2/2" in html and figure_count(html) == 3

    hand.make_study(tmp_path / "b.sqlite", methods=("l1",))
    html = write_report(tmp_path / "b.sqlite", "hand").read_text()
    assert "No other method finished" in html and figure_count(html) == 4

    hand.make_study(tmp_path / "c.sqlite", methods=("dropout",), diverged=("dropout",))
    html = write_report(tmp_path / "c.sqlite", "hand").read_text()
    assert "No method has a test score" in html and figure_count(html) == 2  # comparison, learning curves


def test_a_two_knob_method_is_drawn_as_a_heatmap_with_its_choice_marked(store_path: Path, hand) -> None:
    hand.make_study(store_path, methods=("none", "elasticnet+l1_ratio"))
    with Store(store_path) as store:  # seed 0 chose another point than the minimum: the star follows the choice
        study = store.study("hand")
        summary = study.summary
        summary["methods"][1]["chosen"][0] = {"elasticnet": 0.1, "l1_ratio": 0.2}
        store.finish_study(study.id, summary)
        data = read_report(store, "hand")
    figures = draw_figures(data)
    assert "validation-curves" not in figures
    (axes, _colourbar) = figures["validation-grids"].axes
    (image,) = axes.get_images()
    assert image.get_array().shape == (3, 3)
    star = next(line for line in axes.get_lines() if line.get_marker() == "*")
    circle = next(line for line in axes.get_lines() if line.get_marker() == "o")
    assert (tuple(star.get_xdata()), tuple(star.get_ydata())) == ((2,), (0,))  # elasticnet=0.1, l1_ratio=0.2
    assert (tuple(circle.get_xdata()), tuple(circle.get_ydata())) == ((1,), (2,))  # the minimum
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0.001", "0.01", "0.1"]
    html = write_report(store_path, "hand").read_text()
    assert "<h2>Validation grids</h2>" in html and "elasticnet=0.1,l1_ratio=0.2 | elasticnet=0.01,l1_ratio=0.8" in html


def test_a_path_study_draws_its_path(store_path: Path, hand) -> None:
    hand.make_path_study(store_path)
    html = write_report(store_path, "lasso-path").read_text()
    assert figure_count(html) == 1 and "<h2>Regularization path</h2>" in html
    assert '<td class="l">cv_1se</td><td>1</td><td>1</td>' in html
    assert "reglab path \\\n  --data diabetes" in html


def test_the_store_is_left_as_it_was(store_path: Path, hand, tmp_path: Path) -> None:
    hand.make_study(store_path, methods=("none", "l1"))
    before = (store_path.read_bytes(), store_path.stat().st_mtime_ns, sorted(os.listdir(tmp_path)), dump(store_path))
    out = write_report(store_path, "hand", tmp_path / "report.html", png_dir=tmp_path / "png")
    after = (
        store_path.read_bytes(),
        store_path.stat().st_mtime_ns,
        sorted(set(os.listdir(tmp_path)) - {out.name, "png"}),
        dump(store_path),
    )
    assert after == before
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert pngs == ["comparison.png", "learning-curves.png", "validation-curves.png", "weight-histograms.png"]
    assert all((tmp_path / "png" / p).read_bytes().startswith(b"\x89PNG") for p in pngs)


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_default_path_is_beside_the_store() -> None:
    assert default_path("runs/study.db", "a/b c..") == Path("runs/study-a_b_c.html")
    assert default_path("x.sqlite", "...") == Path("x-study.html")


def test_the_command_prints_the_path_and_fails_in_one_line(store_path: Path, hand, capsys) -> None:
    hand.make_path_study(store_path)
    out = store_path.with_name("page.html")
    assert main(["report", "lasso-path", "--store", str(store_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}\n" and out.is_file()
    assert main(["report", "nope", "--store", str(store_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no study 'nope'" in error and "lasso-path" in error
    missing = store_path.with_name("missing.sqlite")
    assert main(["report", "lasso-path", "--store", str(missing)]) == 2
    assert "no store at" in capsys.readouterr().err and not missing.exists()


def test_paths_it_cannot_write_fail_in_one_line(store_path: Path, hand, capsys, monkeypatch) -> None:
    """A folder as --out, a file as --png, a read-only file system: status 2 and one line naming the path;
    a --png folder that does not exist yet is made, parents included."""
    hand.make_path_study(store_path)
    report = ["report", "lasso-path", "--store", str(store_path)]
    folder = store_path.parent / "folder"
    folder.mkdir()
    assert main([*report, "--out", str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{folder}: it is a directory" in error
    assert main([*report, "--png", str(store_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "it is a file; give --png a folder" in error
    assert main([*report, "--png", str(folder / "a" / "b")]) == 0
    assert (folder / "a" / "b" / "regularization-path.png").is_file()
    capsys.readouterr()

    def read_only(self, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_text", read_only)
    out = folder / "page.html"
    assert main([*report, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"cannot write {out}: Read-only file system" in error


NO_TORCH = """
import importlib.abc, sys, types

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("the report must not import torch")

sys.meta_path.insert(0, Refuse())
package = types.ModuleType("reglab")  # the package itself imports torch; its report and store must not
package.__path__ = [sys.argv[1]]
sys.modules["reglab"] = package
from reglab.report import write_report
print(write_report(sys.argv[2], "hand"))
assert "torch" not in sys.modules
"""


def test_the_report_needs_no_torch(store_path: Path, hand) -> None:
    hand.make_study(store_path, methods=("none", "l1"))
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(ROOT / "reglab"), str(store_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_file()


def test_the_training_curve_says_what_it_is(tmp_path: Path, hand) -> None:
    """A study's training loss per epoch is the running mean over the epoch's minibatches; with history
    "exact", and in a study stored before the running mean (no history setting), the training rows scored."""
    for name, settings, said in [
        ("running", {"history": "running"}, "running mean over the epoch's minibatches"),
        ("exact", {"history": "exact"}, "training rows scored after each epoch"),
        ("older", {}, "training rows scored after each epoch"),
    ]:
        hand.make_study(tmp_path / f"{name}.sqlite", methods=("none",), settings=settings)
        html = write_report(tmp_path / f"{name}.sqlite", "hand").read_text()
        assert f"training loss (dashed: the {said})" in html
