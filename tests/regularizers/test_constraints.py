"""Max-norm projection against torch.renorm, an independent implementation of the same projection."""

import pytest
import torch

from reglab.regularizers.constraints import MaxNorm


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2, 2), (4, 2, 3)])
def test_rows_above_c_are_projected_to_norm_c_and_rows_within_are_unchanged(shape):
    torch.manual_seed(0)
    c = 1.5
    w = torch.randn(shape) * torch.linspace(0.1, 2, shape[0]).reshape(-1, *(1,) * (len(shape) - 1))
    norms = w.reshape(shape[0], -1).norm(dim=1)
    assert (norms > c).any() and (norms < c).any()
    original = w.clone()
    out = MaxNorm(c).project_(w)
    assert out is w  # in place
    torch.testing.assert_close(w, torch.renorm(original, 2, 0, c), rtol=1e-5, atol=1e-6)
    within = norms <= c
    assert torch.equal(w[within], original[within])
    torch.testing.assert_close(w.reshape(shape[0], -1).norm(dim=1)[~within], torch.full(((~within).sum(),), c))


def test_call_projects_a_parameter_that_requires_grad():
    layer = torch.nn.Linear(3, 4)
    with torch.no_grad():
        layer.weight.mul_(10)
    MaxNorm(0.5)(layer.weight)
    assert torch.all(layer.weight.norm(dim=1) <= 0.5 + 1e-6)


def test_zero_rows_stay_zero():
    w = torch.zeros(2, 3)
    MaxNorm(1.0).project_(w)
    assert torch.equal(w, torch.zeros(2, 3))


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_radius(bad):
    with pytest.raises(ValueError, match="argument c"):
        MaxNorm(bad)


def test_vectors_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        MaxNorm(1.0).project_(torch.ones(3))
