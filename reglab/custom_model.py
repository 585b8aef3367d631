"""Your own model in a study: a builder or an ``nn.Module`` instance, its fingerprint and its tunable layers.

A study builds a fresh model per trial, under the trial's seed. ``CustomModel.of(model)`` takes either

- a builder, a callable returning a fresh ``nn.Module`` (reglab calls it once per trial), or
- an instance, deep-copied and re-initialized per trial by its submodules' ``reset_parameters``.

Dropout-type methods set the rates of the model's tunable layers (``reglab.Dropout()`` and its kin, see
:mod:`reglab.regularizers.dropout`); penalties, decay, max-norm, group lasso, early stopping and augmentation
need nothing from the model. The fingerprint (module classes, parameter names and shapes) is stored with
the study, so resuming it with another model is refused.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from reglab.methods import DROPOUT_FIELDS, METHODS
from reglab.models import ModelSpec
from reglab.regularizers.dropout import DROPOUT_MODULES, set_rates

Builder = Callable[[], nn.Module]
TORCH_DROPOUT = tuple(m for m in DROPOUT_MODULES if m.__module__.startswith("torch."))
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class ModelTypeError(ValueError, TypeError):
    """A model argument of the wrong kind: a ``TypeError`` for Python, bad input (a ``ValueError``) for the CLI."""


# dropout_kind (as the builders name it) -> the method that sets the rate of its tunable layer
RATE_METHODS = {kind: next(m.name for m in METHODS.values() if m.field == f) for f, kind in DROPOUT_FIELDS.items()}


class Reinitialized:
    """A builder from an instance: a deep copy whose parameterized submodules call ``reset_parameters``."""

    def __init__(self, instance: nn.Module) -> None:
        lacking = [
            type(m).__name__
            for m in instance.modules()
            if any(True for _ in m.parameters(recurse=False)) and not hasattr(m, "reset_parameters")
        ]
        if lacking:
            raise ModelTypeError(
                f"{', '.join(sorted(set(lacking)))} has parameters but no reset_parameters(), so reglab "
                "cannot re-initialize it per trial: pass a builder (a function returning a fresh model) instead"
            )
        self.instance = instance

    def __call__(self) -> nn.Module:
        model = copy.deepcopy(self.instance)
        for module in model.modules():
            if any(True for _ in module.parameters(recurse=False)):
                module.reset_parameters()
        return model

    def __repr__(self) -> str:
        return type(self.instance).__name__


def build_checked(builder: Builder) -> nn.Module:
    """``builder()``, refusing in one line a builder that raises or returns something other than a module."""
    try:
        model = builder()
    except Exception as error:
        raise ValueError(f"the model builder {builder_name(builder)} raised {type(error).__name__}: {error}") from None
    if not isinstance(model, nn.Module):
        raise ModelTypeError(
            f"the model builder {builder_name(builder)} returned {type(model).__name__}, "
            "not a torch.nn.Module: return a fresh model"
        )
    if not any(True for _ in model.parameters()):
        raise ValueError(f"the model from {builder_name(builder)} has no parameters: there is nothing to train")
    return model


def builder_name(builder: object) -> str:
    return getattr(builder, "__qualname__", None) or repr(builder)


def stack_problem(model: nn.Module) -> str | None:
    """Why trials of ``model`` cannot train in a stack, or None: PyTorch's own dropout layers with p > 0
    draw from the global generator (a member's masks would depend on its stack), and batch norm with
    ``momentum=None`` keeps a cumulative average that a vmapped forward cannot update."""
    problems = []
    if any(type(m) in TORCH_DROPOUT and m.p > 0 for m in model.modules()):
        problems.append("PyTorch's own dropout layer (it draws from the global generator: use reglab.Dropout(p))")
    if any(isinstance(m, BATCH_NORMS) and m.track_running_stats and m.momentum is None for m in model.modules()):
        problems.append("batch norm with momentum=None (a cumulative average: give it a momentum such as 0.1)")
    return ", ".join(problems) or None


def fingerprint(model: nn.Module) -> str:
    """A short hash of the module classes (in order) and the parameter names and shapes."""
    parts = [type(m).__qualname__ for m in model.modules()]
    parts += [f"{name}:{tuple(p.shape)}" for name, p in model.named_parameters()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CustomModel:
    """A user's model for a study: how to build it, a name to show, and its fingerprint.

    Two values are equal when their names and fingerprints are: the store compares studies by those.
    """

    builder: Builder = field(compare=False, repr=False)
    name: str
    fingerprint: str
    unstackable: str | None = field(default=None, compare=False)  # why its trials cannot stack (``stack_problem``)
    kind: str = field(default="custom", init=False)

    @classmethod
    def of(cls, model: nn.Module | Builder, name: str | None = None) -> CustomModel:
        """From a builder or an instance; builds one model (PyTorch's random state left as it was)."""
        if isinstance(model, nn.Module):
            builder: Builder = Reinitialized(model)
        elif callable(model):
            builder = model
        else:
            raise ModelTypeError(
                f"model must be a torch.nn.Module or a function returning one; got {type(model).__name__}"
            )
        with torch.random.fork_rng(devices=[]):
            built = build_checked(builder)
        return cls(builder, name or builder_name(builder), fingerprint(built), stack_problem(built))

    def build(
        self,
        input_shape: Sequence[int],
        n_outputs: int,
        *,
        dropout: float = 0.0,
        dropout_kind: str = "dropout",
        spatial_dropout: float = 0.0,
        batchnorm: bool = False,
        drop_path: float = 0.0,
    ) -> nn.Module:
        """A fresh model with its tunable layers' rates set; the data's shape is checked by the trial."""
        if batchnorm:
            raise ValueError(
                "method batchnorm inserts batch norm into reglab's own builders only: "
                "add nn.BatchNorm1d/2d to your model and compare with and without it as two models"
            )
        model = build_checked(self.builder)
        rates = {RATE_METHODS[dropout_kind]: dropout, "spatial-dropout": spatial_dropout, "drop-path": drop_path}
        return set_rates(model, rates)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "fingerprint": self.fingerprint}

    @classmethod
    def stored(cls, data: dict) -> CustomModel:
        """The model of a stored study, as its record: it can be shown and compared, not built."""
        return cls(_NotStored(str(data.get("name"))), str(data.get("name")), str(data.get("fingerprint")))


class _NotStored:
    """The builder of a stored model: the store keeps a model's fingerprint, not its code."""

    def __init__(self, name: str) -> None:
        self.__qualname__ = name

    def __call__(self) -> nn.Module:
        raise ValueError(
            f"the store keeps the fingerprint of the model {self.__qualname__}, not the model: pass it again"
        )


def model_from_dict(data: dict) -> ModelSpec | CustomModel:
    """A model from its stored dict: one of reglab's architectures, or a user's model as its record."""
    return CustomModel.stored(data) if data.get("kind") == CustomModel.kind else ModelSpec.from_dict(data)


def check_importable(builder: object) -> None:
    """A Dask worker gets the builder by reference: a lambda or a closure cannot be imported there."""
    qualname = getattr(builder, "__qualname__", "")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ValueError(
            f"the model builder {qualname} is a lambda or a closure, which the Dask workers cannot "
            "import: define it at the top level of a module"
        )


def output_problem(output: object, task: str, n_outputs: int, rows: int) -> str | None:
    """What is wrong with a model's output for ``rows`` samples, or None: (rows, classes) logits for
    classification, (rows,) or (rows, 1) predictions for regression."""
    if not isinstance(output, torch.Tensor):
        return f"the model returned {type(output).__name__}, not a tensor"
    shape = tuple(output.shape)
    wanted = [(rows, n_outputs)] if task == "classification" else [(rows,), (rows, 1)]
    if shape in wanted:
        return None
    need = f"({rows}, {n_outputs}): one logit per class" if task == "classification" else f"({rows},) or ({rows}, 1)"
    return f"the model's output for {rows} samples has shape {shape}, not {need}"
