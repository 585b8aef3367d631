"""The report's figures, drawn with matplotlib's object API (no pyplot, no display): data in, Figure out.

Every figure colours a method with :func:`palette`, so a method looks the same everywhere. Stored
text is drawn literally (:func:`literal`), and SVG output is deterministic.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from reglab.report.data import (
    LearningCurve,
    RegularizationPath,
    ReliabilityDiagram,
    ValidationCurve,
    ValidationGrid,
    WeightHistogram,
)
from reglab.results import BASELINE, StudySummary

BASELINE_COLOUR = "#4d4d4d"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
STYLE = {
    "svg.hashsalt": "reglab",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
COLUMNS = 3
CHOICE_STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1, 1, 1)))
MINIMUM = {"marker": "o", "markersize": 10, "markerfacecolor": "none", "markeredgecolor": "black", "linestyle": "none"}
ONE_SE = {
    "marker": "D",
    "markersize": 7,
    "markerfacecolor": "none",
    "markeredgecolor": "#d62728",
    "markeredgewidth": 1.5,
    "linestyle": "none",
}
CHOSEN = {"marker": "*", "markersize": 8, "linestyle": "none"}
GRID_MINIMUM = {**MINIMUM, "markeredgecolor": "#d62728", "markeredgewidth": 1.5}
GRID_CHOSEN = {
    "marker": "*",
    "markersize": 12,
    "markerfacecolor": "white",
    "markeredgecolor": "black",
    "linestyle": "none",
}
DIVERGED_CELL = "#bbbbbb"
STOPPED = {"linewidth": 0.9, "linestyle": "-."}
DIVERGED = {"color": "#d62728", "linewidth": 1.2, "linestyle": ":"}
RESTORED = {"marker": "*", "markersize": 10, "linestyle": "none"}
BIN_MEAN = {"marker": "o", "markersize": 4, "linestyle": "none"}
DIAGONAL = {"color": "black", "linewidth": 0.8, "linestyle": "--"}


def literal(text: str) -> str:
    """Stored text as matplotlib should draw it: a ``$`` is a dollar sign, not the start of mathtext."""
    return str(text).replace("$", r"\$")


def palette(methods: tuple[str, ...]) -> dict[str, str]:
    """One colour per method, in study order; the unregularized baseline is grey."""
    others = [m for m in methods if m != BASELINE]
    colours = {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(others)}
    return {m: BASELINE_COLOUR if m == BASELINE else colours[m] for m in methods}


@contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib settings, for drawing and for saving."""
    with matplotlib.rc_context(STYLE):
        yield


def to_svg(figure: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no comments)."""
    buffer = io.StringIO()
    with style():
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return re.sub(r"<!--.*?-->\n?", "", text[text.index("<svg") :], flags=re.S)


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    with style():
        figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def comparison_figure(data: StudySummary, colours: dict[str, str]) -> Figure:
    """Test metric and generalization gap per method, each with its 95% interval; baseline and winner marked."""
    rows = data.methods
    metric = literal({"accuracy": "accuracy", "r2": "R²"}.get(data.metric, data.metric))
    with style():
        figure = Figure(figsize=(9.5, 1.2 + 0.42 * len(rows)), layout="constrained")
        test_axes, gap_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
        y = range(len(rows))
        for axes, field in ((test_axes, "test_metric"), (gap_axes, "gap")):
            for i, row in zip(y, rows):
                estimate = getattr(row, field)
                if not math.isfinite(estimate.mean):
                    axes.annotate(
                        literal(row.outcome or "no result"),
                        (0.5, i),
                        xycoords=("axes fraction", "data"),
                        ha="center",
                        va="center",
                        color=colours[row.method],
                        fontstyle="italic",
                    )
                    continue
                error = None
                if math.isfinite(estimate.low) and math.isfinite(estimate.high):
                    error = [[estimate.mean - estimate.low], [estimate.high - estimate.mean]]
                axes.errorbar(
                    estimate.mean,
                    i,
                    xerr=error,
                    fmt="D" if row.method == data.winner else "o",
                    color=colours[row.method],
                    markersize=7 if row.method == data.winner else 5,
                    capsize=4,
                )
        baseline = next((r for r in rows if r.method == data.baseline), None)
        if baseline is not None and math.isfinite(baseline.test_metric.mean):
            test_axes.axvline(
                baseline.test_metric.mean,
                color=BASELINE_COLOUR,
                linestyle="--",
                linewidth=1,
                label=f"{BASELINE} (unregularized)",
            )
            test_axes.legend(loc="lower right")
        gap_axes.axvline(0.0, color="black", linewidth=0.8)
        test_axes.set_yticks(list(y), [_method_tick(r.method, data) for r in rows])
        for tick, row in zip(test_axes.get_yticklabels(), rows):
            tick.set_color(colours[row.method])
            tick.set_fontweight("bold" if row.method == data.winner else "normal")
        test_axes.invert_yaxis()
        test_axes.set_title(f"test {metric} (mean, 95% interval over seeds)")
        test_axes.set_xlabel(f"test {metric}")
        gap_axes.set_title(f"generalization gap: train − test {metric}")
        gap_axes.set_xlabel("gap")
    return figure


def _method_tick(method: str, data: StudySummary) -> str:
    if method == data.winner:
        return literal(f"{method} ★ winner")
    return literal(f"{method} (baseline)" if method == data.baseline else method)


def validation_figure(curves: tuple[ValidationCurve, ...], colours: dict[str, str], rule: str) -> Figure:
    """Cross-validated mean validation loss against strength, ±1 standard error, minimum and 1-SE choice."""
    with style():
        figure, grid = _grid(len(curves), 3.0)
        for axes, curve in zip(grid, curves):
            colour = colours[curve.method]
            x = list(range(len(curve.values))) if curve.categorical else list(curve.values)
            low = [m - s for m, s in zip(curve.mean, curve.se)]
            high = [m + s for m, s in zip(curve.mean, curve.se)]
            axes.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
            for other in curve.other_seeds:
                axes.plot(x, other, color=colour, alpha=0.5, linewidth=0.8, linestyle=":")
            axes.plot(x, curve.mean, color=colour, marker="o", markersize=3)
            axes.axhline(high[curve.best], color="gray", linewidth=0.8, linestyle="--")
            axes.plot(x[curve.best], curve.mean[curve.best], **MINIMUM)
            axes.plot(x[curve.one_se], curve.mean[curve.one_se], **ONE_SE)
            axes.plot(x[curve.chosen], curve.mean[curve.chosen], color="black", **CHOSEN)
            if curve.categorical:
                axes.set_xticks(x, [literal(label) for label in curve.labels], rotation=30, ha="right", fontsize=7)
            elif curve.log_x:
                axes.set_xscale("log")
            axes.set_title(literal(curve.method), color=colour)
            axes.set_xlabel(literal(curve.parameter))
            axes.set_ylabel("CV validation loss")
        entries = [
            ("CV mean, seed 0", {"marker": "o", "markersize": 3}),
            ("±1 standard error", {"linewidth": 8, "alpha": 0.2}),
            ("other seeds", {"linestyle": ":", "linewidth": 0.8}),
            ("minimum + 1 SE", {"color": "gray", "linestyle": "--", "linewidth": 0.8}),
            ("minimum", MINIMUM),
            ("1-SE choice", ONE_SE),
            (f"chosen ({rule} rule)", CHOSEN),
        ]
        _key(figure, [e for e in entries if e[0] != "other seeds" or any(c.other_seeds for c in curves)])
    return figure


def grid_figure(grids: tuple[ValidationGrid, ...], colours: dict[str, str]) -> Figure:
    """Cross-validated mean validation loss over each two-knob grid as a heatmap; minimum and choice marked."""
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=DIVERGED_CELL)
    with style():
        figure, panels = _grid(len(grids), 3.2)
        for axes, grid in zip(panels, grids):
            image = axes.imshow(grid.mean, cmap=cmap, origin="lower", aspect="auto")
            figure.colorbar(image, ax=axes, label="CV validation loss")
            if len(grid.x) * len(grid.y) <= 36:
                for j, row in enumerate(grid.mean):
                    for i, value in enumerate(row):
                        dark = math.isfinite(value) and image.norm(value) < 0.5  # viridis: low is dark
                        axes.text(
                            i,
                            j,
                            f"{value:.3f}" if math.isfinite(value) else "diverged",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="white" if dark else "black",
                        )
            axes.plot(*grid.best, **GRID_MINIMUM)
            if grid.chosen is not None:
                axes.plot(*grid.chosen, **GRID_CHOSEN)
            axes.set_xticks(range(len(grid.x)), [f"{v:.3g}" for v in grid.x], rotation=30, ha="right")
            axes.set_yticks(range(len(grid.y)), [f"{v:.3g}" for v in grid.y])
            axes.grid(False)
            axes.set_title(literal(f"{grid.method} (seed {grid.seed})"), color=colours[grid.method])
            axes.set_xlabel(literal(grid.parameters[0]))
            axes.set_ylabel(literal(grid.parameters[1]))
        _key(figure, [("minimum", GRID_MINIMUM), ("chosen", GRID_CHOSEN)])
    return figure


def learning_figure(curves: tuple[LearningCurve, ...], colours: dict[str, str], training: str) -> Figure:
    """Train (dashed, labelled by what it is: ``training``) and validation (solid) loss per epoch; an early
    stop, a restored epoch and a divergence are marked."""
    with style():
        figure, grid = _grid(len(curves), 2.6)
        for axes, curve in zip(grid, curves):
            colour = colours[curve.method]
            title = curve.method if curve.status == "completed" else f"{curve.method} ({curve.status})"
            axes.set_title(literal(title), color=colour)
            axes.set_xlabel("epoch")
            axes.set_ylabel("loss")
            if not curve.epochs:
                _empty(axes, f"no history ({curve.status})")
                continue
            axes.plot(curve.epochs, curve.train_loss, color=colour, linestyle="--")
            axes.plot(curve.epochs, curve.val_loss, color=colour)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            if curve.stopped is not None:
                axes.axvline(curve.stopped, color="black", **STOPPED)
            if curve.status == "diverged":
                axes.axvline(curve.epochs[-1], **DIVERGED)
            if curve.restored is not None:
                axes.plot(curve.restored, curve.val_loss[curve.epochs.index(curve.restored)], color="black", **RESTORED)
        entries = [(f"train ({training})", {"linestyle": "--"}), ("validation", {})]
        if any(c.stopped is not None for c in curves):
            entries.append(("stopped early", STOPPED))
        if any(c.restored is not None for c in curves):
            entries.append(("restored best epoch", RESTORED))
        if any(c.status == "diverged" and c.epochs for c in curves):
            entries.append(("diverged (NaN or inf loss)", DIVERGED))
        _key(figure, entries)
    return figure


def histogram_figure(histograms: tuple[WeightHistogram, ...], colours: dict[str, str]) -> Figure:
    """Final weights per method on a log count axis; exact zeros and pruned units annotated."""
    with style():
        figure, grid = _grid(len(histograms), 2.4)
        for axes, hist in zip(grid, histograms):
            colour = colours[hist.method]
            _label(axes, hist.method, colour, "weight (clipped to the end bins)", "count")
            if not hist.counts:
                _empty(axes, f"no weights ({hist.status})")
                continue
            widths = [b - a for a, b in zip(hist.edges, hist.edges[1:])]
            axes.bar(hist.edges[:-1], hist.counts, width=widths, align="edge", color=colour, log=True)
            total = sum(hist.counts)
            note = f"exact zeros: {hist.exact_zeros:,}" + (f" ({hist.exact_zeros / total:.1%})" if total else "")
            if hist.units_pruned > 0:
                note += f"\nunits pruned: {hist.units_pruned:,}"
            axes.text(
                0.02,
                0.97,
                note,
                transform=axes.transAxes,
                va="top",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
    return figure


def reliability_figure(diagrams: tuple[ReliabilityDiagram, ...], colours: dict[str, str]) -> Figure:
    """Accuracy against confidence per bin of each method's pooled test predictions: a bar of the bin's
    accuracy over its confidence range, a point at (mean confidence, accuracy), the diagonal of perfect
    calibration; the pooled ECE and the number of predictions annotated."""
    with style():
        figure, grid = _grid(len(diagrams), 3.0)
        for axes, diagram in zip(grid, diagrams):
            colour = colours[diagram.method]
            _label(axes, diagram.method, colour, "confidence (max probability)", "accuracy")
            if diagram.bins is None:
                _empty(axes, "no calibration stored")
                continue
            bins = diagram.bins
            width = 1.0 / len(bins.counts)
            filled = [b for b, n in enumerate(bins.counts) if n]
            axes.bar(
                [b * width for b in filled],
                [bins.accuracy[b] for b in filled],
                width=width,
                align="edge",
                color=colour,
                alpha=0.35,
                edgecolor=colour,
            )
            axes.plot(
                [bins.confidence[b] for b in filled], [bins.accuracy[b] for b in filled], color=colour, **BIN_MEAN
            )
            axes.plot([0, 1], [0, 1], **DIAGONAL)
            axes.set_xlim(0, 1)
            axes.set_ylim(0, 1)
            axes.set_aspect("equal")
            seeds = f"{diagram.seeds} seed{'s' * (diagram.seeds != 1)}"
            axes.text(
                0.03,
                0.97,
                f"pooled ECE {bins.ece:.3f}\n{sum(bins.counts):,} predictions, {seeds}",
                transform=axes.transAxes,
                va="top",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
        _key(
            figure,
            [
                ("accuracy of the bin", {"linewidth": 8, "alpha": 0.35}),
                ("(mean confidence, accuracy)", BIN_MEAN),
                ("perfect calibration", DIAGONAL),
            ],
        )
    return figure


def path_figure(path: RegularizationPath) -> Figure:
    """Coefficients against λ (log axis), the criteria's choices marked; CV and test error beside, when stored."""
    with style():
        panels = 2 if path.cv_mean or path.test_mse else 1
        figure = Figure(figsize=(10.0 if panels == 2 else 7.0, 4.2), layout="constrained")
        axes = figure.subplots(1, panels, squeeze=False)[0]
        lam = list(path.strengths)
        colours = matplotlib.colormaps["tab20"].colors
        for j, name in enumerate(path.feature_names):
            axes[0].plot(
                lam, [row[j] for row in path.coefs], color=colours[j % len(colours)], linewidth=1.2, label=literal(name)
            )
        axes[0].axhline(0.0, color="black", linewidth=0.6)
        axes[0].set_ylabel("coefficient (standardized features)")
        axes[0].set_title(literal(f"{path.penalty} path: coefficients against λ"))
        if panels == 2:
            if path.cv_mean:
                low = [m - s for m, s in zip(path.cv_mean, path.cv_se)]
                high = [m + s for m, s in zip(path.cv_mean, path.cv_se)]
                axes[1].fill_between(lam, low, high, color="#1f77b4", alpha=0.2, linewidth=0)
                axes[1].plot(lam, path.cv_mean, color="#1f77b4", label="CV mean ± 1 SE")
            if path.test_mse:
                axes[1].plot(lam, path.test_mse, color="#ff7f0e", label="test")
            axes[1].set_ylabel("mean squared error")
            axes[1].set_title("error against λ")
        for a in axes:
            a.set_xscale("log")
            a.set_xlabel("λ")
            for k, (criterion, value) in enumerate(path.choices.items()):
                a.axvline(
                    value,
                    color="black",
                    linestyle=CHOICE_STYLES[k % len(CHOICE_STYLES)],
                    linewidth=1,
                    label=literal(f"{criterion}: λ = {value:.3g}") if a is axes[-1] else None,
                )
        if len(path.feature_names) <= 20:
            axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if panels == 2:
            axes[1].legend(loc="best")
    return figure


def _grid(count: int, row_height: float) -> tuple[Figure, list]:
    """A figure with ``count`` small panels, up to three a row."""
    columns = min(COLUMNS, max(count, 1))
    rows = max(1, math.ceil(count / columns))
    figure = Figure(figsize=(3.2 * columns, row_height * rows + 0.4), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def _key(figure: Figure, entries: list[tuple[str, dict]]) -> None:
    """One legend for the whole figure, in black so that it holds for every method's panel."""
    if entries:
        handles = [Line2D([], [], **{"color": "black", **look}) for _, look in entries]
        figure.legend(handles, [label for label, _ in entries], loc="outside lower center", ncols=min(len(entries), 7))


def _label(axes, method: str, colour: str, x: str, y: str) -> None:
    """A method's panel: its name as the title, in its colour, and the axes' labels."""
    axes.set_title(literal(method), color=colour)
    axes.set_xlabel(x)
    axes.set_ylabel(y)


def _empty(axes, text: str) -> None:
    axes.text(0.5, 0.5, literal(text), transform=axes.transAxes, ha="center", va="center", fontstyle="italic")
    axes.set_xticks([])
    axes.set_yticks([])
