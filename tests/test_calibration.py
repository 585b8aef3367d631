"""NLL, ECE and reliability bins against scikit-learn's log_loss and a plain loop over samples."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import log_loss
from torch import nn

import reglab
from reglab.calibration import Calibration, Reliability, ece, nll, reliability

HAND = torch.tensor(
    [
        [8 / 15, 7 / 15, 0.0],  # confidence exactly on the edge 8/15: bin (7/15, 8/15], index 7
        [1.0, 0.0, 0.0],  # confidence exactly 1: the last bin
        [10 / 15, 3 / 15, 2 / 15],  # on the edge 10/15: bin index 9
        [0.2, 0.7, 0.1],
        [0.3, 0.3, 0.4],
        [0.05, 0.9, 0.05],
        [0.5, 0.25, 0.25],
    ],
    dtype=torch.float64,
)
HAND_Y = torch.tensor([0, 1, 0, 1, 0, 1, 2])


def reference_ece(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    """ECE transcribed sample by sample: bins (b/B, (b+1)/B], the first also holding 0."""
    rows = []
    for p, label in zip(probs.tolist(), y.tolist()):
        predicted = max(range(len(p)), key=lambda k: p[k])  # the first of equal maxima, as torch's argmax
        rows.append((p[predicted], float(predicted == label)))
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in rows if low < c <= high or (b == 0 and c == 0)]
        if inside:
            accuracy = sum(ok for _, ok in inside) / len(inside)
            confidence = sum(c for c, _ in inside) / len(inside)
            total += len(inside) / len(rows) * abs(accuracy - confidence)
    return total


def random_predictions(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, classes, generator=generator, dtype=torch.float64)
    return logits, torch.randint(classes, (n,), generator=generator)


def test_nll_is_scikit_learns_log_loss_of_probabilities_and_of_softmaxed_logits():
    assert nll(HAND, HAND_Y) == pytest.approx(log_loss(HAND_Y, HAND, labels=[0, 1, 2]), rel=1e-12)
    for seed in range(3):
        logits, y = random_predictions(200, 4, seed)
        expected = log_loss(y, logits.softmax(dim=1), labels=range(4))
        assert nll(logits.softmax(dim=1), y) == pytest.approx(expected, rel=1e-12)
        assert nll(logits, y, logits=True) == pytest.approx(expected, rel=1e-9)


def test_a_confident_miss_costs_minus_log_epsilon_as_in_scikit_learn():
    probs, y = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64), torch.tensor([1, 0])
    assert nll(probs, y) == pytest.approx(log_loss(y, probs), rel=1e-12)
    assert math.isfinite(nll(probs, y))


def test_ece_is_a_loop_over_samples_with_edges_a_confidence_of_one_and_empty_bins():
    bins = reliability(HAND, HAND_Y)
    # right-closed bins: 8/15 (with 0.5) in (7/15, 8/15], 10/15 alone in (9/15, 10/15], 1.0 alone in the last
    assert (bins.counts[7], bins.counts[8], bins.counts[9], bins.counts[14]) == (2, 0, 1, 1)
    assert bins.counts[0] == 0 and math.isnan(bins.confidence[0]) and math.isnan(bins.accuracy[0])
    assert ece(HAND, HAND_Y) == pytest.approx(reference_ece(HAND, HAND_Y), abs=1e-15)
    for seed in range(3):
        logits, y = random_predictions(300, 5, seed)
        probs = logits.softmax(dim=1)
        assert ece(probs, y) == pytest.approx(reference_ece(probs, y), abs=1e-12)
        assert ece(logits, y, logits=True) == pytest.approx(reference_ece(probs, y), abs=1e-12)
        assert ece(probs, y, bins=7) == pytest.approx(reference_ece(probs, y, bins=7), abs=1e-12)


def test_a_confidence_of_zero_falls_in_the_first_bin_and_float32_edges_are_compared_as_stored():
    probs = torch.tensor([[0.0, 0.0], [2 / 15, 13 / 15]], dtype=torch.float32)
    bins = reliability(probs, torch.tensor([0, 1]))
    assert bins.counts[0] == 1  # a degenerate row of zeros: confidence 0
    assert ece(probs, torch.tensor([0, 1])) == pytest.approx(reference_ece(probs, torch.tensor([0, 1])), abs=1e-7)


def test_reliability_counts_sum_to_n_and_means_are_those_of_each_bin():
    logits, y = random_predictions(500, 3, 7)
    probs = logits.softmax(dim=1)
    bins = reliability(probs, y)
    assert sum(bins.counts) == 500 and len(bins.counts) == 15
    confidence, predicted = probs.max(dim=1)
    top = [c for c in confidence.tolist() if c > 14 / 15]
    assert bins.confidence[14] == pytest.approx(sum(top) / len(top), rel=1e-12)
    correct = (predicted == y)[confidence > 14 / 15].double().mean().item()
    assert bins.accuracy[14] == pytest.approx(correct, rel=1e-12)


def test_pooled_bins_are_the_bins_of_the_predictions_together():
    parts = [random_predictions(n, 3, seed) for seed, n in enumerate((40, 70, 5))]
    pooled = Reliability.pooled([reliability(logits, y, logits=True) for logits, y in parts])
    together = reliability(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), logits=True)
    assert pooled.counts == together.counts
    for mine, theirs in ((pooled.confidence, together.confidence), (pooled.accuracy, together.accuracy)):
        assert mine == pytest.approx(theirs, rel=1e-12, nan_ok=True)


def test_a_calibration_round_trips_through_its_stored_dict_also_as_strict_json():
    found = reglab.score_calibration(HAND, HAND_Y)
    assert found.nll == nll(HAND, HAND_Y) and found.ece == ece(HAND, HAND_Y)
    assert Calibration.from_dict(found.to_dict()).bins.counts == found.bins.counts
    strict = {**found.to_dict(), "bins": {**found.bins.to_dict(), "confidence": [None] * 15}}
    assert math.isnan(Calibration.from_dict(strict).bins.confidence[3])


def test_mc_dropout_probabilities_are_scored_like_any_classifiers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), reglab.Dropout(0.3), nn.Linear(16, 3))
    X, y = torch.randn(120, 6), torch.randint(3, (120,))
    prediction = reglab.mc_predict(model, X, passes=10, generator_seed=1)
    scored = prediction.calibration(y)
    assert scored.nll == pytest.approx(log_loss(y, prediction.mean.numpy(), labels=[0, 1, 2]), rel=1e-5)
    assert scored.ece == pytest.approx(reference_ece(prediction.mean, y), abs=1e-12)
    with pytest.raises(ValueError, match="regression"):
        reglab.mc_predict(nn.Linear(6, 1), X, passes=2, task="regression").calibration(y)
