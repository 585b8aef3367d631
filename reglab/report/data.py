"""From a stored study to plain figure data: pure functions of what the store holds, nothing trained.

Each function takes stored values (settings, summary, trial records, history rows) and returns frozen
values holding exactly the stored numbers, in the study's method order, so a figure shows the store.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from reglab.calibration import Reliability
from reglab.results import StudySummary, number
from reglab.store import Store, StudyRecord, TrialRecord


@dataclass(frozen=True)
class ValidationCurve:
    """Seed 0's cross-validated mean validation loss over a method's grid (other seeds' means overlaid)."""

    method: str
    parameter: str  # the tuned knob, or "grid point" for a product grid
    values: tuple[float, ...]
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    se: tuple[float, ...]
    best: int  # index of the minimum
    one_se: int  # index of the one-standard-error choice
    chosen: int  # the index the study's rule picked
    other_seeds: tuple[tuple[float, ...], ...]
    categorical: bool  # a product grid: points are labels, not values
    log_x: bool


@dataclass(frozen=True)
class ValidationGrid:
    """A method tuned over two knobs: one seed's cross-validated mean validation loss at every pair of values."""

    method: str
    parameters: tuple[str, str]  # the knobs along x and along y
    x: tuple[float, ...]  # the first knob's grid values
    y: tuple[float, ...]
    mean: tuple[tuple[float, ...], ...]  # one row per y value, one column per x value; NaN where a fold diverged
    best: tuple[int, int]  # (x index, y index) of the minimum
    chosen: tuple[int, int] | None  # the cell of the point the study chose for this seed
    seed: int


@dataclass(frozen=True)
class LearningCurve:
    """Per-epoch losses of a method's chosen configuration, refit on seed 0's training part."""

    method: str
    status: str  # completed | diverged | failed | missing
    epochs: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    stopped: int | None  # last epoch when training ended before the planned epochs
    restored: int | None  # the best epoch whose weights early stopping restored


@dataclass(frozen=True)
class WeightHistogram:
    """The final weights of a method's seed-0 test run."""

    method: str
    status: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    exact_zeros: int
    units_pruned: int


@dataclass(frozen=True)
class ReliabilityDiagram:
    """A method's test predictions at its chosen configuration, every seed's pooled into one set of bins."""

    method: str
    seeds: int  # test trials pooled
    bins: Reliability | None  # None without a stored calibration (regression, or stored before)


@dataclass(frozen=True)
class RegularizationPath:
    penalty: str
    strengths: tuple[float, ...]
    coefs: tuple[tuple[float, ...], ...]  # one row per strength, one column per feature
    feature_names: tuple[str, ...]
    nonzeros: tuple[int, ...]
    choices: dict  # criterion -> chosen strength
    cv_mean: tuple[float, ...]
    cv_se: tuple[float, ...]
    test_mse: tuple[float, ...]

    def nonzeros_at(self, strength: float) -> int | None:
        """Nonzero coefficients at the path's strength nearest ``strength`` (on a log scale)."""
        points = [i for i, s in enumerate(self.strengths) if s > 0 and i < len(self.nonzeros)]
        if not points or not strength > 0:
            return None
        return self.nonzeros[min(points, key=lambda i: abs(math.log(self.strengths[i] / strength)))]


@dataclass(frozen=True)
class RunInfo:
    statuses: dict  # trial status -> count
    trial_seconds: float  # sum over trials
    created: float
    finished: float | None
    reglab_version: str
    torch_version: str

    @property
    def elapsed(self) -> float | None:
        return None if self.finished is None else self.finished - self.created


@dataclass(frozen=True)
class ReportData:
    study: str
    store: str
    status: str
    kind: str  # compare | tune | path
    settings: dict
    methods: tuple[str, ...]
    comparison: StudySummary | None  # None for a path study, and until a study has finished
    curves: tuple[ValidationCurve, ...]
    grids: tuple[ValidationGrid, ...]
    learning: tuple[LearningCurve, ...]
    histograms: tuple[WeightHistogram, ...]
    reliability: tuple[ReliabilityDiagram, ...]
    path: RegularizationPath | None
    run: RunInfo
    command: tuple[str, ...]  # the program and then one flag (with its value) per item


def read_report(store: Store, name: str) -> ReportData:
    """Everything a report shows about study ``name``, read from ``store`` (which is not changed)."""
    study = store.study(name)
    trials = store.trials(study.id)
    stored = study.summary or {}
    kind = "path" if stored.get("kind") == "path" else study.settings.get("kind", "compare")
    summary = StudySummary.from_dict(stored) if kind != "path" and stored.get("methods") else None
    methods = method_order(summary, study.settings, trials)
    tests = chosen_tests(methods, summary, trials)
    rule = study.settings.get("rule", "1se")
    return ReportData(
        study=study.name,
        store=str(store.path),
        status=study.status,
        kind=kind,
        settings=study.settings,
        methods=methods,
        comparison=summary,
        curves=validation_curves(summary, rule),
        grids=validation_grids(summary),
        learning=tuple(learning_curve(m, tests[m], store.history, study.settings.get("epochs")) for m in methods),
        histograms=tuple(weight_histogram(m, tests[m]) for m in methods),
        reliability=tuple(reliability_diagram(m, summary, trials) for m in methods),
        path=regularization_path(stored),
        run=run_info(study, trials),
        command=reproduce_command(kind, study.settings),
    )


def method_order(summary: StudySummary | None, settings: dict, trials: list[TrialRecord]) -> tuple[str, ...]:
    """The study's methods in its own order: the summary's, else the settings', else first seen in trials."""
    if summary is not None:
        return tuple(m.method for m in summary.methods)
    if settings.get("methods"):
        return tuple(settings["methods"])
    return tuple(dict.fromkeys(t.method for t in trials))


def chosen_tests(methods: tuple[str, ...], summary: StudySummary | None, trials: list[TrialRecord]) -> dict:
    """Each method's seed-0 test trial at its chosen point (None where it is not stored)."""
    chosen = {m.method: (m.chosen or [None])[0] for m in summary.methods} if summary is not None else {}
    found = {}
    for method in methods:
        runs = [t for t in trials if t.method == method and t.stage == "test" and t.seed == 0]
        at_point = [t for t in runs if t.config.get("point") == chosen.get(method)]
        found[method] = (at_point or runs or [None])[0]
    return found


def validation_curves(summary: StudySummary | None, rule: str) -> tuple[ValidationCurve, ...]:
    """One curve per method tuned over one knob, or over more than two (their points in grid order): seed 0's
    (or the first stored seed's), with the other seeds' means. Two knobs make a grid instead."""
    curves = []
    for m in summary.methods if summary is not None else ():
        first = _first_seed(m.curves)
        if first is None or len(_knobs(first)) == 2:
            continue
        labels = tuple(first["labels"])
        categorical = len(_knobs(first)) > 1
        values = tuple(number(v) for v in first["values"])
        finite = [v for v in values if math.isfinite(v)]
        log_x = not categorical and bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 10
        curves.append(
            ValidationCurve(
                method=m.method,
                parameter="grid point" if categorical else _knobs(first)[0],
                values=values,
                labels=labels,
                mean=tuple(number(v) for v in first["mean"]),
                se=tuple(number(v) for v in first["se"]),
                best=first["best"],
                one_se=first["one_se"],
                chosen=first["one_se"] if rule == "1se" and not categorical else first["best"],
                other_seeds=tuple(tuple(number(v) for v in c["mean"]) for c in m.curves if c is not first),
                categorical=categorical,
                log_x=log_x,
            )
        )
    return tuple(curves)


def validation_grids(summary: StudySummary | None) -> tuple[ValidationGrid, ...]:
    """One grid per method tuned over two knobs: seed 0's (or the first stored seed's) CV mean loss at every
    pair of values, its minimum, and the point the study chose for that seed."""
    grids = []
    for m in summary.methods if summary is not None else ():
        first = _first_seed(m.curves)
        if first is None or len(_knobs(first)) != 2:
            continue
        points = [_point(label) for label in first["labels"]]
        x_name, y_name = _knobs(first)
        xs = tuple(dict.fromkeys(p[x_name] for p in points))
        ys = tuple(dict.fromkeys(p[y_name] for p in points))
        cells = {(xs.index(p[x_name]), ys.index(p[y_name])): number(v) for p, v in zip(points, first["mean"])}
        seed = first.get("seed", 0)
        chosen = m.chosen[seed] if seed < len(m.chosen) else {}
        best = points[first["best"]]
        grids.append(
            ValidationGrid(
                method=m.method,
                parameters=(x_name, y_name),
                x=xs,
                y=ys,
                mean=tuple(tuple(cells.get((i, j), math.nan) for i in range(len(xs))) for j in range(len(ys))),
                best=(xs.index(best[x_name]), ys.index(best[y_name])),
                chosen=_nearest(xs, chosen.get(x_name), ys, chosen.get(y_name)),
                seed=seed,
            )
        )
    return tuple(grids)


def _first_seed(curves: list[dict]) -> dict | None:
    return min(curves, key=lambda c: c.get("seed", 0)) if curves else None


def _knobs(curve: dict) -> tuple[str, ...]:
    """The tuned knobs of a stored curve, from its first label (``l2=0.001,dropout=0.1``)."""
    return tuple(_point(curve["labels"][0])) if curve.get("labels") else ()


def _point(label: str) -> dict[str, float]:
    return {name: float(value) for name, value in (part.split("=", 1) for part in label.split(","))}


def _nearest(xs: tuple[float, ...], x: float | None, ys: tuple[float, ...], y: float | None) -> tuple[int, int] | None:
    """The grid cell of a chosen point (labels keep 6 significant digits; the point keeps them all)."""
    if x is None or y is None:
        return None
    return (min(range(len(xs)), key=lambda i: abs(xs[i] - x)), min(range(len(ys)), key=lambda j: abs(ys[j] - y)))


def training_curve(settings: dict) -> str:
    """What a study's training loss per epoch is: the running mean over the epoch's minibatches, or with
    history "exact" (and in every study stored before the running mean) the training rows scored."""
    if settings.get("history", "exact") == "exact":
        return "training rows scored after each epoch"
    return "running mean over the epoch's minibatches"


def learning_curve(
    method: str, trial: TrialRecord | None, history: Callable[[int], list[dict]], planned_epochs: int | None
) -> LearningCurve:
    """Train and validation loss per epoch of ``trial``; where it stopped early and which epoch it restored."""
    if trial is None:
        return LearningCurve(method, "missing", (), (), (), None, None)
    rows = history(trial.id)
    epochs = tuple(int(r.get("epoch", i)) for i, r in enumerate(rows))
    val = tuple(number(r.get("val_loss")) for r in rows)
    stopped = epochs[-1] if trial.status == "completed" and planned_epochs and 0 < len(rows) < planned_epochs else None
    restored = None
    if trial.status == "completed" and trial.config.get("regularization", {}).get("early_stopping") is not None:
        finite = [i for i, v in enumerate(val) if math.isfinite(v)]
        restored = epochs[min(finite, key=lambda i: val[i])] if finite else None
    return LearningCurve(
        method, trial.status, epochs, tuple(number(r.get("train_loss")) for r in rows), val, stopped, restored
    )


def weight_histogram(method: str, trial: TrialRecord | None) -> WeightHistogram:
    stored = trial.metrics.get("weight_histogram") if trial is not None else None
    status = "missing" if trial is None else trial.status
    if not stored:
        return WeightHistogram(method, status, (), (), 0, 0)
    return WeightHistogram(
        method,
        status,
        tuple(stored["edges"]),
        tuple(stored["counts"]),
        int(stored.get("exact_zeros", 0)),
        int(trial.metrics.get("units_pruned", 0)),
    )


def reliability_diagram(method: str, summary: StudySummary | None, trials: list[TrialRecord]) -> ReliabilityDiagram:
    """The reliability bins of ``method``'s completed test trials, each at the point its seed chose, pooled
    over seeds (``Reliability.pooled``)."""
    chosen = next((m.chosen for m in summary.methods if m.method == method), []) if summary is not None else []
    runs = [
        t
        for t in trials
        if t.method == method
        and t.stage == "test"
        and t.status == "completed"
        and (t.metrics.get("eval_calibration") or {}).get("bins")
        and (t.seed >= len(chosen) or t.config.get("point") == chosen[t.seed])
    ]
    if not runs:
        return ReliabilityDiagram(method, 0, None)
    bins = [Reliability.from_dict(t.metrics["eval_calibration"]["bins"]) for t in runs]
    return ReliabilityDiagram(method, len(runs), Reliability.pooled(bins))


def regularization_path(summary: dict) -> RegularizationPath | None:
    if summary.get("kind") != "path":
        return None
    coefs = tuple(tuple(number(c) for c in row) for row in summary["coefs"])
    width = len(coefs[0]) if coefs else 0
    names = tuple(summary.get("feature_names") or (f"x{j}" for j in range(width)))
    return RegularizationPath(
        penalty=summary.get("penalty", ""),
        strengths=tuple(number(s) for s in summary["strengths"]),
        coefs=coefs,
        feature_names=names,
        nonzeros=tuple(summary.get("nonzeros", ())),
        choices=dict(summary.get("choices", {})),
        cv_mean=tuple(number(v) for v in summary.get("cv_mean", ())),
        cv_se=tuple(number(v) for v in summary.get("cv_se", ())),
        test_mse=tuple(number(v) for v in summary.get("test_mse", ())),
    )


def run_info(study: StudyRecord, trials: list[TrialRecord]) -> RunInfo:
    return RunInfo(
        dict(Counter(t.status for t in trials)),
        sum(t.seconds for t in trials),
        study.created,
        study.finished,
        _version("reglab"),
        _version("torch"),
    )


# stored values without a flag: settings a study takes from Python only, the data's fingerprint, its rows and
# the results version
PYTHON_ONLY = ("loss", "metric", "greater_is_better", "num_workers", "data_fingerprint", "rows", "results_version")


def reproduce_command(kind: str, settings: dict) -> tuple[str, ...]:
    """``reglab compare`` (``tune METHOD``, ``path``) and one shell-quoted flag per item, for every stored
    setting that has a flag."""
    flags = []
    if kind == "tune":  # its one method is an argument
        kind = f"tune {shlex.quote(settings['methods'][0])}"
        settings = {key: value for key, value in settings.items() if key != "methods"}
    for key, value in sorted(settings.items()):
        flag = f"--{key.replace('_', '-')}"
        if key in ("kind", *PYTHON_ONLY) or value is None or value is False:
            continue
        if key == "model" and isinstance(value, dict) and value.get("kind") == "custom":
            flags.append(["--model", str(value.get("name"))])  # the import string it was given as
        elif key == "model" and isinstance(value, dict):
            flags.append(["--model", str(value.get("kind", "mlp"))])
            if value.get("hidden"):
                flags.append(["--hidden", ",".join(str(h) for h in value["hidden"])])
            if value.get("activation"):
                flags.append(["--activation", str(value["activation"])])
        elif key == "grids" and isinstance(value, dict):
            flags += [
                ["--grid", f"{name}={','.join(repr(float(v)) for v in grid)}"] for name, grid in sorted(value.items())
            ]
        elif value is True:
            flags.append([flag])
        elif not isinstance(value, dict):
            flags.append([flag, ",".join(str(v) for v in value) if isinstance(value, list) else str(value)])
    return (f"reglab {kind}", *(" ".join(shlex.quote(part) for part in f) for f in flags))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
