"""The peers study tuned three ways through scikit-learn's door.

The study (as bench/peers.py): digits, a stratified 75/25 split, MLP 64-128-128-10, Adam (lr 1e-3),
minibatches of 64, 30 epochs, L2 over 8 strengths logspace(-5, -1), 5-fold stratified CV scored by
accuracy, the best strength refitted on the training part, test accuracy: 41 trainings each.

- sklearn-grid: ``GridSearchCV(StandardScaler + MLPClassifier, n_jobs=2)``, alpha = λ·64 (its penalty is
  alpha/(2·batch)‖W‖² per minibatch);
- reglab-grid: ``GridSearchCV(RegularizedNetClassifier, n_jobs=2)``: one fit at a time per worker (each
  fit on one intra-op thread, as the engine runs a trial);
- reglab-cv: ``RegularizationCV(RegularizedNetClassifier, rule="min")``: the 40 CV fits as stacks, on
  ``--threads`` intra-op threads (default 2, the two cores scikit-learn's two workers take; on a quiet
  machine 2 threads gave 4.5 s against 1 thread's 6.4 s; on cores shared with other work two threads wait
  for each other, and ``--threads 1`` is the fairer run).

Each runs in a fresh process, timed from after its imports to the end of its refit and test score (so
scikit-learn's worker processes are its own cost). Prints ``sklearn_cv NAME wall_s=.. test_acc=..`` per
row and RegularizationCV's speed ratio to scikit-learn's own.
Run: python bench/sklearn_cv.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from peers import BATCH, EPOCHS, HIDDEN, LR, SEED, STRENGTHS, data, folds, sklearn_search  # the same study
from sklearn.model_selection import GridSearchCV

from reglab.engine.host import load_note, prepare_process
from reglab.sklearn import RegularizationCV, RegularizedNetClassifier


def net() -> RegularizedNetClassifier:
    return RegularizedNetClassifier(
        HIDDEN, learning_rate=LR, batch_size=BATCH, epochs=EPOCHS, random_state=SEED, device="cpu"
    )


def sklearn_grid() -> GridSearchCV:
    return sklearn_search()


def reglab_grid() -> GridSearchCV:
    return GridSearchCV(net(), {"l2": list(STRENGTHS)}, cv=folds(), n_jobs=2)


def reglab_cv() -> RegularizationCV:
    return RegularizationCV(net(), {"l2": list(STRENGTHS)}, cv=folds(), rule="min")


CONTESTANTS = {"sklearn-grid": sklearn_grid, "reglab-grid": reglab_grid, "reglab-cv": reglab_cv}


def timed(name: str, threads: int) -> dict:
    """One contestant in this (fresh) process: search, refit and test accuracy, timed."""
    digits, train, test = data()
    if name.startswith("reglab"):
        prepare_process()  # as the reglab command does
        torch.set_num_threads(threads)
    start = time.perf_counter()
    search = CONTESTANTS[name]().fit(digits.X[train], digits.y[train])
    accuracy = float((search.predict(digits.X[test]) == digits.y[test]).mean())
    return {"wall": time.perf_counter() - start, "accuracy": accuracy, "chosen": str(search.best_params_)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contestant", choices=CONTESTANTS, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the reglab processes")
    args = parser.parse_args()
    if args.contestant:
        print(json.dumps(timed(args.contestant, args.threads)))
        return
    print(load_note(), flush=True)
    walls = {}
    for name in CONTESTANTS:
        command = [sys.executable, __file__, "--contestant", name, "--threads", str(args.threads)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        walls[name] = result["wall"]
        print(
            f"sklearn_cv {name} wall_s={result['wall']:.1f} test_acc={result['accuracy']:.4f} "
            f"chosen={result['chosen']}",
            flush=True,
        )
    speedup = walls["sklearn-grid"] / walls["reglab-cv"]
    print(f"RegularizationCV speedup over scikit-learn's GridSearchCV = {speedup:.2f}x")


if __name__ == "__main__":
    main()
