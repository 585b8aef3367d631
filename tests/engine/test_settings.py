"""Per-member settings over a stack: each member's penalty values, proximal steps, decay and max-norm are
its own loop's, and a member without a term (strength 0, decay 0, no bound) keeps its weights bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.engine.settings import StackSettings
from reglab.optimizers import SGD, Adam
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso
from reglab.regularizers.schedules import Warmup
from reglab.regularizers.terms import Term
from reglab.training import FitConfig, Regularizers, _Loop

PENALTIES = [L1(0.05), L2(0.3), ElasticNet(0.2, 0.3), GroupLasso(0.1)]


def members(regularizers: list[Regularizers], optimizer: str = "adam") -> tuple[list[_Loop], list[torch.Tensor]]:
    """One small model per member (same architecture, own weights) and their stacked parameters."""
    loops = []
    for k, regs in enumerate(regularizers):
        torch.manual_seed(k)
        model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).double()
        loops.append(_Loop(model, FitConfig(optimizer=optimizer, lr=0.1 * (k + 1)), regs))
    names = [n for n, _ in loops[0].model.named_parameters()]
    params = [torch.stack([loop.model.get_parameter(n).detach() for loop in loops]) for n in names]
    return loops, params


def fits(loops: list[_Loop]) -> list[FitConfig]:
    """What a stacked optimizer reads of its members: their ``FitConfig``."""
    return [loop.config for loop in loops]


def settings_of(loops: list[_Loop], steps: int = 4) -> StackSettings:
    return StackSettings([loop.model for loop in loops], loops, steps)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_loss_mode_values_are_each_members_own(penalty):
    loops, params = members([Regularizers([Term(penalty, schedule=Warmup(3))]), Regularizers()])
    values = settings_of(loops).penalty(params, step=1).detach()
    expected = loops[0].terms[0].value(1).detach()
    assert values[0].item() == pytest.approx(float(expected), rel=1e-14)
    assert values[1].item() == 0.0


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_a_member_without_terms_keeps_its_weights_bit_for_bit(penalty, optimizer):
    regs = Regularizers([Term(penalty, mode="proximal")], decay=0.1, max_norm=MaxNorm(0.5))
    loops, params = members([regs, Regularizers(), regs], optimizer)
    settings = settings_of(loops)
    stacked = (Adam if optimizer == "adam" else SGD)(params, fits(loops))
    for p in params:
        p.grad = torch.randn_like(p)
    stacked.step([p.grad for p in params])
    before = [p.clone() for p in params]
    live = torch.ones(3, dtype=torch.float64)
    settings.decay_(params, live)
    settings.prox_(params, stacked, 0, live)
    settings.project_(params, torch.ones(3, dtype=torch.bool))
    for p, kept in zip(params, before):
        assert torch.equal(p[1], kept[1])
    assert not torch.equal(params[0][0], before[0][0])


def test_a_dead_member_keeps_its_weights_bit_for_bit():
    regs = Regularizers([Term(L1(0.05), mode="proximal")], decay=0.1, max_norm=MaxNorm(0.5))
    loops, params = members([regs, regs])
    settings, adam = settings_of(loops), Adam(params, fits(loops))
    live = torch.tensor([1.0, 0.0], dtype=torch.float64)
    before = [p.clone() for p in params]
    adam.step([torch.ones_like(p) for p in params], live)
    settings.decay_(params, live)
    settings.prox_(params, adam, 0, live)
    settings.project_(params, live.bool())
    for p, kept in zip(params, before):
        assert torch.equal(p[1], kept[1])
        assert not torch.equal(p[0], kept[0])


def test_proximal_terms_in_different_orders_do_not_stack():
    first = Regularizers([Term(L1(0.1), mode="proximal"), Term(L2(0.1), mode="proximal")])
    second = Regularizers([Term(L2(0.1), mode="proximal"), Term(L1(0.1), mode="proximal")])
    with pytest.raises(ValueError, match="different orders"):
        settings_of(members([first, second])[0])
