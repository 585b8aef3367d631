"""The training loop's contracts: determinism, divergence as an outcome, early stopping, max-norm, exact zeros
from proximal steps, and a history whose metrics agree with scikit-learn's."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from reglab.noise import noise_seed
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.dropout import Dropout
from reglab.regularizers.early_stopping import EarlyStopping
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso
from reglab.regularizers.terms import Term
from reglab.training import FitConfig, Regularizers, fit

FIELDS = {
    "epoch",
    "train_loss",
    "train_metric",
    "val_loss",
    "val_metric",
    "penalty",
    "zeros",
    "weight_norm",
    "units_pruned",
    "seconds",
}


def regression(n=30, n_val=200, d=20, seed=0):
    """Few samples, many features, three relevant: a small MLP overfits it."""
    rng = np.random.default_rng(seed)
    w = np.zeros(d)
    w[:3] = [1.0, -1.0, 0.5]
    X, Xv = rng.standard_normal((n, d)), rng.standard_normal((n_val, d))
    return (X, X @ w + 0.8 * rng.standard_normal(n)), (Xv, Xv @ w + 0.8 * rng.standard_normal(n_val))


def wine():
    X, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    scaler = StandardScaler().fit(X[:120])
    return (scaler.transform(X[:120]), y[:120]), (scaler.transform(X[120:]), y[120:])


def mlp(d_in=20, hidden=32, d_out=1, seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out)).double()


def gd(task="regression", lr=0.05, epochs=200, **kwargs) -> FitConfig:
    """Full-batch SGD with momentum 0.9."""
    return FitConfig(task=task, optimizer="sgd", lr=lr, momentum=0.9, epochs=epochs, batch_size=None, **kwargs)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_history_different_seed_different():
    """Minibatches of 16 with dropout: seed 0 twice gives identical histories (exact), seed 1 another one."""
    train, val = wine()

    def run(seed):
        torch.manual_seed(123)  # the same initial weights for every run
        model = nn.Sequential(nn.Linear(13, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)).double()
        config = FitConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=16, seed=seed)
        return without_seconds(fit(model, train, val, config=config).history)

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert [r["train_loss"] for r in first] != [r["train_loss"] for r in other]


# --- divergence -----------------------------------------------------------------------------------


def test_noise_depends_on_seed_layer_and_step_only():
    """A noise layer's generator advances once per training step: evaluating held-out rows after each
    epoch draws nothing (the training history is the same with and without them), and a layer's masks
    are those of a fresh generator seeded with ``noise_seed(seed, i)``, drawn once per step."""
    train, val = wine()
    config = FitConfig(optimizer="adam", lr=1e-2, epochs=3, batch_size=40, seed=4)

    def noisy() -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(13, 16), nn.ReLU(), Dropout(0.4), nn.Linear(16, 3)).double()

    watched, unwatched = fit(noisy(), train, val, config=config), fit(noisy(), train, config=config)
    assert [r["train_loss"] for r in watched.history] == [r["train_loss"] for r in unwatched.history]
    model, seen = noisy(), []
    model[2].register_forward_hook(lambda layer, args, out: seen.append((args[0], out)) if layer.training else None)
    fit(model, train, config=config)
    stream, keep = torch.Generator().manual_seed(noise_seed(4, 0)), 0.6
    assert len(seen) == 3 * 3  # 3 epochs of 3 minibatches
    for x, out in seen:
        u = torch.empty(40, 16, dtype=torch.float64).uniform_(generator=stream)
        assert torch.equal(out, x * ((u < keep).double() / keep))


@pytest.mark.parametrize(
    "regularizers",
    [
        Regularizers(),
        Regularizers(penalties=[Term(L1(0.1)), Term(GroupLasso(0.1), mode="proximal")], decay=0.01),
        Regularizers(penalties=[Term(ElasticNet(0.1, 0.5), mode="proximal"), Term(L2(0.1))], max_norm=MaxNorm(1e9)),
    ],
    ids=["plain", "l1+grouplasso+decay", "elasticnet+l2+maxnorm"],
)
def test_too_large_a_learning_rate_diverges_without_exception(regularizers):
    """Linear regression with lr = 10 on minibatches of 8 blows up geometrically until the loss is inf:
    outcome "diverged", the loop stops, the earlier epochs are intact, no exception from any penalty."""
    train, val = regression()
    config = FitConfig(task="regression", optimizer="sgd", lr=10.0, epochs=50, batch_size=8)
    torch.manual_seed(0)
    result = fit(nn.Linear(20, 1).double(), train, val, config=config, regularizers=regularizers)
    assert result.outcome == "diverged"
    history = result.history
    assert 1 <= len(history) < 50
    assert [r["epoch"] for r in history] == list(range(len(history)))
    assert all(set(r) >= FIELDS for r in history)
    for record in history[:-1]:
        assert math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"])


# --- early stopping -------------------------------------------------------------------------------


def test_early_stopping_restores_the_best_weights():
    """The final model is, exactly, the state recorded at the epoch of least validation loss, and training
    stopped ``patience`` epochs after it."""
    train, val = regression()
    model, states, patience = mlp(), [], 5
    stopper = EarlyStopping(patience=patience)
    result = fit(
        model,
        train,
        val,
        config=gd(epochs=300),
        regularizers=Regularizers(early_stopping=stopper),
        on_epoch=lambda record: states.append(copy.deepcopy(model.state_dict())),
    )
    losses = [r["val_loss"] for r in result.history]
    best = int(np.argmin(losses))
    assert result.best_epoch == best
    assert len(result.history) == best + patience + 1 < 300
    final = model.state_dict()
    assert all(torch.equal(final[k], states[best][k]) for k in final)
    assert not all(torch.equal(final[k], states[-1][k]) for k in final)  # restoring did change the weights
    with torch.no_grad():
        prediction = model(torch.from_numpy(val[0])).numpy().ravel()
    assert mean_squared_error(val[1], prediction) == pytest.approx(losses[best], rel=1e-12)


# --- max-norm -------------------------------------------------------------------------------------


def test_max_norm_holds_after_every_step():
    """Every unit's incoming weights have ‖w_j‖ ≤ c + 1e-6 before every forward pass (so after every step)
    and at the end of every epoch; the constraint binds (without it the norms exceed c)."""
    train, val = wine()
    c = 1.0
    config = FitConfig(optimizer="sgd", lr=0.5, momentum=0.9, epochs=10, batch_size=16)

    def largest_norm(model):
        return max(float(w.reshape(w.shape[0], -1).norm(dim=1).max()) for w in weights(model))

    free = mlp(13, 16, 3)
    fit(free, train, val, config=config)
    assert largest_norm(free) > 2 * c

    model, seen = mlp(13, 16, 3), []
    model.register_forward_pre_hook(lambda module, args: seen.append(largest_norm(module)))
    epochs = []
    fit(
        model,
        train,
        val,
        config=config,
        regularizers=Regularizers(max_norm=MaxNorm(c)),
        on_epoch=lambda record: epochs.append(largest_norm(model)),
    )
    assert len(epochs) == 10 and len(seen) > 10 * 8
    assert max(seen) <= c + 1e-6 and max(epochs) <= c + 1e-6
    assert max(epochs) >= c - 1e-6  # binding: some unit sits on the sphere


# --- exact zeros ----------------------------------------------------------------------------------


def row_zero_counts(model) -> tuple[int, int, int]:
    """(all-zero rows, zero entries, entries in all-zero rows) over the Linear weights."""
    rows = [w.reshape(w.shape[0], -1) == 0 for w in weights(model)]
    pruned = sum(int(r.all(dim=1).sum()) for r in rows)
    zeros = sum(int(r.sum()) for r in rows)
    in_pruned = sum(int(r[r.all(dim=1)].sum()) for r in rows)
    return pruned, zeros, in_pruned


def test_group_lasso_prunes_whole_units():
    """Proximal group lasso: λ = 0.02 zeroes whole rows (and only whole rows) but keeps some units;
    λ = 1e-3 prunes none. ``units_pruned`` and ``zeros`` equal counts made here on the weights."""
    train, _ = regression()
    config = gd()
    total_rows = 32 + 1
    for lam, expect_pruning in [(0.02, True), (1e-3, False)]:
        model = mlp()
        result = fit(
            model, train, config=config, regularizers=Regularizers(penalties=[Term(GroupLasso(lam), mode="proximal")])
        )
        pruned, zeros, in_pruned = row_zero_counts(model)
        assert result.last["units_pruned"] == pruned
        assert result.last["zeros"] == zeros / sum(w.numel() for w in weights(model))
        assert zeros == in_pruned  # no stray zero outside a removed unit
        if expect_pruning:
            assert 0 < pruned < total_rows
        else:
            assert pruned == 0


def test_l1_zeros_come_from_the_proximal_step_only():
    """L1(0.05): as a proximal step most weights are exactly zero (> 50 %); as a loss term (subgradient)
    practically none are (< 1 %)."""
    train, _ = regression()
    zeros = {}
    for mode in ("proximal", "loss"):
        model = mlp()
        result = fit(model, train, config=gd(), regularizers=Regularizers(penalties=[Term(L1(0.05), mode=mode)]))
        zeros[mode] = result.last["zeros"]
        assert zeros[mode] == row_zero_counts(model)[1] / sum(w.numel() for w in weights(model))
    assert zeros["proximal"] > 0.5 and zeros["loss"] < 0.01


# --- history and metrics --------------------------------------------------------------------------


def test_regression_history_matches_sklearn_metrics():
    """Exact history, last record: train/val R² = sklearn r2_score and losses = mean_squared_error on the final model's
    predictions (1e-12 relative); penalty = λΣ|w| on the weights; weight_norm = ‖w‖₂ over weights."""
    train, val = regression()
    model = mlp()
    config = gd(epochs=30, history="exact")
    result = fit(model, train, val, config=config, regularizers=Regularizers(penalties=[Term(L1(0.01))]))
    assert result.outcome == "completed" and len(result.history) == 30
    assert all(set(r) >= FIELDS for r in result.history)
    record = result.last
    with torch.no_grad():
        for (X, y), prefix in [(train, "train"), (val, "val")]:
            prediction = model(torch.from_numpy(X)).numpy().ravel()
            assert record[f"{prefix}_metric"] == pytest.approx(r2_score(y, prediction), rel=1e-12)
            assert record[f"{prefix}_loss"] == pytest.approx(mean_squared_error(y, prediction), rel=1e-12)
    w = [t.numpy() for t in weights(model)]
    assert record["penalty"] == pytest.approx(0.01 * sum(np.abs(a).sum() for a in w), rel=1e-12)
    assert record["weight_norm"] == pytest.approx(np.sqrt(sum((a**2).sum() for a in w)), rel=1e-12)


def test_classification_history_matches_sklearn_metrics():
    """Exact history, last record: accuracy = sklearn accuracy_score, loss = log_loss of the softmax
    (1e-10 relative)."""
    train, val = wine()
    model = mlp(13, 16, 3)
    config = FitConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=32, history="exact")
    record = fit(model, train, val, config=config).last
    with torch.no_grad():
        for (X, y), prefix in [(train, "train"), (val, "val")]:
            logits = model(torch.from_numpy(X))
            assert record[f"{prefix}_metric"] == accuracy_score(y, logits.argmax(1).numpy())
            probabilities = torch.softmax(logits, dim=1).numpy()
            assert record[f"{prefix}_loss"] == pytest.approx(log_loss(y, probabilities, labels=[0, 1, 2]), rel=1e-10)
    assert record["penalty"] == 0.0 and record["units_pruned"] == 0


def test_training_history_is_the_running_mean_of_the_minibatches():
    """Each epoch's train_loss and train_metric = a hand-written PyTorch loop's mean of its minibatches'
    cross-entropy and accuracy in training mode, weighted by their rows (120 rows in batches of 16: the last
    has 8), float64 within 1e-12; the watched rows are scored in evaluation mode (scikit-learn's log_loss)."""
    train, val = wine()
    model = mlp(13, 16, 3)
    reference = copy.deepcopy(model)
    config = FitConfig(optimizer="sgd", lr=0.05, momentum=0.9, epochs=4, batch_size=16, seed=3)
    history = fit(model, train, val, config=config).history

    X, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    order = torch.Generator().manual_seed(3)
    for record in history:
        loss_sum = hits = 0.0
        for index in torch.randperm(len(y), generator=order).split(16):
            output = reference(X[index])
            loss = nn.functional.cross_entropy(output, y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            hits += (output.argmax(1) == y[index]).sum().item()
        assert record["train_loss"] == pytest.approx(loss_sum / len(y), rel=1e-12)
        assert record["train_metric"] == pytest.approx(hits / len(y), rel=1e-12)
        with torch.no_grad():
            probabilities = torch.softmax(reference(torch.from_numpy(val[0])), dim=1).numpy()
        assert record["val_loss"] == pytest.approx(log_loss(val[1], probabilities, labels=[0, 1, 2]), rel=1e-10)


def test_exact_history_scores_the_training_rows_every_epoch():
    """history="exact": every epoch's train_loss and train_metric = scikit-learn's mean_squared_error and
    r2_score of that epoch's model on the training rows (1e-12 relative)."""
    train, _ = regression()
    model = mlp()
    expected = []

    def score(record):
        with torch.no_grad():
            prediction = model(torch.from_numpy(train[0])).numpy().ravel()
        expected.append((mean_squared_error(train[1], prediction), r2_score(train[1], prediction)))

    history = fit(model, train, config=gd(epochs=5, history="exact"), on_epoch=score).history
    for record, (loss, r2) in zip(history, expected, strict=True):
        assert record["train_loss"] == pytest.approx(loss, rel=1e-12)
        assert record["train_metric"] == pytest.approx(r2, rel=1e-12)


def test_without_validation_rows_early_stopping_monitors_the_running_training_loss():
    train, _ = regression()
    config = FitConfig(task="regression", optimizer="sgd", lr=0.3, epochs=30, batch_size=8)
    result = fit(mlp(), train, config=config, regularizers=Regularizers(early_stopping=EarlyStopping(patience=2)))
    losses = [r["train_loss"] for r in result.history]
    assert len(losses) < 30 and result.best_epoch == int(np.argmin(losses))


def test_an_unknown_history_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^Invalid value for argument history: .*'running', 'exact'.*'daily'$"):
        FitConfig(history="daily")


def test_history_without_validation_has_no_val_fields():
    train, _ = regression()
    result = fit(mlp(), train, config=gd(epochs=2))
    assert "val_loss" not in result.last and "train_loss" in result.last


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5, float("nan")])
def test_momentum_must_be_below_one(momentum):
    """Heavy ball needs 0 ≤ μ < 1 (μ ≥ 1 never settles, and the proximal step size lr/(1 − μ) needs μ < 1)."""
    with pytest.raises(ValueError, match="momentum"):
        FitConfig(optimizer="sgd", momentum=momentum)


def test_one_early_stopping_reused_for_several_fits_starts_afresh_each_time():
    """A Regularizers reused across seeds: the second fit ends as a fresh EarlyStopping would end it, not with
    the first fit's (better) best loss and weights restored into the second model."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3)).astype(np.float32)
    easy, hard = (X @ np.ones(3)).astype(np.float32), rng.normal(size=80).astype(np.float32)
    config = FitConfig(task="regression", optimizer="sgd", lr=0.05, epochs=8, batch_size=16, device="cpu")

    def run(y, stopper):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        fitted = fit(model, (X, y), (X, y), config=config, regularizers=Regularizers(early_stopping=stopper))
        return fitted, model.weight.detach().clone()

    shared = EarlyStopping(patience=2)
    run(easy, shared)  # a low best loss that the hard target never reaches
    reused, reused_weights = run(hard, shared)
    fresh, fresh_weights = run(hard, EarlyStopping(patience=2))
    assert reused.best_epoch == fresh.best_epoch
    torch.testing.assert_close(reused_weights, fresh_weights, rtol=0, atol=0)


def test_a_minibatch_without_a_metric_counts_toward_the_loss_only():
    """30 rows in minibatches of 29: the last has one row, whose R² is undefined; the epoch's train_metric is
    the first minibatch's R² (scikit-learn's r2_score), its train_loss the row-weighted mean of both
    minibatches' squared errors (1e-12 relative)."""
    train, _ = regression()
    model = mlp()
    reference = copy.deepcopy(model)
    config = FitConfig(task="regression", optimizer="sgd", lr=0.01, epochs=2, batch_size=29, seed=1)
    history = fit(model, train, config=config).history

    X, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.01)
    order = torch.Generator().manual_seed(1)
    for record in history:
        first, last = torch.randperm(len(y), generator=order).split(29)
        losses = []
        for index in (first, last):
            output = reference(X[index]).reshape(-1)
            loss = nn.functional.mse_loss(output, y[index])
            if len(index) > 1:
                r2 = r2_score(y[index].numpy(), output.detach().numpy())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() * len(index))
        assert record["train_metric"] == pytest.approx(r2, rel=1e-12)
        assert record["train_loss"] == pytest.approx(sum(losses) / len(y), rel=1e-12)


class WithSpareBranch(nn.Module):
    """A small network with a branch its forward never uses: torch.optim leaves a parameter without a
    gradient alone, its moments and step count too."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.spare = nn.Linear(4, 3)

    def forward(self, x):
        return self.used(x)


@pytest.mark.parametrize(
    "name, make",
    [
        ("adam", lambda p: torch.optim.Adam(p, lr=0.01)),
        ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.0)),
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ],
)
def test_fit_steps_as_torch_optim_does(name, make):
    """``fit``'s optimizer against ``torch.optim`` in a hand-written loop on the same minibatches: Adam and
    AdamW bit for bit, SGD with momentum within rounding; the unused branch keeps its initial weights."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 4, generator=g, dtype=torch.float64), torch.randint(3, (40,), generator=g)
    torch.manual_seed(1)
    model = WithSpareBranch().double()
    reference, spare = copy.deepcopy(model), copy.deepcopy(model.spare)
    optimizer = make(reference.parameters())
    order = torch.Generator().manual_seed(2)
    for _ in range(3):
        for index in torch.randperm(40, generator=order).split(16):
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(reference(X[index]), y[index]).backward()
            optimizer.step()
    lr, momentum = (0.05, 0.9) if name == "sgd" else (0.01, 0.0)
    config = FitConfig(optimizer=name, lr=lr, momentum=momentum, epochs=3, batch_size=16, seed=2, device="cpu")
    fit(model, (X, y), config=config)
    for (key, mine), theirs in zip(model.state_dict().items(), reference.state_dict().values()):
        if name == "sgd":
            torch.testing.assert_close(mine, theirs, rtol=1e-13, atol=1e-15)
        else:
            assert torch.equal(mine, theirs), key
    assert torch.equal(model.spare.weight, spare.weight)
