"""Honest comparisons across seeds: Student t intervals and paired t-tests.

Two methods run on the same seeds and splits are compared by their per-seed differences, which removes
the variation the seeds share (a paired design). NaN in the inputs gives NaN in the outputs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from reglab.results import Paired


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(
            f"Invalid value for argument confidence: expected a number in (0, 1). Received: confidence={confidence!r}"
        )
    return float(confidence)


def _sample(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-empty 1-D sequence. Received: {values!r}")
    return array


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sd, low, high): the sample mean, its sd (ddof = 1) and the Student t interval

        mean ± t_{(1+c)/2, n−1} · sd / √n.

    With a single value the spread is unknown: sd, low and high are NaN.
    """
    confidence = _check_confidence(confidence)
    x = _sample("values", values)
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return mean, sd, mean - half, mean + half


def paired_comparison(a, b, confidence: float = 0.95) -> Paired:
    """Paired t-test of a − b over the same seeds or splits (scipy's ``ttest_rel``) with its t interval.

    When every difference is the same number d the t statistic is 0/0 or ±d/0: the p-value is 1 for
    d = 0 (no difference at all) and 0 otherwise, with the interval (d, d). With one pair p, low and
    high are NaN and nothing is significant.
    """
    confidence = _check_confidence(confidence)
    a, b = _sample("a", a), _sample("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up (same seeds or splits). Received: len(a)={a.size}, len(b)={b.size}")
    diff = a - b
    mean, _, low, high = mean_interval(diff, confidence)
    if diff.size == 1:
        p_value = math.nan
    elif np.ptp(diff) == 0:
        p_value = 1.0 if mean == 0 else 0.0
        low = high = mean
    else:
        p_value = float(stats.ttest_rel(a, b).pvalue)
    return Paired(mean, low, high, p_value, int(diff.size), bool(p_value < 1 - confidence))
