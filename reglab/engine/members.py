"""Stack members: what one job brings to a stack, read off the job's own trial and its own model.

A member is built the way ``run_trial`` builds its trial: the same rows (a monitor split under early
stopping), preprocessing fitted on its training rows, ``torch.manual_seed(seed)`` before the model is
built, the same penalties, decay, max-norm and stopping rule, and the same random streams (the data
order from a CPU generator seeded with the seed, each noise layer from its own ``noise_seed`` stream).
Only linear models and MLPs without batch norm, DropConnect, spatial dropout, input augmentation, soft
targets, sharpness-aware steps or weight averaging stack here; any other job stacks through ``torch.func``
(``engine.functional``) unless ``functional_reason`` says why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from reglab.data import Dataset
from reglab.data.cache import CachedDataset
from reglab.devices import resolve_device
from reglab.engine.jobs import Job
from reglab.models import ACTIVATIONS
from reglab.noise import noise_layers, noise_seed
from reglab.regularizers.dropout import Dropout, GaussianDropout
from reglab.regularizers.early_stopping import EarlyStopping
from reglab.regularizers.schedules import constant
from reglab.training import FitConfig
from reglab.trial import prepare, training_rows

STACKABLE_KINDS = ("linear", "mlp")


def unstacked_reason(dataset: Dataset, job: Job) -> str | None:
    """Why the job has no form in the MLP stack, or None when it has one (linear models and MLPs with
    penalties, decay, dropout, Gaussian dropout, max-norm and early stopping, on array rows)."""
    reg, fit = job.config.regularization, job.config.fit
    reasons = [
        (dataset.source is not None, "a torch Dataset's rows"),
        (job.config.model.kind not in STACKABLE_KINDS, f"a {job.config.model.kind} model"),
        (reg.batchnorm, "batch norm"),
        (reg.dropconnect, "DropConnect"),
        (reg.spatial_dropout, "spatial dropout"),
        (reg.noise or reg.shift, "augmentation"),
        (reg.registered, "a registered method"),
        (reg.params, "parameter patterns"),
        (reg.label_smoothing or reg.mixup or reg.cutmix, "soft targets"),
        (reg.sam, "sharpness-aware steps"),
        (reg.ema or reg.swa, "weight averaging"),
        (fit.loss is not None or fit.metric is not None, "a loss or metric of its own"),
    ]
    found = [why for applies, why in reasons if applies]
    return ", ".join(found) or None


def functional_reason(dataset: Dataset, job: Job) -> str | None:
    """Why a job cannot train in a ``torch.func`` stack, or None when it can: any model (batch norm's
    buffers, reglab's noise layers and augmentation included) on array rows or a cached Dataset, except a
    user's model with layers that cannot stack (``custom_model.stack_problem``), a registered method, or a
    loss or metric of its own."""
    reg, fit, model = job.config.regularization, job.config.fit, job.config.model
    unstackable = getattr(model, "unstackable", None)
    reasons = [
        (
            dataset.source is not None and not isinstance(dataset.source, CachedDataset),
            "a torch Dataset read through a DataLoader (reglab.cache(dataset) stacks fixed items)",
        ),
        (unstackable, unstackable),
        (reg.registered, "a registered method"),
        (fit.loss is not None or fit.metric is not None, "a loss or metric of its own"),
    ]
    found = [why for applies, why in reasons if applies]
    return ", ".join(found) or None


def functional_key(dataset: Dataset, job: Job) -> tuple:
    """What the members of one ``torch.func`` stack share: the model and the layers its regularization
    puts in it (reglab's builders add a dropout layer only for p > 0; a user's model keeps its layers and
    only their rates change), the data's shape, the task, the optimizer family, epochs, minibatch size,
    history, whether a step is sharpness-aware, training and monitored rows, dtype and device."""
    fit, model = job.config.fit, job.config.model
    fit_rows, monitor_rows = split_rows(dataset, job)
    options = job.config.regularization.model_options()
    layers = (options["dropout"] > 0 and options["dropout_kind"], options["spatial_dropout"] > 0, options["batchnorm"])
    return (
        model,
        layers if model.kind != "custom" else None,
        repr(dataset.input_shape),  # of several inputs, a dict or tuple of shapes
        dataset.n_outputs,
        fit.task,
        fit.optimizer == "sgd",
        fit.epochs,
        fit.batch_size,
        fit.history,
        job.config.regularization.sam > 0,  # two passes a step
        len(fit_rows),
        len(monitor_rows),  # scored together after every epoch
        torch.get_default_dtype(),
        resolve_device(fit.device),
    )


def split_rows(dataset: Dataset, job: Job) -> tuple[np.ndarray, np.ndarray]:
    """(rows trained on, rows monitored after each epoch), as ``run_trial`` splits them."""
    return training_rows(dataset, job.train_idx, job.eval_idx, job.config)


def stack_key(dataset: Dataset, job: Job) -> tuple:
    """What the members of one stack share: architecture, data shape, task, optimizer family, epochs,
    minibatch size, minibatches per epoch, history, dtype and device. Members may train on different numbers of rows
    as long as they take the same number of steps (the last minibatch is then shorter for some)."""
    cfg, fit = job.config, job.config.fit
    optimizer = "sgd" if fit.optimizer == "sgd" else "adam"  # AdamW without weight decay is Adam
    rows = len(split_rows(dataset, job)[0])
    steps = math.ceil(rows / fit.batch_size) if fit.batch_size else 1
    return (
        cfg.model,
        dataset.input_shape,
        dataset.n_outputs,
        fit.task,
        optimizer,
        fit.epochs,
        fit.batch_size,
        steps,
        fit.history,
        torch.get_default_dtype(),
        resolve_device(fit.device),
    )


@dataclass
class Parsed:
    """An MLP read as blocks: Flatten → (Linear → activation → [noise]) per hidden → Linear."""

    linears: list[nn.Linear]
    activation: str | None
    noise: dict[int, nn.Module]  # hidden layer index → its dropout layer


def parse(model: nn.Module) -> Parsed:
    """The blocks of a model built by ``linear_model`` or ``mlp``; anything else raises ValueError."""
    modules = list(model.children())
    if not isinstance(model, nn.Sequential) or not modules or type(modules[0]) is not nn.Flatten:
        raise ValueError(f"not a stackable MLP: {model}")
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    parsed = Parsed([], None, {})
    for module in modules[1:]:
        hidden = len(parsed.linears) - 1
        if type(module) is nn.Linear:
            parsed.linears.append(module)
        elif type(module) in names and parsed.activation in (None, names[type(module)]) and hidden >= 0:
            parsed.activation = names[type(module)]
        elif type(module) in (Dropout, GaussianDropout) and hidden >= 0:
            parsed.noise[hidden] = module
        else:
            raise ValueError(f"not a stackable MLP: {type(module).__name__} at position {hidden + 1}")
    return parsed


@dataclass
class Noise:
    """One member's noise layer: its kind, drop probability and generator."""

    kind: str  # dropout | gaussian
    p: float
    generator: torch.Generator


@dataclass
class Member:
    """One job, ready to join a stack."""

    job: Job
    train: tuple[np.ndarray, np.ndarray]
    monitor: tuple[np.ndarray, np.ndarray]
    evaluation: tuple[np.ndarray, np.ndarray]
    data_key: bytes  # equal for members that train, monitor and score on the same rows
    noise: dict[int, Noise]
    terms: list[tuple[type, str, dict[int, float], float]]  # (penalty class, mode, weight layer → λ, l1_ratio)
    decay: float
    max_norm: float  # inf when off
    stopper: EarlyStopping | None
    order: torch.Generator = field(repr=False)  # the minibatch order, as the plain loop draws it
    history: list[dict] = field(default_factory=list)
    outcome: str = "completed"
    seconds: float = 0.0  # this member's share of the stack's time

    @property
    def fit(self) -> FitConfig:
        return self.job.config.fit


def build_member(dataset: Dataset, job: Job, prepared: dict[bytes, list]) -> tuple[Member, Parsed]:
    """Data, hyperparameters and initial model (parsed) of ``job``, exactly as ``run_trial`` would use them.

    ``prepared`` caches the preprocessed rows of members that train, monitor and score on the same rows.
    """
    cfg, fit = job.config, job.config.fit
    fit_idx, monitor_idx = split_rows(dataset, job)
    data_key = b"|".join(rows.tobytes() for rows in (fit_idx, monitor_idx, job.eval_idx))
    if data_key not in prepared:
        prepared[data_key] = prepare(dataset, fit_idx, monitor_idx, job.eval_idx)
    train, monitor, evaluation = prepared[data_key]
    torch.default_generator.manual_seed(
        fit.seed
    )  # ``run_trial``'s torch.manual_seed, as far as a CPU-built model sees it
    model = cfg.model.build(dataset.input_shape, dataset.n_outputs, **cfg.regularization.model_options())
    parsed, loop = parse(model), cfg.regularization.loop_regularizers(model)
    if loop.decay_params is not None or loop.max_norm_params is not None or loop.augment:
        raise ValueError("a stack decays and bounds the weights only, and does not augment its inputs")
    device = resolve_device(fit.device)
    layer_of = {id(module): i for i, module in parsed.noise.items()}
    noise = {
        layer_of[id(layer)]: Noise(
            "gaussian" if isinstance(layer, GaussianDropout) else "dropout",
            layer.p,
            torch.Generator(device=device).manual_seed(noise_seed(fit.seed, j)),
        )
        for j, layer in enumerate(noise_layers(model))
    }
    member = Member(
        job,
        train,
        monitor,
        evaluation,
        data_key,
        noise,
        _terms(parsed, loop.penalties, model),
        loop.decay,
        loop.max_norm.c if loop.max_norm else math.inf,
        loop.early_stopping,
        torch.Generator(device="cpu").manual_seed(fit.seed),
    )
    return member, parsed


def _terms(parsed: Parsed, penalties, model: nn.Module) -> list[tuple[type, str, dict[int, float], float]]:
    """Each penalty term as (class, mode, weight layer → λ, l1_ratio); terms on other parameters raise."""
    layer_of = {id(linear.weight): i for i, linear in enumerate(parsed.linears)}
    terms = []
    for bound in (term.bind(model) for term in penalties):
        if bound.term.schedule is not constant:
            raise ValueError("a stacked penalty has a constant strength")
        layers = {}
        for name, p in bound.named:
            if id(p) not in layer_of:
                raise ValueError(f"a stacked penalty touches weights only, not {name}")
            layers[layer_of[id(p)]] = bound.term.penalty.strength
        terms.append((type(bound.term.penalty), bound.term.mode, layers, getattr(bound.term.penalty, "l1_ratio", 0.0)))
    return terms
