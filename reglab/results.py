"""A study's answer as plain values: per-method scores with 95% intervals, paired comparisons, the winner.

The store keeps :meth:`StudySummary.to_dict`; :meth:`StudySummary.from_dict` reads it back, also from a
summary stored by an earlier reglab (a field it lacks is empty: NaN, ``""``, ``[]`` or ``None``). The
standard library only, so that the report reads a summary without PyTorch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

BASELINE = "none"  # the unregularized method that every other is compared with


@dataclass(frozen=True)
class Interval:
    """A mean over seeds, its sd and its 95% t-interval."""

    mean: float
    sd: float
    low: float
    high: float

    @classmethod
    def from_dict(cls, stored: dict | None = None) -> Interval:
        """A stored interval; a missing one (None) is all NaN."""
        stored = stored or {}
        return cls(*(number(stored.get(k)) for k in ("mean", "sd", "low", "high")))


@dataclass(frozen=True)
class Paired:
    mean_diff: float  # mean of a − b
    low: float  # Student t interval of the mean difference
    high: float
    p_value: float  # two-sided paired t-test of "mean difference = 0"
    n: int  # number of pairs
    significant: bool  # p_value < 1 − confidence, i.e. the interval excludes 0

    @classmethod
    def from_dict(cls, stored: dict | None) -> Paired | None:
        if not stored:
            return None
        return cls(
            *(number(stored.get(k)) for k in ("mean_diff", "low", "high", "p_value")),
            int(stored.get("n") or 0),
            bool(stored.get("significant")),
        )


@dataclass
class MethodSummary:
    method: str
    chosen: list[dict]  # the chosen grid point of each seed
    train_metric: Interval
    test_metric: Interval
    gap: Interval
    zeros: float
    weight_norm: float
    units_pruned: float
    outcome: str  # completed, or e.g. "diverged 1/3"
    test_values: list[float]  # per seed, NaN where a run diverged or failed
    vs_baseline: Paired | None = None
    curves: list[dict] = field(default_factory=list)  # per seed: values, mean, se, best, one_se, labels
    test_nll: Interval = field(default_factory=Interval.from_dict)  # classification: the test NLL over seeds
    test_ece: Interval = field(default_factory=Interval.from_dict)  # and the test ECE; NaN for regression

    @property
    def chosen_label(self) -> str:
        """The chosen values over seeds, e.g. ``l2=0.00316`` or ``l2=0.001 | l2=0.01`` when seeds differ."""
        labels = [",".join(f"{k}={v:.3g}" for k, v in p.items()) or "-" for p in self.chosen]
        unique = sorted(set(labels), key=labels.index)
        return "fixed" if unique == ["-"] else " | ".join(unique)

    @classmethod
    def from_dict(cls, stored: dict) -> MethodSummary:
        return cls(
            method=stored["method"],
            chosen=list(stored.get("chosen") or []),
            train_metric=Interval.from_dict(stored.get("train_metric")),
            test_metric=Interval.from_dict(stored.get("test_metric")),
            gap=Interval.from_dict(stored.get("gap")),
            zeros=number(stored.get("zeros")),
            weight_norm=number(stored.get("weight_norm")),
            units_pruned=number(stored.get("units_pruned")),
            outcome=stored.get("outcome") or "",
            test_values=[number(v) for v in stored.get("test_values") or []],
            vs_baseline=Paired.from_dict(stored.get("vs_baseline")),
            curves=list(stored.get("curves") or []),
            test_nll=Interval.from_dict(stored.get("test_nll")),
            test_ece=Interval.from_dict(stored.get("test_ece")),
        )


@dataclass
class StudySummary:
    task: str
    metric: str  # accuracy | r2
    methods: list[MethodSummary]
    winner: str | None  # None when nothing finished, or when the best two tie on every seed
    runner_up: str | None
    lead: Paired | None  # winner minus runner-up over the same seeds
    tied: list[str] = field(default_factory=list)  # the best methods, when their test scores are equal on every seed
    greater_is_better: bool = True  # of the metric: False for a user's error-like metric

    @property
    def winner_significant(self) -> bool:
        return bool(self.lead and self.lead.significant)

    @property
    def baseline(self) -> str | None:
        """The unregularized method, when the study has it."""
        return BASELINE if any(m.method == BASELINE for m in self.methods) else None

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "metric": self.metric,
            "methods": [asdict(m) | {"chosen_label": m.chosen_label} for m in self.methods],
            "winner": self.winner,
            "runner_up": self.runner_up,
            "winner_significant": self.winner_significant,
            "tied": self.tied,
            "lead": asdict(self.lead) if self.lead else None,
            "greater_is_better": self.greater_is_better,
        }

    @classmethod
    def from_dict(cls, stored: dict) -> StudySummary:
        """The summary :meth:`to_dict` stored (its derived keys, such as ``chosen_label``, are recomputed)."""
        return cls(
            task=stored.get("task") or "",
            metric=stored.get("metric") or "",
            methods=[MethodSummary.from_dict(m) for m in stored.get("methods") or []],
            winner=stored.get("winner"),
            runner_up=stored.get("runner_up"),
            lead=Paired.from_dict(stored.get("lead")),
            tied=list(stored.get("tied") or []),
            greater_is_better=stored.get("greater_is_better", True),
        )


def number(value) -> float:
    """A stored number as a float; a missing one (``None``) is NaN."""
    return math.nan if value is None else float(value)
