"""The regularizers of modern recipes against independent references: label smoothing against
``nn.CrossEntropyLoss(label_smoothing=ε)``; mixup against λx + (1 − λ)x_partner and soft-target cross-entropy,
its λ against scipy's Beta; CutMix against a transcription of timm's ``rand_bbox``; drop path against its
definition; SAM against its closed form on a quadratic and a transcription of the reference implementation
(davda54/sam); EMA and SWA against ``torch.optim.swa_utils``. Comparisons of trained weights run in float64
within 1e-10."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

import reglab
from reglab.custom_model import CustomModel
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.regularizers.averaging import WeightAverage
from reglab.regularizers.conversions import from_off_target_smoothing
from reglab.regularizers.dropout import DropPath, drop_path
from reglab.regularizers.sharpness import SharpnessAware, ascent
from reglab.regularizers.soft_targets import Mixing, mix, mixed_loss, smoothed_cross_entropy
from reglab.training import FitConfig, Regularizers, fit, training_loss


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=atol)


def classes(n: int = 40, d: int = 5, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 features and k classes of a noisy linear rule."""
    g = gen(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    scores = X @ torch.randn(d, k, generator=g, dtype=torch.float64) + torch.randn(
        n, k, generator=g, dtype=torch.float64
    )
    return X, scores.argmax(1)


def onehot(y: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(y, k).to(torch.float64)


# ---------------------------------------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize("epsilon", [0.0, 0.05, 0.3, 0.9])
def test_label_smoothing_equals_torchs_cross_entropy_with_label_smoothing(k, epsilon):
    g = gen(k)
    logits = 3 * torch.randn(32, k, generator=g, dtype=torch.float64)
    y = torch.randint(k, (32,), generator=g)
    expected = nn.CrossEntropyLoss(label_smoothing=epsilon)(logits, y)
    close(smoothed_cross_entropy(logits, y, epsilon), expected, 1e-7)


@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("off_target", [0.1, 0.4])
def test_off_target_smoothing_converts_to_the_same_targets(k, off_target):
    """Code that gives the true class 1 − ε' and each wrong class ε'/(K − 1), by hand."""
    g = gen(k)
    logits = 2 * torch.randn(24, k, generator=g, dtype=torch.float64)
    y = torch.randint(k, (24,), generator=g)
    target = torch.full((24, k), off_target / (k - 1), dtype=torch.float64)
    target[torch.arange(24), y] = 1 - off_target
    expected = F.cross_entropy(logits, target)
    close(smoothed_cross_entropy(logits, y, from_off_target_smoothing(off_target, k)), expected, 1e-12)


# ------------------------------------------------------------------------------------------------------- mixup


@pytest.mark.parametrize("shape", [(6, 5), (6, 2, 7), (6, 2, 4, 5)])
def test_mixup_mixes_each_sample_with_the_flipped_batch(shape):
    x = torch.randn(shape, generator=gen(1), dtype=torch.float64)
    draws = Mixing(mixup=0.4).draws(seed=3, steps=5)
    for draw in draws:
        assert draw[0] == 0
        lam = float(draw[1])
        mixed, weight = mix(x, draw)
        expected = torch.stack([lam * x[i] + (1 - lam) * x[len(x) - 1 - i] for i in range(len(x))])
        close(mixed, expected, 1e-15)
        assert float(weight) == lam


def test_mixed_cross_entropy_is_the_cross_entropy_against_mixed_soft_targets():
    g = gen(2)
    output = torch.randn(8, 4, generator=g, dtype=torch.float64)
    y = torch.randint(4, (8,), generator=g)
    partner = torch.tensor([y[7 - i] for i in range(8)])
    for lam in Mixing(mixup=1.0).draws(seed=0, steps=4)[:, 1]:
        got = mixed_loss(F.cross_entropy, output, y, lam, "classification")
        by_parts = lam * F.cross_entropy(output, y) + (1 - lam) * F.cross_entropy(output, partner)
        soft = F.cross_entropy(output, lam * onehot(y, 4) + (1 - lam) * onehot(partner, 4))
        close(got, by_parts, 1e-12)
        close(got, soft, 1e-12)


def test_mixed_and_smoothed_cross_entropy_is_against_mixed_smoothed_targets():
    """training_loss with label smoothing ε and mixup λ: the cross-entropy against λ·q(y) + (1 − λ)·q(y_partner),
    q(y) = (1 − ε)·onehot(y) + ε/K."""
    g = gen(3)
    output = torch.randn(10, 5, generator=g, dtype=torch.float64)
    y = torch.randint(5, (10,), generator=g)
    lam, epsilon = torch.tensor(0.3, dtype=torch.float64), 0.2

    def smoothed(labels):
        return (1 - epsilon) * onehot(labels, 5) + epsilon / 5

    expected = F.cross_entropy(output, lam * smoothed(y) + (1 - lam) * smoothed(y.flip(0)))
    close(training_loss(FitConfig(), output, y, epsilon, lam), expected, 1e-12)


def test_mixed_regression_loss_is_against_the_mixed_target():
    g = gen(4)
    output, y = torch.randn(7, generator=g, dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64)
    lam = torch.tensor(0.65, dtype=torch.float64)
    target = torch.stack([0.65 * y[i] + 0.35 * y[6 - i] for i in range(7)])
    expected = ((output - target) ** 2).mean()
    close(mixed_loss(F.mse_loss, output, y, lam, "regression"), expected, 1e-14)
    close(mixed_loss(F.mse_loss, output, y, torch.tensor(1.0), "regression"), F.mse_loss(output, y), 0.0)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixup_lambda_is_beta_alpha_alpha(alpha):
    draws = Mixing(mixup=alpha).draws(seed=7, steps=20_000)
    lam = draws[:, 1].numpy()
    assert (draws[:, 0] == 0).all()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-4
    mean, var = 0.5, 1 / (4 * (2 * alpha + 1))  # Beta(α, α)
    assert abs(lam.mean() - mean) < 5 * math.sqrt(var / len(lam))
    assert abs(lam.var() - var) < 0.05 * var


def test_with_both_each_minibatch_is_cutmix_or_mixup_with_its_own_beta():
    draws = Mixing(mixup=0.3, cutmix=2.0).draws(seed=11, steps=20_000).numpy()
    cut = draws[:, 0] == 1
    assert set(np.unique(draws[:, 0])) == {0.0, 1.0}
    assert abs(cut.mean() - 0.5) < 5 * math.sqrt(0.25 / len(cut))
    assert stats.kstest(draws[cut, 1], stats.beta(2.0, 2.0).cdf).pvalue > 1e-4
    assert stats.kstest(draws[~cut, 1], stats.beta(0.3, 0.3).cdf).pvalue > 1e-4
    for axis in (2, 3):
        assert stats.kstest(draws[:, axis], stats.uniform.cdf).pvalue > 1e-4


def test_without_mixing_every_draw_leaves_the_batch_as_it_is():
    draws = Mixing().draws(seed=0, steps=3)
    assert draws.tolist() == [[0.0, 1.0, 0.0, 0.0]] * 3
    x = torch.randn(4, 3, 5, generator=gen(), dtype=torch.float64)
    mixed, lam = mix(x, draws[0])
    assert torch.equal(mixed, x) and float(lam) == 1.0


# ------------------------------------------------------------------------------------------------------ CutMix


def timm_rand_bbox(height: int, width: int, lam: float, u_y: float, u_x: float) -> tuple[int, int, int, int]:
    """timm's ``rand_bbox`` (no margin), its uniform centre given as fractions of the sides."""
    cut_rat = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut_rat), int(width * cut_rat)
    cy, cx = int(u_y * height), int(u_x * width)
    yl, yh = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
    xl, xh = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
    return int(yl), int(yh), int(xl), int(xh)


def test_cutmix_on_images_pastes_timms_box_and_corrects_lambda():
    """Not square (H 9, W 13), so a centre fraction used on the wrong axis shows."""
    x = torch.randn(5, 3, 9, 13, generator=gen(5), dtype=torch.float64)
    areas = set()
    for draw in Mixing(cutmix=1.0).draws(seed=2, steps=40):
        assert draw[0] == 1
        yl, yh, xl, xh = timm_rand_bbox(9, 13, float(draw[1]), float(draw[2]), float(draw[3]))
        expected = x.clone()
        expected[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
        mixed, lam = mix(x, draw)
        assert torch.equal(mixed, expected)
        area = (yh - yl) * (xh - xl)
        assert abs(float(lam) - (1 - area / (9 * 13))) < 1e-15
        areas.add(area)
    assert len(areas) > 10 and 0 in areas  # boxes of many sizes, some clipped away entirely


def test_cutmix_on_signals_pastes_a_segment_and_corrects_lambda():
    """One axis: the segment's length ⌊L·(1 − λ)⌋ about a uniform centre, clipped."""
    x = torch.randn(6, 2, 17, generator=gen(6), dtype=torch.float64)
    lengths = set()
    for draw in Mixing(cutmix=0.5).draws(seed=4, steps=40):
        lam, length = float(draw[1]), 17
        cut = int(length * (1 - lam))
        centre = int(float(draw[2]) * length)
        low, high = np.clip(centre - cut // 2, 0, length), np.clip(centre + cut // 2, 0, length)
        expected = x.clone()
        expected[:, :, low:high] = x.flip(0)[:, :, low:high]
        mixed, weight = mix(x, draw)
        assert torch.equal(mixed, expected)
        assert abs(float(weight) - (1 - (high - low) / length)) < 1e-15
        lengths.add(int(high - low))
    assert len(lengths) > 5


def test_mixing_refuses_what_it_cannot_mix():
    image, table = torch.zeros(4, 1, 5, 5), torch.zeros(4, 5)
    Mixing(cutmix=1.0).check(image)
    Mixing(cutmix=1.0).check(torch.zeros(4, 2, 9))
    Mixing(mixup=0.2).check(table)
    refusals = [
        (Mixing(cutmix=1.0), table),
        (Mixing(mixup=0.2, cutmix=1.0), table),
        (Mixing(mixup=0.2), torch.zeros(4, 5, dtype=torch.long)),
        (Mixing(cutmix=1.0), torch.zeros(4, 1, 5, 5, dtype=torch.uint8)),
        (Mixing(mixup=0.2), [table, table]),
    ]
    for mixing, x in refusals:
        with pytest.raises(ValueError) as error:
            mixing.check(x)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError):
        Mixing(mixup=-0.1)


def test_fit_refuses_cutmix_on_a_table():
    X, y = classes()
    with pytest.raises(ValueError, match="CutMix"):
        fit(
            nn.Linear(5, 3).double(),
            (X, y),
            config=FitConfig(epochs=1, device="cpu"),
            regularizers=Regularizers(mixing=Mixing(cutmix=1.0)),
        )


# --------------------------------------------------------------------------------------------------- drop path


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_path_keeps_or_drops_whole_samples_scaled_by_one_over_keep(p):
    n = 20_000
    x = torch.rand(n, 3, 4, generator=gen(1), dtype=torch.float64) + 0.5  # no zeros
    y = drop_path(x, p, training=True, generator=gen(2))
    zero = (y == 0).reshape(n, -1)
    dropped = zero.all(dim=1)
    assert (zero.any(dim=1) == dropped).all()  # a sample is all zero or not zero at all
    torch.testing.assert_close(y[~dropped], x[~dropped] / (1 - p), rtol=1e-15, atol=0.0)
    assert abs((~dropped).double().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)


def test_drop_path_is_the_identity_in_evaluation_and_at_zero():
    x = torch.randn(50, 7, generator=gen())
    assert drop_path(x, 0.5, training=False) is x
    assert torch.equal(drop_path(x, 0.0, training=True), x)
    assert torch.equal(DropPath(0.5).eval()(x), x)
    assert torch.equal(DropPath().train()(x), x)  # tunable, 0 until a study sets its rate
    assert torch.equal(drop_path(x, 0.5, True, gen(3)), drop_path(x, 0.5, True, gen(3)))


class Block(nn.Module):
    """x + DropPath(relu(Wx + b)): a residual block whose branch a study may drop."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear, self.drop = nn.Linear(width, width), reglab.DropPath()

    def forward(self, x):
        return x + self.drop(torch.relu(self.linear(x)))


def residual_net() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), Block(8), nn.ReLU(), Block(8), nn.Linear(8, 3))


def plain_net() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_the_drop_path_method_sets_the_rate_of_tunable_drop_path_layers():
    model = CustomModel.of(residual_net).build((6,), 3, drop_path=0.3)
    layers = [m for m in model.modules() if isinstance(m, DropPath)]
    assert len(layers) == 2 and all(layer.p == 0.3 for layer in layers)
    untuned = [m for m in CustomModel.of(residual_net).build((6,), 3).modules() if isinstance(m, DropPath)]
    assert len(untuned) == 2 and all(layer.p == 0.0 for layer in untuned)
    with pytest.raises(ValueError, match="DropPath"):
        CustomModel.of(plain_net).build((6,), 3, drop_path=0.3)
    with pytest.raises(ValueError, match="residual"):
        ModelSpec("mlp").build((6,), 3, drop_path=0.1)


# --------------------------------------------------------------------------------------------------------- SAM


class Quadratic(nn.Module):
    """f(w) = ½ wᵀAw whatever the input: with the loss ``output``, the data loss is f."""

    def __init__(self, w: torch.Tensor, A: torch.Tensor) -> None:
        super().__init__()
        self.w, self.A = nn.Parameter(w.clone()), A

    def forward(self, x):
        return 0.5 * self.w @ self.A @ self.w


def quadratic_step(w, A, lr, sam):
    model = Quadratic(w, A)
    config = FitConfig(
        task="regression",
        optimizer="sgd",
        lr=lr,
        epochs=1,
        batch_size=None,
        device="cpu",
        loss=lambda output, y: output,
        metric=lambda output, y: 0.0,
    )
    fit(
        model,
        (torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)),
        config=config,
        regularizers=Regularizers(sam=sam),
    )
    return model.w.detach()


def spd(d: int, seed: int) -> torch.Tensor:
    B = torch.randn(d, d, generator=gen(seed), dtype=torch.float64)
    return B @ B.T + torch.eye(d, dtype=torch.float64)


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_one_sam_step_on_a_quadratic_has_the_closed_form(rho):
    """w − η·A(w + ρ·Aw/‖Aw‖)."""
    A, w, lr = spd(4, 0), torch.randn(4, generator=gen(1), dtype=torch.float64), 0.03
    g = A @ w
    expected = w - lr * A @ (w + rho * g / g.norm())
    close(quadratic_step(w, A, lr, SharpnessAware(rho)), expected, 1e-12)
    assert (quadratic_step(w, A, lr, SharpnessAware(rho)) - (w - lr * g)).abs().max() > 1e-3


def test_one_adaptive_sam_step_on_a_quadratic_has_the_closed_form():
    """e = ρ·w²⊙g/‖|w|⊙g‖, then w − η·A(w + e)."""
    A, w, lr, rho = spd(5, 2), torch.randn(5, generator=gen(3), dtype=torch.float64), 0.02, 0.3
    g = A @ w
    e = rho * w**2 * g / (w.abs() * g).norm()
    close(quadratic_step(w, A, lr, SharpnessAware(rho, adaptive=True)), w - lr * A @ (w + e), 1e-12)


def test_ascent_normalizes_over_all_tensors_of_each_member():
    """Two members, each with a matrix and a vector: member 0 plain with ρ 0.1, member 1 adaptive with ρ 0.5;
    the norm over the member's two tensors together."""
    g = gen(4)
    params = [
        torch.randn(2, 3, 4, generator=g, dtype=torch.float64),
        torch.randn(2, 4, generator=g, dtype=torch.float64),
    ]
    grads = [
        torch.randn(2, 3, 4, generator=g, dtype=torch.float64),
        torch.randn(2, 4, generator=g, dtype=torch.float64),
    ]
    rho, adaptive = torch.tensor([0.1, 0.5], dtype=torch.float64), torch.tensor([False, True])
    rise = ascent(params, grads, rho, adaptive)
    for k in range(2):
        w = torch.cat([p[k].flatten() for p in params])
        grad = torch.cat([gr[k].flatten() for gr in grads])
        scale = w.abs() if adaptive[k] else torch.ones_like(w)
        expected = float(rho[k]) * scale**2 * grad / ((scale * grad).norm() + 1e-12)  # as davda54/sam
        close(torch.cat([e[k].flatten() for e in rise]), expected, 1e-13)


class ReferenceSAM(torch.optim.Optimizer):
    """A transcription of davda54/sam's ``SAM`` (first_step, second_step) around a base optimizer."""

    def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self):
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.clone()
                p.add_((torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale.to(p))
        self.zero_grad()

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data = self.state[p]["old_p"]
        self.base_optimizer.step()
        self.zero_grad()

    def _grad_norm(self):
        norms = [
            ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad).norm(p=2)
            for group in self.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        return torch.norm(torch.stack(norms), p=2)


def minibatch_order(n: int, batch: int, epochs: int, seed: int):
    """reglab's minibatches: ``torch.randperm(n)`` per epoch from one generator seeded with the seed."""
    generator = gen(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        yield [order[i : i + batch] for i in range(0, n, batch)]


def small_net(seed: int, batchnorm: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    norm = [nn.BatchNorm1d(8)] if batchnorm else []
    return nn.Sequential(nn.Linear(5, 8), *norm, nn.ReLU(), nn.Linear(8, 3)).double()


def assert_same_state(actual: nn.Module, expected: nn.Module, atol: float = 1e-10) -> None:
    """Parameters and batch norm's running statistics."""
    for a, b in zip(actual.parameters(), expected.parameters()):
        close(a.detach(), b.detach(), atol)
    for a, b in zip(actual.modules(), expected.modules()):
        if isinstance(a, nn.BatchNorm1d):
            close(a.running_mean, b.running_mean, atol)
            close(a.running_var, b.running_var, atol)


def train_with_reference_sam(reference, sam, X, y, batch, epochs, seed):
    """The reference's two steps on each of reglab's minibatches."""
    for batches in minibatch_order(len(y), batch, epochs, seed):
        for index in batches:
            F.cross_entropy(reference(X[index]), y[index]).backward()
            sam.first_step()
            F.cross_entropy(reference(X[index]), y[index]).backward()
            sam.second_step()


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_training_equals_the_reference_implementation(adaptive):
    X, y = classes(n=40)
    lr, momentum, rho, batch, epochs = 0.1, 0.9, 0.2, 16, 2
    model = small_net(0)
    reference = copy.deepcopy(model)
    sam = ReferenceSAM(reference.parameters(), torch.optim.SGD, rho=rho, adaptive=adaptive, lr=lr, momentum=momentum)
    train_with_reference_sam(reference, sam, X, y, batch, epochs, seed=5)
    config = FitConfig(optimizer="sgd", lr=lr, momentum=momentum, batch_size=batch, epochs=epochs, seed=5, device="cpu")
    fit(model, (X, y), config=config, regularizers=Regularizers(sam=SharpnessAware(rho, adaptive)))
    assert_same_state(model, reference)
    plain = small_net(0)
    fit(plain, (X, y), config=config)
    assert (plain[0].weight - model[0].weight).abs().max() > 1e-4


def test_l2_under_sam_stays_outside_the_ascent_as_sgd_weight_decay():
    """Foret et al.'s min_w max_e L(w + e) + λ‖w‖²: reglab's L2 term under SAM equals the reference SAM around
    ``torch.optim.SGD(weight_decay=λ)`` on the weights (biases not decayed), the ascent from L's gradient."""
    X, y = classes(n=40)
    lr, momentum, rho, lam, batch, epochs = 0.1, 0.9, 0.2, 0.05, 16, 2
    model = small_net(3)
    reference = copy.deepcopy(model)
    groups = [
        {"params": [p for name, p in reference.named_parameters() if name.endswith("weight")], "weight_decay": lam},
        {"params": [p for name, p in reference.named_parameters() if name.endswith("bias")]},
    ]
    sam = ReferenceSAM(groups, torch.optim.SGD, rho=rho, lr=lr, momentum=momentum)
    train_with_reference_sam(reference, sam, X, y, batch, epochs, seed=4)
    config = FitConfig(optimizer="sgd", lr=lr, momentum=momentum, batch_size=batch, epochs=epochs, seed=4, device="cpu")
    regularizers = Regularizers(penalties=[reglab.Term(reglab.L2(lam))], sam=SharpnessAware(rho))
    fit(model, (X, y), config=config, regularizers=regularizers)
    assert_same_state(model, reference)


def test_sam_keeps_batch_norm_statistics_of_the_first_pass():
    X, y = classes(n=24)
    model = small_net(1, batchnorm=True)
    reference = copy.deepcopy(model).train()
    (order,) = next(minibatch_order(len(y), len(y), 1, seed=2))
    with torch.no_grad():
        reference(X[order])
    config = FitConfig(optimizer="sgd", lr=0.1, batch_size=None, epochs=1, seed=2, device="cpu")
    fit(model, (X, y), config=config, regularizers=Regularizers(sam=SharpnessAware(0.5)))
    norm, expected = model[1], reference[1]
    close(norm.running_mean, expected.running_mean, 1e-14)
    close(norm.running_var, expected.running_var, 1e-14)
    assert int(norm.num_batches_tracked) == 1


# ----------------------------------------------------------------------------------------------- weight averages


def plain_loop(model, X, y, optimizer, batch, epochs, seed, after_step=None, after_epoch=None):
    """A plain training loop in reglab's minibatch order, with hooks for an average."""
    for epoch, batches in enumerate(minibatch_order(len(y), batch, epochs, seed)):
        for index in batches:
            loss = F.cross_entropy(model(X[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
        if after_epoch is not None:
            after_epoch(epoch)


@pytest.mark.parametrize("optimizer, decay", [("adam", 0.8), ("sgd", 0.95)])
def test_ema_equals_torchs_averaged_model_updated_after_every_step(optimizer, decay):
    X, y = classes(n=45, seed=1)
    batch, epochs, lr = 16, 3, 0.05
    model = small_net(2, batchnorm=True)
    reference = copy.deepcopy(model)
    ema = AveragedModel(reference, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    torch_optimizer = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer](reference.parameters(), lr=lr)
    plain_loop(
        reference, X, y, torch_optimizer, batch, epochs, seed=3, after_step=lambda: ema.update_parameters(reference)
    )
    config = FitConfig(optimizer=optimizer, lr=lr, batch_size=batch, epochs=epochs, seed=3, device="cpu")
    fit(model, (X, y), config=config, regularizers=Regularizers(average=WeightAverage("ema", decay)))
    assert_same_state(model, ema.module)
    assert (model[0].weight - reference[0].weight).abs().max() > 1e-4  # the average, not the last iterate


def test_swa_equals_torchs_averaged_model_with_update_bn():
    """AveragedModel updated at the end of epochs 2 and 3 of 4 (start fraction ½), then update_bn over the
    training rows in one batch."""
    X, y = classes(n=45, seed=2)
    batch, epochs, lr = 16, 4, 0.1
    model = small_net(3, batchnorm=True)
    reference = copy.deepcopy(model)
    swa = AveragedModel(reference)

    def average(epoch):
        if epoch >= 2:
            swa.update_parameters(reference)

    optimizer = torch.optim.SGD(reference.parameters(), lr=lr)
    plain_loop(reference, X, y, optimizer, batch, epochs, seed=4, after_epoch=average)
    update_bn([(X, y)], swa)
    config = FitConfig(optimizer="sgd", lr=lr, batch_size=batch, epochs=epochs, seed=4, device="cpu")
    fit(model, (X, y), config=config, regularizers=Regularizers(average=WeightAverage("swa", 0.5)))
    assert_same_state(model, swa.module)
    assert (model[0].weight - reference[0].weight).abs().max() > 1e-4


def test_swa_starts_at_its_fraction_of_the_epochs():
    assert [WeightAverage("swa", f).start(4) for f in (0.0, 0.3, 0.5, 0.75, 0.99)] == [0, 1, 2, 3, 3]
    with pytest.raises(ValueError):
        WeightAverage("mean", 0.5)


# ---------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("spec", ["ema+swa", "ema+early-stopping", "swa=0.5+early-stopping=3", "sam-adaptive"])
def test_incompatible_specs_are_refused_in_one_line(spec):
    with pytest.raises(ValueError) as error:
        Regularization.parse(spec)
    assert "\n" not in str(error.value)


def test_settings_out_of_range_are_refused_in_one_line():
    X, y = classes()
    refusals = [
        lambda: Regularization(sam_adaptive=True),
        lambda: from_off_target_smoothing(0.9, 2),
        lambda: fit(small_net(0), (X, y), config=FitConfig(epochs=1), regularizers=Regularizers(label_smoothing=1.5)),
        lambda: fit(small_net(0), (X, y), config=FitConfig(epochs=1), regularizers=Regularizers(label_smoothing=-0.1)),
    ]
    for refused in refusals:
        with pytest.raises(ValueError) as error:
            refused()
        assert "\n" not in str(error.value)


def test_label_smoothing_is_refused_outside_the_built_in_cross_entropy():
    X, y = classes()
    regularizers = Regularizers(label_smoothing=0.1)
    refused = [
        FitConfig(task="regression", epochs=1, device="cpu"),
        FitConfig(epochs=1, device="cpu", loss=nn.CrossEntropyLoss()),
    ]
    for config in refused:
        target = y.double() if config.task == "regression" else y
        with pytest.raises(ValueError) as error:
            fit(
                nn.Linear(5, 3 if config.task == "classification" else 1).double(),
                (X, target),
                config=config,
                regularizers=regularizers,
            )
        assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------------------------ a study


class ResidualNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(6, 8), Block(8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.layers(x)


def test_a_study_compares_every_recipe_on_a_residual_network():
    g = np.random.default_rng(0)
    X = g.standard_normal((80, 6)).astype(np.float32)
    y = (X @ g.standard_normal((6, 3))).argmax(1)
    methods = ["none", "label-smoothing", "mixup", "drop-path", "sam", "ema", "swa"]
    study = reglab.compare(
        data=(X, y),
        model=ResidualNet,
        methods=methods,
        epochs=2,
        seeds=1,
        folds=2,
        grid_size=2,
        batch_size=16,
        device="cpu",
    )
    assert [m.method for m in study.summary.methods] == methods
    for summary in study.summary.methods:
        assert summary.outcome == "completed", (summary.method, summary.outcome)
        assert np.isfinite(summary.test_values).all()
    table = study.table()
    assert "sam: two forward and backward passes a step (SAM), about twice the time" in table
    assert "NLL" in table and "ECE" in table


def test_recipe_specs_round_trip_through_their_label_and_the_store():
    """What the store keeps (``to_dict``) and the label that names a trial give back the same settings."""
    spec = "label-smoothing=0.1+mixup=0.2+cutmix=1+drop-path=0.1+sam=0.5+sam-adaptive+ema=0.99"
    reg = Regularization.parse(spec)
    assert (reg.label_smoothing, reg.mixup, reg.cutmix, reg.drop_path) == (0.1, 0.2, 1.0, 0.1)
    assert (reg.sam, reg.sam_adaptive, reg.ema, reg.swa) == (0.5, True, 0.99, 0.0)
    assert Regularization.from_dict(reg.to_dict()) == reg
    assert Regularization.parse(reg.label) == reg
    assert Regularization.parse("swa=0.5").label == "swa=0.5"


def test_fit_refuses_a_weight_average_with_early_stopping():
    regularizers = Regularizers(average=WeightAverage("ema", 0.9), early_stopping=reglab.EarlyStopping(patience=2))
    with pytest.raises(ValueError, match="choose one") as error:
        fit(nn.Linear(3, 2), (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)), regularizers=regularizers)
    assert "\n" not in str(error.value)
