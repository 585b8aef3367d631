"""Regularization methods by name, and a spec language for combining them.

A spec joins methods with ``+``; ``name=value`` fixes a strength, a bare ``name`` asks for the default
(or, in a study, for tuning over the method's grid)::

    l2=1e-3+dropout=0.5      elasticnet=1e-3+l1_ratio=0.2      l1+maxnorm=3      none

The resulting :class:`Regularization` is a frozen value with a dict round trip (the store saves it). It
splits into what the model holds (dropout layers, batch norm) and what the loop applies (penalties,
decay, max-norm, early stopping, augmentation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
from torch import Tensor, nn

from reglab.models import DROPOUT_KINDS
from reglab.regularizers.augment import GaussianNoise, RandomShift
from reglab.regularizers.averaging import KINDS as AVERAGES
from reglab.regularizers.averaging import WeightAverage
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.early_stopping import EarlyStopping
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso, Penalty
from reglab.regularizers.sharpness import SharpnessAware
from reglab.regularizers.soft_targets import Mixing
from reglab.regularizers.terms import ParamChoice, Term, select_parameters
from reglab.training import Regularizers
from reglab.validation import check_count, check_fraction, check_nonnegative, check_positive, check_probability


@dataclass(frozen=True)
class Method:
    """One named knob: the Regularization field it sets, its check, its default and its tuning grid."""

    name: str
    field: str
    check: Callable[[str, object], object]
    default: float
    grid: tuple[float, ...]
    help: str
    log_scale: bool = True
    stronger: str = "larger"  # the direction that regularizes more ("smaller" for max-norm c, patience)
    apply: Callable[[float, bool], object] | None = None  # a registered method: value, proximal -> Term or constraint


def _grid(low: float, high: float, num: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.logspace(np.log10(low), np.log10(high), num))


def _patience(name: str, value: object) -> int:
    number = float(value)
    if not math.isfinite(number) or number != int(number):
        return check_count(name, value)
    return check_count(name, int(number))


def _flag(name: str, value: object) -> bool:
    if str(value).lower() in ("1", "1.0", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "0.0", "false", "no", "off"):
        return False
    raise ValueError(f"Invalid value for argument {name}: expected true or false. Received: {name}={value!r}")


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("l1", "l1", check_nonnegative, 1e-3, _grid(1e-5, 1e-1, 9), "λ Σ|w| (proximal: exact zeros)"),
        Method("l2", "l2", check_nonnegative, 1e-3, _grid(1e-5, 1e-1, 9), "(λ/2) Σ w²"),
        Method("elasticnet", "elasticnet", check_nonnegative, 1e-3, _grid(1e-5, 1e-1, 9), "λ (ρ Σ|w| + (1−ρ)/2 Σ w²)"),
        Method("l1_ratio", "l1_ratio", check_fraction, 0.5, (0.1, 0.5, 0.9), "elastic net's ρ", log_scale=False),
        Method(
            "grouplasso",
            "grouplasso",
            check_nonnegative,
            1e-3,
            _grid(1e-5, 1e-1, 9),
            "λ Σ_g √|g| ‖w_g‖₂ over hidden units",
        ),
        Method("decay", "decay", check_nonnegative, 1e-2, _grid(1e-4, 1e0, 9), "decoupled decay w ← w − ηλw"),
        Method(
            "dropout",
            "dropout",
            check_probability,
            0.5,
            (0.1, 0.2, 0.3, 0.5, 0.7),
            "inverted dropout p",
            log_scale=False,
        ),
        Method(
            "gaussian-dropout",
            "gaussian_dropout",
            check_probability,
            0.5,
            (0.1, 0.2, 0.3, 0.5, 0.7),
            "multiplicative N(1, p/(1−p))",
            log_scale=False,
        ),
        Method(
            "dropconnect",
            "dropconnect",
            check_probability,
            0.5,
            (0.1, 0.2, 0.3, 0.5, 0.7),
            "drop weights with p",
            log_scale=False,
        ),
        Method(
            "spatial-dropout",
            "spatial_dropout",
            check_probability,
            0.2,
            (0.1, 0.2, 0.3, 0.5),
            "drop whole channels (CNN)",
            log_scale=False,
        ),
        Method(
            "maxnorm", "maxnorm", check_positive, 3.0, (0.5, 1.0, 2.0, 3.0, 4.0), "‖w_unit‖₂ ≤ c", stronger="smaller"
        ),
        Method(
            "early-stopping",
            "early_stopping",
            _patience,
            5,
            (2, 5, 10, 20),
            "patience in epochs",
            log_scale=False,
            stronger="smaller",
        ),
        Method("batchnorm", "batchnorm", _flag, 1, (1,), "batch normalization after hidden layers", log_scale=False),
        Method("augment", "noise", check_nonnegative, 0.1, (0.05, 0.1, 0.2, 0.5), "Gaussian input noise σ"),
        Method("shift", "shift", _patience, 1, (1, 2, 3), "random shifts of signals/images", log_scale=False),
        Method(
            "label-smoothing",
            "label_smoothing",
            check_probability,
            0.1,
            (0.05, 0.1, 0.2, 0.3),
            "targets (1 − ε)·onehot + ε/K",
            log_scale=False,
        ),
        Method("mixup", "mixup", check_nonnegative, 0.2, (0.1, 0.2, 0.4, 0.8), "mix sample pairs, λ ~ Beta(α, α)"),
        Method(
            "cutmix", "cutmix", check_nonnegative, 1.0, (0.25, 0.5, 1.0, 2.0), "paste a partner's box, λ ~ Beta(α, α)"
        ),
        Method(
            "drop-path",
            "drop_path",
            check_probability,
            0.1,
            (0.05, 0.1, 0.2, 0.3),
            "drop residual branches per sample (reglab.DropPath)",
            log_scale=False,
        ),
        Method(
            "sam",
            "sam",
            check_nonnegative,
            0.05,
            (0.01, 0.02, 0.05, 0.1, 0.2),
            "sharpness-aware radius ρ (2 passes a step)",
        ),
        Method(
            "sam-adaptive", "sam_adaptive", _flag, 1, (1,), "SAM's ball scaled by |w| (adaptive SAM)", log_scale=False
        ),
        Method(
            "ema",
            "ema",
            check_probability,
            0.99,
            (0.9, 0.99, 0.999),
            "score the weights' EMA, decay d",
            log_scale=False,
        ),
        Method(
            "swa",
            "swa",
            check_probability,
            0.75,
            (0.5, 0.75),
            "score the mean weights from this fraction of the epochs on",
            log_scale=False,
            stronger="smaller",
        ),
    ]
}
DROPOUT_FIELDS = dict(zip(("dropout", "gaussian_dropout", "dropconnect"), DROPOUT_KINDS))  # field -> dropout_kind


@dataclass(frozen=True)
class Regularization:
    """Every regularizer's setting; zero (or None/False) means off."""

    l1: float = 0.0
    l2: float = 0.0
    elasticnet: float = 0.0
    l1_ratio: float = 0.5
    grouplasso: float = 0.0
    decay: float = 0.0
    dropout: float = 0.0
    gaussian_dropout: float = 0.0
    dropconnect: float = 0.0
    spatial_dropout: float = 0.0
    maxnorm: float | None = None
    early_stopping: int | None = None
    batchnorm: bool = False
    noise: float = 0.0
    shift: int = 0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    drop_path: float = 0.0
    sam: float = 0.0
    sam_adaptive: bool = False
    ema: float = 0.0
    swa: float = 0.0
    proximal: bool = True  # L1, elastic net, group lasso by proximal steps (exact zeros) or as loss terms
    registered: tuple[tuple[str, float], ...] = ()  # (name, value) of methods registered by the user, sorted
    params: tuple[str, ...] | None = None  # fnmatch patterns of the parameters that penalties, decay and max-norm
    #                                        touch; None: every weight (not biases or normalization parameters)
    tuned: tuple[str, ...] = field(default=())  # names given without a value

    def __post_init__(self) -> None:
        if self.params is not None:
            patterns = (self.params,) if isinstance(self.params, str) else self.params
            if not patterns or not all(isinstance(p, str) and p for p in patterns):
                raise ValueError(
                    f"Invalid value for argument params: expected parameter-name patterns such as "
                    f"['*.weight']. Received: params={self.params!r}"
                )
            object.__setattr__(self, "params", tuple(patterns))
        active = [name for name in DROPOUT_FIELDS if getattr(self, name)]
        if len(active) > 1:
            given = ", ".join(m.name for m in METHODS.values() if m.field in active)
            raise ValueError(f"choose one of dropout, gaussian-dropout, dropconnect; got {given}")
        if self.sam_adaptive and not self.sam:
            raise ValueError("sam-adaptive scales SAM's ball: give it with sam, as in sam=0.5+sam-adaptive")
        if self.ema and self.swa:
            raise ValueError("choose one of ema and swa: a trial is scored with one average of its weights")
        if (self.ema or self.swa) and self.early_stopping:
            raise ValueError(
                "early-stopping restores the best weights, ema and swa score averaged ones: choose one of them"
            )

    @classmethod
    def parse(cls, spec: str) -> Regularization:
        """Build from ``l2=1e-3+dropout=0.5``; bare names take the method's default and are marked tuned."""
        tokens = [t.strip() for t in spec.split("+")]
        if tokens == ["none"]:
            return cls()
        values: dict[str, object] = {}
        registered: dict[str, float] = {}
        tuned: list[str] = []
        for token in tokens:
            name, equals, text = (part.strip() for part in token.partition("="))
            if not name:
                raise ValueError(f"a method is missing in {spec!r}: join names with +, as in l2=1e-3+dropout=0.5")
            if name == "none":
                raise ValueError(f"none stands alone, not in {spec!r}: drop it or give it as a method of its own")
            method = METHODS.get(name)
            if method is None:
                raise ValueError(f"unknown regularization method {name!r}: use one of none, {', '.join(METHODS)}")
            into = registered if method.apply else values
            if (name if method.apply else method.field) in into:
                raise ValueError(f"{name} is given twice in {spec!r}: give each method once")
            if equals and not text:
                raise ValueError(f"{name}= has no value in {spec!r}: give {name}=VALUE, or {name} alone to tune it")
            value = method.check(method.name, _number(method.name, text) if text else method.default)
            into[name if method.apply else method.field] = value
            if not text:
                tuned.append(method.name)
        if "l1_ratio" in values and "elasticnet" not in values:
            raise ValueError("l1_ratio is the elastic net's ρ: give it with elasticnet, as in elasticnet+l1_ratio=0.2")
        return cls(**values, registered=tuple(sorted(registered.items())), tuned=tuple(tuned))

    def value(self, name: str) -> object:
        """The setting of method ``name`` (0 when a registered method is not in this regularization)."""
        method = METHODS[name]
        return dict(self.registered).get(name, 0.0) if method.apply else getattr(self, method.field)

    def with_value(self, name: str, value: object) -> Regularization:
        method = METHODS[name]
        if method.apply:
            return replace(
                self, registered=tuple(sorted({**dict(self.registered), name: method.check(name, value)}.items()))
            )
        return replace(self, **{method.field: method.check(name, value)})

    @property
    def label(self) -> str:
        """Canonical spec string of the active settings, e.g. ``l2=0.001+dropout=0.5``."""
        parts = []
        for method in METHODS.values():
            value = self.value(method.name)
            if method.name == "l1_ratio" and not self.elasticnet:
                continue
            if value not in (0, 0.0, None, False) and not (method.name == "l1_ratio" and value == 0.5):
                parts.append(method.name if isinstance(value, bool) else f"{method.name}={value:g}")
        return "+".join(parts) or "none"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tuned"] = list(self.tuned)
        data["registered"] = dict(self.registered)
        data["params"] = list(self.params) if self.params is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Regularization:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown regularization keys {sorted(unknown)}")
        registered = tuple(sorted(dict(data.get("registered") or {}).items()))
        params = tuple(data["params"]) if data.get("params") is not None else None
        return cls(**{**data, "registered": registered, "params": params, "tuned": tuple(data.get("tuned", ()))})

    def model_options(self) -> dict:
        """Keyword arguments for ``ModelSpec.build``: the layers this regularization puts in the model."""
        kind = next((k for k in DROPOUT_FIELDS if getattr(self, k)), "dropout")
        return {
            "dropout": getattr(self, kind),
            "dropout_kind": DROPOUT_FIELDS[kind],
            "spatial_dropout": self.spatial_dropout,
            "batchnorm": self.batchnorm,
            "drop_path": self.drop_path,
        }

    def loop_regularizers(self, model: nn.Module) -> Regularizers:
        """What the training loop applies to ``model``: penalties, decay, max-norm, stopping, augmentation."""
        sparse_mode, chosen = "proximal" if self.proximal else "loss", self.params
        terms = []
        if self.l1:
            terms.append(Term(L1(self.l1), params=chosen, mode=sparse_mode))
        if self.l2:
            terms.append(Term(L2(self.l2), params=chosen))
        if self.elasticnet:
            terms.append(Term(ElasticNet(self.elasticnet, self.l1_ratio), params=chosen, mode=sparse_mode))
        if self.grouplasso:
            groups = chosen if chosen is not None else hidden_weights(model)
            terms.append(Term(GroupLasso(self.grouplasso), params=groups, mode=sparse_mode))
        constraints = []
        for name, value in self.registered:
            if name not in METHODS or not METHODS[name].apply:
                raise ValueError(
                    f"method {name} is not registered in this process: register it "
                    "(reglab.register_penalty or reglab.register_constraint) before running"
                )
            if value:
                made = METHODS[name].apply(value, self.proximal)
                (terms if isinstance(made, Term) else constraints).append(made)
        augment = ([GaussianNoise(self.noise)] if self.noise else []) + (
            [RandomShift(self.shift)] if self.shift else []
        )
        average = next((WeightAverage(kind, getattr(self, kind)) for kind in AVERAGES if getattr(self, kind)), None)
        return Regularizers(
            penalties=tuple(terms),
            constraints=tuple(constraints),
            decay=self.decay,
            decay_params=chosen,
            max_norm=MaxNorm(self.maxnorm) if self.maxnorm else None,
            max_norm_params=chosen,
            early_stopping=EarlyStopping(patience=self.early_stopping) if self.early_stopping else None,
            augment=tuple(augment),
            label_smoothing=self.label_smoothing,
            mixing=Mixing(self.mixup, self.cutmix) if self.mixup or self.cutmix else None,
            sam=SharpnessAware(self.sam, self.sam_adaptive) if self.sam else None,
            average=average,
        )


def register_penalty(
    name: str,
    value: Callable[[Tensor], Tensor],
    prox: Callable[[Tensor, float | Tensor], Tensor] | None = None,
    *,
    default: float = 1e-3,
    grid: tuple[float, ...] | None = None,
    params: ParamChoice = None,
    help: str = "",
) -> None:
    """Make ``name`` a method: R(w) = λ · value(w) summed over the weights ``params`` chooses (default: weights,
    not biases or norms), tuned over ``grid`` (default: 5 log-spaced points from default/100 to default·100).

    ``prox(v, τ)``, when given, is argmin_u value(u) + ‖u − v‖² / (2τ) (τ = step · λ: a number, or one per
    entry under Adam); the penalty is then applied as a proximal step unless the study's ``penalty_mode`` is
    "loss". The method is then usable in specs (``name``, ``name=1e-3``, ``l2+name``), stored, resumed and
    reported as the built-in ones; studies of it run one trial at a time (the stacked engine knows only the
    built-in penalties).
    """
    grid = _registered_grid(name, default, grid)

    def term(strength: float, proximal: bool) -> Term:
        mode = "proximal" if prox is not None and proximal else "loss"
        return Term(RegisteredPenalty(name, strength, value, prox), params=params, mode=mode)

    _register(
        Method(name, "registered", check_nonnegative, default, grid, help or f"{name}: λ·R(w), registered", apply=term)
    )


def register_constraint(
    name: str,
    project: Callable[[Tensor, float], Tensor],
    *,
    default: float,
    grid: tuple[float, ...],
    params: ParamChoice = None,
    stronger: str = "smaller",
    help: str = "",
) -> None:
    """Make ``name`` a method: after every optimizer step each weight ``params`` chooses becomes
    ``project(w, c)`` (as max-norm does with ‖w_unit‖₂ ≤ c), c tuned over ``grid``; ``stronger`` says which
    way of c constrains more ("smaller" for a bound)."""
    if stronger not in ("larger", "smaller"):
        raise ValueError(
            f"Invalid value for argument stronger: expected 'larger' or 'smaller'. Received: stronger={stronger!r}"
        )
    grid = _registered_grid(name, default, grid)

    def constraint(c: float, proximal: bool) -> RegisteredConstraint:
        return RegisteredConstraint(name, c, project, params)

    _register(
        Method(
            name,
            "registered",
            check_positive,
            default,
            grid,
            help or f"{name}: w ← project(w, c), registered",
            stronger=stronger,
            apply=constraint,
        )
    )


def _registered_grid(name: str, default: float, grid: tuple[float, ...] | None) -> tuple[float, ...]:
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum() or name == "none":
        raise ValueError(
            f"Invalid value for argument name: expected letters, digits, - or _ (not none). Received: name={name!r}"
        )
    if name in METHODS and not METHODS[name].apply:
        raise ValueError(f"{name} is a built-in method: register yours under another name")
    check_positive("default", default)
    values = tuple(float(v) for v in grid) if grid is not None else _grid(default / 100, default * 100, 5)
    if not values:
        raise ValueError(f"the grid of {name} is empty: give at least one value")
    return values


def _register(method: Method) -> None:
    METHODS[method.name] = method  # registering a name again (a notebook cell run twice) replaces it


@dataclass(frozen=True)
class RegisteredPenalty(Penalty):
    """A user's penalty: R(w) = λ · value(w), and its proximal map when one is given."""

    name: str
    strength: float
    function: Callable[[Tensor], Tensor]
    proximal: Callable[[Tensor, float | Tensor], Tensor] | None = None

    def value(self, w: Tensor) -> Tensor:
        return self.strength * self.function(w)

    @staticmethod
    def value_of(w: Tensor, strength: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        raise NotImplementedError("a registered penalty's value is its own value(w)")

    def prox(self, v: Tensor, t: float | Tensor) -> Tensor:
        if self.proximal is None:
            raise ValueError(f"penalty {self.name} was registered without a proximal step: use it as a loss term")
        return self.proximal(v, t * self.strength)

    @staticmethod
    def shrink_(v: Tensor, tl: float | Tensor, l1_ratio: float | Tensor) -> Tensor:
        raise NotImplementedError("a registered penalty's proximal step is its own prox(v, τ)")


@dataclass(frozen=True)
class RegisteredConstraint:
    """A user's constraint: w ← project(w, c) after every step, on the weights ``params`` chooses."""

    name: str
    c: float
    project: Callable[[Tensor, float], Tensor]
    params: ParamChoice = None

    def project_(self, weight: Tensor) -> Tensor:
        return weight.copy_(self.project(weight, self.c))


def hidden_weights(model: nn.Module) -> list[str]:
    """Names of the weights of every layer but the output layer (group lasso prunes hidden units, not classes)."""
    names = [n for n, _ in select_parameters(model)]
    return names[:-1] if len(names) > 1 else names


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"Invalid value for argument {name}: expected a number. Received: {name}={text!r}") from None
