"""From stored trials to answers: validation curves, chosen strengths, test scores with intervals, the winner.

Everything here is computed from ``TrialRecord`` values alone, so a fresh, resumed or distributed study
that holds the same trials gives the same summary.
"""

from __future__ import annotations

import math

import numpy as np

from reglab.results import BASELINE, Interval, MethodSummary, Paired, StudySummary
from reglab.selection.cv import CVCurve, cv_curve
from reglab.selection.stats import mean_interval, paired_comparison
from reglab.store import TrialRecord
from reglab.study.plan import grid_points, point_label, stronger_direction, test_trial_key
from reglab.study.settings import StudySettings

METRIC_RANGES = {"classification": (0.0, 1.0), "regression": (-math.inf, 1.0)}  # accuracy, R²


def interval(values: list[float], within: tuple[float, float] = (-math.inf, math.inf)) -> Interval:
    """Mean, sd and the 95% t-interval of the finite values, the interval clipped to ``within`` (the range the
    quantity can take: an accuracy's t-interval would otherwise reach past 1)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return Interval(math.nan, math.nan, math.nan, math.nan)
    mean, sd, low, high = mean_interval(finite)
    return Interval(mean, sd, max(low, within[0]), min(high, within[1]))


def choose(settings: StudySettings, method: str, seed: int, records: list[TrialRecord]) -> tuple[dict, CVCurve | None]:
    """The grid point a seed's cross-validation picks (min or 1-SE rule), with its curve."""
    reg = settings.regularization(method)
    points = grid_points(settings, reg)
    if not reg.tuned:
        return {}, None
    loss = {
        (point_label(r.config["point"]), r.fold): r.metrics.get("eval_loss", math.nan)
        for r in records
        if r.method == method and r.stage == "cv" and r.seed == seed
    }
    table = np.array([[_finite_or_nan(loss.get((point_label(p), f))) for f in range(settings.folds)] for p in points])
    single = len(reg.tuned) == 1
    values = [p[reg.tuned[0]] for p in points] if single else list(range(len(points)))
    if not np.isfinite(table).all(axis=1).any():
        return points[0], None
    curve = cv_curve(values, table, stronger_direction(reg))
    index = curve.one_se_index if settings.rule == "1se" and single else curve.best_index
    return points[index], curve


def _finite_or_nan(value) -> float:
    return math.nan if value is None or not math.isfinite(value) else float(value)


def summarize_study(settings: StudySettings, records: list[TrialRecord], task: str) -> StudySummary:
    own = settings.metric_name  # a user's metric: its own range, and its own direction
    within = (-math.inf, math.inf) if own else METRIC_RANGES[task]
    sign = 1.0 if settings.greater_is_better else -1.0
    summaries = [_summarize_method(settings, m, records, within) for m in settings.methods]
    by_name = {s.method: s for s in summaries}
    baseline = by_name.get(BASELINE)
    for s in summaries:
        if baseline is not None and s is not baseline:
            s.vs_baseline = _paired(s.test_values, baseline.test_values)
    ranked = sorted(
        (s for s in summaries if math.isfinite(s.test_metric.mean)), key=lambda s: -sign * s.test_metric.mean
    )
    winner = ranked[0] if ranked else None
    runner_up = ranked[1] if len(ranked) > 1 else None
    lead = _paired(winner.test_values, runner_up.test_values) if winner and runner_up else None
    metric = own or ("accuracy" if task == "classification" else "r2")
    if winner and runner_up and winner.test_values == runner_up.test_values:
        tied = [s.method for s in ranked if s.test_values == winner.test_values]
        return StudySummary(task, metric, summaries, None, None, None, tied, settings.greater_is_better)
    names = (winner.method if winner else None, runner_up.method if runner_up else None)
    return StudySummary(task, metric, summaries, *names, lead, greater_is_better=settings.greater_is_better)


def _paired(a: list[float], b: list[float]) -> Paired | None:
    pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 2:
        return None
    return paired_comparison([x for x, _ in pairs], [y for _, y in pairs])


def _summarize_method(
    settings: StudySettings, method: str, records: list[TrialRecord], metric_range: tuple[float, float]
) -> MethodSummary:
    chosen, curves, tests = [], [], []
    for seed in range(settings.seeds):
        point, curve = choose(settings, method, seed, records)
        chosen.append(point)
        if curve is not None:
            curves.append(
                {
                    "seed": seed,
                    "values": curve.values.tolist(),
                    "mean": curve.mean.tolist(),
                    "se": curve.se.tolist(),
                    "best": curve.best_index,
                    "one_se": curve.one_se_index,
                    "labels": [point_label(p) for p in grid_points(settings, settings.regularization(method))],
                }
            )
        key = test_trial_key(method, point, seed)
        tests.append(next((r for r in records if r.key == key), None))
    metric = [r.metrics.get("eval_metric", math.nan) if r and r.status == "completed" else math.nan for r in tests]
    train = [r.metrics.get("train_metric", math.nan) if r and r.status == "completed" else math.nan for r in tests]
    done = [r for r in tests if r is not None and r.status == "completed"]
    calibration = [r.metrics.get("eval_calibration") or {} for r in done]  # none for regression, or stored before
    bad = ["missing" if r is None else r.status for r in tests if r is None or r.status != "completed"]
    outcome = "completed" if not bad else f"{max(set(bad), key=bad.count)} {len(bad)}/{len(tests)}"
    return MethodSummary(
        method=method,
        chosen=chosen,
        train_metric=interval(train, metric_range),
        test_metric=interval(metric, metric_range),
        gap=interval([a - b for a, b in zip(train, metric)]),
        zeros=_mean([r.metrics.get("zeros", math.nan) for r in done]),
        weight_norm=_mean([r.metrics.get("weight_norm", math.nan) for r in done]),
        units_pruned=_mean([r.metrics.get("units_pruned", math.nan) for r in done]),
        outcome=outcome,
        test_values=metric,
        curves=curves,
        test_nll=interval([c.get("nll") for c in calibration], (0.0, math.inf)),
        test_ece=interval([c.get("ece") for c in calibration], (0.0, 1.0)),
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan
