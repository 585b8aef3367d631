"""Which parameters a term touches, how it reports them, and its strength schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.regularizers.penalties import L1, L2
from reglab.regularizers.schedules import Warmup, constant
from reglab.regularizers.terms import Term, select_parameters, summarize


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def names(chosen) -> list[str]:
    return [n for n, _ in chosen]


def test_default_selection_is_weights_only():
    """Default: Linear weights; not biases, not BatchNorm's weight and bias."""
    assert names(select_parameters(mlp())) == ["0.weight", "3.weight"]


def test_default_selection_skips_two_dimensional_norm_scales():
    """A LayerNorm over a (2, 4) shape has a 2-D scale: still a normalization parameter, still not penalized."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Unflatten(1, (2, 4)), nn.LayerNorm((2, 4)), nn.Flatten(), nn.Linear(8, 1))
    assert model[2].weight.dim() == 2
    assert names(select_parameters(model)) == ["0.weight", "4.weight"]


@pytest.mark.parametrize("norm", [nn.RMSNorm((2, 4)), nn.GroupNorm(2, 2)])
def test_every_public_normalization_layer_counts_as_one(norm):
    """RMSNorm's 2-D scale is a normalization parameter too; GroupNorm's 1-D ones are not weights anyway."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Unflatten(1, (2, 4)), norm, nn.Flatten(), nn.Linear(8, 1))
    assert names(select_parameters(model)) == ["0.weight", "4.weight"]


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("*", ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]),
        ("*.bias", ["0.bias", "1.bias", "3.bias"]),
        ("0.weight", ["0.weight"]),
        (["0.*", "3.weight"], ["0.weight", "0.bias", "3.weight"]),
        ("[03].weight", ["0.weight", "3.weight"]),
    ],
)
def test_fnmatch_patterns(choice, expected):
    assert names(select_parameters(mlp(), choice)) == expected


def test_callable_choice():
    """A predicate (name, parameter) -> bool, here: parameters with more than 10 values."""
    assert names(select_parameters(mlp(), lambda name, p: p.numel() > 10)) == ["0.weight", "3.weight"]


def test_unknown_pattern_raises_and_lists_the_names():
    with pytest.raises(ValueError, match=r"no parameter matches.*0\.weight"):
        select_parameters(mlp(), "encoder.*")


def test_bad_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        Term(L1(0.1), mode="prox")


def test_summarize_lists_what_is_touched_and_what_is_not():
    """One line per term naming its tensors and count of values, and one line for the rest."""
    text = summarize(mlp(), [Term(L1(0.1)), Term(L2(0.01), params="*.bias", mode="proximal")])
    lines = text.splitlines()
    assert len(lines) == 3
    assert "0.weight" in lines[0] and "3.weight" in lines[0] and "48" in lines[0] and "bias" not in lines[0]
    assert "proximal" in lines[1] and "0.bias" in lines[1] and "1.bias" in lines[1] and "3.bias" in lines[1]
    assert lines[2] == "not penalized: 1.weight"


def test_summarize_without_terms():
    assert summarize(mlp(), []) == "not penalized: 0.weight, 0.bias, 1.weight, 1.bias, 3.weight, 3.bias"


def test_bound_term_value_sums_over_selected_tensors():
    """λΣ|w| over both Linear weights only, computed by hand (1e-12)."""
    model = mlp()
    with torch.no_grad():
        expected = 0.1 * (model[0].weight.abs().sum() + model[3].weight.abs().sum())
        assert float(Term(L1(0.1)).bind(model).value(step=0)) == pytest.approx(float(expected), abs=1e-12)


def test_warmup_values():
    """s(t) = min(1, (t+1)/steps): 1/4, 1/2, 3/4, 1, 1 for steps = 4."""
    schedule = Warmup(4)
    assert [schedule(t) for t in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert Warmup(1)(0) == 1.0 and constant(0) == constant(10**6) == 1.0


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", True])
def test_warmup_rejects_bad_steps(bad):
    with pytest.raises(ValueError, match="steps"):
        Warmup(bad)


def test_schedule_scales_value_and_prox():
    """With Warmup(4), step 1 uses λ/2: the value halves and the proximal threshold is lr·λ/2."""
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.05, -0.3, 1.0]], dtype=torch.float64))
    bound = Term(L1(0.4), schedule=Warmup(4), mode="proximal").bind(model)
    with torch.no_grad():
        assert float(bound.value(1)) == pytest.approx(0.5 * 0.4 * 1.35, abs=1e-15)
        assert float(bound.value(10**9)) == pytest.approx(0.4 * 1.35, abs=1e-15)
    bound.prox_(step=1, step_size=lambda p: 0.5)  # threshold 0.5 · 0.4 · 0.5 = 0.1
    expected = torch.tensor([[0.0, -0.2, 0.9]], dtype=torch.float64)
    torch.testing.assert_close(model.weight.data, expected, rtol=0, atol=1e-15)
