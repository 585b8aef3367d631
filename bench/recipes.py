"""The modern-recipe methods stacked: K trials of a user's residual network (batch norm and
``reglab.DropPath()`` on its branches, the model of ``examples/residual.py``) on the digits, trained as one
torch.func stack against the same trials one after another through ``run_job`` (timed on a sample, scaled to
K), both on one thread. Rows: label smoothing, mixup and drop path together
(strengths spread over their grids), EMA and SWA, and SAM (two passes a step, a stack of its own);
each prints the stack's seconds against one by one, and ``stack_per_trial_ms``, the stack's cost per trial.

Run: .venv/bin/python bench/recipes.py  (``--members 32 --sample 4 --epochs 3``)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from reglab.custom_model import CustomModel
from reglab.data import load
from reglab.data.splits import holdout_split
from reglab.engine import Job, run_batched, run_job
from reglab.methods import Regularization
from reglab.training import FitConfig
from reglab.trial import TrialConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from residual import build  # noqa: E402

ROWS = {  # row -> the specs its members cycle through
    "soft targets + drop path": [
        "label-smoothing=0.05",
        "label-smoothing=0.2",
        "mixup=0.2",
        "mixup=0.8",
        "drop-path=0.1",
        "drop-path=0.3",
        "mixup=0.4+label-smoothing=0.1",
        "none",
    ],
    "ema + swa": ["ema=0.9", "ema=0.99", "ema=0.999", "swa=0.5", "swa=0.75"],
    "sam": ["sam=0.01", "sam=0.05", "sam=0.2", "sam=0.5+sam-adaptive"],
}


def jobs(specs: list[str], members: int, epochs: int) -> tuple:
    dataset = load("digits")
    train_idx, eval_idx = holdout_split(dataset.y, 0.2, 0, True)
    with torch.random.fork_rng(devices=[]):
        model = CustomModel.of(lambda: build(width=64))
    return dataset, [
        Job(
            i,
            TrialConfig(
                Regularization.parse(specs[i % len(specs)]),
                model,
                FitConfig(optimizer="adam", lr=1e-3, epochs=epochs, batch_size=64, seed=i),
            ),
            train_idx,
            eval_idx,
        )
        for i in range(members)
    ]


def row(label: str, specs: list[str], members: int, sample: int, epochs: int) -> None:
    dataset, batch = jobs(specs, members, epochs)
    start = time.perf_counter()
    for job in batch[:sample]:
        run_job(dataset, job)
    alone = (time.perf_counter() - start) / sample * members
    ran = []
    start = time.perf_counter()
    run_batched(dataset, batch, lambda job, result: ran.append(result.ran))
    stacked = time.perf_counter() - start
    assert all(how.startswith("stacked") for how in ran), set(ran)
    print(
        f"recipes {label} K={members} run_job_s={alone:.2f} engine_s={stacked:.2f} speedup={alone / stacked:.1f} "
        f"stack_per_trial_ms={stacked / members * 1e3:.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--sample", type=int, default=4, help="trials timed one by one, scaled to K")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min); 1 thread", flush=True)
    dataset, warm = jobs(["none"], 1, 1)
    run_job(dataset, warm[0])  # the process's first fit imports and sets up what later ones reuse
    for label, specs in ROWS.items():
        row(label, specs, args.members, args.sample, args.epochs)
    print(f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} after", flush=True)


if __name__ == "__main__":
    main()
