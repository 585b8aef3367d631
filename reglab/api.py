"""Studies as Python calls: ``reglab.compare(...)`` and ``reglab.tune(...)`` return a :class:`Study`.

They take the command line's settings as keyword arguments, and a model and data of your own::

    study = reglab.compare(model=build, data=(X, y), methods=["none", "l2", "dropout", "l2+dropout"])
    print(study.table())
    study.to_frame()            # one row per method
    study.best_regularization() # the winner with its chosen strengths

``model`` is a builder (a callable returning a fresh ``nn.Module``), an ``nn.Module`` instance (re-initialized
per trial), one of reglab's architectures ("mlp", "linear", "cnn", or a dict such as ``{"kind": "mlp",
"hidden": [256]}``), or None for reglab's default MLP. ``data`` is a built-in name or a path, ``(X, y)`` arrays
or tensors, a DataFrame with ``target=``, or a ``reglab.Dataset``; ``test_data`` a separate test set.
``store=None`` keeps the trials in memory; a path keeps them in an SQLite file that ``resume=True`` finishes.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from reglab.data import Dataset, as_dataset
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.render import study_title
from reglab.store import Store
from reglab.study.plan import apply_point
from reglab.study.runner import Execute, run_study, study_name
from reglab.study.settings import StudySettings, resolve_model

if TYPE_CHECKING:
    from reglab.results import StudySummary

Progress = Callable[[int, int], None]


@dataclass
class Study:
    """A finished study: its name, settings, typed summary, the store that holds its trials, and its title (the
    name, data, the rows each seed trains and tests on, seeds and rule)."""

    name: str
    settings: StudySettings
    summary: StudySummary
    store: Store
    seconds: float
    title: str
    notes: list[str] = field(default_factory=list)  # what running it said, e.g. failed trials run again on resume

    @property
    def winner(self) -> str | None:
        """The method with the best mean test score (None when the best tie on every seed or none finished)."""
        return self.summary.winner

    def table(self, width: int = 200) -> str:
        """The comparison table the command line prints, and its verdict, as text."""
        from rich.console import Console

        from reglab.render import comparison_table, winner_line

        out = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
        out.print(comparison_table(self.summary, self.title))
        out.print(winner_line(self.summary), highlight=False)
        return out.file.getvalue()

    def to_frame(self):
        """A pandas DataFrame, one row per method: chosen strengths, train and test means, the test interval,
        the test NLL and ECE (mean and sd over seeds; NaN for regression), gap, zeros, weight norm, units
        pruned, the paired p-value against none and the outcome."""
        import pandas as pd

        rows = []
        for m in self.summary.methods:
            versus = m.vs_baseline
            rows.append(
                {
                    "method": m.method,
                    "chosen": m.chosen_label,
                    "train": m.train_metric.mean,
                    "test": m.test_metric.mean,
                    "test_sd": m.test_metric.sd,
                    "test_low": m.test_metric.low,
                    "test_high": m.test_metric.high,
                    "test_nll": m.test_nll.mean,
                    "test_nll_sd": m.test_nll.sd,
                    "test_ece": m.test_ece.mean,
                    "test_ece_sd": m.test_ece.sd,
                    "gap": m.gap.mean,
                    "zeros": m.zeros,
                    "weight_norm": m.weight_norm,
                    "units_pruned": m.units_pruned,
                    "vs_none": versus.mean_diff if versus else math.nan,
                    "p_vs_none": versus.p_value if versus else math.nan,
                    "outcome": m.outcome,
                }
            )
        return pd.DataFrame(rows).set_index("method")

    def best_regularization(self) -> Regularization:
        """The winner's regularization with the strengths its seeds chose most often (ties: the first seed's)."""
        if self.winner is None:
            raise ValueError(f"study {self.name!r} has no winner: {self.summary.tied or 'no method finished'}")
        method = next(m for m in self.summary.methods if m.method == self.winner)
        labels = [tuple(sorted(p.items())) for p in method.chosen]
        point = dict(Counter(labels).most_common(1)[0][0]) if labels else {}
        return replace(apply_point(self.settings.regularization(self.winner), point), tuned=())

    def ran(self) -> dict[str, dict[str, int]]:
        """How each method's trials ran, e.g. ``{"l2": {"stacked with 24 through torch.func": 24}, "dropout":
        {"alone: a loss or metric of its own": 9}}``."""
        counts: dict[str, Counter] = {m.method: Counter() for m in self.summary.methods}
        for record in self.store.trials(self.store.study(self.name).id):
            counts[record.method][record.metrics.get("ran", "alone")] += 1
        return {method: dict(count) for method, count in counts.items()}

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML report (beside the store when ``path`` is None; it is needed for an in-memory store)."""
        from reglab.report import write_report

        if path is None and str(self.store.path) == ":memory:":
            raise ValueError("an in-memory study's report needs a path: study.report('report.html')")
        return write_report(self.store, self.name, path)

    def _repr_html_(self) -> str:
        from html import escape

        from reglab.render import winner_line

        return (
            f"<p><b>{escape(self.title)}</b></p>{self.to_frame().to_html(float_format=lambda v: f'{v:.4g}')}"
            f"<p>{escape(winner_line(self.summary))}</p>"
        )

    def __repr__(self) -> str:
        return f"Study({self.name!r}, winner={self.winner!r}, methods={[m.method for m in self.summary.methods]})"


def compare(
    data: object,
    *,
    model: object = None,
    methods: Sequence[str] | str | None = None,
    target: str | None = None,
    test_data: object = None,
    task: str | None = None,
    impute: bool = False,
    store: str | Path | None = None,
    name: str | None = None,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    strategy: str = "auto",
    progress: bool | Progress = False,
    report: str | Path | None = None,
    **settings: object,
) -> Study:
    """Tune every method by k-fold cross-validation (1-SE rule) on each seed's training part, refit the
    choice, score it on the test set; returns the :class:`Study`.

    ``settings`` are :class:`StudySettings`' fields (``grids``, ``folds``, ``seeds``, ``rule``, ``epochs``,
    ``lr``, ``optimizer``, ``batch_size``, ``test_size``, ``test_split``, ``grid_size``, ``penalty_mode``,
    ``device``, ``params``, ``loss``, ``metric``, ``greater_is_better``, ``num_workers``, ``history``).
    ``workers`` starts a local Dask cluster, ``scheduler`` joins one; ``report`` writes the HTML report there.
    """
    kind = settings.pop("_kind", "compare")  # reglab.tune's own study runs through here too
    known = {f.name for f in fields(StudySettings)} - {"data", "target", "impute", "model", "methods"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown study settings {unknown}: use {', '.join(sorted(known))}")
    dataset = as_dataset(data, target=target, task=task, impute=impute, test_data=test_data)
    label = str(data) if isinstance(data, (str, Path)) else dataset.name
    values = {**settings, "data": label, "target": target, "impute": impute}
    values["model"] = resolve_model(model if model is not None else ModelSpec())
    if methods is not None:
        values["methods"] = methods
    study_settings = StudySettings.from_dict(values)  # bad settings fail before any cluster starts
    with _executor(workers, scheduler, strategy) as execute:
        study = run(
            study_settings,
            dataset=dataset,
            store=store,
            name=name,
            resume=resume,
            execute=execute,
            progress=progress,
            kind=kind,
        )
    if report is not None:
        study.report(report)
    return study


def tune(method: str, data: object, *, grid: Sequence[float] | None = None, **options: object) -> Study:
    """One method's validation curve over its grid (``grid`` for a single tuned name, or ``grids=``), the
    value chosen per seed and the test score; returns the :class:`Study` (its curves in ``summary``).
    ``options`` are :func:`compare`'s keyword arguments."""
    reg = Regularization.parse(method)
    if not reg.tuned:
        raise ValueError(
            f"nothing to tune in {method!r}: name a method without a value, e.g. 'l2' or 'dropout+maxnorm=3'"
        )
    if "methods" in options:
        raise TypeError("tune takes one method, its first argument: use compare for several")
    if grid is not None:
        if len(reg.tuned) != 1:
            raise ValueError(
                f"grid= gives the values of one tuned method; {method!r} tunes {', '.join(reg.tuned)}: "
                "use grids={name: [...]} for each"
            )
        options["grids"] = {**dict(options.get("grids") or {}), reg.tuned[0]: list(grid)}
    return compare(data, methods=(method,), _kind="tune", **options)


def run(
    settings: StudySettings,
    *,
    dataset: Dataset | None = None,
    store: str | Path | Store | None = None,
    name: str | None = None,
    resume: bool = False,
    execute: Execute | None = None,
    progress: bool | Progress = False,
    kind: str = "compare",
) -> Study:
    """Run (or, with ``resume``, finish) a study of ``settings`` and return it; the command line's path too."""
    from reglab.engine import run_jobs

    opened = store if isinstance(store, Store) else Store(":memory:" if store is None else store)
    chosen = study_name(opened, settings, kind, name=name, resume=resume)
    start, notes = time.perf_counter(), []
    with _progress(chosen, progress) as update:
        summary = run_study(
            settings,
            opened,
            chosen,
            resume=resume,
            progress=update,
            dataset=dataset,
            execute=execute or partial(run_jobs, strategy="auto"),
            kind=kind,
            note=notes.append,
        )
    seconds = time.perf_counter() - start
    title = study_title(chosen, opened.study(chosen).settings)
    return Study(chosen, settings, summary, opened, seconds, title, notes)


@contextmanager
def _progress(label: str, progress: bool | Progress) -> Iterator[Progress | None]:
    if callable(progress):
        yield progress
    elif progress:
        from reglab.render import progress_bar

        with progress_bar(label) as update:
            yield update
    else:
        yield None


@contextmanager
def _executor(workers: int | None, scheduler: str | None, strategy: str) -> Iterator[Execute]:
    from reglab.engine import STRATEGIES, run_jobs

    if strategy not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument strategy: expected one of {STRATEGIES}. Received: strategy={strategy!r}"
        )
    if workers is None and not scheduler:
        yield partial(run_jobs, strategy=strategy)
        return
    from reglab.engine.distributed import DaskExecutor

    with DaskExecutor(workers=workers, scheduler=scheduler) as dask_executor:
        yield dask_executor
