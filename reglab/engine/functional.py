"""A user's own modules trained together: K members of one architecture, one vmapped forward and backward.

Each member is built as ``run_trial`` builds it (its rows, its preprocessing, its seed) and keeps its own
``nn.Module``, whose parameters are views into the stacked tensors that ``torch.func`` trains: a forward of
``functional_call`` under ``vmap`` gives every member's loss, and the backward of their sum every member's
own gradient. Everything else is the plain loop's own code on each member's module — its bound penalty
terms (values, proximal steps), decoupled decay, max-norm, early stopping, the epoch's record and the final
scores — and the optimizer is the stacked one of the MLP stack (PyTorch's functional Adam, or SGD), each
member with its own learning rate. Members whose models hold no buffers and no active noise layer stack
(the K = 1 loop's masks come from streams a vmapped forward would not replay).
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

from reglab.data import Dataset
from reglab.devices import resolve_device
from reglab.engine.jobs import METRIC_FIELDS, TRIAL_THREADS, Job, JobResult, intra_op_threads
from reglab.engine.stacked_optim import Rows, StackedAdam, StackedSGD
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
        self.loop = _Loop(self.model, self.fit, reg.loop_regularizers(self.model))
        self.stopper = copy.deepcopy(self.loop.regularizers.early_stopping)
        if self.stopper is not None:
            self.stopper.reset()
        self.order = torch.Generator().manual_seed(self.fit.seed)  # its minibatch order, as the plain loop's
        self.result = FitResult(self.model)
        self.done = False
        self.frozen: list[Tensor] | None = None  # a diverged member's slices, kept until its epoch's record


def run_functional(dataset: Dataset, jobs: list[Job], on_result: Callable[[Job, JobResult], None]) -> None:
    """Train the jobs' members together; hand each result back as its member finishes."""
    with intra_op_threads(TRIAL_THREADS):
        FunctionalStack(dataset, jobs).run(on_result)


class FunctionalStack:
    """Members of one architecture and one row count: their parameters stacked, trained by one loop."""

    def __init__(self, dataset: Dataset, jobs: list[Job]) -> None:
        self.device = resolve_device(jobs[0].config.fit.device)
        self.members = [Member(dataset, job, self.device) for job in jobs]
        first = self.members[0]
        self.task, self.epochs, self.batch = first.fit.task, first.fit.epochs, first.fit.batch_size
        self.names = [name for name, _ in first.model.named_parameters()]
        self.params = [
            torch.stack([dict(m.model.named_parameters())[n].detach() for m in self.members]).requires_grad_()
            for n in self.names
        ]
        for k, member in enumerate(self.members):  # each member's module now reads and writes its slice
            for name, stacked in zip(self.names, self.params):
                owner, _, leaf = name.rpartition(".")
                module = member.model.get_submodule(owner)
                module._parameters[leaf] = nn.Parameter(stacked.detach()[k], requires_grad=False)
            member.loop = _Loop(member.model, member.fit, member.loop.regularizers)  # bound to the views
        self.base = copy.deepcopy(first.model).to("meta")
        dtype = self.params[0].dtype
        tensors = [as_tensors(*m.train, self.task, self.device, dtype) for m in self.members]
        self.X, self.y = torch.stack([x for x, _ in tensors]), torch.stack([t for _, t in tensors])
        stand_ins = [SimpleNamespace(fit=m.fit) for m in self.members]
        sgd = first.fit.optimizer == "sgd"
        self.optimizer = (StackedSGD if sgd else StackedAdam)(self.params, stand_ins)

    def run(self, on_result: Callable[[Job, JobResult], None]) -> None:
        n, step, start = self.X.shape[1], 0, time.perf_counter()
        for epoch in range(self.epochs):
            started = time.perf_counter()
            for m in self.members:
                m.model.train()
            orders = torch.stack([torch.randperm(n, generator=m.order) for m in self.members]).to(self.device)
            for i in range(0, n, self.batch or n):
                if not any(m.frozen is None for m in self.active()):
                    break
                self._step(orders[:, i : i + (self.batch or n)], step, start, on_result)
                step += 1
            for m in self.active():
                self._record(m, epoch, step, started, start, on_result)
        for m in self.active():
            self._finish(m, start, on_result)

    def active(self) -> list[Member]:
        return [m for m in self.members if not m.done]

    def _step(self, index: Tensor, step: int, start: float, on_result) -> None:
        """One minibatch for every member: the plain loop's step, the forward and backward vmapped."""
        rows = torch.arange(len(self.members), device=self.device)[:, None]
        xb, yb = self.X[rows, index], self.y[rows, index]
        output = vmap(lambda params, x: functional_call(self.base, dict(zip(self.names, params)), (x,)))(
            self.params, xb
        )
        losses = vmap(lambda o, t: self.members[0].fit.objective(o, t))(output, yb)
        total = 0.0
        for k, m in enumerate(self.members):
            if m.done or m.frozen is not None:
                continue
            own = {name: p[k] for name, p in zip(self.names, self.params)}
            named = dict(m.model.named_parameters())
            slices = {id(named[name]): own[name] for name in self.names}
            penalty = sum(
                (
                    b.term.schedule(step) * sum((b.term.penalty.value(slices[id(p)]) for _, p in b.named), 0.0)
                    for b in m.loop.loss_terms
                ),
                0.0,
            )
            loss = losses[k] + penalty
            if not torch.isfinite(loss):  # the plain loop stops before this step and records the epoch
                m.result.outcome, m.frozen = "diverged", [p[k].detach().clone() for p in self.params]
                continue
            total = total + loss
        if not any(m.frozen is None for m in self.active()):
            return
        for p in self.params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for m in self.active():
                if m.frozen is not None:
                    continue
                for p in m.loop.decayed:
                    p.mul_(1.0 - m.fit.lr * m.loop.regularizers.decay)
            self.optimizer.step([p.grad for p in self.params])
            for k, m in enumerate(self.members):
                if m.done or m.frozen is not None:
                    continue
                size = self._step_size(k, m)
                for b in m.loop.prox_terms:
                    b.prox_(step, size)
                for p in m.loop.projected:
                    m.loop.regularizers.max_norm.project_(p.data)
                for constraint, weights in m.loop.constrained:
                    for p in weights:
                        constraint.project_(p.data)
            for k, m in enumerate(self.members):  # the stacked optimizer moved a frozen member too: undo it
                if not m.done and m.frozen is not None:
                    for p, kept in zip(self.params, m.frozen):
                        p.detach()[k].copy_(kept)

    def _step_size(self, k: int, m: Member) -> Callable[[Tensor], float | Tensor]:
        """``proximal_step_size`` of member k's parameter: lr/(1 − μ) under SGD, Adam's per-entry step."""
        if m.fit.optimizer == "sgd":
            return lambda p: proximal_step_size(None, p, m.fit)
        rows, index = Rows([k], self.device), {id(q): i for i, q in enumerate(m.model.parameters())}
        return lambda p: self.optimizer.prox_step(index[id(p)], rows)[0]

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
