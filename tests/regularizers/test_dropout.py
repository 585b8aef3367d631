"""The dropout family against its definition: moments of the noise, masks, modes and seeds.

Tolerances are 5 standard errors of the statistic under the layer's own distribution (a false alarm has
probability < 1e-6 per check); the seeds are fixed, so every run is the same.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab.noise import StackedNoise, noise_layers, seed_noise
from reglab.regularizers.dropout import (
    DropConnect,
    DropConnectLinear,
    Dropout,
    GaussianDropout,
    SpatialDropout,
    dropout,
    gaussian_dropout,
    spatial_dropout,
)

N = 10**6


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_mean_and_drops_a_fraction_p(p):
    y = dropout(torch.ones(N), p, training=True, generator=gen())
    # y = m / (1 − p) with m ~ Bernoulli(1 − p): mean 1, standard deviation sqrt(p / (1 − p)).
    assert abs(y.mean().item() - 1) < 5 * math.sqrt(p / (1 - p) / N)
    assert abs((y == 0).double().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / N)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])


@pytest.mark.parametrize("function", [dropout, gaussian_dropout])
def test_identity_in_evaluation_and_for_p_zero(function):
    x = torch.randn(50, 7)
    assert function(x, 0.5, training=False) is x
    assert torch.equal(function(x, 0.0, training=True), x)


def test_same_generator_seed_gives_the_same_mask():
    x = torch.ones(1000)
    assert torch.equal(dropout(x, 0.5, True, gen(3)), dropout(x, 0.5, True, gen(3)))
    assert not torch.equal(dropout(x, 0.5, True, gen(3)), dropout(x, 0.5, True, gen(4)))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gaussian_dropout_has_mean_one_and_variance_p_over_1_minus_p(p):
    y = gaussian_dropout(torch.ones(N), p, training=True, generator=gen())
    var = p / (1 - p)
    assert abs(y.mean().item() - 1) < 5 * math.sqrt(var / N)
    # The sample variance of N normal draws has standard error var · sqrt(2 / (N − 1)).
    assert abs(y.var().item() - var) < 5 * var * math.sqrt(2 / (N - 1))


@pytest.mark.parametrize("shape", [(400, 50, 8), (200, 50, 4, 5)])
def test_spatial_dropout_drops_whole_channels_and_keeps_the_mean(shape):
    p = 0.3
    y = spatial_dropout(torch.ones(shape), p, training=True, generator=gen())
    per_channel = y.reshape(shape[0], shape[1], -1)
    assert torch.equal(per_channel.amin(dim=2), per_channel.amax(dim=2))  # constant within each channel
    values = per_channel[:, :, 0]
    assert values.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])
    n_masks = shape[0] * shape[1]
    assert abs(values.mean().item() - 1) < 5 * math.sqrt(p / (1 - p) / n_masks)


def test_spatial_dropout_rejects_inputs_without_a_spatial_axis():
    with pytest.raises(ValueError, match="shape"):
        spatial_dropout(torch.ones(4, 3), 0.5, training=True)


@pytest.mark.parametrize("module", [Dropout, GaussianDropout, SpatialDropout])
def test_modules_follow_train_and_eval_modes_and_their_generator(module):
    x = torch.randn(8, 4, 6)
    layer = module(0.4, generator=gen(1))
    same = module(0.4, generator=gen(1))
    assert torch.equal(layer(x), same(x))
    assert not torch.equal(layer(x), x)
    layer.eval()
    assert torch.equal(layer(x), x)
    assert "p=0.4" in repr(layer)


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), float("inf"), "half"])
@pytest.mark.parametrize("module", [Dropout, GaussianDropout, SpatialDropout])
def test_modules_reject_bad_probabilities(module, bad):
    with pytest.raises(ValueError, match="argument p"):
        module(bad)
    with pytest.raises(ValueError, match="argument p"):
        DropConnectLinear(3, 2, p=bad)


def test_dropconnect_evaluation_is_the_plain_linear_layer():
    layer = DropConnectLinear(6, 4, p=0.5).eval()
    x = torch.randn(10, 6)
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    assert isinstance(layer.weight, torch.nn.Parameter)


def test_dropconnect_draws_one_mask_per_forward_shared_by_the_batch():
    torch.manual_seed(0)
    layer = DropConnectLinear(6, 4, p=0.5, generator=gen(2))
    x = torch.randn(1, 6)
    y = layer(x.expand(5, 6))
    # Every sample saw the same weights (up to the rounding of a batched matrix product).
    torch.testing.assert_close(y, y[:1].expand_as(y))
    assert not torch.allclose(y[:1], layer.eval()(x))  # ... and they were not the plain weights


def test_dropconnect_expected_output_is_the_evaluation_output():
    p, passes = 0.4, 4000
    torch.manual_seed(0)
    layer = DropConnectLinear(6, 4, p=p, generator=gen(5))
    x = torch.randn(3, 6)
    with torch.no_grad():
        mean = torch.stack([layer(x) for _ in range(passes)]).mean(dim=0)
        expected = F.linear(x, layer.weight, layer.bias)
        # y_j = Σ_i W_ji x_i m_ji / (1 − p) + b_j, independent m_ji: Var y_j = p / (1 − p) Σ_i W_ji² x_i².
        se = torch.sqrt(p / (1 - p) * (x.pow(2) @ layer.weight.pow(2).T) / passes)
    assert torch.all((mean - expected).abs() < 5 * se)


def test_dropconnect_gradient_reaches_the_weight_parameter():
    layer = DropConnectLinear(3, 2, p=0.5, generator=gen(0))
    layer(torch.ones(4, 3)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (2, 3)


class Noisy(nn.Module):
    """Signals (N, 4, 32) through every noise layer: spatial dropout, dropout, DropConnect, Gaussian dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.spatial = nn.Conv1d(4, 8, 3, padding=1), SpatialDropout()
        self.unit, self.connect = Dropout(), DropConnect(nn.Linear(256, 128))
        self.gaussian, self.head = GaussianDropout(), nn.Linear(128, 3)

    def forward(self, x):
        h = self.spatial(self.conv(x)).flatten(1)
        return self.head(self.gaussian(self.connect(self.unit(h))))


RATES = (0.1, 0.3, 0.6)  # one per member


def stacked_noise(rows: int) -> dict[str, torch.Tensor]:
    """One draw of a stack of 3 members' noise for a minibatch of ``rows`` signals, member k with RATES[k]."""
    models = [Noisy() for _ in RATES]
    for k, (model, p) in enumerate(zip(models, RATES)):
        for layer in noise_layers(model):
            layer.p = p
        seed_noise(model, k, torch.device("cpu"))
    base = copy.deepcopy(models[0]).to("meta")
    return StackedNoise(base, models, torch.float32, torch.device("cpu")).draw(torch.zeros(rows, 4, 32), [True] * 3)


def test_stacked_masks_have_the_shape_of_what_they_multiply():
    """Dropout per element, spatial dropout per (sample, channel), DropConnect per weight (one for the batch)."""
    noise = stacked_noise(rows=5)
    assert {name: tuple(t.shape) for name, t in noise.items()} == {
        "spatial.noise": (3, 5, 8, 1),
        "unit.noise": (3, 5, 256),
        "connect.noise": (3, 128, 256),
        "gaussian.noise": (3, 5, 128),
    }


@pytest.mark.parametrize("name", ["spatial", "unit", "connect"])
def test_stacked_masks_are_m_over_q_with_mean_one(name):
    """Each member's mask takes the values 0 and 1/q and m/q has mean 1 within 3 standard errors
    (sd of m/q: sqrt(p/q))."""
    noise = stacked_noise(rows=2000)[f"{name}.noise"]
    for k, p in enumerate(RATES):
        mask, q = noise[k].double(), 1 - p
        assert mask.unique().tolist() == pytest.approx([0.0, 1 / q])
        assert abs(mask.mean().item() - 1) < 3 * math.sqrt(p / q / mask.numel())


def test_stacked_gaussian_noise_has_mean_one_and_variance_p_over_1_minus_p():
    noise = stacked_noise(rows=4000)["gaussian.noise"]
    for k, p in enumerate(RATES):
        eps, var = noise[k].double(), p / (1 - p)
        assert abs(eps.mean().item() - 1) < 3 * math.sqrt(var / eps.numel())
        assert abs(eps.var().item() - var) < 3 * var * math.sqrt(2 / (eps.numel() - 1))


@pytest.mark.parametrize("layer", [Dropout(0.5), SpatialDropout(0.5), GaussianDropout(0.5)])
def test_noise_handed_in_multiplies_in_training_and_is_ignored_in_evaluation(layer):
    x, noise = torch.randn(6, 3, 4), torch.rand(6, 3, 4)
    layer.noise = noise
    assert torch.equal(layer.train()(x), x * noise)
    assert layer.eval()(x) is x


def test_draw_fills_what_the_layer_draws_alone():
    """``draw_`` from a generator equals the layer's own forward on ones with the same seed; p = 0 draws
    nothing and fills ones."""
    for layer in (Dropout(0.4), GaussianDropout(0.4), SpatialDropout(0.4)):
        x = torch.ones(7, 3, 5)
        layer.generator = gen(11)
        drawn = layer.draw_(torch.empty(layer.noise_shape(x)))
        layer.generator = gen(11)
        assert torch.equal(layer.train()(x), x * drawn)
    quiet = Dropout(0.0, generator=gen(11))
    assert torch.equal(quiet.draw_(torch.empty(4)), torch.ones(4))
    assert torch.equal(quiet.generator.get_state(), gen(11).get_state())
