"""From a stored study to plain figure data: pure functions of what the store holds, nothing trained.

Each function takes stored values (settings, summary, trial records, history rows) and returns frozen
values holding exactly the stored numbers, in the study's method order, so a figure shows the store.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

from reglab.store import Store, StudyRecord, TrialRecord

BASELINE = "none"
NAN = math.nan


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% interval."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, stored: dict | None) -> "Estimate":
        stored = stored or {}
        return cls(*(_number(stored.get(k)) for k in ("mean", "low", "high")))


@dataclass(frozen=True)
class MethodResult:
    """One method's row of the comparison."""

    method: str
    chosen: str
    train: Estimate
    test: Estimate
    gap: Estimate
    test_values: tuple[float, ...]  # per seed, NaN where a run diverged or failed
    zeros: float  # fraction of exact zero weights
    weight_norm: float
    units_pruned: float
    outcome: str
    vs_baseline: dict | None  # paired difference to the baseline: mean_diff, low, high, p_value, n, significant


@dataclass(frozen=True)
class Comparison:
    task: str
    metric: str  # accuracy | r2
    methods: tuple[MethodResult, ...]
    baseline: str | None  # the unregularized method, when the study has it
    winner: str | None
    runner_up: str | None
    winner_significant: bool
    lead: dict | None  # winner minus runner-up, paired over seeds
    tied: tuple[str, ...] = ()  # the best methods, when they tie on every seed (then there is no winner)


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
    comparison: Comparison | None
    curves: tuple[ValidationCurve, ...]
    learning: tuple[LearningCurve, ...]
    histograms: tuple[WeightHistogram, ...]
    path: RegularizationPath | None
    run: RunInfo
    command: tuple[str, ...]  # the program and then one flag (with its value) per item


def read_report(store: Store, name: str) -> ReportData:
    """Everything a report shows about study ``name``, read from ``store`` (which is not changed)."""
    study = store.study(name)
    trials = store.trials(study.id)
    summary = study.summary or {}
    kind = "path" if summary.get("kind") == "path" else study.settings.get("kind", "compare")
    methods = method_order(study, trials)
    tests = chosen_tests(methods, summary, trials)
    return ReportData(
        study=study.name,
        store=str(store.path),
        status=study.status,
        kind=kind,
        settings=study.settings,
        methods=methods,
        comparison=comparison(summary),
        curves=validation_curves(summary, study.settings.get("rule", "1se")),
        learning=tuple(learning_curve(m, tests[m], store.history, study.settings.get("epochs")) for m in methods),
        histograms=tuple(weight_histogram(m, tests[m]) for m in methods),
        path=regularization_path(summary),
        run=run_info(study, trials),
        command=reproduce_command(kind, study.settings),
    )


def method_order(study: StudyRecord, trials: list[TrialRecord]) -> tuple[str, ...]:
    """The study's methods in its own order: the summary's, else the settings', else first seen in trials."""
    summary = study.summary or {}
    if summary.get("methods"):
        return tuple(m["method"] for m in summary["methods"])
    if study.settings.get("methods"):
        return tuple(study.settings["methods"])
    return tuple(dict.fromkeys(t.method for t in trials))


def chosen_tests(methods: tuple[str, ...], summary: dict, trials: list[TrialRecord]) -> dict:
    """Each method's seed-0 test trial at its chosen point (None where it is not stored)."""
    chosen = {m["method"]: (m.get("chosen") or [None])[0] for m in summary.get("methods", [])}
    found = {}
    for method in methods:
        runs = [t for t in trials if t.method == method and t.stage == "test" and t.seed == 0]
        at_point = [t for t in runs if t.config.get("point") == chosen.get(method)]
        found[method] = (at_point or runs or [None])[0]
    return found


def comparison(summary: dict) -> Comparison | None:
    if not summary.get("methods"):
        return None
    rows = tuple(
        MethodResult(
            method=m["method"],
            chosen=m.get("chosen_label", ""),
            train=Estimate.of(m.get("train_metric")),
            test=Estimate.of(m.get("test_metric")),
            gap=Estimate.of(m.get("gap")),
            test_values=tuple(_number(v) for v in m.get("test_values", [])),
            zeros=_number(m.get("zeros")),
            weight_norm=_number(m.get("weight_norm")),
            units_pruned=_number(m.get("units_pruned")),
            outcome=m.get("outcome", ""),
            vs_baseline=m.get("vs_baseline"),
        )
        for m in summary["methods"]
    )
    names = [r.method for r in rows]
    return Comparison(summary.get("task", ""), summary.get("metric", ""), rows, BASELINE if BASELINE in names else None,
                      summary.get("winner"), summary.get("runner_up"), bool(summary.get("winner_significant")),
                      summary.get("lead"), tuple(summary.get("tied") or ()))


def validation_curves(summary: dict, rule: str) -> tuple[ValidationCurve, ...]:
    """One curve per tuned method: seed 0's (or the first stored seed's), with the other seeds' means."""
    curves = []
    for m in summary.get("methods", []):
        stored = m.get("curves") or []
        if not stored:
            continue
        first = min(stored, key=lambda c: c.get("seed", 0))
        labels = tuple(first["labels"])
        categorical = any("," in label for label in labels)
        values = tuple(_number(v) for v in first["values"])
        finite = [v for v in values if math.isfinite(v)]
        log_x = not categorical and bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 10
        curves.append(ValidationCurve(
            method=m["method"],
            parameter="grid point" if categorical else labels[0].split("=")[0],
            values=values,
            labels=labels,
            mean=tuple(_number(v) for v in first["mean"]),
            se=tuple(_number(v) for v in first["se"]),
            best=first["best"],
            one_se=first["one_se"],
            chosen=first["one_se"] if rule == "1se" and not categorical else first["best"],
            other_seeds=tuple(tuple(_number(v) for v in c["mean"]) for c in stored if c is not first),
            categorical=categorical,
            log_x=log_x,
        ))
    return tuple(curves)


def learning_curve(method: str, trial: TrialRecord | None, history: Callable[[int], list[dict]],
                   planned_epochs: int | None) -> LearningCurve:
    """Train and validation loss per epoch of ``trial``; where it stopped early and which epoch it restored."""
    if trial is None:
        return LearningCurve(method, "missing", (), (), (), None, None)
    rows = history(trial.id)
    epochs = tuple(int(r.get("epoch", i)) for i, r in enumerate(rows))
    val = tuple(_number(r.get("val_loss")) for r in rows)
    stopped = epochs[-1] if trial.status == "completed" and planned_epochs and 0 < len(rows) < planned_epochs else None
    restored = None
    if trial.status == "completed" and trial.config.get("regularization", {}).get("early_stopping") is not None:
        finite = [i for i, v in enumerate(val) if math.isfinite(v)]
        restored = epochs[min(finite, key=lambda i: val[i])] if finite else None
    return LearningCurve(method, trial.status, epochs, tuple(_number(r.get("train_loss")) for r in rows), val,
                         stopped, restored)


def weight_histogram(method: str, trial: TrialRecord | None) -> WeightHistogram:
    stored = trial.metrics.get("weight_histogram") if trial is not None else None
    status = "missing" if trial is None else trial.status
    if not stored:
        return WeightHistogram(method, status, (), (), 0, 0)
    return WeightHistogram(method, status, tuple(stored["edges"]), tuple(stored["counts"]),
                           int(stored.get("exact_zeros", 0)), int(trial.metrics.get("units_pruned", 0)))


def regularization_path(summary: dict) -> RegularizationPath | None:
    if summary.get("kind") != "path":
        return None
    coefs = tuple(tuple(_number(c) for c in row) for row in summary["coefs"])
    width = len(coefs[0]) if coefs else 0
    names = tuple(summary.get("feature_names") or (f"x{j}" for j in range(width)))
    return RegularizationPath(
        penalty=summary.get("penalty", ""),
        strengths=tuple(_number(s) for s in summary["strengths"]),
        coefs=coefs,
        feature_names=names,
        nonzeros=tuple(summary.get("nonzeros", ())),
        choices=dict(summary.get("choices", {})),
        cv_mean=tuple(_number(v) for v in summary.get("cv_mean", ())),
        cv_se=tuple(_number(v) for v in summary.get("cv_se", ())),
        test_mse=tuple(_number(v) for v in summary.get("test_mse", ())),
    )


def run_info(study: StudyRecord, trials: list[TrialRecord]) -> RunInfo:
    return RunInfo(dict(Counter(t.status for t in trials)), sum(t.seconds for t in trials), study.created,
                   study.finished, _version("reglab"), _version("torch"))


def reproduce_command(kind: str, settings: dict) -> tuple[str, ...]:
    """``reglab compare`` (``tune METHOD``, ``path``) and one shell-quoted flag per item, for every stored
    setting that has a flag."""
    flags = []
    if kind == "tune":  # its one method is an argument
        kind = f"tune {shlex.quote(settings['methods'][0])}"
        settings = {key: value for key, value in settings.items() if key != "methods"}
    for key, value in sorted(settings.items()):
        flag = f"--{key.replace('_', '-')}"
        if key == "kind" or value is None or value is False:
            continue
        if key == "model" and isinstance(value, dict):
            flags.append(["--model", str(value.get("kind", "mlp"))])
            if value.get("hidden"):
                flags.append(["--hidden", ",".join(str(h) for h in value["hidden"])])
            if value.get("activation"):
                flags.append(["--activation", str(value["activation"])])
        elif key == "grids" and isinstance(value, dict):
            flags += [["--grid", f"{name}={','.join(repr(float(v)) for v in grid)}"]
                      for name, grid in sorted(value.items())]
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


def _number(value) -> float:
    return NAN if value is None else float(value)
