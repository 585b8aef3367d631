"""Monte-Carlo dropout: moments over passes, entropy computed here from its definition, modes and BN stats."""

import numpy as np
import pytest
import torch
from torch import nn

from reglab.regularizers.dropout import Dropout
from reglab.regularizers.mc_dropout import mc_predict


def network(p: float, n_outputs: int = 3) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), Dropout(p), nn.Linear(16, n_outputs))
    model.train()
    model(torch.randn(64, 5) * 3 + 1)  # non-trivial running statistics
    return model


X = torch.randn(20, 5, generator=torch.Generator().manual_seed(1))


def test_no_dropout_gives_zero_std_and_the_evaluation_prediction():
    model = network(p=0.0)
    result = mc_predict(model, X, passes=7)
    assert torch.equal(result.std, torch.zeros_like(result.std))
    expected = model.eval()(X).softmax(dim=1)
    torch.testing.assert_close(result.mean, expected)


def test_dropout_gives_positive_std_and_probabilities_that_sum_to_one():
    result = mc_predict(network(p=0.5), X, passes=20, generator_seed=0)
    assert result.mean.shape == result.std.shape == (20, 3)
    assert torch.all(result.std > 0)
    torch.testing.assert_close(result.mean.sum(dim=1), torch.ones(20))


def test_entropy_is_that_of_the_mean_probabilities():
    result = mc_predict(network(p=0.5), X, passes=20, generator_seed=0)
    p = result.mean.double().numpy()
    expected = np.array([-sum(v * np.log(v) for v in row if v > 0) for row in p])
    np.testing.assert_allclose(result.entropy.numpy(), expected, rtol=1e-5)
    assert np.all(expected <= np.log(3) + 1e-6)


def test_std_is_the_spread_of_the_probabilities_over_passes():
    model = network(p=0.5)
    passes = 15
    result = mc_predict(model, X, passes=passes, generator_seed=4)
    torch.manual_seed(4)  # the same draws as mc_predict's seeded passes
    model.eval()
    model[3].train()
    with torch.no_grad():
        probabilities = np.stack([model(X).softmax(dim=1).numpy() for _ in range(passes)])
    np.testing.assert_allclose(result.mean.numpy(), probabilities.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(result.std.numpy(), probabilities.std(axis=0), atol=1e-6)


@pytest.mark.parametrize("initially_training", [True, False])
def test_batch_norm_statistics_unchanged_and_modes_restored(initially_training):
    model = network(p=0.5)
    model.train(initially_training)
    before = {k: v.clone() for k, v in model[1].state_dict().items()}
    modes = [m.training for m in model.modules()]
    mc_predict(model, X, passes=5)
    for key, value in model[1].state_dict().items():
        assert torch.equal(value, before[key]), key
    assert [m.training for m in model.modules()] == modes


def test_torch_dropout_layers_count_as_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)).eval()
    assert torch.all(mc_predict(model, X, passes=10, task="regression").std > 0)


def test_regression_has_mean_and_std_of_outputs_and_no_entropy():
    model = network(p=0.3, n_outputs=1)
    result = mc_predict(model, X, passes=10, task="regression", generator_seed=1)
    assert result.entropy is None
    assert result.mean.shape == result.std.shape == (20, 1)


def test_seed_reproduces_the_passes_and_leaves_the_global_rng_alone():
    model = network(p=0.5)
    state = torch.get_rng_state()
    first = mc_predict(model, X, passes=5, generator_seed=9)
    assert torch.equal(torch.get_rng_state(), state)
    second = mc_predict(model, X, passes=5, generator_seed=9)
    assert torch.equal(first.mean, second.mean) and torch.equal(first.std, second.std)


@pytest.mark.parametrize("kwargs, name", [({"passes": 0}, "passes"), ({"task": "ranking"}, "task")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"argument {name}"):
        mc_predict(network(p=0.5), X, **kwargs)
