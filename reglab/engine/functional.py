"""Any model's trials trained together: K members of one architecture, one vmapped forward and backward.

Each member is built as ``run_trial`` builds it (its rows, its preprocessing, its seed, its noise layers'
generators) and keeps its own ``nn.Module``, whose parameters and buffers (batch norm's running
statistics) are views into the stacked tensors that ``torch.func`` trains: a forward of ``functional_call``
under ``vmap`` gives every member's loss and updates every member's buffers, and the backward of their sum
every member's own gradient. Noise is each member's own: its augmentation transforms its slot of the
minibatch with its own generator, and each noise layer's (K, ...) noise is drawn slot by slot by the
members' own layers (``noise.StackedNoise``), so a member sees the masks of its run alone whatever shares
its stack. Everything else is the plain loop's own code on each member's module — its bound penalty terms
(values, proximal steps), decoupled decay, max-norm, early stopping, the epoch's record and the final
scores — and the optimizer is the stacked one of the MLP stack (PyTorch's functional Adam, or SGD), each
member with its own learning rate.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from reglab import inputs
from reglab.data import Dataset
from reglab.devices import resolve_device
from reglab.engine.jobs import METRIC_FIELDS, TRIAL_THREADS, Job, JobResult, intra_op_threads, run_job
from reglab.engine.stacked_optim import Rows, StackedAdam, StackedSGD
from reglab.inputs import map_parts
from reglab.noise import StackedNoise, seed_noise
from reglab.rows import as_tensors
from reglab.training import FitResult, _Loop, proximal_step_size
from reglab.trial import build_model, own_random_state, prepare, summarize, target_scale, training_rows


class Member:
    """One job's trial, built as ``run_trial`` builds it, and its plain loop's parts."""

    def __init__(self, dataset: Dataset, job: Job, device: torch.device) -> None:
        self.job, reg = job, job.config.regularization
        fit_idx, monitor_idx = training_rows(dataset, job.train_idx, job.eval_idx, job.config)
        self.train, self.monitor, self.evaluation = prepare(dataset, fit_idx, monitor_idx, job.eval_idx)
        self.fit = replace(job.config.fit, target_scale=target_scale(dataset, fit_idx))
        with own_random_state():
            torch.manual_seed(self.fit.seed)
            self.model = build_model(dataset, job.config).to(device)
        seed_noise(self.model, self.fit.seed, device)  # its noise layers' streams, as ``fit`` seeds them
        self.loop = _Loop(self.model, self.fit, reg.loop_regularizers(self.model))
        self.stopper = copy.deepcopy(self.loop.regularizers.early_stopping)
        if self.stopper is not None:
            self.stopper.reset()
        self.order = torch.Generator().manual_seed(self.fit.seed)  # its minibatch order, as the plain loop's
        self.result = FitResult(self.model)
        self.done = False
        self.frozen: list[Tensor] | None = None  # a diverged member's slices, kept until its epoch's record
        self.position: dict[int, int] = {}  # id of a parameter of its module → its index in the stack's

    @property
    def drawing(self) -> bool:
        """Whether it still trains, and so draws noise: neither finished nor diverged."""
        return not self.done and self.frozen is None

    def augmented(self, x: object) -> object:
        """``x`` through the trial's augmentation, drawn from its order generator as the plain loop draws."""
        for transform in self.loop.regularizers.augment:
            x = transform(x, self.order)
        return x


def run_functional(dataset: Dataset, jobs: list[Job], on_result: Callable[[Job, JobResult], None]) -> None:
    """Train the jobs' members together; hand each result back as its member finishes. A job whose member
    cannot be built runs alone (and reports its own error)."""
    device = resolve_device(jobs[0].config.fit.device)
    members = []
    with intra_op_threads(TRIAL_THREADS):
        for job in jobs:
            try:
                members.append(Member(dataset, job, device))
            except Exception:  # the run alone records the trial's own error
                on_result(job, run_job(dataset, job))
        if not members:
            return
        try:
            stack = FunctionalStack(members, device)
            stack.rehearse()
        except Exception as error:  # a forward that vmap cannot run: each trial alone, saying why
            why = f"alone: a stack cannot replay its forward ({type(error).__name__}: {error})"
            for m in members:
                on_result(m.job, replace(run_job(dataset, m.job), ran=why.splitlines()[0]))
            return
        stack.run(on_result)


class FunctionalStack:
    """Members of one architecture and one row count: their parameters and buffers stacked, trained by one
    loop."""

    def __init__(self, members: list[Member], device: torch.device) -> None:
        self.device, self.members = device, members
        first = self.members[0]
        self.task, self.epochs, self.batch = first.fit.task, first.fit.epochs, first.fit.batch_size
        self.names = [name for name, _ in first.model.named_parameters()]
        self.buffer_names = [name for name, _ in first.model.named_buffers()]
        self.params = [
            torch.stack([m.model.get_parameter(n).detach() for m in self.members]).requires_grad_() for n in self.names
        ]
        self.buffers = [torch.stack([m.model.get_buffer(n) for m in self.members]) for n in self.buffer_names]
        for k, member in enumerate(self.members):  # each member's module now reads and writes its slices
            kept = member.model.state_dict().keys()
            for name, stacked in zip(self.names, self.params):
                owner, _, leaf = name.rpartition(".")
                view = nn.Parameter(stacked.detach()[k], requires_grad=False)
                member.model.get_submodule(owner).register_parameter(leaf, view)
            for name, stacked in zip(self.buffer_names, self.buffers):
                owner, _, leaf = name.rpartition(".")
                member.model.get_submodule(owner).register_buffer(leaf, stacked[k], persistent=name in kept)
            member.loop = _Loop(member.model, member.fit, member.loop.regularizers)  # bound to the views
            member.position = {id(view): i for i, view in enumerate(member.model.parameters())}  # in self.params
        self.base = copy.deepcopy(first.model).to("meta")
        dtype = self.params[0].dtype
        tensors = [as_tensors(*m.train, self.task, self.device, dtype) for m in self.members]
        self.X, self.y = inputs.stack([x for x, _ in tensors]), torch.stack([t for _, t in tensors])
        self.noise = StackedNoise(self.base, [m.model for m in self.members], dtype, device)
        self.augmenting = any(m.loop.regularizers.augment for m in self.members)
        stand_ins = [SimpleNamespace(fit=m.fit) for m in self.members]
        sgd = first.fit.optimizer == "sgd"
        self.optimizer = (StackedSGD if sgd else StackedAdam)(self.params, stand_ins)

    def rehearse(self) -> None:
        """The first minibatch's vmapped forward on the meta device (nothing drawn, nothing updated): raises
        what the first step would (a random op or ``.item()`` in the forward, a noise layer used twice)."""

        def meta(t: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
            return torch.empty(t.shape if shape is None else shape, dtype=t.dtype, device="meta")

        x = map_parts(lambda part: meta(part[:, : self.batch or part.shape[1]]), self.X)
        tensors = {name: meta(t) for name, t in (*zip(self.names, self.params), *zip(self.buffer_names, self.buffers))}
        for name, shape in self.noise.shapes(inputs.take(x, 0)).items():
            tensors[f"{name}.noise"] = meta(self.params[0], (len(self.members), *shape))
        self._forward(tensors, x)

    def _forward(self, tensors: dict[str, Tensor], x: object) -> Tensor:
        """Every member's output: ``functional_call`` of the stack's module on its slices, vmapped."""
        return vmap(lambda own, rows: functional_call(self.base, own, (rows,)))(tensors, x)

    def run(self, on_result: Callable[[Job, JobResult], None]) -> None:
        n, step, start = self.y.shape[1], 0, time.perf_counter()
        for epoch in range(self.epochs):
            started = time.perf_counter()
            for m in self.members:
                m.model.train()
            orders = torch.stack([torch.randperm(n, generator=m.order) for m in self.members]).to(self.device)
            for i in range(0, n, self.batch or n):
                if not any(m.drawing for m in self.members):
                    break
                self._step(orders[:, i : i + (self.batch or n)], step)
                step += 1
            for m in self.active():
                self._record(m, epoch, step, started, start, on_result)
        for m in self.active():
            self._finish(m, start, on_result)

    def active(self) -> list[Member]:
        return [m for m in self.members if not m.done]

    def _step(self, index: Tensor, step: int) -> None:
        """One minibatch for every member: the plain loop's step, the forward and backward vmapped; a
        diverged member's slices come back after it."""
        rows = torch.arange(len(self.members), device=self.device)[:, None]
        xb, yb = map_parts(lambda part: part[rows, index], self.X), self.y[rows, index]
        if self.augmenting:
            own = [inputs.take(xb, k) for k in range(len(self.members))]
            xb = inputs.stack([m.augmented(x) if m.drawing else x for m, x in zip(self.members, own)])
        state = {
            **dict(zip(self.names, self.params)),
            **dict(zip(self.buffer_names, self.buffers)),
            **self.noise.draw(inputs.take(xb, 0), [m.drawing for m in self.members]),
        }
        output = self._forward(state, xb)
        losses = vmap(lambda o, t: self.members[0].fit.objective(o, t))(output, yb)
        total = self._total_loss(losses, step)
        if total is not None:
            self._update(total, step)
        for k, m in enumerate(self.members):  # the stack moved a frozen member too: undo it
            if not m.done and m.frozen is not None:
                for t, kept in zip((*self.params, *self.buffers), m.frozen):
                    t.detach()[k].copy_(kept)

    def _total_loss(self, losses: Tensor, step: int) -> Tensor | None:
        """The sum of the drawing members' losses with their loss-mode penalties (None when no member
        draws); a member whose loss is not finite is frozen, as the plain loop stops before its step."""
        total = None
        for k, m in enumerate(self.members):
            if not m.drawing:
                continue
            loss = losses[k] + (self._penalty(k, m, step) if m.loop.loss_terms else 0.0)
            if not torch.isfinite(loss):  # the plain loop stops before this step and records the epoch
                m.result.outcome = "diverged"
                m.frozen = [t[k].detach().clone() for t in (*self.params, *self.buffers)]
                continue
            total = loss if total is None else total + loss
        return total

    def _penalty(self, k: int, m: Member, step: int) -> Tensor:
        """Member k's loss-mode penalty terms at ``step``, on its slices of the stacked parameters (which
        carry the gradient)."""
        return sum(
            (
                b.term.schedule(step)
                * sum((b.term.penalty.value(self.params[m.position[id(p)]][k]) for _, p in b.named), 0.0)
                for b in m.loop.loss_terms
            ),
            0.0,
        )

    def _update(self, total: Tensor, step: int) -> None:
        """The backward of ``total`` and every drawing member's decay, optimizer step, proximal steps,
        max-norm and constraints."""
        for p in self.params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for m in self.members:
                if not m.drawing:
                    continue
                for p in m.loop.decayed:
                    p.mul_(1.0 - m.fit.lr * m.loop.regularizers.decay)
            self.optimizer.step([p.grad for p in self.params])
            for k, m in enumerate(self.members):
                if not m.drawing:
                    continue
                if m.loop.prox_terms:
                    size = self._step_size(k, m)
                    for b in m.loop.prox_terms:
                        b.prox_(step, size)
                for p in m.loop.projected:
                    m.loop.regularizers.max_norm.project_(p.data)
                for constraint, weights in m.loop.constrained:
                    for p in weights:
                        constraint.project_(p.data)

    def _step_size(self, k: int, m: Member) -> Callable[[Tensor], float | Tensor]:
        """``proximal_step_size`` of member k's parameter: lr/(1 − μ) under SGD, Adam's per-entry step."""
        if m.fit.optimizer == "sgd":
            return lambda p: proximal_step_size(None, p, m.fit)
        rows = Rows([k], self.device)
        return lambda p: self.optimizer.prox_step(m.position[id(p)], rows)[0]

    def _record(self, m: Member, epoch: int, step: int, started: float, start: float, on_result) -> None:
        watched = as_tensors(*m.monitor, self.task, self.device, self.params[0].dtype)
        record = m.loop.record(
            epoch, step, as_tensors(*m.train, self.task, self.device, self.params[0].dtype), watched, started
        )
        if not np.isfinite(record["train_loss"]):
            m.result.outcome = "diverged"
        m.result.history.append(record)
        monitored = record.get("val_loss", record["train_loss"])
        if m.result.outcome == "diverged" or (m.stopper is not None and m.stopper.update(epoch, monitored, m.model)):
            self._finish(m, start, on_result)

    def _finish(self, m: Member, start: float, on_result) -> None:
        if m.stopper is not None and m.result.outcome == "completed":
            m.stopper.restore(m.model)
            m.result.best_epoch = m.stopper.best_epoch
        m.result.seconds = time.perf_counter() - start
        m.done = True
        result = summarize(m.result, m.train, m.evaluation, m.fit)
        metrics = {name: getattr(result, name) for name in METRIC_FIELDS}
        on_result(
            m.job,
            JobResult(
                result.outcome,
                metrics,
                result.seconds,
                result.history,
                ran=f"stacked with {len(self.members)} through torch.func",
            ),
        )
