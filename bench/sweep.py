"""Sweep benchmark: K regularized MLPs trained as one stack against the same trials one after another.

Data: scikit-learn's 8x8 digits (1797 × 64, 10 classes), a stratified 80/20 split. Model: MLP 64-H-H-10,
Adam (lr 1e-3), minibatches of 64, 3 epochs. K members mix L2 (loss term), L1 (proximal) and dropout
strengths, each with its own seed.

- sequential_s: a lean PyTorch loop per trial (tensors indexed per batch, no DataLoader, torch.optim.Adam;
  as the engine's history: the running mean of the minibatches' loss and accuracy, the validation rows
  scored after each epoch, the training rows once at the end), timed on a sample
  of members and scaled to K, with the faster of 1 and 2 threads; the comment line below it also gives
  reglab's own sequential strategy (``run_job`` per trial), timed the same way;
- engine_s: ``run_batched`` on all K jobs, end to end (preprocessing, training, per-epoch history, final
  metrics), in a fresh process whose peak resident memory is measured, with the faster of 1 and 2
  threads (on a shared machine two OpenMP threads can be much slower than one);
- peak_fraction: the engine's achieved matmul rate — every product it computes: the training steps'
  forward and backward passes (3 × the forward FLOPs) and the evaluation passes (forward only: the
  validation rows after every epoch, training and validation rows once at the end), which the baseline
  computes too — over the best rate of one large
  ``torch.mm`` with 2 threads measured in the same run (before each case); the comment lines below it
  give the training passes' share alone, and the arithmetic floor: the seconds all these matmuls take at
  that rate, hence the largest speedup any engine could reach against the baseline; a last comment line
  times the same K trials with the MLP written as a user's module (``TunableMLP``), so through a
  torch.func stack instead of the MLP stack, the same way (``--no-func`` skips it).

The step's rows (``--step-only`` runs them alone): ``sweep flat`` is the engine's seconds at K = 64 over
K = 8 (a user's module through a torch.func stack; goal <= 2.5), ``sweep k1`` one model through
``run_job`` against the lean loop (goal <= 1.1).

Further rows time ``torch.func`` stacks against ``run_job`` one by one on one thread: a user's residual
MLP and reglab's CNN (penalties only), and, with dropout and batch norm, a user's MLP (K = 64) and reglab's
CNN (K = 32), each with the noise's share of the engine's time.

Run: ``python bench/sweep.py`` (``--hidden 64 256 --members 64 --sample 8`` to choose cases;
``--noise-only --noise-members 8 6 --noise-epochs 1`` for a short run of the dropout and batch-norm rows).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reglab.data import load
from reglab.data.splits import holdout_split
from reglab.engine import Job, run_batched, run_job
from reglab.engine.host import load_note, prepare_process
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.regularizers.dropout import Dropout
from reglab.regularizers.penalties import soft_threshold
from reglab.training import FitConfig
from reglab.trial import TrialConfig, prepare

EPOCHS, BATCH, LR = 3, 64, 1e-3
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def methods(members: int) -> list[dict]:
    """A third each of L2, proximal L1 and dropout, strengths spread over their grids."""
    third = -(-members // 3)
    l2 = [{"l2": float(s)} for s in np.logspace(-5, -1, third)]
    l1 = [{"l1": float(s)} for s in np.logspace(-6, -2, third)]
    dropout = [{"dropout": float(p)} for p in np.linspace(0.05, 0.7, third)]
    return [m for triple in zip(l2, l1, dropout) for m in triple][:members]


def split():
    dataset = load("digits")
    train_idx, eval_idx = holdout_split(dataset.y, 0.2, 0, True)
    return dataset, train_idx, eval_idx


class TunableMLP(nn.Module):
    """reglab's MLP 64-H-H-10 as a user writes it, a tunable dropout after each hidden layer: trials of it
    train through a torch.func stack."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for n_in in (64, hidden):
            layers += [nn.Linear(n_in, hidden), nn.ReLU(), Dropout()]
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, 10))

    def forward(self, x):
        return self.layers(x)


def jobs(hidden: int, members: int, func: bool = False) -> tuple:
    """The dataset and K trial jobs on one split; with ``func`` the MLP is a user's module (``TunableMLP``)."""
    from functools import partial

    from reglab.custom_model import CustomModel

    dataset, train_idx, eval_idx = split()
    model = CustomModel.of(partial(TunableMLP, hidden)) if func else ModelSpec("mlp", (hidden, hidden))
    return dataset, [
        Job(
            i,
            TrialConfig(
                Regularization(**m), model, FitConfig(optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH, seed=i)
            ),
            train_idx,
            eval_idx,
        )
        for i, m in enumerate(methods(members))
    ]


def lean_trial(train, val, hidden: int, method: dict, seed: int) -> float:
    """One trial as plain PyTorch: returns the final validation accuracy."""
    (X, y), (Xv, yv) = train, val
    torch.manual_seed(seed)
    p = method.get("dropout", 0.0)
    noise = (lambda: [Dropout(p, torch.Generator(DEVICE).manual_seed(seed + 1))]) if p else (lambda: [])
    model = nn.Sequential(
        nn.Linear(X.shape[1], hidden),
        nn.ReLU(),
        *noise(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        *noise(),
        nn.Linear(hidden, 10),
    ).to(DEVICE)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order_generator = torch.Generator().manual_seed(seed)
    l1, l2 = method.get("l1", 0.0), method.get("l2", 0.0)
    history = []
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(len(X), generator=order_generator)
        running = torch.zeros(2, dtype=torch.float64, device=DEVICE)  # Σ rows · loss, Σ hits
        for start in range(0, len(X), BATCH):
            index = order[start : start + BATCH]
            output = model(X[index])
            loss = F.cross_entropy(output, y[index])
            running += torch.stack([loss.detach() * len(index), (output.argmax(1) == y[index]).sum()])
            if l2:
                loss = loss + sum(0.5 * l2 * w.pow(2).sum() for w in weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if l1:
                with torch.no_grad():
                    for w in weights:
                        state = optimizer.state[w]
                        correction = 1 - 0.999 ** float(state["step"])
                        step = LR / ((state["exp_avg_sq"] / correction).sqrt() + 1e-8)
                        w.copy_(soft_threshold(w, step * l1))
        model.eval()
        with torch.no_grad():  # the epoch's record: the running train loss and accuracy, the validation scores
            out = model(Xv)
            history.append(
                (
                    *(running / len(X)).tolist(),
                    F.cross_entropy(out, yv).item(),
                    (out.argmax(1) == yv).double().mean().item(),
                )
            )
    with torch.no_grad():  # the final scores: training and validation rows
        final = [
            (F.cross_entropy(out, t).item(), (out.argmax(1) == t).double().mean().item())
            for out, t in ((model(X), y), (model(Xv), yv))
        ]
    return final[1][1]  # .item() synchronizes a GPU, so the time is the trial's


def sequential_seconds(hidden: int, members: int, sample: int) -> tuple[float, int]:
    """Seconds for K trials, from a timed sample of them; (seconds, threads) with the faster thread count."""
    dataset, train_idx, eval_idx = split()
    train, val = [
        (torch.from_numpy(X).to(DEVICE), torch.from_numpy(y).to(DEVICE))
        for X, y in prepare(dataset, train_idx, eval_idx)
    ]
    chosen = methods(members)[:sample]
    best = (float("inf"), 0)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        lean_trial(train, val, hidden, chosen[0], 0)  # warm-up
        start = time.perf_counter()
        for seed, method in enumerate(chosen):
            lean_trial(train, val, hidden, method, seed)
        best = min(best, ((time.perf_counter() - start) / len(chosen) * members, threads))
    return best


def run_job_seconds(hidden: int, members: int, sample: int) -> float:
    """Seconds for K trials through ``run_job`` (which runs a trial on one thread), from a timed sample."""
    dataset, batch = jobs(hidden, sample)
    start = time.perf_counter()
    for job in batch:
        run_job(dataset, job)
    return (time.perf_counter() - start) / sample * members


def engine_case(hidden: int, members: int, threads: int, func: int) -> dict:
    """Runs in a fresh process: engine seconds, the modelled peak memory of its largest stack, and the
    measured one (CUDA: torch.cuda.max_memory_allocated; CPU: peak resident memory above the resident
    memory before, the peak counter reset through /proc/self/clear_refs)."""
    torch.set_num_threads(threads)
    dataset, batch = jobs(hidden, members, bool(func))
    resident = _reset_peak_rss()
    results = {}
    start = time.perf_counter()
    reports = run_batched(dataset, batch, lambda job, result: results.__setitem__(job.tag, result))
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert all(r.status == "completed" for r in results.values()) and len(results) == members
    cuda = DEVICE.type == "cuda"
    measured = max((r.measured_bytes for r in reports), default=0) if cuda else _status("VmHWM") - resident
    return {
        "seconds": seconds,
        "threads": threads,
        "estimated": max((r.estimated_bytes for r in reports), default=0),  # torch.func stacks report none
        "measured": measured,
        "stacks": [r.members for r in reports] or [results[0].ran],
    }


def _reset_peak_rss() -> int:
    """Resets the peak resident set size of this process; returns the resident set size now (bytes)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status("VmRSS")


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def engine_seconds(hidden: int, members: int, func: bool = False) -> dict:
    """The faster of 1 and 2 threads, each in a fresh process; ``func``: the MLP as a user's module."""
    runs = []
    for threads in (1, 2):
        command = [sys.executable, __file__, "--engine-case", str(hidden), str(members), str(threads), str(int(func))]
        runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    return min(runs, key=lambda run: run["seconds"])


def matmul_rate() -> float:
    """FLOP/s of one large float32 product with 2 threads (best of 5)."""
    size = 8192 if DEVICE.type == "cuda" else 2048
    torch.set_num_threads(2)
    a, b = torch.randn(size, size, device=DEVICE), torch.randn(size, size, device=DEVICE)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(5))
    return 2 * size**3 / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def forward_flops(hidden: int, members: int) -> tuple[float, float]:
    """Forward matmul FLOPs of all training steps, and of the evaluation passes: the validation rows after
    every epoch, the training and validation rows once at the end."""
    dataset, train_idx, eval_idx = split()
    per_sample = 2 * (dataset.n_features * hidden + hidden * hidden + hidden * dataset.n_outputs)
    evaluated = len(eval_idx) * EPOCHS + len(train_idx) + len(eval_idx)
    return per_sample * len(train_idx) * EPOCHS * members, per_sample * evaluated * members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--members", type=int, nargs="+", default=None)
    parser.add_argument("--sample", type=int, default=8, help="trials timed for the sequential baseline")
    parser.add_argument("--engine-case", type=int, nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--no-func", action="store_true", help="skip the MLP as a user's module (torch.func)")
    parser.add_argument("--noise-only", action="store_true", help="only the rows with dropout and batch norm")
    parser.add_argument("--noise-members", type=int, nargs=2, default=[64, 32], help="K of those two rows")
    parser.add_argument("--noise-epochs", type=int, default=EPOCHS, help="epochs of those two rows")
    parser.add_argument("--step-only", action="store_true", help="only the step's rows: flat in K, and K = 1")
    args = parser.parse_args()
    if args.engine_case:
        print(json.dumps(engine_case(*args.engine_case)))
        return
    print(load_note(), flush=True)
    users, cnns = args.noise_members
    if args.noise_only:
        noise_rows(users, cnns, args.noise_epochs, args.sample)
        return
    if args.step_only:
        step_rows()
        return
    members = args.members or ([64, 256, 1024] if torch.cuda.is_available() else [64])
    peak = matmul_rate()
    print(
        f"# torch {torch.__version__} on {DEVICE.type}, large torch.mm: {peak / 1e9:.1f} GFLOP/s with 2 threads; "
        f"sequential timed on {args.sample} trials and scaled to K"
    )
    for k in members:
        for hidden in args.hidden:
            peak = max(peak, matmul_rate())  # the best rate seen: a shared machine only ever lowers it
            engine = engine_seconds(hidden, k)
            sequential, threads = sequential_seconds(hidden, k, min(args.sample, k))
            strategy = run_job_seconds(hidden, k, min(args.sample, k))
            train, evaluation = forward_flops(hidden, k)
            fraction = (3 * train + evaluation) / engine["seconds"] / peak
            print(
                f"sweep K={k} H={hidden} sequential_s={sequential:.2f} engine_s={engine['seconds']:.2f} "
                f"speedup={sequential / engine['seconds']:.1f} peak_fraction={fraction:.2f}"
            )
            floor = (3 * train + evaluation) / peak
            print(
                f"#   arithmetic floor: the engine's matmuls (training and evaluation passes) at torch.mm's rate take "
                f"{floor:.2f} s, so no engine can beat speedup={sequential / floor:.1f} against this baseline"
            )
            print(
                f"#   run_job sequential_s={strategy:.2f} (speedup {strategy / engine['seconds']:.1f}); "
                f"threads: engine {engine['threads']}, sequential {threads}; stacks {engine['stacks']}; "
                f"training passes alone peak_fraction={3 * train / engine['seconds'] / peak:.2f} "
                f"(torch.mm {peak / 1e9:.0f} GFLOP/s); "
                f"memory: largest stack modelled {engine['estimated'] / 2**20:.0f} MiB, engine peak measured "
                f"{engine['measured'] / 2**20:.0f} MiB"
            )
            if not args.no_func:
                func = engine_seconds(hidden, k, func=True)
                print(
                    f"#   the MLP as a user's module, through a torch.func stack: engine_s={func['seconds']:.2f} "
                    f"(threads {func['threads']}; stacks {func['stacks']}) against the MLP stack's "
                    f"{engine['seconds']:.2f}: ratio={func['seconds'] / engine['seconds']:.2f}",
                    flush=True,
                )
    step_rows()
    user_module_row(members=64, hidden=64, sample=min(args.sample, 64))
    cnn_row(members=32, sample=min(args.sample, 32))
    noise_rows(users, cnns, args.noise_epochs, args.sample)


class ResidualMLP(nn.Module):
    """A hand-written residual MLP: x → Linear → ReLU → (+ Linear → ReLU) → Linear."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.stem, self.block, self.head = nn.Linear(64, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 10)

    def forward(self, x):
        h = F.relu(self.stem(x))
        return self.head(h + F.relu(self.block(h)))


def user_module_row(members: int, hidden: int, sample: int) -> None:
    """K trials of a user's own module (L2 and proximal L1 strengths; no dropout, which a user's module
    does not stack yet) on the digits."""
    from functools import partial

    from reglab.custom_model import CustomModel

    dataset, train_idx, eval_idx = split()
    batch = strength_jobs(CustomModel.of(partial(ResidualMLP, hidden)), members, train_idx, eval_idx)
    stacked_row(f"user-module K={members} H={hidden}", dataset, batch, sample)


def step_rows() -> None:
    """The step's own cost, 1 thread, 3 epochs: the engine's seconds for K = 64 over K = 8 of a user's
    residual MLP (H = 64, a torch.func stack; a step whose cost is its arithmetic is nearly flat in K
    while that arithmetic is small), and one MLP 64-256-256-10 without regularization through ``run_job``
    against ``lean_trial`` on the same rows (both with the same history), best of 3 each."""
    from functools import partial

    from reglab.custom_model import CustomModel

    torch.set_num_threads(1)
    dataset, train_idx, eval_idx = split()
    model = CustomModel.of(partial(ResidualMLP, 64))
    batched_seconds(dataset, strength_jobs(model, 8, train_idx, eval_idx))  # warm-up
    k8, k64 = (
        min(batched_seconds(dataset, strength_jobs(model, k, train_idx, eval_idx)) for _ in range(3)) for k in (8, 64)
    )
    print(f"sweep flat H=64 k8_s={k8:.2f} k64_s={k64:.2f} ratio={k64 / k8:.2f}  # goal <= 2.5", flush=True)
    train, val = [
        (torch.from_numpy(X).to(DEVICE), torch.from_numpy(y).to(DEVICE))
        for X, y in prepare(dataset, train_idx, eval_idx)
    ]
    config = FitConfig(optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH, seed=0)
    one = Job(0, TrialConfig(Regularization(), ModelSpec("mlp", (256, 256)), config), train_idx, eval_idx)
    lean = min(_timed(lambda: lean_trial(train, val, 256, {}, 0)) for _ in range(3))
    reglab = min(_timed(lambda: run_job(dataset, one)) for _ in range(3))
    print(
        f"sweep k1 H=256 lean_s={lean:.2f} reglab_s={reglab:.2f} ratio={reglab / lean:.2f}  # goal <= 1.1; "
        "reglab: run_job, the plain loop that reglab.fit runs",
        flush=True,
    )


def cnn_row(members: int, sample: int) -> None:
    """K trials of reglab's CNN (channels 16-32, dense 64) on the digits as 1x8x8 images."""
    dataset = load("digits-images")
    train_idx, eval_idx = holdout_split(dataset.y, 0.2, 0, True)
    stacked_row(f"cnn K={members}", dataset, strength_jobs(ModelSpec("cnn"), members, train_idx, eval_idx), sample)


def strength_jobs(model, members: int, train_idx, eval_idx) -> list[Job]:
    """K jobs of ``model``, a half each of L2 and proximal L1 over their strengths, each with its own seed."""
    specs = [m for m in methods(3 * members) if "dropout" not in m][:members]
    config = FitConfig(optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH)
    return [
        Job(i, TrialConfig(Regularization(**m), model, replace(config, seed=i)), train_idx, eval_idx)
        for i, m in enumerate(specs)
    ]


def stacked_row(label: str, dataset, batch: list[Job], sample: int) -> float:
    """``run_batched`` (a torch.func stack) against ``run_job`` one by one (timed on a sample, scaled to K),
    both on one thread; returns the engine's seconds."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    for job in batch[:sample]:
        run_job(dataset, job)
    sequential = (time.perf_counter() - start) / sample * len(batch)
    engine = batched_seconds(dataset, batch)
    print(
        f"sweep {label} run_job_s={sequential:.2f} engine_s={engine:.2f} speedup={sequential / engine:.1f}"
        "  # torch.func stack against reglab's own one-by-one loop, 1 thread"
    )
    return engine


def batched_seconds(dataset, batch: list[Job]) -> float:
    """Seconds of ``run_batched`` on the jobs; every one must have stacked."""
    ran = []
    start = time.perf_counter()
    run_batched(dataset, batch, lambda job, result: ran.append(result.ran))
    seconds = time.perf_counter() - start
    assert all(how.startswith("stacked") for how in ran), set(ran)
    return seconds


class NormDropoutMLP(nn.Module):
    """A user's MLP 64-H-H-10 with batch norm and a tunable dropout after each hidden layer."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for n_in in (64, hidden):
            layers += [nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), Dropout()]
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, 10))

    def forward(self, x):
        return self.layers(x)


def noise_rows(users: int, cnns: int, epochs: int, sample: int) -> None:
    """A user's module with ``reglab.Dropout()`` and ``nn.BatchNorm1d`` (K = ``users``, digits) and reglab's
    CNN with batch norm and dropout (K = ``cnns``, digits as images), each against ``run_job`` one by one,
    and the noise's share of the engine's time: 1 − (the same stack with every dropout rate 0, which draws
    no noise) / (the stack with its rates); negative when the difference is within the timing noise."""
    from reglab.custom_model import CustomModel

    for label, name, model, batchnorm, k in (
        (f"user-module+dropout+batchnorm K={users} H=64", "digits", CustomModel.of(NormDropoutMLP), False, users),
        (f"cnn+batchnorm+dropout K={cnns}", "digits-images", ModelSpec("cnn"), True, cnns),
    ):
        dataset = load(name)
        noisy = noise_jobs(dataset, model, batchnorm, k, epochs, True)
        run_job(dataset, noisy[0])  # warm-up: the first trial of a process imports and allocates
        engine = min(stacked_row(label, dataset, noisy, min(sample, k)), batched_seconds(dataset, noisy))
        quiet_jobs = noise_jobs(dataset, model, batchnorm, k, epochs, False)
        quiet = min(batched_seconds(dataset, quiet_jobs) for _ in range(2))
        print(
            f"#   noise share: engine_s={engine:.2f} with dropout, {quiet:.2f} with every rate 0 (no noise drawn), "
            f"best of 2 each: {1 - quiet / engine:.0%} of the engine's time"
        )


def noise_jobs(dataset, model, batchnorm: bool, members: int, epochs: int, noisy: bool) -> list[Job]:
    """K jobs of ``model`` on one split, dropout rates spread over [0.05, 0.7] (0 when not ``noisy``), L2
    1e-4 on every other member, each with its own seed."""
    train_idx, eval_idx = holdout_split(dataset.y, 0.2, 0, True)
    config = FitConfig(optimizer="adam", lr=LR, epochs=epochs, batch_size=BATCH)
    rates = np.linspace(0.05, 0.7, members) if noisy else np.zeros(members)
    return [
        Job(
            i,
            TrialConfig(
                Regularization(dropout=float(p), l2=1e-4 * (i % 2), batchnorm=batchnorm), model, replace(config, seed=i)
            ),
            train_idx,
            eval_idx,
        )
        for i, p in enumerate(rates)
    ]


if __name__ == "__main__":
    prepare_process()  # as the reglab command does (garbage collection, malloc): every contestant gains
    main()
