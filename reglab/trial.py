"""One trial: a regularization, a model and a training config, trained on some rows, scored on others.

Preprocessing is fitted on the training rows only (features standardized; for regression the target
too, so losses are in units of the training target's standard deviation and R² is unaffected). With
early stopping, a stratified fifth of the training rows is held back to monitor, so the evaluation rows
never steer training.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from reglab import inputs
from reglab.calibration import trial_calibration
from reglab.custom_model import CustomModel, model_from_dict, output_problem
from reglab.data import Dataset
from reglab.data.cache import CachedDataset
from reglab.data.splits import Standardizer, holdout_split
from reglab.devices import resolve_device
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.regularizers.terms import select_parameters
from reglab.rows import as_rows
from reglab.training import FitConfig, FitResult, Regularizers, evaluate, evaluate_outputs, fit
from reglab.weights import weight_histogram, weight_stats

MONITOR_FRACTION = 0.2


@dataclass(frozen=True)
class TrialConfig:
    """Everything that decides a trial's result, together with its seed (in ``fit``)."""

    regularization: Regularization = field(default_factory=Regularization)
    model: ModelSpec | CustomModel = field(default_factory=ModelSpec)
    fit: FitConfig = field(default_factory=FitConfig)

    def to_dict(self) -> dict:
        return {
            "regularization": self.regularization.to_dict(),
            "model": self.model.to_dict(),
            "fit": self.fit.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> TrialConfig:
        """A stored config; a user's model, loss or metric comes back as its record (the store keeps no code)."""
        fit = FitConfig(**{k: v for k, v in data["fit"].items() if k not in ("loss", "metric")})
        return cls(Regularization.from_dict(data["regularization"]), model_from_dict(data["model"]), fit)


@dataclass
class TrialResult:
    """Final scores of a trial (the model's last or restored weights) and its per-epoch history; for
    classification also the calibration of its evaluation predictions (``Calibration.to_dict()``: NLL, ECE
    and reliability bins, from the pass that scored ``eval_loss``)."""

    outcome: str
    train_loss: float
    train_metric: float
    eval_loss: float
    eval_metric: float
    zeros: float
    weight_norm: float
    units_pruned: int
    weight_histogram: dict  # final weights: {"edges", "counts", "exact_zeros"}
    epochs: int
    seconds: float
    history: list[dict]
    eval_calibration: dict | None = None  # None for regression

    @property
    def gap(self) -> float:
        """Generalization gap: training metric minus evaluation metric."""
        return self.train_metric - self.eval_metric


def prepare(dataset: Dataset, train_idx: np.ndarray, *other_idx: np.ndarray) -> list:
    """(X, y) for the training rows and each other row set, standardized with training statistics only (of
    several inputs, each floating-point part; integer codes as they are); the rows of a torch Dataset as
    subsets of it (its transforms are its own preprocessing), or, read once by ``reglab.cache``, as tensors."""
    if isinstance(dataset.source, CachedDataset):
        return [dataset.source.rows(idx) for idx in (train_idx, *other_idx)]
    if dataset.source is not None:
        from torch.utils.data import Subset

        return [Subset(dataset.source, np.asarray(idx).tolist()) for idx in (train_idx, *other_idx)]
    scalers = {
        id(part): Standardizer.fit(_as_table(part[train_idx]), impute=dataset.has_missing)
        for part in inputs.parts(dataset.X)
        if inputs.is_float(part)
    }
    mean, std = target_scale(dataset, train_idx)

    def scaled(part: np.ndarray, idx: np.ndarray) -> np.ndarray:
        rows = part[idx]
        return scalers[id(part)].transform(_as_table(rows)).reshape(rows.shape) if id(part) in scalers else rows

    def rows(idx: np.ndarray) -> tuple[object, np.ndarray]:
        y = dataset.y[idx]
        return inputs.map_parts(lambda part: scaled(part, idx), dataset.X), (
            ((y - mean) / std).astype(np.float32) if dataset.task == "regression" else y
        )

    return [rows(idx) for idx in (train_idx, *other_idx)]


def _as_table(rows: np.ndarray) -> np.ndarray:
    """A part of one number per row as a column, as ``Standardizer`` takes it."""
    return rows.reshape(len(rows), 1) if rows.ndim == 1 else rows


def target_scale(dataset: Dataset, train_idx: np.ndarray) -> tuple[float, float]:
    """(mean, sd) of a regression target on the training rows, by which ``prepare`` standardizes it; (0, 1)
    for classes and for a torch Dataset's rows (standardized by nothing)."""
    if dataset.task != "regression" or dataset.source is not None:
        return 0.0, 1.0
    y = dataset.y[train_idx]
    return float(y.mean()), float(y.std()) or 1.0


def training_rows(
    dataset: Dataset, train_idx: np.ndarray, eval_idx: np.ndarray, config: TrialConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(rows trained on, rows monitored after each epoch): with early stopping a stratified fifth of the
    training rows is held back to monitor; otherwise the evaluation rows are watched (never steering)."""
    if not config.regularization.early_stopping:
        return train_idx, eval_idx
    keep, monitor = holdout_split(
        dataset.y[train_idx], MONITOR_FRACTION, config.fit.seed, dataset.task == "classification"
    )
    return train_idx[keep], train_idx[monitor]


@dataclass
class TrialSetup:
    """What a trial trains, ready for the loop: the rows it trains on, its prepared training, monitored and
    evaluation rows, its ``FitConfig`` (with the training target's scale), its seeded model and the
    regularizers the loop applies to it."""

    rows: np.ndarray
    train: object
    monitor: object
    evaluation: object
    fit: FitConfig
    model: torch.nn.Module
    regularizers: Regularizers


def set_up(dataset: Dataset, train_idx: np.ndarray, eval_idx: np.ndarray, config: TrialConfig) -> TrialSetup:
    """A trial as ``run_trial``, a torch.func stack and the scikit-learn estimators train it: its rows
    (``training_rows``), preprocessing fitted on them (``prepare``), and its model built under
    ``torch.manual_seed(seed)``, the caller's PyTorch random state left as it was."""
    fit_idx, monitor_idx = training_rows(dataset, train_idx, eval_idx, config)
    train, monitor, evaluation = prepare(dataset, fit_idx, monitor_idx, eval_idx)
    fit_config = replace(config.fit, target_scale=target_scale(dataset, fit_idx))  # a user's loss sees its units
    with own_random_state():
        torch.manual_seed(fit_config.seed)
        model = build_model(dataset, config)
    regularizers = config.regularization.loop_regularizers(model)
    return TrialSetup(fit_idx, train, monitor, evaluation, fit_config, model, regularizers)


def run_trial(
    dataset: Dataset, train_idx: np.ndarray, eval_idx: np.ndarray, config: TrialConfig, on_epoch=None
) -> tuple[TrialResult, FitResult]:
    """Train on ``train_idx``, score on ``eval_idx``; deterministic given the config's seed. The caller's
    PyTorch random state is left as it was (the trial seeds its own)."""
    setup = set_up(dataset, train_idx, eval_idx, config)
    with own_random_state():  # fit seeds the global generators; a model that draws from them scores seeded too
        fitted = fit(
            setup.model,
            setup.train,
            setup.monitor,
            config=setup.fit,
            regularizers=setup.regularizers,
            on_epoch=on_epoch,
        )
        return summarize(fitted, setup.train, setup.evaluation, setup.fit), fitted


def own_random_state():
    """A block whose draws from PyTorch's global generators (CPU and CUDA) do not reach the caller's."""
    return torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else [])


def build_model(dataset: Dataset, config: TrialConfig) -> torch.nn.Module:
    """The trial's model for this data, with the layers its regularization puts in (dropout, batch norm)."""
    if dataset.several_inputs and isinstance(config.model, ModelSpec):
        raise ValueError(
            f"reglab's {config.model.kind} takes one input tensor, and the samples of {dataset.name} are several, "
            f"{inputs.sample_shape(dataset.X)}: pass your own model (model=build)"
        )
    return config.model.build(dataset.input_shape, dataset.n_outputs, **config.regularization.model_options())


def check_setup(dataset: Dataset, config: TrialConfig) -> None:
    """Raise at once the ``ValueError`` that training ``config`` on ``dataset`` would end in: a model option
    its architecture has no layer for (spatial dropout in an MLP, dropout in a model without a tunable
    dropout layer), data it cannot take, an augmentation or mixing the data has no axis for, label
    smoothing without the built-in cross-entropy, an output that does not
    fit the task, a loss, metric or registered penalty that fails on it. Builds the model and passes two rows
    through the augmentations, the model, the penalties, the loss and the metric; trains nothing, and leaves
    PyTorch's random state as it was."""
    reg = config.regularization
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model = build_model(dataset, config)
        dtype = next(model.parameters()).dtype
        if dataset.source is not None:
            from torch.utils.data import default_collate

            x = inputs.to_tensors(default_collate([dataset.source[i][0] for i in range(2)]), torch.device("cpu"), dtype)
        else:
            x = inputs.to_tensors(inputs.take(dataset.X, slice(0, 2)), torch.device("cpu"), dtype)
            x = inputs.map_parts(lambda part: torch.nan_to_num(part) if part.is_floating_point() else part, x)
        loop = reg.loop_regularizers(model)
        loop.check(config.fit)
        if loop.mixing is not None:
            loop.mixing.check(x)
        bound = [term.bind(model) for term in loop.penalties]  # parameter patterns that match nothing fail here
        for used, params in ((loop.decay, loop.decay_params), (loop.max_norm, loop.max_norm_params)):
            if used:
                select_parameters(model, params)
        for transform in loop.augment:
            x = transform(x, torch.Generator().manual_seed(0))
        output = _probe(
            lambda: model.train()(x),
            f"the model cannot take samples of shape {dataset.input_shape} from {dataset.name}",
        )
        problem = output_problem(output, dataset.task, dataset.n_outputs, inputs.n_rows(x))
        if problem:
            raise ValueError(f"{problem} for {dataset.task} of {dataset.name}")
        for term in bound:
            _probe(lambda term=term: float(term.value(0)), f"the penalty {term.term.penalty.name} fails", False)
        y = torch.as_tensor(dataset.y[:2]).to(torch.long if dataset.task == "classification" else output.dtype)
        loss = _probe(lambda: config.fit.objective(output, y), "the loss fails", config.fit.loss is None)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"the loss must return a scalar tensor (the mean over the batch); it returned {shape}")
        _probe(lambda: config.fit.score(output, y), "the metric must return one number", False)


def _probe(call, what: str, own_errors: bool = True):
    """``call()``; what it raises becomes a one-line ValueError that says what failed. With ``own_errors`` a
    ValueError passes as it is (reglab's own models raise theirs, one line already)."""
    try:
        return call()
    except Exception as error:
        if own_errors and isinstance(error, ValueError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"{what}: {type(error).__name__}{': ' + reason if reason else ''}") from None


def summarize(fitted: FitResult, train: tuple, evaluation: tuple, fit_config: FitConfig) -> TrialResult:
    """Scores of the fitted model on its training rows and on the evaluation rows."""
    model = fitted.model
    device, dtype = resolve_device(fit_config.device), next(model.parameters()).dtype
    train_loss, train_metric = evaluate(model, as_rows(train, fit_config.task, device, dtype), fit_config)
    eval_rows = as_rows(evaluation, fit_config.task, device, dtype)
    eval_loss, eval_metric, output, y = evaluate_outputs(model, eval_rows, fit_config)
    stats = weight_stats(model)
    return TrialResult(
        outcome=fitted.outcome,
        train_loss=train_loss,
        train_metric=train_metric,
        eval_loss=eval_loss,
        eval_metric=eval_metric,
        zeros=stats["zeros"],
        weight_norm=stats["weight_norm"],
        units_pruned=stats["units_pruned"],
        weight_histogram=weight_histogram([p for _, p in select_parameters(model)]),
        epochs=len(fitted.history),
        seconds=fitted.seconds,
        history=fitted.history,
        eval_calibration=trial_calibration(output, y, fit_config.task),
    )
