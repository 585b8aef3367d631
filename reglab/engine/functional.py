"""Any model's trials trained together: K members of one architecture, one vmapped forward and backward.

Each member is built as ``run_trial`` builds it (its rows, its preprocessing, its seed, its noise layers'
generators) and keeps its own ``nn.Module``, whose parameters and buffers (batch norm's running
statistics) are views into the stacked tensors that ``torch.func`` trains: a forward of ``functional_call``
under ``vmap`` gives every member's loss and updates every member's buffers, and the backward of their sum
every member's own gradient. Noise is each member's own: its augmentation transforms its slot of the
minibatch with its own generator, and each noise layer's (K, ...) noise is drawn slot by slot by the
members' own layers (``noise.StackedNoise``), so a member sees the masks of its run alone whatever shares
its stack; so are its mixing draws (from its seed's stream). The rest of a step is written once over the
member axis with per-member (K,) settings (``settings.StackSettings``: the penalties' own ``value_of``
vmapped and ``shrink_`` maps, decoupled decay, max-norm; the loop's own Adam or SGD, ``reglab.optimizers``,
with each member's learning rate; label smoothing ε, SAM's ρ, the EMA's decay and SWA's start), with no
loop over members and no host synchronization: a member whose objective is not finite leaves the
on-device ``alive`` mask, which the stack reads once per epoch. Early stopping, the epoch's record and the
final scores are the plain loop's own code on each member's module. A stack runs on the caller's intra-op
threads, as the MLP stack does (a trial alone runs on ``TRIAL_THREADS``), so a member equals its run alone
within rounding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from reglab import inputs
from reglab.data import Dataset
from reglab.devices import resolve_device
from reglab.engine.jobs import METRIC_FIELDS, Job, JobResult, run_job
from reglab.engine.settings import StackSettings
from reglab.inputs import map_parts
from reglab.member_axis import along
from reglab.noise import StackedNoise, seed_noise
from reglab.optimizers import optimizer
from reglab.regularizers.averaging import Averages, apply_average
from reglab.regularizers.sharpness import ascent
from reglab.regularizers.soft_targets import Mixing, mix
from reglab.rows import EVAL_BATCH, as_rows, as_tensors, ordered_batches
from reglab.scoring import metric_value
from reglab.training import FitResult, RunningMean, _Loop, diverged, training_loss
from reglab.trial import set_up, summarize


class Member:
    """One job's trial, built as ``run_trial`` builds it, and its plain loop's parts."""

    def __init__(self, dataset: Dataset, job: Job, device: torch.device) -> None:
        self.job, setup = job, set_up(dataset, job.train_idx, job.eval_idx, job.config)
        self.train, self.monitor, self.evaluation, self.fit = setup.train, setup.monitor, setup.evaluation, setup.fit
        self.model = setup.model.to(device)
        seed_noise(self.model, self.fit.seed, device)  # its noise layers' streams, as ``fit`` seeds them
        self.loop = _Loop(self.model, self.fit, setup.regularizers)
        self.stopper = copy.deepcopy(self.loop.regularizers.early_stopping)
        if self.stopper is not None:
            self.stopper.reset()
        self.order = torch.Generator().manual_seed(self.fit.seed)  # its minibatch order, as the plain loop's
        self.result = FitResult(self.model)
        self.done = False

    @property
    def drawing(self) -> bool:
        """Whether it still trains, and so draws noise (a member that diverged within an epoch draws on
        until the epoch's end, into nothing that it keeps)."""
        return not self.done

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


def take_rows(stacked: Tensor, index: Tensor) -> Tensor:
    """Member k's rows ``index[k]`` (K, B) of ``stacked`` (K, n, ...): ``stacked[k, index[k]]`` for every k,
    by one ``index_select`` over the flattened member and row axes (advanced indexing copies slower)."""
    members, rows = stacked.shape[:2]
    flat = (torch.arange(members, device=index.device)[:, None] * rows + index).reshape(-1)
    return stacked.flatten(0, 1).index_select(0, flat).view(*index.shape, *stacked.shape[2:])


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
        self.base = copy.deepcopy(first.model).to("meta")
        dtype = self.params[0].dtype
        tensors = [as_tensors(*m.train, self.task, self.device, dtype) for m in self.members]
        self.X, self.y = inputs.stack([x for x, _ in tensors]), torch.stack([t for _, t in tensors])
        watched = [as_tensors(*m.monitor, self.task, self.device, dtype) for m in self.members]
        self.watched = inputs.stack([x for x, _ in watched]), torch.stack([t for _, t in watched])
        self.chunk = self.batch or EVAL_BATCH  # rows per scoring pass: a vmapped pass over more is no faster
        self.noise = StackedNoise(self.base, [m.model for m in self.members], dtype, device)
        self.augmenting = any(m.loop.regularizers.augment for m in self.members)
        self.optimizer = optimizer(self.params, [m.fit for m in self.members])
        steps = self.epochs * (-(-self.y.shape[1] // (self.batch or self.y.shape[1])))
        self.settings = StackSettings([m.model for m in self.members], [m.loop for m in self.members], steps)
        self.alive = torch.ones(len(self.members), dtype=torch.bool, device=device)
        self._recipes([m.loop.regularizers for m in self.members], steps, dtype)

    def _recipes(self, regs: list, steps: int, dtype: torch.dtype) -> None:
        """The members' label smoothing ε, mixing draws, SAM radius and weight averages as (K, ...) settings
        (None where no member has one)."""

        def per_member(values: list, dtype: torch.dtype = torch.float64) -> Tensor:
            return torch.tensor(values, dtype=dtype, device=self.device)

        self.smoothing = (
            per_member([r.label_smoothing for r in regs], dtype) if any(r.label_smoothing for r in regs) else None
        )
        self.draws = None
        if any(r.mixing for r in regs):
            for k, r in enumerate(regs):
                if r.mixing is not None:
                    r.mixing.check(inputs.take(self.X, k))
            draws = [(r.mixing or Mixing()).draws(m.fit.seed, steps) for r, m in zip(regs, self.members)]
            self.draws = torch.stack(draws, dim=1).to(self.device)  # (steps, K, 4)
        self.rho = self.adaptive = None
        if any(r.sam for r in regs):
            self.rho = per_member([r.sam.rho if r.sam else 0.0 for r in regs], dtype)
            self.adaptive = per_member([bool(r.sam and r.sam.adaptive) for r in regs], torch.bool)
        self.averages = [r.average for r in regs]
        kinds = {a.kind for a in self.averages if a is not None}
        self.ema = Averages([*self.params, *self.buffers]) if "ema" in kinds else None
        self.decay = per_member([a.value if a is not None and a.kind == "ema" else 0.0 for a in self.averages])
        self.has_ema = per_member([a is not None and a.kind == "ema" for a in self.averages], torch.bool)
        self.swa = Averages(self.params) if "swa" in kinds else None
        self.swa_start = per_member(
            [a.start(self.epochs) if a is not None and a.kind == "swa" else self.epochs for a in self.averages]
        )

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
        """Every epoch's steps, then each member's record; the ``alive`` mask is read once per epoch."""
        n, step, start = self.y.shape[1], 0, time.perf_counter()
        for epoch in range(self.epochs):
            started = time.perf_counter()
            for m in self.members:
                m.model.train()
            orders = torch.stack([torch.randperm(n, generator=m.order) for m in self.members]).to(self.device)
            self.running = RunningMean()
            for i in range(0, n, self.batch or n):
                self._step(orders[:, i : i + (self.batch or n)], step)
                step += 1
            if self.swa is not None:
                self.swa.update_(self.params, self.alive & (epoch >= self.swa_start))
            scores = self._scores()
            for m, alive, own in zip(self.members, self.alive.tolist(), scores):
                if not m.done:
                    if not alive:  # the plain loop stops at the step whose loss is not finite
                        m.result.outcome = "diverged"
                    self._record(m, epoch, step, own, started, start, on_result)
            if not any(m.drawing for m in self.members):
                break
        for m in self.active():
            self._finish(m, start, on_result)

    def active(self) -> list[Member]:
        return [m for m in self.members if not m.done]

    def _step(self, index: Tensor, step: int) -> None:
        """One minibatch for every member, the plain loop's step over the member axis: each member's mixing,
        the vmapped forward, data terms (with each member's targets) and loss-mode penalties (K,); a member
        whose objective is not finite leaves ``alive`` and from then on keeps its weights and buffers; the
        backward of the live members' sum (with SAM, its two passes); decoupled decay, the optimizer step,
        proximal steps, max-norm and EMA, each with per-member (K,) settings. Each live member's data loss
        and metric join the epoch's ``running`` mean."""
        xb, yb = map_parts(lambda part: take_rows(part, index), self.X), take_rows(self.y, index)
        if self.augmenting:
            own = [inputs.take(xb, k) for k in range(len(self.members))]
            xb = inputs.stack([m.augmented(x) if m.drawing else x for m, x in zip(self.members, own)])
        lam = None
        if self.draws is not None:
            xb, lam = vmap(mix)(xb, self.draws[step])
        kept = [b.clone() for b in self.buffers]  # a dead member's buffers stay as its last step left them
        data, output = self._objective(xb, yb, lam, self.buffers)
        objective = data + self.settings.penalty(self.params, step)
        was_alive, self.alive = self.alive, self.alive & torch.isfinite(objective)
        metric = vmap(lambda o, t: metric_value(o, t, self.task))(output.detach(), yb)
        self.running.add(data.detach(), metric, was_alive.to(torch.float64) * yb.shape[1])
        for p in self.params:
            p.grad = None
        if self.rho is None:
            torch.where(self.alive, objective, 0.0).sum().backward()
        else:
            self._sharpness_aware(data, xb, yb, lam, step)
        live = self.alive.to(torch.float64)
        with torch.no_grad():
            for b, before in zip(self.buffers, kept):
                b.copy_(torch.where(along(was_alive, b), b, before))
            grads = [torch.where(along(self.alive, p), p.grad, 0.0) for p in self.params]
            self.settings.decay_(self.params, live)
            self.optimizer.step(grads, live)
            self.settings.prox_(self.params, self.optimizer, step, live)
            self.settings.project_(self.params, self.alive)
        if self.ema is not None:
            self.ema.update_([*self.params, *self.buffers], self.alive & self.has_ema, self.decay)

    def _objective(self, xb: object, yb: Tensor, lam: Tensor | None, buffers: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Every member's data term (K,) (``training.training_loss`` with its own ε and λ) and output, by a
        forward on the stacked parameters and ``buffers`` with noise freshly drawn by the members' layers."""
        state = {
            **dict(zip(self.names, self.params)),
            **dict(zip(self.buffer_names, buffers)),
            **self.noise.draw(inputs.take(xb, 0), [m.drawing for m in self.members]),
        }
        output = self._forward(state, xb)
        fit = self.members[0].fit
        dims = (0, 0, None if self.smoothing is None else 0, None if lam is None else 0)
        data = vmap(lambda o, t, e, mixed: training_loss(fit, o, t, e, mixed), in_dims=dims)(
            output, yb, self.smoothing, lam
        )
        return data, output

    def _sharpness_aware(self, data: Tensor, xb: object, yb: Tensor, lam: Tensor | None, step: int) -> None:
        """Every member's gradients of SAM's step (``_Loop._sharpness_aware`` over the member axis): the data
        term's at its ascent point (``sharpness.ascent`` with its own ρ), then the loss-mode penalties' at
        its weights, to which it returns; batch norm keeps the first pass's statistics. A member whose data
        term is not finite at the ascent point leaves ``alive``."""
        torch.where(self.alive, data, 0.0).sum().backward()
        grads = [torch.where(along(self.alive, p), p.grad, 0.0) for p in self.params]
        kept = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, e in zip(self.params, ascent([p.detach() for p in self.params], grads, self.rho, self.adaptive)):
                p.add_(e)
        data, _ = self._objective(xb, yb, lam, [b.clone() for b in self.buffers])
        self.alive = self.alive & torch.isfinite(data)
        for p in self.params:
            p.grad = None
        torch.where(self.alive, data, 0.0).sum().backward()
        with torch.no_grad():
            for p, w in zip(self.params, kept):
                p.copy_(w)
        penalty = self.settings.penalty(self.params, step)
        if isinstance(penalty, Tensor):
            torch.where(self.alive, penalty, 0.0).sum().backward()

    def _record(self, m: Member, epoch: int, step: int, scores: dict, started: float, start: float, on_result) -> None:
        record = m.loop.record(epoch, step, scores, started)
        if diverged(record):
            m.result.outcome = "diverged"
        m.result.history.append(record)
        monitored = record.get("val_loss", record["train_loss"])
        if m.result.outcome == "diverged" or (m.stopper is not None and m.stopper.update(epoch, monitored, m.model)):
            self._finish(m, start, on_result)

    @torch.no_grad()
    def _scores(self) -> list[dict]:
        """Every member's epoch scores (``_Loop.scores``): the running mean of its minibatches' loss and
        metric, or with ``history="exact"`` its training rows scored; its watched rows scored; each scored
        set in one vmapped pass over the stack, in evaluation mode."""
        found = {}
        if self.members[0].fit.history == "exact":
            found["train_loss"], found["train_metric"] = self._evaluate(self.X, self.y)
        else:
            found["train_loss"], found["train_metric"] = (v.tolist() for v in self.running.means())
        found["val_loss"], found["val_metric"] = self._evaluate(*self.watched)
        return [{key: values[k] for key, values in found.items()} for k in range(len(self.members))]

    def _evaluate(self, X: object, y: Tensor) -> tuple[list[float], list[float]]:
        """Every member's (mean data loss, metric) on its rows of ``X``, ``y`` (K, n, ...)."""
        state = {**dict(zip(self.names, self.params)), **dict(zip(self.buffer_names, self.buffers))}
        self.base.eval()
        try:
            output = torch.cat(
                [
                    self._forward(state, map_parts(lambda part, i=i: part[:, i : i + self.chunk], X))
                    for i in range(0, y.shape[1], self.chunk)
                ],
                dim=1,
            )
        finally:
            self.base.train()
        loss = vmap(self.members[0].fit.objective)(output, y)
        return loss.tolist(), vmap(lambda o, t: metric_value(o, t, self.task))(output, y).tolist()

    def _finish(self, m: Member, start: float, on_result) -> None:
        if m.stopper is not None and m.result.outcome == "completed":
            m.stopper.restore(m.model)
            m.result.best_epoch = m.stopper.best_epoch
        k = self.members.index(m)
        average = self.averages[k]
        if average is not None and m.result.outcome == "completed":
            averages = self.ema if average.kind == "ema" else self.swa
            rows = as_rows(m.train, self.task, self.device, self.params[0].dtype)
            apply_average(
                m.model,
                average,
                [v[k] for v in averages.values],
                ordered_batches(rows, self.task, self.device, self.params[0].dtype),
            )
        m.result.seconds = time.perf_counter() - start
        m.done = True
        self.alive[k] = False  # its weights are its result now
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
