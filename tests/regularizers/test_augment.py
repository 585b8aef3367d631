"""Augmentations: noise moments within 5 standard errors, shifts of one-hot spikes, zero fill, bad shapes."""

import math

import pytest
import torch

from reglab.regularizers.augment import GaussianNoise, RandomShift, shift


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gaussian_noise_has_mean_zero_and_the_requested_std():
    n, std = 10**6, 0.3
    x = torch.full((1000, 1000), 2.0)
    y = GaussianNoise(std)(x, gen())
    assert torch.equal(x, torch.full((1000, 1000), 2.0))  # a new tensor; the input is untouched
    noise = (y - x).double()
    assert abs(noise.mean().item()) < 5 * std / math.sqrt(n)
    # The sample std of n normal draws has standard error ≈ std / sqrt(2n).
    assert abs(noise.std().item() - std) < 5 * std / math.sqrt(2 * n)


def test_gaussian_noise_is_reproducible_and_rejects_negative_std():
    x = torch.zeros(10)
    assert torch.equal(GaussianNoise(1.0)(x, gen(1)), GaussianNoise(1.0)(x, gen(1)))
    with pytest.raises(ValueError, match="argument std"):
        GaussianNoise(-0.1)


def test_shift_moves_a_spike_by_the_given_amount_with_zero_fill():
    x = torch.zeros(4, 1, 10)
    x[:, 0, 5] = 1.0
    shifts = torch.tensor([[0], [3], [-5], [5]])
    y = shift(x, shifts)
    for row, s in zip(y[:, 0], [0, 3, -5, 5]):
        expected = torch.zeros(10)
        if 0 <= 5 + s < 10:
            expected[5 + s] = 1.0
        assert torch.equal(row, expected)  # the spike that leaves the window is gone: no wrap-around


def test_shift_of_images_moves_rows_and_columns():
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y = shift(x, torch.tensor([[1, -1]]))
    assert torch.equal(y[0, 0], torch.tensor([[0.0, 0.0, 0.0], [2.0, 3.0, 0.0], [5.0, 6.0, 0.0]]))


def test_random_shift_draws_every_integer_in_range_per_sample():
    m, n, length, spike = 2, 500, 21, 10
    x = torch.zeros(n, 2, length)
    x[:, :, spike] = 1.0
    y = RandomShift(m)(x, gen())
    moved = y.argmax(dim=2) - spike
    assert torch.equal(y.sum(dim=2), torch.ones(n, 2))  # one spike, nothing else
    assert torch.equal(moved[:, 0], moved[:, 1])  # channels of a sample move together
    assert set(moved[:, 0].tolist()) == set(range(-m, m + 1))


def test_random_shift_of_images_is_reproducible_and_zero_filled():
    x = torch.ones(50, 3, 8, 8)
    y = RandomShift(3)(x, gen(2))
    assert torch.equal(y, RandomShift(3)(x, gen(2)))
    assert set(y.unique().tolist()) <= {0.0, 1.0} and (y == 0).any()


def test_random_shift_rejects_tables_and_bad_max_shift():
    with pytest.raises(ValueError, match="shape"):
        RandomShift(2)(torch.ones(10, 4), gen())
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="argument max_shift"):
            RandomShift(bad)
