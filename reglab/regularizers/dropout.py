"""The dropout family: functions on tensors, and modules that hold p and call them.

With drop probability p and keep probability q = 1 − p (p as in PyTorch and Keras):

===================  ===========================================  ======================================
layer                training output                              paper
===================  ===========================================  ======================================
dropout              x · m / q,  m ~ Bernoulli(q) per element     Srivastava et al. 2014 (JMLR 15)
gaussian dropout     x · ε,  ε ~ N(1, σ²),  σ² = p / q            Srivastava et al. 2014, section 10
spatial dropout      x · m / q,  one m per sample and channel     Tompson et al. 2015 (CVPR)
DropConnect          (W · M / q) x + b,  M ~ Bernoulli(q) on W    Wan et al. 2013 (ICML)
drop path            x · m / q,  one m per sample                 Huang et al. 2016 (ECCV)
===================  ===========================================  ======================================

Every noise has mean 1 (E[m / q] = 1, E[ε] = 1), so E[output] equals the evaluation output and every layer
is the identity in evaluation ("inverted" scaling: nothing to rescale at test time). Randomness is explicit:
each function takes an optional ``torch.Generator`` (None draws from the global RNG), and each module has a
``generator`` attribute passed to it.

Each module draws its noise, the tensor that multiplies x (or W), with ``draw_(out)`` from its generator;
a stacked engine fills member k's slot of a (K, ...) tensor with member k's own layer's ``draw_`` and hands
the slot in as the layer's ``noise`` buffer (through ``torch.func.functional_call``), so every member sees
the noise its run alone draws.

A layer written without a rate (``Dropout()``, ``DropConnect(nn.Linear(...))``) is *tunable*: the identity
until a study's trial sets its rate (``set_rates``), so a user's own model marks where dropout may go.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reglab.validation import check_probability


def _draw_device(x: Tensor, generator: torch.Generator | None) -> torch.device:
    """Noise is drawn where its generator lives (a CPU generator may drive a CUDA model)."""
    return x.device if generator is None else generator.device


def inverted_mask_(out: Tensor, keep: float, generator: torch.Generator | None) -> Tensor:
    """Fills ``out`` with m / keep, m ~ Bernoulli(keep) per element, in place: u ~ U[0, 1) and m = [u < keep]
    (P(u < keep) = keep; one uniform draw costs a third of ``bernoulli_``). The stacked engine repeats
    this arithmetic on each member's slot of its masks, drawn from the member's own generator."""
    return out.uniform_(generator=generator).lt_(keep).div_(keep)


def gaussian_noise_(out: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Fills ``out`` with 1 + σ ε, ε ~ N(0, 1), σ² = p / (1 − p), in place: Gaussian dropout's multiplier."""
    return out.normal_(generator=generator).mul_(math.sqrt(p / (1.0 - p))).add_(1.0)


def _inverted_mask(shape: tuple[int, ...], keep: float, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """m / keep with x's dtype and on x's device, drawn where the generator lives."""
    mask = torch.empty(shape, dtype=x.dtype, device=_draw_device(x, generator))
    return inverted_mask_(mask, keep, generator).to(x.device)


def dropout(x: Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """Inverted dropout: x · m / (1 − p) with m ~ Bernoulli(1 − p) per element; identity in evaluation."""
    p = check_probability("p", p)
    if not training or p == 0:
        return x
    keep = 1.0 - p
    return x * _inverted_mask(x.shape, keep, x, generator)


def gaussian_dropout(x: Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """Multiplicative noise x · ε, ε ~ N(1, p / (1 − p)): the mean and variance of dropout's m / (1 − p)."""
    p = check_probability("p", p)
    if not training or p == 0:
        return x
    noise = torch.empty(x.shape, dtype=x.dtype, device=_draw_device(x, generator))
    return x * gaussian_noise_(noise, p, generator).to(x.device)


def spatial_dropout(x: Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """Drops whole channels of x with shape (N, C, *spatial): one Bernoulli(1 − p) mask per (sample, channel).

    Neighbouring activations of a feature map are strongly correlated, so element-wise dropout hardly
    regularizes convolutions; dropping the whole map does. Kept channels are scaled by 1 / (1 − p).
    """
    p = check_probability("p", p)
    mask_shape = channel_shape(x.shape)
    if not training or p == 0:
        return x
    return x * _inverted_mask(mask_shape, 1.0 - p, x, generator)


def drop_path(x: Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """Stochastic depth on a residual branch: x · m / (1 − p), one m ~ Bernoulli(1 − p) per sample, so a
    dropped sample's branch adds nothing (timm's ``drop_path`` with ``scale_by_keep``)."""
    p = check_probability("p", p)
    if not training or p == 0:
        return x
    return x * _inverted_mask(sample_shape(x.shape), 1.0 - p, x, generator)


def sample_shape(shape: torch.Size) -> tuple[int, ...]:
    """(N, 1, ...): one mask entry per sample of x with shape (N, ...)."""
    return (shape[0], *(1,) * (len(shape) - 1))


def channel_shape(shape: torch.Size) -> tuple[int, ...]:
    """(N, C, 1, ...): one mask entry per sample and channel of x with shape (N, C, *spatial)."""
    if len(shape) < 3:
        raise ValueError(f"spatial dropout expects x of shape (N, C, L) or (N, C, H, W); received shape {tuple(shape)}")
    return (*shape[:2], *(1,) * (len(shape) - 2))


class _NoiseLayer:
    """What every module of the family shares: p, a generator, and a ``noise`` buffer that a stacked engine
    may fill (None, the default: the layer draws its own). Subclasses say which tensor the noise multiplies
    (``noise_shape``) and how it is drawn (``draw_``)."""

    p: float
    generator: torch.Generator | None
    training: bool

    def _init_noise(self, p: float, generator: torch.Generator | None) -> None:
        self.p, self.generator = check_probability("p", p), generator
        self.register_buffer("noise", None, persistent=False)

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        """The shape of the noise that multiplies input ``x`` (or the weights)."""
        return tuple(x.shape)

    def draw_(self, out: Tensor) -> Tensor:
        """Fills ``out`` with the noise this layer's own forward would draw now (ones when p = 0, drawing
        nothing, as that forward draws nothing)."""
        return inverted_mask_(out, 1.0 - self.p, self.generator) if self.p else out.fill_(1.0)

    def handed_in(self) -> Tensor | None:
        """The noise a stacked engine handed in, used in training mode only."""
        return self.noise if self.training else None


class _DropoutModule(_NoiseLayer, nn.Module):
    """Holds a validated p (None: tunable, 0 until set) and an optional generator; subclasses call one
    function in ``forward``, or multiply by the noise handed in."""

    def __init__(self, p: float | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.tunable = p is None
        self._init_noise(0.0 if p is None else p, generator)

    def extra_repr(self) -> str:
        return f"p={self.p:g}" + (", tunable" if self.tunable else "")


class Dropout(_DropoutModule):
    r"""Inverted dropout, :math:`y = x \odot m / (1 - p)`, :math:`m_i \sim \mathrm{Bernoulli}(1 - p)`.

    Args:
        p: probability of dropping an element, in [0, 1); None (the default) makes the layer tunable: the
            identity until a study sets its rate.
        generator: source of the masks; None draws from the global RNG.

    Shape: any; the output has the shape of the input.

    Example:
        >>> layer = Dropout(0.5, generator=torch.Generator().manual_seed(0))
        >>> set(layer(torch.ones(1000)).tolist()) == {0.0, 2.0}  # each element is 0 or 1 / (1 − p)
        True

    Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014.
    """

    def forward(self, x: Tensor) -> Tensor:
        noise = self.handed_in()
        return dropout(x, self.p, self.training, self.generator) if noise is None else x * noise


class GaussianDropout(_DropoutModule):
    r"""Gaussian dropout, :math:`y = x \odot \varepsilon`, :math:`\varepsilon_i \sim N(1, p / (1 - p))`.

    The noise has the mean (1) and variance (p / (1 − p)) of Bernoulli dropout's m / (1 − p).
    Srivastava et al., JMLR 2014, section 10 ("Multiplicative Gaussian Noise").
    """

    def forward(self, x: Tensor) -> Tensor:
        noise = self.handed_in()
        return gaussian_dropout(x, self.p, self.training, self.generator) if noise is None else x * noise

    def draw_(self, out: Tensor) -> Tensor:
        return gaussian_noise_(out, self.p, self.generator) if self.p else out.fill_(1.0)


class SpatialDropout(_DropoutModule):
    r"""Channel dropout for (N, C, L) signals and (N, C, H, W) images: :math:`y_{nc} = x_{nc} m_{nc} / (1 - p)`.

    One mask per sample and channel drops a whole feature map.
    Tompson et al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015.
    """

    def forward(self, x: Tensor) -> Tensor:
        noise = self.handed_in()
        return spatial_dropout(x, self.p, self.training, self.generator) if noise is None else x * noise

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        return channel_shape(x.shape)


class DropPath(_DropoutModule):
    r"""Stochastic depth for a residual branch: :math:`y_n = x_n m_n / (1 - p)`, one
    :math:`m_n \sim \mathrm{Bernoulli}(1 - p)` per sample; put it on the branch, ``x + DropPath()(f(x))``,
    so a dropped sample skips the block. The identity in evaluation. Without ``p`` it is tunable (the
    ``drop-path`` method sets it).

    Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016; the per-sample form of timm's ``DropPath``.
    """

    def forward(self, x: Tensor) -> Tensor:
        noise = self.handed_in()
        return drop_path(x, self.p, self.training, self.generator) if noise is None else x * noise

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        return sample_shape(x.shape)


class DropConnectLinear(_NoiseLayer, nn.Linear):
    r"""A linear layer whose weights are dropped: :math:`y = (W \odot M / (1 - p))\,x + b`.

    In training, each forward pass draws one mask :math:`M_{ji} \sim \mathrm{Bernoulli}(1 - p)` over the
    weight matrix, shared by every sample of the batch (Wan et al. draw one per sample, which costs a weight
    matrix per sample). The bias is not dropped. Since :math:`E[M / (1 - p)] = 1`, the expected output is
    :math:`W x + b`, which is the evaluation output: unlike Wan et al.'s moment-matching inference, evaluation
    simply uses the plain weights. ``weight`` stays an ordinary Parameter, so penalties and max-norm apply.

    Wan et al., "Regularization of Neural Networks using DropConnect", ICML 2013.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self._init_noise(p, generator)

    def forward(self, x: Tensor) -> Tensor:
        return dropconnect_linear(x, self.weight, self.bias, self.p, self.training, self.generator, self.handed_in())

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(self.weight.shape)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p:g}"


def dropconnect_linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    p: float,
    training: bool,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """(W ⊙ M / (1 − p)) x + b with one mask M ~ Bernoulli(1 − p) over W for the batch; W x + b in evaluation.
    ``noise``: M / (1 − p) drawn beforehand (a stacked engine's), used instead of a fresh draw."""
    return F.linear(x, dropout(weight, p, training, generator) if noise is None else weight * noise, bias)


class DropConnect(_DropoutModule):
    r"""DropConnect around a user's own ``nn.Linear``: :math:`y = (W \odot M / (1 - p))\,x + b`.

    ``DropConnect(nn.Linear(64, 32))`` keeps the linear layer as ``.linear`` (its weight is penalized and
    max-normed as any other); without ``p`` it is tunable, a plain linear layer until a study sets p.
    """

    def __init__(self, linear: nn.Linear, p: float | None = None, generator: torch.Generator | None = None) -> None:
        if not isinstance(linear, nn.Linear):
            raise TypeError(
                "DropConnect wraps an nn.Linear layer, as in DropConnect(nn.Linear(64, 32)); "
                f"got {type(linear).__name__}"
            )
        super().__init__(p, generator)
        self.linear = linear

    def forward(self, x: Tensor) -> Tensor:
        linear, noise = self.linear, self.handed_in()
        return dropconnect_linear(x, linear.weight, linear.bias, self.p, self.training, self.generator, noise)

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(self.linear.weight.shape)


DROPOUT_MODULES: tuple[type[nn.Module], ...] = (
    Dropout,
    GaussianDropout,
    SpatialDropout,
    DropPath,
    DropConnectLinear,
    DropConnect,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
"""Modules whose training mode means "draw noise": reglab's layers and PyTorch's own dropout layers."""

NOISE_LAYERS: tuple[type[nn.Module], ...] = tuple(m for m in DROPOUT_MODULES if issubclass(m, _NoiseLayer))
"""reglab's layers: each draws from its own generator, and takes the noise a stacked engine hands in."""

TUNABLE_LAYERS: dict[type[nn.Module], tuple[str, str]] = {  # layer -> (the method that sets its rate, how to add one)
    Dropout: ("dropout", "reglab.Dropout()"),
    GaussianDropout: ("gaussian-dropout", "reglab.GaussianDropout()"),
    SpatialDropout: ("spatial-dropout", "reglab.SpatialDropout()"),
    DropConnect: ("dropconnect", "reglab.DropConnect(nn.Linear(...))"),
    DropPath: ("drop-path", "reglab.DropPath()"),
}


def tunable_layers(model: nn.Module) -> list[_DropoutModule]:
    """The layers of ``model`` written without a rate, in ``model.modules()`` order."""
    return [m for m in model.modules() if type(m) in TUNABLE_LAYERS and m.tunable]


def set_rates(model: nn.Module, rates: dict[str, float]) -> nn.Module:
    """Set every tunable layer's p from ``rates`` (method name -> p; absent: 0, the identity).

    A positive rate for a method that has no tunable layer in ``model`` raises ``ValueError`` naming the
    layer to add, so a study fails before it trains rather than comparing dropout with nothing.
    """
    layers = tunable_layers(model)
    kinds = {TUNABLE_LAYERS[type(layer)][0] for layer in layers}
    for method, layer_name in TUNABLE_LAYERS.values():
        if rates.get(method) and method not in kinds:
            raise ValueError(
                f"method {method} has no place in this model: add a tunable {layer_name} layer where it should act"
            )
    for layer in layers:
        layer.p = check_probability("p", rates.get(TUNABLE_LAYERS[type(layer)][0], 0.0))
    return model
