"""Model builders: linear/logistic models, MLPs and small CNNs, with their regularizing layers in place.

Rules every builder follows:

- dropout comes after the activation of a hidden layer, never after the output layer (the output is the
  prediction; noise there is not a regularizer, only noise);
- a drop probability of 0 adds no layer, so p = 0 builds the unregularized model;
- batch norm sits between a layer and its activation, and that layer has no bias: batch norm subtracts
  the batch mean, so the bias's gradient is 0 in exact arithmetic and, in floating point, rounding noise
  that Adam rescales into steps of the learning rate (the run would then hang on how its sums round);
- inputs are flattened first by ``linear_model`` and ``mlp``, so images (N, C, H, W) work too.

``input_shape`` is the shape of one sample: (d,) for a table, (C, L) for a signal, (C, H, W) for an image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from torch import nn

from reglab.regularizers.dropout import DropConnectLinear, Dropout, GaussianDropout, SpatialDropout
from reglab.validation import check_count, check_probability

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
DROPOUT_KINDS = ("dropout", "gaussian", "dropconnect")


def _check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument {name}: expected one of {tuple(choices)}. Received: {name}={value!r}"
        )
    return value  # type: ignore[return-value]


def _check_widths(name: str, widths: Sequence[int]) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise ValueError(
            f"Invalid value for argument {name}: expected a sequence of integers. Received: {name}={widths!r}"
        )
    return tuple(check_count(f"{name}[{i}]", width) for i, width in enumerate(widths))


def _per_layer(name: str, p: float | Sequence[float], n_layers: int) -> tuple[float, ...]:
    """One drop probability per hidden layer, from a single float or a sequence of length n_layers."""
    if not isinstance(p, Sequence):
        return (check_probability(name, p),) * n_layers
    if len(p) != n_layers:
        raise ValueError(
            f"Invalid value for argument {name}: expected one probability per hidden layer ({n_layers}). "
            f"Received: {name}={p!r}"
        )
    return tuple(check_probability(f"{name}[{i}]", value) for i, value in enumerate(p))


def _unit_dropout(p: float, kind: str) -> list[nn.Module]:
    """The layer that drops units after an activation, or nothing when p = 0."""
    if p == 0:
        return []
    return [GaussianDropout(p) if kind == "gaussian" else Dropout(p)]


def linear_model(n_features: int, n_outputs: int) -> nn.Module:
    """Linear regression, or logistic regression with a cross-entropy loss: y = W flatten(x) + b."""
    n_features, n_outputs = check_count("n_features", n_features), check_count("n_outputs", n_outputs)
    return nn.Sequential(nn.Flatten(), nn.Linear(n_features, n_outputs))


def mlp(
    n_features: int,
    n_outputs: int,
    hidden: Sequence[int] = (128,),
    activation: str = "relu",
    dropout: float | Sequence[float] = 0.0,
    dropout_kind: str = "dropout",
    batchnorm: bool = False,
    input_dropout: float = 0.0,
) -> nn.Sequential:
    """Flatten → [input dropout] → (Linear → [BatchNorm] → activation → [dropout]) per hidden → Linear.

    Args:
        dropout: drop probability of each hidden layer, one float for all or one per hidden layer.
        dropout_kind: "dropout" (Bernoulli units), "gaussian" (multiplicative N(1, p/(1−p)) noise) or
            "dropconnect" (hidden Linear layers become ``DropConnectLinear``; the output layer stays plain).
        input_dropout: drop probability of the input features (Bernoulli, or Gaussian for "gaussian").
    """
    n_features, n_outputs = check_count("n_features", n_features), check_count("n_outputs", n_outputs)
    widths = _check_widths("hidden", hidden)
    act = ACTIVATIONS[_check_choice("activation", activation, tuple(ACTIVATIONS))]
    kind = _check_choice("dropout_kind", dropout_kind, DROPOUT_KINDS)
    probabilities = _per_layer("dropout", dropout, len(widths))
    p_input = check_probability("input_dropout", input_dropout)
    layers: list[nn.Module] = [nn.Flatten(), *_unit_dropout(p_input, kind)]
    for n_in, n_out, p in zip((n_features, *widths), widths, probabilities):
        dropconnect, bias = kind == "dropconnect" and p > 0, not batchnorm
        layers.append(DropConnectLinear(n_in, n_out, p, bias) if dropconnect else nn.Linear(n_in, n_out, bias))
        layers.extend([nn.BatchNorm1d(n_out)] if batchnorm else [])
        layers.append(act())
        layers.extend([] if kind == "dropconnect" else _unit_dropout(p, kind))
    layers.append(nn.Linear((n_features, *widths)[-1], n_outputs))
    return nn.Sequential(*layers)


def _conv_parts(n_spatial: int) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module]]:
    if n_spatial == 1:
        return nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d
    return nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d


def _pooled_size(size: int, kernel_size: int, n_blocks: int) -> int:
    """Length of one spatial axis after n_blocks of (conv with padding k // 2, max-pool by 2)."""
    for _ in range(n_blocks):
        size = (size + 2 * (kernel_size // 2) - kernel_size + 1) // 2
    return size


def cnn(
    input_shape: Sequence[int],
    n_outputs: int,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    hidden: int = 64,
    dropout: float = 0.0,
    spatial_dropout: float = 0.0,
    batchnorm: bool = False,
    activation: str = "relu",
) -> nn.Sequential:
    """Conv blocks, then a dense head; Conv1d for signals (C, L), Conv2d for images (C, H, W).

    Block: conv (padding k // 2) → [BatchNorm] → activation → [spatial dropout] → max-pool by 2.
    Head: Flatten → Linear(hidden) → activation → [dropout] → Linear(n_outputs).
    """
    shape = _check_widths("input_shape", input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"Invalid value for argument input_shape: expected (C, L) for signals or (C, H, W) for images. "
            f"Received: input_shape={tuple(input_shape)!r}; use 'mlp' or 'linear' for tables"
        )
    n_outputs, kernel_size = check_count("n_outputs", n_outputs), check_count("kernel_size", kernel_size)
    hidden, widths = check_count("hidden", hidden), _check_widths("channels", channels)
    act = ACTIVATIONS[_check_choice("activation", activation, tuple(ACTIVATIONS))]
    p_dense = check_probability("dropout", dropout)
    p_spatial = check_probability("spatial_dropout", spatial_dropout)
    spatial = [_pooled_size(size, kernel_size, len(widths)) for size in shape[1:]]
    if min(spatial) < 1:
        raise ValueError(
            f"Invalid value for argument input_shape: expected spatial sizes that survive {len(widths)} "
            f"poolings by 2. Received: input_shape={tuple(input_shape)!r}"
        )
    conv, norm, pool = _conv_parts(len(shape) - 1)
    layers: list[nn.Module] = []
    for c_in, c_out in zip((shape[0], *widths), widths):
        layers.append(conv(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=not batchnorm))
        layers.extend([norm(c_out)] if batchnorm else [])
        layers.append(act())
        layers.extend([SpatialDropout(p_spatial)] if p_spatial > 0 else [])
        layers.append(pool(2))
    n_flat = (widths[-1] if widths else shape[0]) * math.prod(spatial)
    layers += [nn.Flatten(), nn.Linear(n_flat, hidden), act(), *_unit_dropout(p_dense, "dropout")]
    layers.append(nn.Linear(hidden, n_outputs))
    return nn.Sequential(*layers)


MODEL_BUILDERS = {"linear": linear_model, "mlp": mlp, "cnn": cnn}


@dataclass(frozen=True)
class ModelSpec:
    """An architecture by name, without its regularization (which ``build`` receives)."""

    kind: str = "mlp"  # a key of MODEL_BUILDERS
    hidden: tuple[int, ...] = (128,)  # mlp: hidden widths; cnn: one entry, the width of the dense layer
    activation: str = "relu"  # a key of ACTIVATIONS
    channels: tuple[int, ...] = (16, 32)  # cnn: output channels of each conv block

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, tuple(MODEL_BUILDERS))
        _check_choice("activation", self.activation, tuple(ACTIVATIONS))
        object.__setattr__(self, "hidden", _check_widths("hidden", self.hidden))
        object.__setattr__(self, "channels", _check_widths("channels", self.channels))
        if self.kind == "cnn" and len(self.hidden) != 1:
            raise ValueError(
                "Invalid value for argument hidden: expected one dense width for a cnn. "
                f"Received: hidden={self.hidden!r}"
            )

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types: strings and lists of integers."""
        return {
            "kind": self.kind,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "channels": list(self.channels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelSpec:
        known = [field.name for field in fields(cls)]
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}: use {', '.join(known)}")
        return cls(**data)  # type: ignore[arg-type]

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
        """A fresh module for samples of ``input_shape``; options the architecture lacks raise ValueError."""
        shape = _check_widths("input_shape", input_shape)
        if drop_path:
            raise ValueError(
                f"drop-path drops residual branches, and reglab's {self.kind} has none: use your own model "
                "with a reglab.DropPath() on each residual branch"
            )
        if self.kind == "linear":
            _reject_option("dropout", dropout, self.kind)
            _reject_option("spatial_dropout", spatial_dropout, self.kind)
            _reject_option("batchnorm", batchnorm, self.kind)
            return linear_model(math.prod(shape), n_outputs)
        if self.kind == "mlp":
            _reject_option("spatial_dropout", spatial_dropout, self.kind)
            return mlp(
                math.prod(shape),
                n_outputs,
                self.hidden,
                self.activation,
                dropout=dropout,
                dropout_kind=dropout_kind,
                batchnorm=batchnorm,
            )
        _check_choice("dropout_kind", dropout_kind, ("dropout",))  # the dense dropout of a cnn is Bernoulli
        return cnn(
            shape,
            n_outputs,
            self.channels,
            hidden=self.hidden[0],
            dropout=dropout,
            spatial_dropout=spatial_dropout,
            batchnorm=batchnorm,
            activation=self.activation,
        )


def _reject_option(name: str, value: object, kind: str) -> None:
    """An option that the architecture has no place for must be left at its default (0 or False)."""
    if value:
        raise ValueError(
            f"Invalid value for argument {name}: a {kind} model has no layer for it. Received: {name}={value!r}"
        )
