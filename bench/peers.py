"""One study run by reglab and by what users pick instead, each with its λ converted to the same objective.

The study: digits, a stratified 75/25 split, MLP 64-128-128-10, Adam (lr 1e-3), minibatches of 64,
30 epochs, L2 over 8 strengths logspace(-5, -1), 5-fold CV, refit of the best on the training part,
test accuracy: 41 trainings. The objective everywhere is mean cross-entropy + (λ/2)‖W‖² on weights.

- reglab: ``run_study`` with the engine's ``auto`` strategy;
- scikit-learn: ``GridSearchCV(MLPClassifier(...), n_jobs=2)``; its penalty is alpha/(2·batch)‖W‖² per
  minibatch, so alpha = λ·64;
- torch: a hand-written loop with a DataLoader, the L2 term in the loss, 5-fold CV with scikit-learn's
  StratifiedKFold, then the refit;
- keras (torch backend), if it is installed: ``kernel_regularizer=l2(λ/2)``.

Each contestant runs in a fresh process, timed from after its library's import to the end of its study,
so that each bears its own one-time costs (scikit-learn starts worker processes; the first
``torch.optim`` optimizer of a process imports ``torch._dynamo``, ~0.7 s) and none bears another's.
Prints ``peer NAME wall_s=.. test_acc=..`` per tool and reglab's speed ratio to the fastest peer.
Run: python bench/peers.py
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reglab.data import load
from reglab.data.splits import holdout_split
from reglab.engine import run_jobs
from reglab.engine.host import load_note, prepare_process
from reglab.models import ModelSpec
from reglab.store import Store
from reglab.study import StudySettings, run_study

STRENGTHS = tuple(float(v) for v in np.logspace(-5, -1, 8))
HIDDEN, EPOCHS, BATCH, LR, FOLDS, SEED = (128, 128), 30, 64, 1e-3, 5, 0


def data():
    digits = load("digits")
    train, test = holdout_split(digits.y, 0.25, SEED, stratify=True)
    return digits, train, test


def peer_reglab() -> float:
    settings = StudySettings(
        data="digits",
        methods=("l2",),
        model=ModelSpec(kind="mlp", hidden=HIDDEN),
        epochs=EPOCHS,
        batch_size=BATCH,
        lr=LR,
        folds=FOLDS,
        seeds=1,
        test_size=0.25,
        grids={"l2": STRENGTHS},
        rule="min",
    )
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "peers.sqlite") as store:
        summary = run_study(settings, store, "peers", execute=partial(run_jobs, strategy="auto"))
    return summary.methods[0].test_metric.mean


def folds() -> StratifiedKFold:
    return StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)


def sklearn_search(scoring: str | None = None) -> GridSearchCV:
    """scikit-learn's own: GridSearchCV over MLPClassifier's alpha (λ·batch, its L2 in reglab's terms),
    a scaler in front, on 2 workers."""
    mlp = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        solver="adam",
        learning_rate_init=LR,
        batch_size=BATCH,
        max_iter=EPOCHS,
        tol=0.0,
        n_iter_no_change=EPOCHS + 1,
        random_state=SEED,
    )
    grid = {"mlpclassifier__alpha": [s * BATCH for s in STRENGTHS]}
    return GridSearchCV(make_pipeline(StandardScaler(), mlp), grid, cv=folds(), scoring=scoring, n_jobs=2)


def peer_sklearn() -> float:
    digits, train, test = data()
    search = sklearn_search(scoring="neg_log_loss")
    search.fit(digits.X[train], digits.y[train])
    return float((search.predict(digits.X[test]) == digits.y[test]).mean())


def torch_train(X, y, strength: float, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layers, width = [], X.shape[1]
    for h in HIDDEN:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=BATCH, shuffle=True)
    weights = [p for p in model.parameters() if p.dim() > 1]
    for _ in range(EPOCHS):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb) + strength / 2 * sum((w**2).sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def grid_search(train, logits) -> float:
    """5-fold CV over STRENGTHS (mean validation cross-entropy), refit of the best, test accuracy.

    ``train(X, y, strength)`` returns a model; ``logits(model, X)`` its outputs as a numpy array.
    """
    digits, rows, test = data()
    X, y = digits.X[rows], digits.y[rows]
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(X, y))
    losses = []
    for strength in STRENGTHS:
        fold_losses = []
        for a, b in folds:
            scaler = StandardScaler().fit(X[a])
            model = train(scaler.transform(X[a]).astype(np.float32), y[a], strength)
            scores = torch.as_tensor(logits(model, scaler.transform(X[b]).astype(np.float32)))
            fold_losses.append(float(nn.functional.cross_entropy(scores, torch.as_tensor(y[b]))))
        losses.append(np.mean(fold_losses))
    best = STRENGTHS[int(np.argmin(losses))]
    scaler = StandardScaler().fit(X)
    model = train(scaler.transform(X).astype(np.float32), y, best)
    predicted = logits(model, scaler.transform(digits.X[test]).astype(np.float32)).argmax(1)
    return float((predicted == digits.y[test]).mean())


def peer_torch() -> float:
    def logits(model: nn.Module, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(X)).numpy()

    return grid_search(lambda X, y, strength: torch_train(X, y, strength, SEED), logits)


def peer_keras() -> float:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    def train(X: np.ndarray, y: np.ndarray, strength: float):
        keras.utils.set_random_seed(SEED)
        reg = keras.regularizers.l2(strength / 2)
        model = keras.Sequential(
            [keras.Input((64,))]
            + [keras.layers.Dense(h, activation="relu", kernel_regularizer=reg) for h in HIDDEN]
            + [keras.layers.Dense(10, kernel_regularizer=reg)]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(LR), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(X, y, batch_size=BATCH, epochs=EPOCHS, verbose=0)
        return model

    return grid_search(train, lambda model, X: np.asarray(model.predict(X, verbose=0)))


PEERS = {"reglab": peer_reglab, "sklearn": peer_sklearn, "torch": peer_torch, "keras": peer_keras}


def timed(name: str) -> dict:
    """One contestant's study in this (fresh) process: its library imported before the clock starts; its
    one-time costs after that (scikit-learn starting worker processes, torch.optim importing
    torch._dynamo at its first optimizer) are its own."""
    if name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        importlib.import_module("keras")
    if name == "reglab":
        prepare_process()  # as the reglab command does
    start = time.perf_counter()
    accuracy = PEERS[name]()
    return {"wall": time.perf_counter() - start, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(timed(args.peer)))
        return
    names = [n for n in PEERS if n != "keras" or importlib.util.find_spec("keras") is not None]
    if "keras" not in names:
        print("peer keras skipped: not installed (pip install keras)")
    print(load_note(), flush=True)
    walls = {}
    for name in names:
        command = [sys.executable, __file__, "--peer", name]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        walls[name] = result["wall"]
        print(f"peer {name} wall_s={walls[name]:.1f} test_acc={result['accuracy']:.4f}", flush=True)
    fastest = min((w, n) for n, w in walls.items() if n != "reglab")
    print(f"reglab speedup over the fastest peer ({fastest[1]}) = {fastest[0] / walls['reglab']:.2f}x")


if __name__ == "__main__":
    main()
