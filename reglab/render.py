"""Output as text, for the terminal and for Python: progress bars, the comparison table and its title (rich),
and JSON-safe values."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from reglab.study.summary import StudySummary


def console() -> Console:
    """Standard output; tables keep their columns when piped (no terminal width to go by)."""
    return Console(width=None if sys.stdout.isatty() else 200)


@contextmanager
def progress_bar(label: str, total: int | None = None, disable: bool = False) -> Iterator[Callable[..., None]]:
    """A bar on stderr; yields ``update(completed, total=None, status="")``."""
    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    err = Console(stderr=True)  # off the terminal a bar shows nothing and would leave a blank line on stderr
    with Progress(*columns, console=err, transient=True, disable=disable or not err.is_terminal) as progress:
        task = progress.add_task(label, total=total, status="")

        def update(completed: int, total: int | None = None, status: str = "") -> None:
            progress.update(task, completed=completed, status=status, **({"total": total} if total else {}))

        yield update


def json_safe(value):
    """NaN and infinities become null, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _pm(mean: float, sd: float) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.4f} ± {sd:.4f}" if math.isfinite(sd) else f"{mean:.4f}"


def _mean(mean: float) -> str:
    return f"{mean:.3f}" if math.isfinite(mean) else "—"


def _ci(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]" if math.isfinite(low) else "—"


def study_title(name: str, settings: dict, *details: str) -> str:
    """A study's name, data, rows (what each seed trains and tests on), seeds and rule, from its stored
    settings, e.g. "compare-digits-1 · digits · train 270 · test 1527 (random 85%, stratified) · 3-fold CV on
    the train rows · 5 seeds · 1se rule"."""
    rows = settings.get("rows") or f"{settings.get('folds', '?')}-fold CV"
    seeds, rule = settings.get("seeds", "?"), settings.get("rule", "1se")
    items = (name, settings.get("data", "?"), rows, f"{seeds} seed{'s' * (seeds != 1)}", f"{rule} rule")
    return " · ".join((*items, *details))


def comparison_table(summary: StudySummary, title: str) -> Table:
    """One row per method; a chosen point of several knobs wraps between them rather than being cut short. A
    classification study also shows the test predictions' NLL and ECE (means over seeds). A caption says
    which methods take two passes a step (SAM)."""
    metric = {"accuracy": "accuracy", "r2": "R²"}.get(summary.metric, summary.metric)
    calibrated = summary.task == "classification"
    doubled = [m.method for m in summary.methods if "sam" in (t.partition("=")[0] for t in m.method.split("+"))]
    caption = (
        f"{', '.join(doubled)}: two forward and backward passes a step (SAM), about twice the time" if doubled else None
    )
    table = Table(title=title, caption=caption)
    table.add_column("method", overflow="fold")
    table.add_column("chosen", overflow="fold")
    calibration = ("NLL", "ECE") if calibrated else ()
    columns = (f"train {metric}", f"test {metric}", "95% CI", *calibration, "gap", "zeros", "pruned", "‖w‖", "vs none")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("outcome")
    for m in summary.methods:
        versus = "—"
        if m.vs_baseline is not None:
            star = " *" if m.vs_baseline.significant else ""
            versus = f"{m.vs_baseline.mean_diff:+.4f} (p={m.vs_baseline.p_value:.2f}){star}"
        name = f"[bold]{m.method}[/bold]" if m.method == summary.winner else m.method
        table.add_row(
            name,
            m.chosen_label.replace(",", ", "),  # l2=0.001, dropout=0.3: a line may break between knobs
            _pm(m.train_metric.mean, m.train_metric.sd),
            _pm(m.test_metric.mean, m.test_metric.sd),
            _ci(m.test_metric.low, m.test_metric.high),
            *((_mean(m.test_nll.mean), _mean(m.test_ece.mean)) if calibrated else ()),
            f"{m.gap.mean:+.4f}" if math.isfinite(m.gap.mean) else "—",
            f"{m.zeros:.1%}" if math.isfinite(m.zeros) else "—",
            f"{m.units_pruned:.1f}" if math.isfinite(m.units_pruned) else "—",
            f"{m.weight_norm:.2f}" if math.isfinite(m.weight_norm) else "—",
            versus,
            m.outcome,
        )
    return table


def winner_line(summary: StudySummary) -> str:
    if summary.tied:
        *others, last = summary.tied
        return f"No winner: {', '.join(others)} and {last} tie on every seed."
    if summary.winner is None:
        return "No method has a test score: every run diverged or failed, or too few test rows to score."
    if summary.runner_up is None:
        return f"Winner: {summary.winner}."
    lead = summary.lead
    if lead is None:
        return f"Winner: {summary.winner} (too few seeds to test its lead over {summary.runner_up})."
    verdict = "significant" if lead.significant else "not significant"
    ahead = f"{lead.mean_diff:+.4f}" if summary.greater_is_better else f"{-lead.mean_diff:.4f} (lower is better)"
    return (
        f"Winner: {summary.winner}, ahead of {summary.runner_up} by {ahead} "
        f"(paired t-test over {lead.n} seeds, p = {lead.p_value:.3f}: {verdict} at 5%)."
    )
