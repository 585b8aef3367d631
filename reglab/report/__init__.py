"""A stored study as one self-contained HTML page: comparison with intervals, validation and learning
curves, weight histograms, reliability diagrams, regularization paths, settings and how to reproduce them.

The report reads only the store (it trains nothing, needs no PyTorch, and changes nothing in the file).
matplotlib is imported when figures are drawn, not with this package.

Example::

    from reglab.report import write_report
    write_report("reglab.sqlite", "compare-digits-1")  # -> reglab-compare-digits-1.html beside the store
"""

from __future__ import annotations

import re
from pathlib import Path

from reglab.report.data import ReportData, read_report, training_curve
from reglab.report.html import page
from reglab.store import Store


def draw_figures(data: ReportData) -> dict:
    """The study's figures by name, in page order (only those it has data for)."""
    from reglab.report.figures import (
        comparison_figure,
        grid_figure,
        histogram_figure,
        learning_figure,
        palette,
        path_figure,
        reliability_figure,
        validation_figure,
    )

    colours = palette(data.methods)
    found = {}
    if data.comparison is not None:
        found["comparison"] = comparison_figure(data.comparison, colours)
    if data.curves:
        found["validation-curves"] = validation_figure(data.curves, colours, data.settings.get("rule", "1se"))
    if data.grids:
        found["validation-grids"] = grid_figure(data.grids, colours)
    if any(c.epochs for c in data.learning):
        found["learning-curves"] = learning_figure(data.learning, colours, training_curve(data.settings))
    if any(h.counts for h in data.histograms):
        found["weight-histograms"] = histogram_figure(data.histograms, colours)
    if any(d.bins is not None for d in data.reliability):
        found["reliability"] = reliability_figure(data.reliability, colours)
    if data.path is not None:
        found["regularization-path"] = path_figure(data.path)
    return found


def default_path(store_path: str | Path, study_name: str) -> Path:
    """``<store stem>-<study>.html`` beside the store, the study name reduced to safe file-name characters."""
    store_path = Path(store_path)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", study_name).strip("._") or "study"
    return store_path.with_name(f"{store_path.stem}-{safe}.html")


def write_report(
    store_path: str | Path | Store,
    study_name: str,
    out_path: str | Path | None = None,
    png_dir: str | Path | None = None,
) -> Path:
    """Write the report of study ``study_name`` (and with ``png_dir`` each figure as a PNG, the folder made
    as needed); returns its path. A path it cannot write is a ``ValueError`` that names it. ``store_path``
    may be an open ``Store`` (an in-memory one among them)."""
    opened = store_path if isinstance(store_path, Store) else None
    store_path = Path(store_path.path if opened else store_path)
    if opened is None and not store_path.is_file():
        raise FileNotFoundError(f"no store at {store_path}: give store_path= the file that holds the study")
    out = Path(out_path) if out_path is not None else default_path(store_path, study_name)
    if out.is_dir():
        raise ValueError(
            f"cannot write the report to {out}: it is a directory; give out_path= a file name, "
            f"such as {out / default_path(store_path, study_name).name}"
        )
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: directory {out.parent} does not exist")
    if png_dir is not None and Path(png_dir).exists() and not Path(png_dir).is_dir():
        raise ValueError(f"cannot write figures into {png_dir}: it is a file; give png_dir= a folder")
    from reglab.report.figures import palette, to_png, to_svg

    if opened is not None:
        data = read_report(opened, study_name)
    else:
        with Store(store_path) as store:
            data = read_report(store, study_name)
    drawn = draw_figures(data)
    try:
        if png_dir is not None:
            png_dir = Path(png_dir)
            png_dir.mkdir(parents=True, exist_ok=True)
            for name, figure in drawn.items():
                (png_dir / f"{name}.png").write_bytes(to_png(figure))
        svgs = {name: to_svg(figure) for name, figure in drawn.items()}
        out.write_text(page(data, svgs, palette(data.methods)), encoding="utf-8")
    except OSError as error:
        where = error.filename or out
        raise ValueError(
            f"cannot write {where}: {error.strerror or error}; choose another out_path= or png_dir= path"
        ) from None
    return out


__all__ = ["write_report", "read_report", "draw_figures", "default_path"]
