"""SGD and Adam over a leading member axis, one learning rate (and momentum) per member: the optimizer of
the one training loop, whether it trains one model (K = 1, the weights viewed as (1, ...)) or a stack.

- Adam: m ← lerp(m, g, 1 − β₁); v ← β₂v + (1 − β₂)g²; w ← w − η/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε), with η
  a (K,) column: bit for bit ``torch.optim.Adam``'s single-tensor step (AdamW without weight decay is the
  same; decoupled decay is the loop's own); members sharing one η and all live may step by PyTorch's fused
  kernel instead, within an ulp. Its proximal step is t = η / (√(v/(1 − β₂ᵗ)) + ε) per entry.
- SGD with heavy-ball momentum μ: b ← μb + g (b = g at the first step); w ← w − ηb, as ``torch.optim.SGD``
  (no dampening); its proximal step is t = η/(1 − μ).

A proximal step of size t keeps the optimizer's fixed points the minimizers of loss + R: SGD with momentum
moves w by ηg/(1 − μ) at a fixed point (a step of η would minimize loss + (1 − μ)R); Adam moves each entry by
ηĝ/(√v̂ + ε), a diagonal metric, whose per-entry step is its t. The moments are allocated at the first step.

As ``torch.optim`` does, a parameter without a gradient at a step is left alone, its step count and moments
too. Written here rather than borrowed from ``torch.optim`` so that one update serves one model and a stack,
with per-member rates, and so that a process does not import TorchDynamo (about a second) to train.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.optim.adam import adam as functional_adam

from reglab.member_axis import column

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults


def adam_step_size(exp_avg_sq: Tensor, lr: float | Tensor, step: float, beta2: float, eps: float) -> Tensor:
    """Adam's per-entry step η / (√(v / (1 − β₂ᵗ)) + ε) after t steps; η a number, or one per member of
    a stack broadcasting against v."""
    return (exp_avg_sq / (1.0 - beta2**step)).sqrt_().add_(eps).reciprocal_().mul_(lr)


def rates(configs: Sequence, device: torch.device) -> Tensor:
    """The members' η as a float64 (K,) tensor (``configs``: their ``FitConfig``s): per-member values are
    rounded to the weights' dtype only after the arithmetic a single model's loop does in Python floats."""
    return torch.tensor([c.lr for c in configs], dtype=torch.float64, device=device)


class Adam:
    """Adam with one learning rate per member over ``params`` (K, ...); ``fused``: members sharing one η and
    all live step by PyTorch's fused kernel (a stack's large weights), else by ``torch.optim.Adam``'s
    single-tensor arithmetic (one model: its bits)."""

    def __init__(self, params: list[Tensor], configs: Sequence, fused: bool = True) -> None:
        self.fused = fused
        self.steps = [0] * len(params)
        self.exp_avg: list[Tensor] = []
        self.exp_avg_sq: list[Tensor] = []
        self.counts = [torch.zeros((), dtype=torch.float32) for _ in params]  # the fused kernel's step counts
        self.select(None, params, configs)

    @torch.no_grad()
    def step(self, grads: list[Tensor | None], live: Tensor | None = None) -> None:
        """One step; ``live`` (K,) of 0 and 1 scales each member's η (0: its weights stay as they are).
        Every member live with one η and every parameter with a gradient: PyTorch's fused kernel
        (``fused_step``)."""
        if not self.exp_avg:
            self.exp_avg = [torch.zeros_like(p, requires_grad=False) for p in self.params]
            self.exp_avg_sq = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        shared = live is None and self.shared_lr is not None
        if shared and self.fused and all(g is not None for g in grads):
            self.steps = [t + 1 for t in self.steps]
            self.fused_step(grads)
            return
        scale = -self.lr if live is None else -(self.lr * live)  # −η per member, before bias correction
        for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.exp_avg, self.exp_avg_sq)):
            if g is None:
                continue
            self.steps[i] += 1
            self.counts[i].add_(1.0)
            bias1, bias2_sqrt = 1.0 - BETAS[0] ** self.steps[i], (1.0 - BETAS[1] ** self.steps[i]) ** 0.5
            m.lerp_(g, 1.0 - BETAS[0])
            v.mul_(BETAS[1]).addcmul_(g, g, value=1.0 - BETAS[1])
            denominator = (v.sqrt() / bias2_sqrt).add_(EPS)
            if shared:
                p.detach().addcdiv_(m, denominator, value=-self.shared_lr / bias1)
            else:
                p.detach().addcdiv_(m * column(scale / bias1, m), denominator)

    def fused_step(self, grads: list[Tensor]) -> None:
        """The same step by ``torch.optim.adam.adam(fused=True)``, one pass over memory (within an ulp of
        the single-tensor arithmetic per step); it advances the step counts itself. Measured faster on the
        MLP stacks' large weights (sweep K = 64, H = 256: 3.8 s against 4.4 s)."""
        functional_adam(
            [p.detach() for p in self.params],
            [g.contiguous() for g in grads],  # the fused kernel reads memory in order
            self.exp_avg,
            self.exp_avg_sq,
            [],
            self.counts,
            fused=True,
            lr=self.shared_lr,
            beta1=BETAS[0],
            beta2=BETAS[1],
            weight_decay=0.0,
            eps=EPS,
            amsgrad=False,
            maximize=False,
        )

    def step_size(self, i: int, live: Tensor | None = None) -> Tensor:
        """Adam's per-entry proximal step on parameter i, every member's (η where it has not stepped yet)."""
        lr = self.lr if live is None else self.lr * live
        if not self.steps[i]:
            return column(lr, self.params[i]).expand_as(self.params[i]).clone()
        return adam_step_size(self.exp_avg_sq[i], column(lr, self.exp_avg_sq[i]), float(self.steps[i]), BETAS[1], EPS)

    def prox_step(self, i: int, rows) -> Tensor:
        """``step_size`` of parameter i for some members (``rows.take`` picks theirs)."""
        v = rows.take(self.exp_avg_sq[i])
        return adam_step_size(v, column(rows.take(self.lr), v), float(self.steps[i]), BETAS[1], EPS)

    def select(self, keep: Tensor | None, params: list[Tensor], configs: Sequence) -> None:
        """Follows a stack to the members ``keep`` (all when None) and their new parameter tensors."""
        self.params, self.lr = params, rates(configs, params[0].device)
        shared = {c.lr for c in configs}
        self.shared_lr = shared.pop() if len(shared) == 1 else None
        if keep is not None:
            self.exp_avg = [t.index_select(0, keep) for t in self.exp_avg]
            self.exp_avg_sq = [t.index_select(0, keep) for t in self.exp_avg_sq]


class SGD:
    """SGD with heavy-ball momentum, one learning rate and one momentum per member over ``params`` (K, ...)
    (a member with μ = 0 steps by its gradient)."""

    def __init__(self, params: list[Tensor], configs: Sequence) -> None:
        self.buffers: list[Tensor | None] = [None] * len(params)
        self.select(None, params, configs)

    @torch.no_grad()
    def step(self, grads: list[Tensor | None], live: Tensor | None = None) -> None:
        """One step; ``live`` (K,) of 0 and 1 scales each member's η (0: its weights stay as they are)."""
        rate = -self.lr if live is None else -(self.lr * live)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            if self.heavy_ball:
                if self.buffers[i] is None:
                    self.buffers[i] = g.detach().clone()
                else:
                    self.buffers[i].mul_(column(self.momentum, g)).add_(g)
                g = self.buffers[i]
            p.detach().addcmul_(g, column(rate, p))

    def step_size(self, i: int, live: Tensor | None = None) -> Tensor:
        """η/(1 − μ) per member (float64, (K,))."""
        size = self.lr / (1.0 - self.momentum)
        return size if live is None else size * live

    def prox_step(self, i: int, rows) -> list[float]:
        """η/(1 − μ) for some members (``rows.take`` picks theirs)."""
        return rows.take(self.step_size(i)).tolist()

    def select(self, keep: Tensor | None, params: list[Tensor], configs: Sequence) -> None:
        self.params, self.lr = params, rates(configs, params[0].device)
        self.momentum = torch.tensor([c.momentum for c in configs], dtype=torch.float64, device=self.lr.device)
        self.heavy_ball = any(c.momentum for c in configs)  # known on the host: no sync per step
        if keep is not None:
            self.buffers = [None if t is None else t.index_select(0, keep) for t in self.buffers]


def optimizer(params: list[Tensor], configs: Sequence) -> Adam | SGD:
    """SGD for members that train by it, Adam for Adam and AdamW (without weight decay, the same step);
    one member (K = 1) steps by ``torch.optim``'s single-tensor arithmetic, a stack may fuse."""
    if configs[0].optimizer == "sgd":
        return SGD(params, configs)
    return Adam(params, configs, fused=len(configs) > 1)
