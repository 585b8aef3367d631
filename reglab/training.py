"""One training loop for any ``torch.nn.Module``.

Minimizes ``mean data loss + Σ R(w)`` (cross-entropy for classification, mean squared error for
regression) by minibatch SGD, Adam or AdamW. Per step: mixup or CutMix mixes the minibatch; the data
term fits its targets (smoothed, mixed: ``training_loss``) and loss-mode penalties join it; with SAM the
gradient is taken again at the ascent point; decoupled decay shrinks w ← w − η λ_d w (before the update,
exactly as ``torch.optim.AdamW``); the optimizer steps; proximal penalties apply their proximal step;
max-norm projects each unit; an EMA of the weights follows. SWA averages the weights at the ends of
epochs, and a fit with either average ends with the averaged weights (the epochs' records are the live
weights'). A NaN or infinite loss ends the run with outcome ``diverged`` and its history intact.

An epoch's history records its training loss and metric as the running mean over its minibatches, each
as the step computed it in training mode (as Keras, Lightning and scikit-learn's ``loss_curve_`` do), and
the watched rows scored in evaluation mode; ``history="exact"`` scores the training rows in evaluation
mode after every epoch instead.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

from reglab.data.dataset import TASKS
from reglab.devices import resolve_device
from reglab.noise import seeded_noise
from reglab.optimizers import optimizer
from reglab.regularizers.averaging import Averages, WeightAverage, apply_average
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.early_stopping import EarlyStopping
from reglab.regularizers.sharpness import SharpnessAware, ascent
from reglab.regularizers.soft_targets import Mixing, mix, mixed_loss, smoothed_cross_entropy
from reglab.regularizers.terms import ParamChoice, Term, select_parameters
from reglab.rows import Rows, as_rows, minibatches, n_rows, ordered_batches
from reglab.scoring import data_loss, metric
from reglab.validation import check_count, check_nonnegative, check_positive, check_probability
from reglab.weights import weight_stats

OPTIMIZERS = ("sgd", "adam", "adamw")  # as torch.optim.SGD, Adam and AdamW (decay comes from ``decay``)
HISTORIES = ("running", "exact")  # an epoch's training loss and metric: its minibatches' mean, or its rows scored


@dataclass(frozen=True)
class FitConfig:
    """How to train: task, optimizer and its step size, epochs, minibatch size, seed, device."""

    task: str = "classification"
    optimizer: str = "adam"  # sgd | adam | adamw (weight decay always comes from ``decay``)
    lr: float = 1e-3
    momentum: float = 0.0  # SGD only, in [0, 1)
    epochs: int = 20
    batch_size: int | None = 64  # None: full batch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    num_workers: int = 0  # DataLoader workers, for training rows given as a torch Dataset
    loss: Callable[[Tensor, Tensor], Tensor] | None = None  # loss(output, y) -> scalar; None: cross-entropy or MSE
    metric: Callable[[Tensor, Tensor], float] | None = None  # metric(output, y) -> float; None: accuracy or R²
    greater_is_better: bool = True  # of ``metric`` (the built-in ones are)
    history: str = "running"  # running: the epoch's minibatches' mean; exact: training rows scored every epoch
    target_scale: tuple[float, float] = (0.0, 1.0)  # (mean, sd) that standardized a regression target: a user's
    #                                                 loss and metric see output and y back in the target's units

    def __post_init__(self) -> None:
        for name in ("loss", "metric"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ValueError(
                    f"Invalid value for argument {name}: expected a function of (output, y). "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        if not isinstance(self.greater_is_better, bool):
            raise ValueError(
                f"Invalid value for argument greater_is_better: expected True or False. "
                f"Received: greater_is_better={self.greater_is_better!r}"
            )
        if self.task not in TASKS:
            raise ValueError(f"Invalid value for argument task: expected one of {TASKS}. Received: task={self.task!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Invalid value for argument optimizer: expected one of {OPTIMIZERS}. "
                f"Received: optimizer={self.optimizer!r}"
            )
        if self.history not in HISTORIES:
            raise ValueError(
                f"Invalid value for argument history: expected one of {HISTORIES}. Received: history={self.history!r}"
            )
        check_positive("lr", self.lr)
        if not 0 <= check_nonnegative("momentum", self.momentum) < 1:
            raise ValueError(
                "Invalid value for argument momentum: expected a number in [0, 1). "
                f"Received: momentum={self.momentum!r}"
            )
        check_count("epochs", self.epochs)
        if self.batch_size is not None:
            check_count("batch_size", self.batch_size)
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(
                f"Invalid value for argument num_workers: expected an integer >= 0. "
                f"Received: num_workers={self.num_workers!r}"
            )

    def to_dict(self) -> dict:
        """Plain values; a user's loss or metric by its name (the store keeps no code), no target scale (the
        trial's own, from its rows)."""
        data = {k: v for k, v in self.__dict__.items() if k != "target_scale"}
        return {**data, "loss": callable_name(self.loss), "metric": callable_name(self.metric)}

    def objective(self, output: Tensor, y: Tensor) -> Tensor:
        """The mean data loss: the user's ``loss`` (in the target's units), or ``data_loss`` of the task."""
        return self.loss(*self._in_units(output, y)) if self.loss is not None else data_loss(output, y, self.task)

    def score(self, output: Tensor, y: Tensor) -> float:
        """The metric: the user's ``metric`` (in the target's units), or accuracy / R² of the task."""
        if self.metric is None:
            return metric(output, y, self.task)
        return float(self.metric(*self._in_units(output, y)))

    def _in_units(self, output: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        mean, sd = self.target_scale
        return (output, y) if (mean, sd) == (0.0, 1.0) else (output * sd + mean, y * sd + mean)


def callable_name(function: Callable | None) -> str | None:
    """A name that tells a user's loss or metric apart on resume: a function's qualified name, a partial's
    function and arguments, an object's class and public settings (``CrossEntropyLoss(label_smoothing=0.1,
    ...)``). A lambda's name carries a hash of its code and of the plain values it closes over
    (``<lambda>#1f2e3d4c``), so two lambdas read alike only when they compute alike."""
    if function is None:
        return None
    if isinstance(function, partial):
        return f"{callable_name(function.func)}(*{function.args!r}, **{function.keywords!r})"
    if getattr(function, "__name__", None) == "<lambda>" and hasattr(function, "__code__"):
        return f"{function.__qualname__}#{_code_hash(function)}"
    if hasattr(function, "__qualname__"):
        return function.__qualname__
    plain = (bool, int, float, str, type(None))
    settings = {k: v for k, v in sorted(vars(function).items()) if not k.startswith("_") and isinstance(v, plain)}
    return f"{type(function).__qualname__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


def _code_hash(function: Callable) -> str:
    """Eight hex digits of a function's bytecode, constants, names and the plain values of its closure."""
    code = function.__code__
    plain = (bool, int, float, str, bytes, type(None))
    cells = [
        c.cell_contents if isinstance(c.cell_contents, plain) else type(c.cell_contents).__name__
        for c in function.__closure__ or ()
    ]
    text = repr((code.co_code, code.co_consts, code.co_names, cells))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Regularizers:
    """Everything the loop applies besides the model's own layers (dropout and batch norm live there)."""

    penalties: Sequence[Term] = ()
    decay: float = 0.0  # decoupled weight decay λ_d
    decay_params: ParamChoice = None  # default: weights only
    max_norm: MaxNorm | None = None
    max_norm_params: ParamChoice = None
    early_stopping: EarlyStopping | None = None
    augment: Sequence[Callable[[Tensor, torch.Generator], Tensor]] = ()
    constraints: Sequence[object] = ()  # further projections after each step: ``project_(w)`` on their ``params``
    label_smoothing: float = 0.0  # ε of the cross-entropy's targets (1 − ε)·onehot + ε/K
    mixing: Mixing | None = None  # mixup and CutMix
    sam: SharpnessAware | None = None  # each step's gradient taken at SAM's ascent point
    average: WeightAverage | None = None  # EMA or SWA: the fit ends with the averaged weights

    def check(self, config: FitConfig) -> None:
        """Refuse, in one line, what these regularizers cannot do with ``config``."""
        check_probability("label_smoothing", self.label_smoothing)
        if self.label_smoothing and (config.task != "classification" or config.loss is not None):
            raise ValueError(
                "label smoothing smooths the built-in cross-entropy's targets: it needs classification without a "
                "loss of your own (smooth inside your loss instead)"
            )
        if self.average is not None and self.early_stopping is not None:
            raise ValueError(
                "early stopping restores the best weights and a weight average scores averaged ones: choose one"
            )


@dataclass
class FitResult:
    """A trained model, its per-epoch history, and how the run ended."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    outcome: str = "completed"  # completed | diverged
    best_epoch: int | None = None  # set when early stopping restored weights
    seconds: float = 0.0

    @property
    def last(self) -> dict:
        return self.history[-1] if self.history else {}


def evaluate(model: nn.Module, rows: Rows, config: FitConfig | str) -> tuple[float, float]:
    """(mean data loss, metric) over ``rows`` in evaluation mode, as ``config`` defines them (a task name:
    the built-ins)."""
    return evaluate_outputs(model, rows, config)[:2]


@torch.no_grad()
def evaluate_outputs(model: nn.Module, rows: Rows, config: FitConfig | str) -> tuple[float, float, Tensor, Tensor]:
    """``evaluate``'s (loss, metric), with the outputs and targets of the one pass that scored them."""
    config = FitConfig(task=config) if isinstance(config, str) else config
    was_training = model.training
    model.eval()
    first = next(model.parameters())
    pairs = [
        (model(xb), yb) for xb, yb in ordered_batches(rows, config.task, first.device, first.dtype, config.num_workers)
    ]
    model.train(was_training)
    output, y = torch.cat([o for o, _ in pairs]), torch.cat([t for _, t in pairs])
    return float(config.objective(output, y)), config.score(output, y), output, y


def training_loss(
    config: FitConfig, output: Tensor, y: Tensor, smoothing: float | Tensor | None, lam: Tensor | None
) -> Tensor:
    """The data term a step minimizes: the task's loss (with label smoothing ε, the cross-entropy against
    the smoothed targets), against the mixed targets when the minibatch was mixed with weight λ."""

    def loss(o: Tensor, t: Tensor) -> Tensor:
        return config.objective(o, t) if smoothing is None else smoothed_cross_entropy(o, t, smoothing)

    return loss(output, y) if lam is None else mixed_loss(loss, output, y, lam, config.task)


def fit(
    model: nn.Module,
    train: tuple,
    val: tuple | None = None,
    *,
    config: FitConfig = FitConfig(),
    regularizers: Regularizers = Regularizers(),
    on_epoch: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train = (X, y)`` (or a torch Dataset of (input, target) items, read through a
    DataLoader); evaluate on ``val`` (the same forms) after every epoch when given. Early stopping monitors
    the loss on ``val``, or without it the epoch's training loss (the running mean of its minibatches').

    A trial's randomness is its own, a function of ``config.seed`` alone: the minibatch order comes from a
    CPU generator seeded with it, and every noise layer draws its masks from its own generator
    (``seeded_noise``), so a trial's masks do not depend on what else draws random numbers, and a stacked
    engine can replay each trial's streams.
    """
    with seeded_noise(model, config.seed, resolve_device(config.device)):
        return _fit(model, train, val, config, regularizers, on_epoch)


class RunningMean:
    """An epoch's training loss and metric as the running mean over its minibatches, weighted by their rows:
    Σ_b n_b·loss_b / Σ_b n_b (for accuracy, the fraction of the epoch's rows its steps got right), as Keras,
    Lightning and scikit-learn's ``loss_curve_`` record an epoch. A minibatch whose metric is undefined (R²
    of one row) counts toward the loss only. One number, or one per member of a stack ((K,) tensors); a
    member adds nothing for a step of ``rows`` 0."""

    def __init__(self) -> None:
        self.loss = self.metric = self.rows = self.scored = 0.0

    def add(self, loss: Tensor | float, metric: Tensor | float, rows: Tensor | int) -> None:
        """One step's mean loss and metric over its ``rows``: numbers, or (K,) tensors with float64 rows."""
        if isinstance(rows, Tensor):  # a member that did not step adds nothing (its loss may be NaN)
            scored = torch.where(metric.isnan(), 0.0, rows)
            loss, metric = torch.where(rows > 0, loss, 0.0), torch.where(scored > 0, metric, 0.0)
        else:
            scored, metric = (0, 0.0) if math.isnan(metric) else (rows, metric)
        self.loss, self.rows = self.loss + rows * loss, self.rows + rows
        self.metric, self.scored = self.metric + scored * metric, self.scored + scored

    def means(self) -> tuple[Tensor | float, Tensor | float]:
        """(loss, metric) so far; the metric NaN where no minibatch had one."""
        if isinstance(self.scored, Tensor):
            return self.loss / self.rows, self.metric / self.scored
        return self.loss / self.rows, self.metric / self.scored if self.scored else math.nan


@dataclass
class _Loop:
    """One fit's moving parts, bound to its model: the step and the per-epoch record."""

    model: nn.Module
    config: FitConfig
    regularizers: Regularizers

    def __post_init__(self) -> None:
        model, regularizers, config = self.model, self.regularizers, self.config
        self.terms = [t.bind(model) for t in regularizers.penalties]
        self.loss_terms = [b for b in self.terms if b.term.mode == "loss"]
        self.prox_terms = [b for b in self.terms if b.term.mode == "proximal"]
        self.decayed = [p for _, p in select_parameters(model, regularizers.decay_params)] if regularizers.decay else []
        self.projected = (
            [p for _, p in select_parameters(model, regularizers.max_norm_params)] if regularizers.max_norm else []
        )
        self.constrained = [
            (c, [p for _, p in select_parameters(model, getattr(c, "params", None))]) for c in regularizers.constraints
        ]
        self.params = list(model.parameters())
        self.index = {id(p): i for i, p in enumerate(self.params)}
        self.optimizer = optimizer([p.detach()[None] for p in self.params], [config])  # one member: K = 1
        self.running = RunningMean()  # the epoch's so far
        regularizers.check(config)
        self.smoothing = regularizers.label_smoothing or None
        self.draws: Tensor | None = None  # the mixing draws of every step, set by the loop that knows the steps
        device = next(model.parameters()).device  # ρ, d and the flags in float64 beside the weights
        self.rho = (
            torch.tensor([regularizers.sam.rho], dtype=torch.float64, device=device) if regularizers.sam else None
        )
        average = regularizers.average
        self.averaged_from = [t.detach()[None] for t in average.tensors(model)] if average else []
        self.averages = Averages(self.averaged_from) if average else None
        self.include = torch.ones(1, dtype=torch.bool, device=device)
        ema = average is not None and average.kind == "ema"
        self.ema_decay = torch.tensor([average.value], dtype=torch.float64, device=device) if ema else None

    def step(self, xb: Tensor, yb: Tensor, step: int) -> bool:
        """One minibatch: mixing, loss (the data term with its targets, and loss-mode terms), SAM's second
        pass, decoupled decay, the optimizer's step, proximal steps, max-norm and constraints, EMA; its data
        loss and metric join the epoch's ``running`` mean. False, changing nothing, when the loss is not
        finite."""
        config, regularizers = self.config, self.regularizers
        lam = None
        if self.draws is not None:
            if step == 0:
                regularizers.mixing.check(xb)
            xb, lam = mix(xb, self.draws[step])
        output = self.model(xb)
        data = training_loss(config, output, yb, self.smoothing, lam)
        self.running.add(float(data.detach()), config.score(output.detach(), yb), len(yb))
        loss = data + sum((b.value(step) for b in self.loss_terms), 0.0)
        if not torch.isfinite(loss):
            return False
        self.zero_grad()
        if regularizers.sam is None:
            loss.backward()
        elif not self._sharpness_aware(data, xb, yb, lam, step):
            return False
        with torch.no_grad():
            for p in self.decayed:
                p.mul_(1.0 - config.lr * regularizers.decay)
        self.optimizer.step([None if p.grad is None else p.grad[None] for p in self.params])
        with torch.no_grad():
            for b in self.prox_terms:
                b.prox_(step, lambda p: self.optimizer.step_size(self.index[id(p)])[0])
            for p in self.projected:
                regularizers.max_norm.project_(p.data)
            for constraint, weights in self.constrained:
                for p in weights:
                    constraint.project_(p.data)
        if self.ema_decay is not None:
            self.averages.update_(self.averaged_from, self.include, self.ema_decay)
        return True

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _sharpness_aware(self, data: Tensor, xb: object, yb: Tensor, lam: Tensor | None, step: int) -> bool:
        """The gradients of SAM's step: the data term's at the ascent point w + e (e from its gradient at
        w), then the loss-mode penalties' at w, returning to w and to batch norm's statistics of the first
        pass; False, changing nothing, when the data term there is not finite."""
        data.backward()
        params = [p for p in self.params if p.grad is not None]
        kept = [p.detach().clone() for p in params]
        buffers = [(b, b.clone()) for b in self.model.buffers()]
        sam = self.regularizers.sam
        rise = ascent([p.detach()[None] for p in params], [p.grad[None] for p in params], self.rho, sam.adaptive)
        with torch.no_grad():
            for p, e in zip(params, rise):
                p.add_(e[0])
        loss = training_loss(self.config, self.model(xb), yb, self.smoothing, lam)
        self.zero_grad()
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
        with torch.no_grad():
            for p, w in zip(params, kept):
                p.copy_(w)
            for b, before in buffers:
                b.copy_(before)
        penalty = sum((b.value(step) for b in self.loss_terms), 0.0)
        if finite and isinstance(penalty, Tensor):
            penalty.backward()
        return finite

    def end_epoch(self, epoch: int) -> None:
        """SWA's update, at the end of each epoch from its start on."""
        average = self.regularizers.average
        if self.averages is not None and average.kind == "swa" and epoch >= average.start(self.config.epochs):
            self.averages.update_(self.averaged_from, self.include)

    def use_average(self, batches: object) -> None:
        """The model takes its averaged weights (SWA: batch norm recomputed over ``batches``)."""
        if self.averages is not None:
            apply_average(self.model, self.regularizers.average, [v[0] for v in self.averages.values], batches)

    def scores(self, rows: Rows, watched: Rows | None) -> dict:
        """The epoch's training loss and metric: the ``running`` mean of its minibatches, or with
        ``history="exact"`` the training rows scored in evaluation mode; the watched rows' in evaluation mode."""
        scores = {}
        if self.config.history == "exact":
            scores["train_loss"], scores["train_metric"] = evaluate(self.model, rows, self.config)
        else:
            scores["train_loss"], scores["train_metric"] = (float(v) for v in self.running.means())
        if watched is not None:
            scores["val_loss"], scores["val_metric"] = evaluate(self.model, watched, self.config)
        return scores

    def record(self, epoch: int, step: int, scores: dict, started: float) -> dict:
        """The epoch's history row: the ``scores``, the penalty, weight statistics."""
        record = {"epoch": epoch, **scores}
        with torch.no_grad():
            record["penalty"] = float(sum((b.value(step) for b in self.terms), 0.0))
        record.update(weight_stats(self.model))
        record["seconds"] = time.perf_counter() - started
        return record


def diverged(record: dict) -> bool:
    """Whether an epoch's training loss, or its watched rows' loss, is NaN or infinite (weights that blew up
    in the epoch's last steps show in the watched rows before the next epoch's first step)."""
    return not all(np.isfinite(record[name]) for name in ("train_loss", "val_loss") if name in record)


def _fit(
    model: nn.Module,
    train: tuple,
    val: tuple | None,
    config: FitConfig,
    regularizers: Regularizers,
    on_epoch: Callable[[dict], None] | None,
) -> FitResult:
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    dtype = next(model.parameters()).dtype
    rows = as_rows(train, config.task, device, dtype)
    watched = as_rows(val, config.task, device, dtype) if val is not None else None
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    loop = _Loop(model, config, regularizers)
    stopper = regularizers.early_stopping
    if stopper is not None:
        stopper.reset()  # one Regularizers may serve several fits: none may restore another's weights
    batch = config.batch_size or n_rows(rows)
    if regularizers.mixing is not None:
        loop.draws = regularizers.mixing.draws(config.seed, config.epochs * -(-n_rows(rows) // batch)).to(device)
    result = FitResult(model)
    step = 0

    for epoch in range(config.epochs):
        model.train()
        epoch_start = time.perf_counter()
        loop.running = RunningMean()
        for xb, yb in minibatches(rows, batch, generator, config.task, device, dtype, config.num_workers):
            for transform in regularizers.augment:
                xb = transform(xb, generator)
            if not loop.step(xb, yb, step):
                result.outcome = "diverged"
                break
            step += 1
        loop.end_epoch(epoch)
        record = loop.record(epoch, step, loop.scores(rows, watched), epoch_start)
        if diverged(record):
            result.outcome = "diverged"
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if result.outcome == "diverged":
            break
        if stopper is not None and stopper.update(epoch, record.get("val_loss", record["train_loss"]), model):
            break

    if stopper is not None and result.outcome == "completed":
        stopper.restore(model)
        result.best_epoch = stopper.best_epoch
    if result.outcome == "completed":
        loop.use_average(ordered_batches(rows, config.task, device, dtype, config.num_workers))
    result.seconds = time.perf_counter() - start
    return result
