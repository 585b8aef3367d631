"""Per-member math on stacked weights against the single-model versions, member by member.

A stack holds member k's weight W (out, in) as Wᵀ at ``w[k]``; every operation below must give, for each
member, exactly what the penalty, constraint or optimizer gives that member's own W.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from reglab.engine.stacked_optim import Rows, add_penalty_gradient_, max_norm_, penalty_prox_, penalty_value
from reglab.optimizers import SGD, Adam
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso

K, IN, OUT = 5, 7, 4
STRENGTHS = [0.0, 0.05, 0.3, 1.0, 4.0]
RATIOS = [0.5, 0.1, 0.9, 0.5, 0.3]
PENALTIES = [L1, L2, ElasticNet, GroupLasso]


def stack(seed: int = 0) -> torch.Tensor:
    """Five members' transposed weights, with one all-zero unit and some exact zeros."""
    w = torch.randn(K, IN, OUT, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    w[1, :, 2] = 0.0
    w[3, ::2, 0] = 0.0
    return w


def single(cls: type, k: int):
    return cls(STRENGTHS[k], RATIOS[k]) if cls is ElasticNet else cls(STRENGTHS[k])


@pytest.mark.parametrize("cls", PENALTIES)
def test_values_and_gradients_are_each_members_own(cls):
    w = stack()
    values = penalty_value(cls, w, STRENGTHS, RATIOS)
    grads = torch.zeros_like(w)
    add_penalty_gradient_(cls, grads, w, STRENGTHS, RATIOS)
    for k in range(K):
        W = w[k].T.clone().requires_grad_()
        value = single(cls, k).value(W)
        (grad,) = torch.autograd.grad(value, W)
        assert values[k].item() == pytest.approx(value.item(), rel=1e-15, abs=1e-300)
        torch.testing.assert_close(grads[k].T, grad, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cls", PENALTIES)
def test_proximal_steps_are_each_members_own(cls, dtype):
    """One step per member (SGD) and one step per entry (Adam): exactly the single-model proximal map,
    exact zeros included, in float32 too (both round tλ, 1 + tλ, ... in the weights' dtype)."""
    w = stack(1).to(dtype)
    per_member = [0.01, 0.1, 0.5, 1.0, 2.0]
    per_entry = torch.rand(K, IN, OUT, generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(dtype)
    for steps, step_of in [(per_member, lambda k: per_member[k]), (per_entry, lambda k: per_entry[k].T)]:
        result = w.clone()
        penalty_prox_(cls, result, steps.clone() if isinstance(steps, torch.Tensor) else steps, STRENGTHS, RATIOS)
        for k in range(K):
            expected = single(cls, k).prox(w[k].T, step_of(k))
            assert torch.equal(result[k].T, expected), (cls.__name__, k)
    assert (result == 0).any()


def test_max_norm_projects_each_member_onto_its_own_ball():
    w = stack(3) * 3
    bounds = [0.5, 1.0, 2.0, 5.0, float("inf")]
    projected = w.clone()
    max_norm_(projected, bounds)
    for k, c in enumerate(bounds):
        expected = w[k].T.clone() if c == float("inf") else MaxNorm(c).project_(w[k].T.clone())
        assert torch.equal(projected[k].T, expected)


def test_rows_touch_only_their_members():
    """A contiguous subset works on views, a scattered one on copies written back; both change only
    their members."""
    for index in ([1, 2, 3], [0, 2, 4]):
        rows, t = Rows(index, torch.device("cpu")), torch.zeros(K, 3)
        rows.update_(t, lambda part: part.add_(1.0))
        assert t[:, 0].tolist() == [1.0 if k in index else 0.0 for k in range(K)]
        total = torch.zeros(K)
        rows.add_to(total, torch.tensor([1.0, 2.0, 3.0]))
        assert total[index].tolist() == [1.0, 2.0, 3.0] and total.sum() == 6.0


def configs(lr: list[float], momentum: list[float] | None = None) -> list:
    """What an optimizer reads of each member's ``FitConfig``."""
    return [SimpleNamespace(lr=a, momentum=m) for a, m in zip(lr, momentum or [0.0] * len(lr))]


def side_by_side(w: torch.Tensor, stacked, optimizer, seed: int) -> tuple[list, list]:
    """Four steps of the stacked optimizer on w (its params) and of ``optimizer(p, k)`` on each member's
    own copy p = w[k]ᵀ, with the same random gradients; returns the copies and their optimizers."""
    singles = [w[k].T.clone().requires_grad_() for k in range(K)]
    optimizers = [optimizer(p, k) for k, p in enumerate(singles)]
    for step in range(4):
        grad = torch.randn(K, IN, OUT, generator=torch.Generator().manual_seed(seed + step), dtype=torch.float64)
        stacked.step([grad])
        for k, (p, single) in enumerate(zip(singles, optimizers)):
            p.grad = grad[k].T.clone()
            single.step()
    return singles, optimizers


def test_adam_steps_and_proximal_steps_are_each_members_own():
    """Per-member learning rates: the stacked Adam moves each member as torch.optim.Adam moves it alone,
    and its proximal step is η / (√(v / (1 − β₂ᵗ)) + ε) of torch.optim.Adam's own state."""
    lrs = [1e-3, 1e-2, 1e-2, 0.1, 1e-3]
    w = stack(4)
    params = [w.clone()]
    adam = Adam(params, configs(lrs))
    singles, optimizers = side_by_side(w, adam, lambda p, k: torch.optim.Adam([p], lr=lrs[k]), seed=10)
    rows = Rows(list(range(K)), torch.device("cpu"))
    step_sizes = adam.prox_step(0, rows)
    for k, (p, optimizer) in enumerate(zip(singles, optimizers)):
        assert torch.equal(params[0][k].T, p.detach())  # torch.optim.Adam's bits
        state, beta2 = optimizer.state[p], optimizer.param_groups[0]["betas"][1]
        expected = lrs[k] / ((state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).sqrt() + 1e-8)
        torch.testing.assert_close(step_sizes[k].T, expected, rtol=1e-15, atol=0.0)


def test_sgd_steps_with_momentum_are_each_members_own():
    lrs, momenta = [0.1, 0.05, 0.1, 0.2, 0.01], [0.0, 0.9, 0.5, 0.9, 0.0]
    w = stack(5)
    params = [w.clone()]
    sgd = SGD(params, configs(lrs, momenta))
    singles, optimizers = side_by_side(
        w, sgd, lambda p, k: torch.optim.SGD([p], lr=lrs[k], momentum=momenta[k]), seed=20
    )
    rows = Rows(list(range(K)), torch.device("cpu"))
    for k, p in enumerate(singles):
        torch.testing.assert_close(params[0][k].T, p.detach(), rtol=1e-14, atol=1e-15)
        assert sgd.prox_step(0, rows)[k] == lrs[k] / (1.0 - momenta[k])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_fused_adam_variant_equals_the_single_tensor_steps(dtype):
    """Members sharing one learning rate, all live, step by PyTorch's fused kernel: within an ulp or so of
    the single-tensor arithmetic (every member live, ``live`` given) over several steps."""
    w = stack(6).to(dtype)
    fused, single = [w.clone()], [w.clone()]
    fused_adam, single_adam = Adam(fused, configs([1e-2] * K)), Adam(single, configs([1e-2] * K))
    for step in range(5):
        grad = torch.randn(K, IN, OUT, generator=torch.Generator().manual_seed(30 + step), dtype=dtype)
        fused_adam.step([grad])
        single_adam.step([grad], torch.ones(K, dtype=torch.float64))
    tolerance = 1e-13 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(fused[0], single[0], rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(fused_adam.step_size(0), single_adam.step_size(0), rtol=tolerance, atol=0.0)
