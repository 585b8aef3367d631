"""Training one stack: K members, step for step as each member's plain run.

Per epoch every member draws its own minibatch order; per step each member's rows are gathered (members
with fewer training rows have a shorter last minibatch, padded, their padding weighed 0), its noise masks
drawn from its own streams, and one forward/backward pass serves all members (the stack's
loss is the sum of the members' losses, so each member's gradient is its own). At the end of an epoch
each member gets its history record; members that stopped early (with their best weights restored) or
ran all epochs are handed back and dropped from the stack. A member whose loss turns NaN or infinite is
diverged from that step: it keeps the state it had then, is handed back at the end of the epoch, and
stays in place, frozen, until the stack next drops members, so that no other member's numbers change.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from reglab.calibration import trial_calibration
from reglab.devices import resolve_device
from reglab.engine.jobs import METRIC_FIELDS, JobResult
from reglab.engine.members import Member, Parsed
from reglab.engine.stacked import StackedMLP, stacked_loss, stacked_metric, stacked_scores
from reglab.engine.stacked_optim import Rows, StackedRegularizers
from reglab.optimizers import optimizer
from reglab.regularizers.dropout import gaussian_noise_
from reglab.rows import as_tensors
from reglab.training import RunningMean, diverged
from reglab.weights import member_weight_stats, weight_histogram

EVAL_ROWS = 128  # rows per member in one evaluation pass


class RowSet:
    """Row sets of equal or different lengths on the device: inputs (U, m, d) and targets (U, m), padded
    with zeros to the longest, and each set's length."""

    def __init__(self, parts: list[tuple], task: str, dtype: torch.dtype, device: torch.device) -> None:
        tensors = [as_tensors(X, y, task, device, dtype) for X, y in parts]
        self.X = _pad([x.reshape(len(x), -1) for x, _ in tensors])
        self.y = _pad([y for _, y in tensors])
        self.counts = torch.tensor([len(y) for _, y in tensors], device=device)


def _pad(tensors: list[Tensor]) -> Tensor:
    out = tensors[0].new_zeros((len(tensors), max(len(t) for t in tensors), *tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : len(t)] = t
    return out


class StackData:
    """Each distinct row set once on the device — training rows, monitor rows, evaluation rows, each
    padded to the longest set of its kind (``RowSet``) — and ``data_of[k]``, member k's set."""

    def __init__(self, members: list[Member], dtype: torch.dtype, device: torch.device) -> None:
        sets: dict[bytes, Member] = {}
        for member in members:
            sets.setdefault(member.data_key, member)
        index = {key: i for i, key in enumerate(sets)}
        self.data_of = torch.tensor([index[m.data_key] for m in members], device=device)
        task = members[0].fit.task
        self.train = RowSet([m.train for m in sets.values()], task, dtype, device)
        self.monitor = RowSet([m.monitor for m in sets.values()], task, dtype, device)
        self.evaluation = RowSet([m.evaluation for m in sets.values()], task, dtype, device)

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Member k's training rows ``index[k]``: inputs (K, B, d) and targets (K, B)."""
        which = self.data_of[:, None]
        return self.train.X[which, index], self.train.y[which, index]

    def select(self, keep: Tensor) -> None:
        self.data_of = self.data_of.index_select(0, keep)


class StackNoise:
    """The noise masks of every hidden layer, each member's drawn from its own generator."""

    def __init__(
        self, members: list[Member], widths: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> None:
        self.size, self.widths = len(members), widths
        self.layers = []
        for i in range(len(widths)):
            dropped = [k for k, m in enumerate(members) if i in m.noise and m.noise[i].kind == "dropout"]
            keep = torch.tensor([1.0 - members[k].noise[i].p for k in dropped], dtype=dtype, device=device)
            self.layers.append(
                (
                    [(k, m.noise[i]) for k, m in enumerate(members) if i in m.noise],
                    (Rows(dropped, device), keep.view(-1, 1, 1)) if dropped else None,
                )
            )

    def draw(self, taken: list[int], like: Tensor) -> list[Tensor | None]:
        """A (K, B, H) mask per hidden layer, member k's first ``taken[k]`` rows as its plain layer draws
        them on its minibatch: dropout's m / (1 − p) (``inverted_mask_``'s arithmetic, over all dropout
        members at once), Gaussian dropout's 1 + σε, or ones; rows past ``taken[k]`` pad a shorter
        minibatch and weigh nothing."""
        noise: list[Tensor | None] = []
        for (layer, dropout), width in zip(self.layers, self.widths):
            if not layer:
                noise.append(None)
                continue
            mask = like.new_ones((self.size, like.shape[1], width))
            for k, member_noise in layer:
                rows = mask[k, : taken[k]]
                if member_noise.kind == "dropout":
                    rows.uniform_(generator=member_noise.generator)
                else:
                    gaussian_noise_(rows, member_noise.p, member_noise.generator)
            if dropout is not None:
                dropped, keep = dropout
                dropped.update_(mask, lambda part, keep=keep: part.lt_(keep).div_(keep))
            noise.append(mask)
        return noise


class MemberView:
    """Member k of a stack as ``EarlyStopping`` sees a module: a state_dict to keep, and to load back."""

    def __init__(self, model: StackedMLP, k: int) -> None:
        self.model, self.k = model, k

    def state_dict(self) -> dict[str, Tensor]:
        return {str(i): t[self.k].detach().clone() for i, t in enumerate(self.model.state)}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for i, t in enumerate(self.model.state):
            t[self.k].copy_(state[str(i)])


class Stack:
    """K members sharing an architecture, trained together; ``run`` hands each back as it finishes."""

    def __init__(self, members: list[Member], parsed: list[Parsed]) -> None:
        order = sorted(range(len(members)), key=lambda k: _signature(members[k]))
        members, parsed = [members[k] for k in order], [parsed[k] for k in order]
        first = members[0].fit
        self.task, self.epochs, self.batch_size = first.task, first.epochs, first.batch_size
        self.members = members
        self.device, self.dtype = resolve_device(first.device), torch.get_default_dtype()
        self.data = StackData(members, self.dtype, self.device)
        widths = (self.data.train.X.shape[2], *(linear.out_features for linear in parsed[0].linears))
        self.model = StackedMLP(widths, parsed[0].activation, len(members), self.dtype, self.device)
        for k, member in enumerate(parsed):
            self.model.set_member(k, member)
        self.optimizer = optimizer(self.model.params, [m.fit for m in members])
        self.hidden = widths[1:-1]
        self.done: set[int] = set()  # members handed back
        self.frozen: dict[int, list[Tensor]] = {}  # diverged members and the state they keep
        self._configure()

    def _configure(self) -> None:
        self.regularizers = StackedRegularizers(self.members, len(self.model.weights), self.device)
        self.noise = StackNoise(self.members, self.hidden, self.dtype, self.device)

    def run(self, on_finish: Callable[[Member, JobResult], None]) -> None:
        """Trains every member to its end; ``on_finish`` receives each member's result as it ends."""
        for epoch in range(self.epochs):
            start = time.perf_counter()
            self.train_epoch()
            records = self.records(epoch)
            live = [k for k in range(len(self.members)) if k not in self.done]
            share = (time.perf_counter() - start) / len(live)
            for k in live:
                records[k]["seconds"] = share
                self.members[k].seconds += share
            finished = [k for k in live if self.end_epoch(k, epoch, records[k])]
            for k, result in zip(finished, self.results(finished)):
                on_finish(self.members[k], result)
            self.done.update(finished)
            if len(self.done) == len(self.members):
                return
            if any(self.members[k].outcome != "diverged" for k in finished):
                self.drop(sorted(self.done))

    def train_epoch(self) -> None:
        """One epoch of minibatch steps; a member that diverges keeps the state it had when it did. Each
        stepping member's data loss and metric join the epoch's ``running`` mean."""
        sizes = [len(m.train[1]) for m in self.members]
        rows = max(sizes)
        batch = self.batch_size or rows
        orders = torch.zeros((len(sizes), rows), dtype=torch.long)
        for k, (member, size) in enumerate(zip(self.members, sizes)):
            orders[k, :size] = torch.randperm(size, generator=member.order)
        orders = orders.to(self.device)
        self.running = RunningMean()
        for start in range(0, rows, batch):
            x, y = self.data.batch(orders[:, start : start + batch])
            taken = [min(batch, size - start) for size in sizes]
            output = self.model.forward(x, self.noise.draw(taken, x), training=True)
            counts = torch.tensor(taken, device=self.device)
            ragged = min(taken) < x.shape[1]
            data_loss = stacked_loss(output, y, self.task, counts if ragged else None)
            loss = data_loss.detach() + self.regularizers.value(self.model.weights, "loss")
            valid = torch.arange(x.shape[1], device=self.device) < counts[:, None]
            stepping = torch.tensor([k not in self.frozen for k in range(len(sizes))], device=self.device)
            metric = stacked_metric(output.detach(), y, valid, self.task)
            self.running.add(data_loss.detach(), metric, stepping * counts.to(torch.float64))
            new = [k for k in (~torch.isfinite(loss)).nonzero().flatten().tolist() if k not in self.frozen]
            for k, saved in zip(new, self._take(new)):
                self.members[k].outcome = "diverged"
                self.frozen[k] = saved
            if len(self.frozen) == len(self.members):
                return
            self.step(list(torch.autograd.grad(data_loss.sum(), self.model.params)))
            for k, saved in self.frozen.items():
                self._put(k, saved)

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        """Penalty gradients, decoupled decay, the optimizer step, proximal steps, max-norm: the plain
        loop's order."""
        weights = self.model.weights
        self.regularizers.add_gradients_(weights, grads)
        self.regularizers.decay_(weights)
        self.optimizer.step(grads)
        self.regularizers.prox_(weights, self.optimizer.prox_step)
        self.regularizers.project_(weights)

    def _take(self, index: list[int]) -> list[list[Tensor]]:
        """Copies of members' state (their parameters), one list per member."""
        return [[t[k].detach().clone() for t in self.model.state] for k in index]

    @torch.no_grad()
    def _put(self, k: int, saved: list[Tensor]) -> None:
        for t, values in zip(self.model.state, saved):
            t[k].copy_(values)

    @torch.no_grad()
    def records(self, epoch: int) -> list[dict]:
        """Each member's history record of this epoch, as the plain loop writes it (seconds aside)."""
        which = self.data.data_of
        if self.members[0].fit.history == "exact":
            train = self.evaluate(self.model, which, self.data.train)
        else:
            train = tuple(v.tolist() for v in self.running.means())
        monitor = self.evaluate(self.model, which, self.data.monitor)
        penalties = self.regularizers.value(self.model.weights).tolist()
        stats = {name: values.tolist() for name, values in member_weight_stats(self.model.weights).items()}
        return [
            {
                "epoch": epoch,
                "train_loss": train[0][k],
                "train_metric": train[1][k],
                "val_loss": monitor[0][k],
                "val_metric": monitor[1][k],
                "penalty": penalties[k],
                **{n: v[k] for n, v in stats.items()},
            }
            for k in range(len(self.members))
        ]

    def evaluate(self, model: StackedMLP, which: Tensor, rows: RowSet) -> tuple[list[float], list[float]]:
        """Each member's (mean loss, metric) on its own row set ``rows[which[k]]``, in evaluation mode."""
        return self.evaluate_outputs(model, which, rows)[:2]

    def evaluate_outputs(
        self, model: StackedMLP, which: Tensor, rows: RowSet
    ) -> tuple[list[float], list[float], Tensor, Tensor]:
        """``evaluate``'s (losses, metrics), with the outputs (K, m, c) and targets (K, m) of the one pass that
        scored them (member k's first ``rows.counts[which[k]]`` rows are its own, the rest padding)."""
        X, length = rows.X, rows.X.shape[1]
        output = torch.cat([model.forward(X[which, r : r + EVAL_ROWS]) for r in range(0, length, EVAL_ROWS)], 1)
        valid = torch.arange(length, device=self.device) < rows.counts[which][:, None]
        y = rows.y[which]
        loss, metric = stacked_scores(output, y, valid, self.task)
        return loss.tolist(), metric.tolist(), output, y

    def end_epoch(self, k: int, epoch: int, record: dict) -> bool:
        """Appends the record; True when the member is done (restoring its best weights if it stopped)."""
        member = self.members[k]
        if diverged(record):
            member.outcome = "diverged"
        member.history.append(record)
        if member.outcome == "diverged":
            return True
        view = MemberView(self.model, k)
        stopped = member.stopper is not None and member.stopper.update(epoch, record["val_loss"], view)
        done = stopped or epoch == self.epochs - 1
        if done and member.stopper is not None:
            member.stopper.restore(view)
        return done

    @torch.no_grad()
    def results(self, finished: list[int]) -> list[JobResult]:
        """Final scores of finished members, as ``trial.summarize`` computes them: training and evaluation
        loss and metric, the evaluation predictions' calibration, weight statistics and histogram of their
        final (or restored) weights."""
        results = []
        for k, metrics in zip(finished, self.scores(finished) if finished else []):
            member = self.members[k]
            metrics["weight_histogram"] = weight_histogram([w[k] for w in self.model.weights])
            metrics["epochs"] = len(member.history)
            metrics = {name: metrics[name] for name in METRIC_FIELDS}
            results.append(JobResult(member.outcome, metrics, member.seconds, member.history))
        return results

    def scores(self, members: list[int]) -> list[dict]:
        """Training and evaluation scores, the evaluation predictions' calibration, and weight statistics of
        some members' current weights."""
        index = torch.tensor(members, device=self.device)
        model = self.model if len(members) == len(self.members) else self.model.subset(index)
        which = self.data.data_of.index_select(0, index)
        train = self.evaluate(model, which, self.data.train)
        evaluation = self.evaluate_outputs(model, which, self.data.evaluation)
        rows = self.data.evaluation.counts[which].tolist()
        stats = {name: values.tolist() for name, values in member_weight_stats(model.weights).items()}
        return [
            {
                "train_loss": train[0][j],
                "train_metric": train[1][j],
                "eval_loss": evaluation[0][j],
                "eval_metric": evaluation[1][j],
                "eval_calibration": trial_calibration(
                    evaluation[2][j, : rows[j]], evaluation[3][j, : rows[j]], self.task
                ),
                **{name: values[j] for name, values in stats.items()},
            }
            for j in range(len(members))
        ]

    def drop(self, finished: list[int]) -> None:
        """Removes finished members from every stacked tensor."""
        keep = [k for k in range(len(self.members)) if k not in finished]
        self.members = [self.members[k] for k in keep]
        self.done, self.frozen = set(), {}
        rows = torch.tensor(keep, device=self.device)
        self.model.select(rows)
        self.optimizer.select(rows, self.model.params, [m.fit for m in self.members])
        self.data.select(rows)
        self._configure()


def _signature(member: Member) -> tuple:
    """Members with equal signatures share every regularizer and learning rate: sorted by it, the
    members that a regularizer touches are mostly contiguous rows of the stack."""
    terms = tuple((cls.__name__, mode) for cls, mode, _, _ in member.terms)
    noise = tuple(sorted(member.noise))
    return (terms, noise, member.decay > 0, math.isfinite(member.max_norm), member.fit.lr, member.fit.momentum)
