"""A study's settings: data, model, methods, grids, folds, seeds and training — a frozen value.

The store keeps ``to_dict()``; ``--resume`` requires the same settings. A TOML study file holds the same
keys (``from_toml``); command-line flags override it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from reglab.methods import METHODS, Regularization
from reglab.custom_model import CustomModel
from reglab.models import ModelSpec
from reglab.importer import import_object, is_import_string
from reglab.training import FitConfig, callable_name
from reglab.validation import check_count

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_METHODS = ("none", "l1", "l2", "dropout", "early-stopping", "l2+dropout")
RULES = ("1se", "min")
TEST_SPLITS = ("given", "random")


@dataclass(frozen=True)
class StudySettings:
    data: str = "digits"  # built-in name, table path or IDX folder
    target: str | None = None  # target column of a table
    impute: bool = False
    test_data: str | None = None  # a separate test set: built-in name, path or import string (kept as the test set)
    methods: tuple[str, ...] = DEFAULT_METHODS  # specs; bare names are tuned over their grids
    model: ModelSpec | CustomModel = field(default_factory=lambda: ModelSpec(kind="mlp", hidden=(256,)))
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 50
    batch_size: int = 64
    folds: int = 3  # k of k-fold cross-validation on each seed's training part
    seeds: int = 5  # seeds 0..seeds-1: each its own test split, folds, initialization and minibatches
    test_size: float = 0.85  # the default study trains on 15% of the digits (about 270 rows): little data, a wide MLP
    test_split: str = "given"  # the data's own test rows when they have them ("given"), else "random" hold-outs
    grid_size: int = 4  # points taken evenly from each tuned method's default grid
    grids: dict = field(default_factory=dict)  # method name -> explicit grid (overrides grid_size)
    rule: str = "1se"  # "1se": strongest within one standard error of the minimum; "min"
    penalty_mode: str = "proximal"  # L1/elastic net/group lasso as proximal steps or loss terms
    device: str = "auto"
    num_workers: int = 0  # DataLoader workers when the data are a torch Dataset
    params: tuple[str, ...] | None = None  # parameter-name patterns penalties, decay and max-norm touch (None: weights)
    loss: object = None  # loss(output, y) -> scalar tensor; None: cross-entropy or MSE (stored by name)
    metric: object = None  # metric(output, y) -> float; None: accuracy or R² (stored by name)
    greater_is_better: bool = True  # of ``metric``

    def __post_init__(self) -> None:
        # A study file gives values of any TOML type: wrong types get the same one-line errors as wrong values.
        methods = self.methods.split(",") if isinstance(self.methods, str) else self.methods  # "none,l2" as on the command line
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise ValueError(f"Invalid value for argument methods: expected a list of method specs such as "
                             f"[\"none\", \"l2\"]. Received: methods={self.methods!r}")
        object.__setattr__(self, "methods", tuple(m.strip() for m in methods if m.strip()))
        if not isinstance(self.data, str):
            raise ValueError(f"Invalid value for argument data: expected a dataset name or path. Received: data={self.data!r}")
        if not isinstance(self.target, (str, type(None))):
            raise ValueError(f"Invalid value for argument target: expected a column name. Received: target={self.target!r}")
        if not isinstance(self.test_data, (str, type(None))):
            raise ValueError(f"Invalid value for argument test_data: expected a dataset name, path or import string. "
                             f"Received: test_data={self.test_data!r}")
        if not isinstance(self.impute, bool):
            raise ValueError(f"Invalid value for argument impute: expected true or false. Received: impute={self.impute!r}")
        if not self.methods:
            raise ValueError('no methods given: name at least one, e.g. methods=["none", "l2", "dropout"]')
        seen: dict[Regularization, str] = {}
        for spec in self.methods:
            reg = Regularization.parse(spec)
            reg = replace(reg, tuned=tuple(sorted(reg.tuned)))  # l2+dropout is dropout+l2
            if reg in seen:
                raise ValueError(f"methods {seen[reg]!r} and {spec!r} are the same: give each method once")
            seen[reg] = spec
        if not isinstance(self.grids, dict):
            raise ValueError(f"Invalid value for argument grids: expected a table such as {{l2 = [1e-4, 1e-3]}}. Received: grids={self.grids!r}")
        for name, grid in self.grids.items():
            if name not in METHODS:
                raise ValueError(f"unknown method {name!r} in grids: use one of {', '.join(METHODS)}")
            if not isinstance(grid, (list, tuple)) or not grid:
                raise ValueError(f"the grid of {name} must be a list of values, such as {name} = "
                                 f"{list(METHODS[name].grid[:2])}. Received: {grid!r}")
            for value in grid:
                METHODS[name].check(name, value)
        check_count("folds", self.folds, minimum=2)
        check_count("seeds", self.seeds)
        check_count("grid_size", self.grid_size)
        if isinstance(self.test_size, bool) or not isinstance(self.test_size, (int, float)) or not 0 < self.test_size < 1 or math.isnan(self.test_size):
            raise ValueError(f"Invalid value for argument test_size: expected a number in (0, 1). Received: test_size={self.test_size!r}")
        if self.test_split not in TEST_SPLITS:
            raise ValueError(f"Invalid value for argument test_split: expected one of {TEST_SPLITS}. "
                             f"Received: test_split={self.test_split!r}")
        if self.rule not in RULES:
            raise ValueError(f"Invalid value for argument rule: expected one of {RULES}. Received: rule={self.rule!r}")
        if self.penalty_mode not in ("proximal", "loss"):
            raise ValueError(f"Invalid value for argument penalty_mode: expected proximal or loss. Received: {self.penalty_mode!r}")
        object.__setattr__(self, "params", Regularization(params=self.params).params)  # patterns, as a tuple
        self._fit_config("classification", 0)  # validates optimizer, lr, epochs, batch size, loss, metric
        try:  # the device's name, not whether this machine has it (a stored study is shown anywhere)
            if not isinstance(self.device, str) or self.device != "auto" and torch.device(self.device) is None:
                raise TypeError
        except (TypeError, RuntimeError):
            raise ValueError(f"Invalid value for argument device: expected auto, cpu, cuda or cuda:N. Received: device={self.device!r}") from None

    def grid(self, name: str) -> tuple[float, ...]:
        """The values tried for one tuned method: the explicit grid, or ``grid_size`` points of its default."""
        if name in self.grids:
            return tuple(self.grids[name])
        full = METHODS[name].grid
        if self.grid_size >= len(full):
            return full
        step = (len(full) - 1) / max(self.grid_size - 1, 1)
        return tuple(full[round(i * step)] for i in range(self.grid_size)) if self.grid_size > 1 else (METHODS[name].default,)

    def regularization(self, spec: str) -> Regularization:
        return replace(Regularization.parse(spec), proximal=self.penalty_mode == "proximal", params=self.params)

    def fit_config(self, task: str, seed: int) -> FitConfig:
        for name in ("loss", "metric"):
            if isinstance(getattr(self, name), str):
                raise ValueError(f"the store keeps the {name} {getattr(self, name)}'s name, not its code: pass it again")
        return self._fit_config(task, seed)

    def _fit_config(self, task: str, seed: int) -> FitConfig:
        own = {name: getattr(self, name) for name in ("loss", "metric") if not isinstance(getattr(self, name), str)}
        return FitConfig(task=task, optimizer=self.optimizer, lr=self.lr, epochs=self.epochs, batch_size=self.batch_size,
                         seed=seed, device=self.device, num_workers=self.num_workers,
                         greater_is_better=self.greater_is_better, **own)

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
    def from_dict(cls, data: dict) -> "StudySettings":
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
        return CustomModel.stored(model) if model.get("kind") == CustomModel.kind else ModelSpec.from_dict(model)
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
        raise ValueError(f"Invalid value for argument grids.{name}: expected a list of numbers such as [1e-4, 1e-3]. "
                         f"Received: {name}={values!r}") from None
