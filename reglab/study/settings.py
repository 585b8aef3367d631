"""A study's settings: data, model, methods, grids, folds, seeds and training — a frozen value.

The store keeps ``to_dict()``; resuming a study requires the same settings. A TOML study file holds the same
keys (``from_toml``); the command line's flags override it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from reglab.custom_model import CustomModel, model_from_dict
from reglab.importer import import_object, is_import_string
from reglab.methods import METHODS, Regularization
from reglab.models import ModelSpec
from reglab.training import HISTORIES, FitConfig, callable_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_METHODS = ("none", "l1", "l2", "dropout", "early-stopping", "l2+dropout")
RULES = ("1se", "min")
TEST_SPLITS = ("given", "random")

# The built-in demo, what ``reglab compare`` runs without data: the digits with 85% held out (about 270 training
# rows), a wide MLP (64-256-10) for 50 epochs, 5 seeds — little data for a large model, so it overfits.
DEFAULT_STUDY = {"data": "digits", "test_size": 0.85, "model": {"kind": "mlp", "hidden": [256]}, "epochs": 50}


def _optional(kind: type) -> Callable[[object], bool]:
    return lambda value: value is None or isinstance(value, kind)


def _integer(minimum: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _fraction(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1


def _device(value: object) -> bool:
    """A device's name, not whether this machine has it (a stored study is shown anywhere)."""
    try:
        return isinstance(value, str) and (value == "auto" or torch.device(value) is not None)
    except RuntimeError:
        return False


# field -> (does it accept the value, what it expects): the fields whose checks are not another value's own
CONSTRAINTS: dict[str, tuple[Callable[[object], bool], str]] = {
    "data": (lambda v: isinstance(v, str), "a dataset name, path or import string"),
    "target": (_optional(str), "a column name"),
    "impute": (lambda v: isinstance(v, bool), "true or false"),
    "test_data": (_optional(str), "a dataset name, path or import string"),
    "methods": (
        lambda v: isinstance(v, str) or isinstance(v, (list, tuple)) and all(isinstance(m, str) for m in v),
        'a list of method specs such as ["none", "l2"]',
    ),
    "folds": (_integer(2), "an integer >= 2"),
    "seeds": (_integer(1), "an integer >= 1"),
    "test_size": (_fraction, "a number in (0, 1)"),
    "test_split": (lambda v: v in TEST_SPLITS, f"one of {TEST_SPLITS}"),
    "grid_size": (_integer(1), "an integer >= 1"),
    "grids": (lambda v: isinstance(v, dict), "a table such as {l2 = [1e-4, 1e-3]}"),
    "rule": (lambda v: v in RULES, f"one of {RULES}"),
    "penalty_mode": (lambda v: v in ("proximal", "loss"), "proximal or loss"),
    "device": (_device, "auto, cpu, cuda or cuda:N"),
    "history": (lambda v: v in HISTORIES, f"one of {HISTORIES}"),
}


@dataclass(frozen=True)
class StudySettings:
    """A study's settings. The defaults suit any data: a stratified 20% hold-out where the data have no test
    split of their own, and the model and training of ``ModelSpec`` and ``FitConfig``; the built-in demo is
    ``DEFAULT_STUDY``."""

    data: str  # built-in name, table path, IDX folder or import string
    target: str | None = None  # target column of a table
    impute: bool = False
    test_data: str | None = None  # a separate test set: built-in name, path or import string (kept as the test set)
    methods: tuple[str, ...] = DEFAULT_METHODS  # specs; bare names are tuned over their grids
    model: ModelSpec | CustomModel = field(default_factory=ModelSpec)
    optimizer: str = FitConfig.optimizer
    lr: float = FitConfig.lr
    epochs: int = FitConfig.epochs
    batch_size: int = FitConfig.batch_size
    history: str = FitConfig.history  # an epoch's training loss and metric: its minibatches' mean, or "exact"
    folds: int = 3  # k of k-fold cross-validation on each seed's training part
    seeds: int = 5  # seeds 0..seeds-1: each its own test split, folds, initialization and minibatches
    test_size: float = 0.2  # the fraction of rows a random split holds out for testing (stratified for classes)
    test_split: str = "given"  # the data's own test rows when they have them ("given"), else "random" hold-outs
    grid_size: int = 4  # points taken evenly from each tuned method's default grid
    grids: dict = field(default_factory=dict)  # method name -> explicit grid (overrides grid_size)
    rule: str = "1se"  # "1se": strongest within one standard error of the minimum; "min"
    penalty_mode: str = "proximal"  # L1/elastic net/group lasso as proximal steps or loss terms
    device: str = FitConfig.device
    num_workers: int = FitConfig.num_workers  # DataLoader workers when the data are a torch Dataset
    params: tuple[str, ...] | None = None  # parameter-name patterns penalties, decay and max-norm touch (None: weights)
    loss: object = None  # loss(output, y) -> scalar tensor; None: cross-entropy or MSE (stored by name)
    metric: object = None  # metric(output, y) -> float; None: accuracy or R² (stored by name)
    greater_is_better: bool = FitConfig.greater_is_better  # of ``metric``

    def __post_init__(self) -> None:
        # A study file gives values of any TOML type: wrong types get the same one-line errors as wrong values.
        for name, (accepts, expected) in CONSTRAINTS.items():
            value = getattr(self, name)
            if not accepts(value):
                raise ValueError(f"Invalid value for argument {name}: expected {expected}. Received: {name}={value!r}")
        methods = self.methods.split(",") if isinstance(self.methods, str) else self.methods  # "none,l2" as typed
        object.__setattr__(self, "methods", tuple(m.strip() for m in methods if m.strip()))
        if not self.methods:
            raise ValueError('no methods given: name at least one, e.g. methods=["none", "l2", "dropout"]')
        seen: dict[Regularization, str] = {}
        for spec in self.methods:
            reg = Regularization.parse(spec)
            reg = replace(reg, tuned=tuple(sorted(reg.tuned)))  # l2+dropout is dropout+l2
            if reg in seen:
                raise ValueError(f"methods {seen[reg]!r} and {spec!r} are the same: give each method once")
            seen[reg] = spec
        for name, grid in self.grids.items():
            if name not in METHODS:
                raise ValueError(f"unknown method {name!r} in grids: use one of {', '.join(METHODS)}")
            if not isinstance(grid, (list, tuple)) or not grid:
                raise ValueError(
                    f"the grid of {name} must be a list of values, such as {name} = "
                    f"{list(METHODS[name].grid[:2])}. Received: {grid!r}"
                )
            for value in grid:
                METHODS[name].check(name, value)
        object.__setattr__(self, "params", Regularization(params=self.params).params)  # patterns, as a tuple
        self._fit_config("classification", 0)  # validates optimizer, lr, epochs, batch size, loss, metric

    def grid(self, name: str) -> tuple[float, ...]:
        """The values tried for one tuned method: the explicit grid, or ``grid_size`` points of its default."""
        if name in self.grids:
            return tuple(self.grids[name])
        full = METHODS[name].grid
        if self.grid_size >= len(full):
            return full
        step = (len(full) - 1) / max(self.grid_size - 1, 1)
        return (
            tuple(full[round(i * step)] for i in range(self.grid_size))
            if self.grid_size > 1
            else (METHODS[name].default,)
        )

    def regularization(self, spec: str) -> Regularization:
        return replace(Regularization.parse(spec), proximal=self.penalty_mode == "proximal", params=self.params)

    def fit_config(self, task: str, seed: int) -> FitConfig:
        for name in ("loss", "metric"):
            if isinstance(getattr(self, name), str):
                raise ValueError(
                    f"the store keeps the {name} {getattr(self, name)}'s name, not its code: pass it again"
                )
        return self._fit_config(task, seed)

    def _fit_config(self, task: str, seed: int) -> FitConfig:
        own = {name: getattr(self, name) for name in ("loss", "metric") if not isinstance(getattr(self, name), str)}
        return FitConfig(
            task=task,
            optimizer=self.optimizer,
            lr=self.lr,
            epochs=self.epochs,
            batch_size=self.batch_size,
            history=self.history,
            seed=seed,
            device=self.device,
            num_workers=self.num_workers,
            greater_is_better=self.greater_is_better,
            **own,
        )

    def objective_names(self) -> tuple[str | None, str | None]:
        return tuple(v if isinstance(v, str) or v is None else callable_name(v) for v in (self.loss, self.metric))

    @property
    def metric_name(self) -> str | None:
        """The user's metric's name, or None for the task's own (accuracy or R²)."""
        return self.objective_names()[1]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["methods"] = list(self.methods)
        data["model"] = self.model.to_dict()
        data["loss"], data["metric"] = self.objective_names()
        data["grids"] = {k: list(v) for k, v in self.grids.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StudySettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown study settings {unknown}: use {', '.join(sorted(known))}")
        values = dict(data)
        if values.get("model") is not None:
            values["model"] = resolve_model(values["model"])
        for name in ("loss", "metric"):  # a study file's import string; a stored name stays a record
            if isinstance(values.get(name), str) and is_import_string(values[name]):
                values[name] = import_object(values[name], name)
        if isinstance(values.get("grids"), dict):
            values["grids"] = {k: _grid_values(k, v) for k, v in values["grids"].items()}
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path, keep: tuple[str, ...] | None = None) -> dict:
        """The settings a study file names (a dict, so command-line flags can be laid over it).

        Execution keys (``workers``, ``scheduler``) are not study settings: they are left out, or, with
        ``keep``, only the keys named there are returned.
        """
        path = Path(path)
        if not path.is_file():
            problem = "is a folder" if path.is_dir() else "does not exist"
            raise FileNotFoundError(f"study file {path} {problem}: give the path of a .toml file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"study file {path} is not valid TOML: {error}") from None
        # Keys are the flags' names, with - or _ alike (batch-size or batch_size).
        table = {key.replace("-", "_"): value for key, value in data.get("study", data).items()}
        if keep is not None:
            return {k: v for k, v in table.items() if k in keep}
        return {k: v for k, v in table.items() if k not in ("workers", "scheduler")}


def resolve_model(model: object) -> ModelSpec | CustomModel:
    """A study's model from any form it is given in: a ModelSpec, a kind ("mlp"), a dict (a study file's
    table, or a stored custom model's record), an import string ("file.py:build"), a builder or a module."""
    if isinstance(model, (ModelSpec, CustomModel)):
        return model
    if isinstance(model, dict):
        return model_from_dict(model)
    if isinstance(model, str):
        if is_import_string(model):
            return CustomModel.of(import_object(model, "model"), name=model)
        return ModelSpec(kind=model)
    return CustomModel.of(model)


def _grid_values(name: str, values: object) -> tuple[float, ...]:
    """A grid from a study file or the store: a list of numbers."""
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError
        return tuple(float(x) for x in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(
            f"Invalid value for argument grids.{name}: expected a list of numbers such as [1e-4, 1e-3]. "
            f"Received: {name}={values!r}"
        ) from None
