"""Penalties against closed forms and against a numerical argmin (scipy), in float64.

Conventions (ARCHITECTURE.md): L1 = λ Σ|w|, L2 = (λ/2) Σ w², elastic net = λ (ρ Σ|w| + (1−ρ)/2 Σ w²),
group lasso = λ Σ_g √(size g) ‖w_g‖₂ with one group per unit (a row of ``w.reshape(out, -1)``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso, metric_group_shrink_

LAM = 0.8


def weights(shape=(3, 4), seed=0) -> torch.Tensor:
    """A float64 tensor with no zero entry (every |w| ≥ 0.1), so each penalty is differentiable there."""
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.where(w.abs() < 0.1, w.sign() * 0.1 + w, w)


def autograd(penalty, w: torch.Tensor) -> torch.Tensor:
    w = w.clone().requires_grad_(True)
    penalty.value(w).backward()
    return w.grad


# --- gradients -----------------------------------------------------------------------------------


def test_l1_gradient_is_lambda_sign():
    """∇ λΣ|w| = λ sign(w) at w ≠ 0 (tolerance 1e-15)."""
    w = weights()
    torch.testing.assert_close(autograd(L1(LAM), w), LAM * torch.sign(w), rtol=0, atol=1e-15)


def test_l2_gradient_is_lambda_w():
    """∇ (λ/2)Σw² = λw, the term torch.optim.SGD(weight_decay=λ) adds (tolerance 1e-15)."""
    w = weights()
    torch.testing.assert_close(autograd(L2(LAM), w), LAM * w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("rho", [0.0, 0.3, 1.0])
def test_elasticnet_gradient(rho):
    """∇ λ(ρΣ|w| + (1−ρ)/2 Σw²) = λ(ρ sign(w) + (1−ρ) w) (tolerance 1e-15)."""
    w = weights()
    expected = LAM * (rho * torch.sign(w) + (1 - rho) * w)
    torch.testing.assert_close(autograd(ElasticNet(LAM, rho), w), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 2), (5,)])
def test_group_lasso_gradient(shape):
    """∇ λΣ_g √size ‖w_g‖ = λ √size · w_g/‖w_g‖, a group being one unit's incoming weights (1e-14).

    For a (out, in, kh, kw) kernel a group is one filter (size in·kh·kw); for a vector each entry is a group.
    """
    w = weights(shape)
    rows = w.reshape(shape[0], -1) if w.dim() > 1 else w.reshape(-1, 1)
    size = rows.shape[1]
    expected = LAM * math.sqrt(size) * rows / rows.norm(dim=1, keepdim=True)
    torch.testing.assert_close(autograd(GroupLasso(LAM), w), expected.reshape(shape), rtol=0, atol=1e-14)


# --- values on hand-computed examples -----------------------------------------------------------------

W_SMALL = torch.tensor([[1.0, -2.0], [0.0, 3.0]], dtype=torch.float64)  # Σ|w| = 6, Σw² = 14, row norms √5, 3


@pytest.mark.parametrize(
    "penalty, expected",
    [
        (L1(0.5), 0.5 * 6),
        (L2(0.5), 0.25 * 14),
        (ElasticNet(0.5, 0.25), 0.5 * (0.25 * 6 + 0.375 * 14)),
        (ElasticNet(0.5, 1.0), 0.5 * 6),
        (ElasticNet(0.5, 0.0), 0.25 * 14),
        (GroupLasso(0.5), 0.5 * math.sqrt(2) * (math.sqrt(5) + 3)),
        (L1(0.0), 0.0),
    ],
)
def test_values_follow_the_conventions_table(penalty, expected):
    """R(w) on a 2x2 example computed by hand from the conventions table (tolerance 1e-14)."""
    assert float(penalty.value(W_SMALL)) == pytest.approx(expected, rel=0, abs=1e-14)


def test_group_lasso_groups_are_filters_of_a_kernel():
    """A (2, 1, 2, 2) kernel: groups are the two filters, each of size 4: λ·2·(‖f₁‖ + ‖f₂‖) (1e-14)."""
    kernel = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[3.0, 0.0], [0.0, 4.0]]]], dtype=torch.float64)
    assert float(GroupLasso(0.5).value(kernel)) == pytest.approx(0.5 * 2 * (2 + 5), abs=1e-14)


# --- proximal steps -------------------------------------------------------------------------------

V = torch.tensor(
    [[1.30, -0.20, 0.45, -0.90], [0.10, -0.05, 0.15, 0.02], [-2.00, 0.70, 0.33, 0.00]], dtype=torch.float64
)
T = 0.7  # t·λ = 0.42 with λ = 0.6
# One step per entry, as Adam's diagonal metric gives: steps that differ within each row (group)
T_ENTRY = torch.tensor([[0.2, 1.5, 0.7, 0.05], [0.9, 0.3, 2.0, 1.1], [0.6, 0.6, 0.1, 1.8]], dtype=torch.float64)


def numerical_prox(penalty, v: torch.Tensor, t: float | torch.Tensor) -> tuple[np.ndarray, float]:
    """argmin_u R(u) + Σ (u − v)²/(2t) by Powell (derivative-free, so the kinks of |u| and ‖u_g‖ are fine),
    best of three starts."""

    def objective(u: np.ndarray) -> float:
        ut = torch.from_numpy(u.reshape(v.shape))
        return float(penalty.value(ut)) + float(((ut - v) ** 2 / (2 * t)).sum())

    rng = np.random.default_rng(0)
    starts = [v.numpy().ravel(), np.zeros(v.numel()), rng.standard_normal(v.numel())]
    options = {"xtol": 1e-12, "ftol": 1e-15, "maxiter": 200_000, "maxfev": 1_000_000}
    best = min((minimize(objective, x0, method="Powell", options=options) for x0 in starts), key=lambda r: r.fun)
    return best.x.reshape(v.shape), objective


@pytest.mark.parametrize("t", [T, T_ENTRY], ids=["one step", "a step per entry"])
@pytest.mark.parametrize("penalty", [L1(0.6), L2(0.6), ElasticNet(0.6, 0.4), GroupLasso(0.6)], ids=str)
def test_prox_is_the_argmin(penalty, t):
    """prox_{tR}(v) equals scipy's argmin of R(u) + Σ(u−v)²/(2t) within 1e-5 (measured ≤ 3e-8), and its
    objective is not above scipy's (1e-12); with a step per entry too (the group lasso's map then solves
    a one-variable equation per group)."""
    u_ref, objective = numerical_prox(penalty, V, t)
    u = penalty.prox(V.clone(), t)
    assert np.abs(u.numpy() - u_ref).max() <= 1e-5
    assert objective(u.numpy().ravel()) <= objective(u_ref.ravel()) + 1e-12


@pytest.mark.parametrize("penalty", [L1(0.6), ElasticNet(0.6, 1.0)], ids=str)
def test_soft_threshold_zeros_exactly_where_small(penalty):
    """L1's prox is zero exactly where |v| ≤ tλ and keeps the sign, |u| = |v| − tλ, elsewhere (1e-15)."""
    tau = T * penalty.strength
    u = penalty.prox(V, T)
    small = V.abs() <= tau
    assert small.any() and (~small).any()
    assert torch.equal(u[small], torch.zeros_like(u[small]))
    assert torch.all(torch.sign(u[~small]) == torch.sign(V[~small]))
    torch.testing.assert_close(u[~small].abs(), V[~small].abs() - tau, rtol=0, atol=1e-15)


def test_elasticnet_prox_zeros_where_below_l1_part():
    """Elastic net's prox is exactly zero where |v| ≤ tλρ and nowhere else."""
    penalty = ElasticNet(0.6, 0.5)
    u = penalty.prox(V, T)
    assert torch.equal(u == 0, V.abs() <= T * 0.6 * 0.5)


def test_group_lasso_prox_zeros_whole_rows():
    """Rows with ‖v_g‖ ≤ tλ√size become exactly zero; other rows keep no zero entry that v did not have."""
    penalty = GroupLasso(0.6)
    u = penalty.prox(V, T)
    small = V.norm(dim=1) <= T * 0.6 * math.sqrt(V.shape[1])
    assert small.tolist() == [False, True, False]
    assert torch.equal(u[1], torch.zeros(4, dtype=torch.float64))
    assert torch.equal(u[~small] == 0, V[~small] == 0)


def test_prox_with_zero_step_is_identity():
    """t = 0: argmin is v itself, for every penalty (exact)."""
    for penalty in (L1(1.0), L2(1.0), ElasticNet(1.0, 0.5), GroupLasso(1.0)):
        assert torch.equal(penalty.prox(V, 0.0), V)


def test_group_lasso_prox_in_a_diagonal_metric_zeros_exactly_where_small():
    """With a step t per entry a row is exactly zero iff ‖v/t‖₂ ≤ λ√size (the optimality condition at 0);
    with equal steps in a row the map is the one-step map."""
    lam = 0.6
    u = GroupLasso(lam).prox(V, T_ENTRY)
    small = (V / T_ENTRY).norm(dim=1) <= lam * math.sqrt(V.shape[1])
    assert small.any() and (~small).any()
    assert torch.equal((u == 0).all(dim=1), small)
    equal_steps = torch.full_like(V, T)
    torch.testing.assert_close(GroupLasso(lam).prox(V, equal_steps), GroupLasso(lam).prox(V, T), rtol=1e-15, atol=0)


def test_group_lasso_metric_map_converges_in_a_few_newton_steps_and_handles_zero_steps():
    """The per-group root takes a few Newton steps: 6 give the 100-step answer (1e-12) on 500 random
    groups, some zeroed. A zero step leaves its entry as it is; a group with no nonzero entry is zero."""
    rng = torch.Generator().manual_seed(3)
    v = torch.randn(500, 30, generator=rng, dtype=torch.float64) * torch.rand(
        500, 1, generator=rng, dtype=torch.float64
    )
    a = torch.rand(500, 30, generator=rng, dtype=torch.float64) * 3
    exact = metric_group_shrink_(v.clone(), a)
    assert 0 < int((exact == 0).all(dim=1).sum()) < 500
    torch.testing.assert_close(metric_group_shrink_(v.clone(), a, max_iter=6), exact, rtol=0, atol=1e-12)
    v = torch.tensor([[0.0, 0.9], [0.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    a = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(
        metric_group_shrink_(v.clone(), a), torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    )


def test_group_lasso_prox_of_zero_is_zero():
    """The all-zero input stays zero without NaN (a 0/0 in the row scale would give NaN)."""
    u = GroupLasso(1.0).prox(torch.zeros(3, 4, dtype=torch.float64), 0.5)
    assert torch.equal(u, torch.zeros(3, 4, dtype=torch.float64))


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1.0, -1e-12, float("nan"), float("inf"), "abc", None])
@pytest.mark.parametrize("cls", [L1, L2, ElasticNet, GroupLasso])
def test_bad_strength_is_a_value_error_naming_it(cls, bad):
    with pytest.raises(ValueError, match="strength"):
        cls(bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "half"])
def test_bad_l1_ratio_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(0.1, bad)


def test_penalties_are_immutable_values():
    penalty = L1(0.1)
    with pytest.raises(AttributeError):
        penalty.strength = 1.0  # type: ignore[misc]
    assert L1(0.1) == penalty and ElasticNet(1, 0.5).strength == 1.0
