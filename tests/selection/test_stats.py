"""Intervals and paired comparisons checked against scipy.stats computed here."""

import math

import numpy as np
import pytest
from scipy import stats

from reglab.selection import mean_interval, paired_comparison


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 5, 30])
def test_mean_interval_is_the_student_t_interval(n, confidence):
    x = np.random.default_rng(n).normal(3.0, 2.0, size=n)
    mean, sd, low, high = mean_interval(x, confidence)
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * np.std(x, ddof=1) / math.sqrt(n)
    assert mean == pytest.approx(np.mean(x), rel=1e-12)
    assert sd == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert (low, high) == pytest.approx((np.mean(x) - half, np.mean(x) + half), rel=1e-12)
    reference = stats.t.interval(confidence, n - 1, loc=np.mean(x), scale=stats.sem(x))
    assert (low, high) == pytest.approx(reference, rel=1e-12)


def test_mean_interval_edge_cases():
    mean, sd, low, high = mean_interval([4.0])
    assert mean == 4.0 and math.isnan(sd) and math.isnan(low) and math.isnan(high)
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 0.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="values"):
        mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.0)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.5])
def test_paired_comparison_is_scipys_paired_t_test(shift):
    rng = np.random.default_rng(7)
    seed_effect = rng.normal(0, 5, size=8)  # shared by both methods: pairing removes it
    a = seed_effect + shift + rng.normal(0, 0.5, size=8)
    b = seed_effect + rng.normal(0, 0.5, size=8)
    result = paired_comparison(a, b)
    reference = stats.ttest_rel(a, b)
    d = a - b
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.mean_diff == pytest.approx(d.mean(), rel=1e-12)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-12)
    assert result.n == 8
    assert result.significant == (reference.pvalue < 0.05) == (low > 0 or high < 0)
    if shift > 0:  # the seed effect swamps an unpaired test
        assert result.p_value < stats.ttest_ind(a, b).pvalue


def test_constant_differences_are_not_nan():
    same = paired_comparison([0.3, 0.5, 0.9], [0.3, 0.5, 0.9])
    assert (same.mean_diff, same.low, same.high, same.p_value, same.significant) == (0.0, 0.0, 0.0, 1.0, False)
    shifted = paired_comparison([2.0, 3.0, 5.0], [1.0, 2.0, 4.0])
    assert (shifted.mean_diff, shifted.low, shifted.high, shifted.p_value) == (1.0, 1.0, 1.0, 0.0)
    assert shifted.significant


def test_paired_comparison_edge_cases():
    one = paired_comparison([1.0], [0.0])
    assert one.n == 1 and math.isnan(one.p_value) and math.isnan(one.low) and not one.significant
    with pytest.raises(ValueError, match="pair"):
        paired_comparison([1.0, 2.0], [1.0])
    nan = paired_comparison([1.0, np.nan, 2.0], [0.5, 0.2, 0.1])
    assert math.isnan(nan.mean_diff) and math.isnan(nan.p_value) and not nan.significant
