"""The batched strategy: jobs that share an architecture train as one stacked model.

Jobs are grouped by what a stack must share (``members.stack_key``: architecture, data shape, task,
optimizer family, epochs, minibatch size, minibatches per epoch, dtype, device); everything else — penalty
strengths and modes, l1_ratio, dropout p and kind, max-norm c, learning rate, momentum, decay, seed,
folds, early-stopping patience — is a per-member vector. A group is cut into stacks that fit a memory
budget. Each member's history and final metrics are those of its sequential run (``run_job``): within
rounding, whether it runs alone or among hundreds. Jobs the MLP stack cannot take — a user's own modules,
reglab's CNNs, DropConnect, spatial dropout, augmentation, the modern recipes' soft targets, SAM and
weight averages — stack through ``torch.func``
(``engine.functional``), batch norm and noise layers included; what remains runs sequentially, and each
result says how it ran, and why.
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from reglab.data import Dataset
from reglab.devices import resolve_device
from reglab.engine.functional import run_functional
from reglab.engine.jobs import Job, JobResult, run_job
from reglab.engine.members import (
    Member,
    Parsed,
    build_member,
    functional_key,
    functional_reason,
    split_rows,
    stack_key,
    unstacked_reason,
)
from reglab.engine.stack import EVAL_ROWS, Stack

CPU_FRACTION, CUDA_FRACTION = 0.5, 0.8  # of available RAM, of free GPU memory
CPU_TENSOR_BYTES = 16 * 2**20  # the largest stacked weight on a CPU
FUNCTIONAL_STACK = 64  # members of one torch.func stack


@dataclass(frozen=True)
class StackReport:
    """One stack that ran: its size, its modelled peak memory and the measured one (bytes).

    ``measured_bytes`` is ``torch.cuda.max_memory_allocated`` for a CUDA stack and the process's peak
    resident set size (a high-water mark since the process started) for a CPU stack.
    """

    members: int
    device: str
    estimated_bytes: int
    measured_bytes: int


def run_batched(
    dataset: Dataset,
    jobs: Sequence[Job],
    on_result: Callable[[Job, JobResult], None],
    *,
    memory_budget_bytes: int | None = None,
    device: str | None = None,
    min_stack: int = 1,
) -> list[StackReport]:
    """Run ``jobs`` in stacks; groups smaller than ``min_stack`` and unstackable jobs run sequentially.

    ``device`` overrides every job's ``FitConfig.device`` ("cpu", "cuda" or "auto"); results are handed
    to ``on_result`` (with the caller's job) as each member finishes. A job whose trial cannot be built
    (a bad config) runs sequentially and reports its own error. Returns the stacks that ran.
    """
    moved = [on_device(job, device) for job in jobs]
    original = {id(m): job for m, job in zip(moved, jobs)}

    def give(job: Job, result: JobResult) -> None:
        on_result(original[id(job)], result)

    groups: dict[tuple, list[Job]] = {}
    functional: dict[tuple, list[Job]] = {}  # a user's own modules, stacked through torch.func
    reasons = {id(job): unstacked_reason(dataset, job) for job in moved}
    for job in moved:
        if reasons[id(job)] is None:
            groups.setdefault(stack_key(dataset, job), []).append(job)
        else:
            reasons[id(job)] = functional_reason(dataset, job)
            if reasons[id(job)] is None:
                functional.setdefault(functional_key(dataset, job), []).append(job)
    stacked = {id(job) for g in (*groups.values(), *functional.values()) if len(g) >= min_stack for job in g}
    for job in moved:
        if id(job) not in stacked:
            why = reasons[id(job)] or "no other trial to stack with"
            give(job, replace(run_job(dataset, job), ran=f"alone: {why}"))
    for group in (g for g in functional.values() if len(g) >= min_stack):
        for chunk in chunks(group, FUNCTIONAL_STACK):
            run_functional(dataset, chunk, give)
    reports = []
    for group in (g for g in groups.values() if len(g) >= min_stack):
        widest = max(group, key=lambda job: member_bytes(dataset, job))  # every member is padded to its rows
        for chunk in chunks(group, largest_stack(dataset, widest, memory_budget_bytes)):
            reports.append(run_stack(dataset, chunk, give))
    return reports


def on_device(job: Job, device: str | None) -> Job:
    """The job with its ``FitConfig.device`` set to ``device`` (unchanged when None)."""
    if device is None:
        return job
    return replace(job, config=replace(job.config, fit=replace(job.config.fit, device=device)))


def chunks(group: list[Job], largest: int) -> list[list[Job]]:
    """The group cut into ⌈len/largest⌉ stacks of nearly equal size."""
    count = math.ceil(len(group) / largest)
    size = math.ceil(len(group) / count)
    return [group[i : i + size] for i in range(0, len(group), size)]


def run_stack(dataset: Dataset, jobs: list[Job], on_result: Callable[[Job, JobResult], None]) -> StackReport:
    """Train one stack; jobs whose member cannot be built run sequentially (and report their error)."""
    device = resolve_device(jobs[0].config.fit.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    members: list[Member] = []
    parsed: list[Parsed] = []
    prepared: dict[bytes, list] = {}
    for job in jobs:
        try:
            member, model = build_member(dataset, job, prepared)
        except Exception:  # the sequential run records the trial's own error
            on_result(job, run_job(dataset, job))
            continue
        members.append(member)
        parsed.append(model)
    if members:
        stack = Stack(members, parsed)
        del parsed
        ran = f"stacked with {len(members)}"
        stack.run(lambda member, result: on_result(member.job, replace(result, ran=ran)))
    measured = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    estimated = len(members) * max(member_bytes(dataset, job) for job in jobs)  # padded to the longest rows
    return StackReport(len(members), str(device), estimated, measured)


def largest_stack(dataset: Dataset, job: Job, budget: int | None = None) -> int:
    """Members per stack: as many as fit the memory budget and, on a CPU, as keep the largest stacked
    weight within CPU_TENSOR_BYTES (larger stacks stream each step's fresh gradients and moments from main
    memory and measured no faster)."""
    device = resolve_device(job.config.fit.device)
    size = (budget or default_budget(device)) // member_bytes(dataset, job)
    if device.type == "cpu":
        widths = _widths(dataset, job)
        largest = max(a * b for a, b in zip(widths, widths[1:])) * _itemsize()
        size = min(size, CPU_TENSOR_BYTES // largest)
    return max(1, size)


def member_bytes(dataset: Dataset, job: Job) -> int:
    """Modelled peak memory of one stack member.

    With P parameters, batch B, widths d, h…, c, n training, m monitor and e evaluation rows and s bytes
    per number: s · (10P + B(2d + 8Σh + 4c) + (n + m + e)(d + 1) + 3nc + 3·EVAL_ROWS·Σh) — parameters,
    gradients, two Adam moments, a best-weights copy and update temporaries; the activations autograd
    keeps; the member's rows; one evaluation pass and its outputs.
    """
    widths = _widths(dataset, job)
    d, hidden, c = widths[0], widths[1:-1], widths[-1]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    fit_rows, monitor_rows = split_rows(dataset, job)
    n, rows = len(fit_rows), len(fit_rows) + len(monitor_rows) + len(job.eval_idx)
    batch = min(job.config.fit.batch_size or n, n)
    activations = batch * (2 * d + 8 * sum(hidden) + 4 * c)
    numbers = 10 * params + activations + rows * (d + 1) + 3 * n * c + 3 * EVAL_ROWS * sum(hidden)
    return numbers * _itemsize()


def _widths(dataset: Dataset, job: Job) -> tuple[int, ...]:
    spec = job.config.model
    return (dataset.n_features, *(spec.hidden if spec.kind == "mlp" else ()), dataset.n_outputs)


def _itemsize() -> int:
    return torch.tensor([], dtype=torch.get_default_dtype()).element_size()


def default_budget(device: torch.device) -> int:
    """A fraction of the free GPU memory, or of the available RAM."""
    if device.type == "cuda":
        return int(CUDA_FRACTION * torch.cuda.mem_get_info(device)[0])
    return int(CPU_FRACTION * available_ram())


def available_ram() -> int:
    """MemAvailable from /proc/meminfo, else the free physical pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
