"""What the examples share: the ``--quick`` flag, where figures go, and small training budgets of the digits."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from reglab import load  # noqa: E402
from reglab.data.splits import Standardizer, holdout_split  # noqa: E402

torch.set_num_threads(1)  # small models: one thread is faster than two contending ones, as for a study's trials


def arguments(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (seconds) with the same steps")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNG (default: figures)")
    return parser.parse_args()


def save(figure: plt.Figure, out: Path, name: str) -> Path:
    """Write ``figure`` as ``out/name`` and close it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    print(f"figure: {path}")
    return path


def digits_budget(seed: int = 0, test_size: float = 0.85) -> tuple[tuple, tuple]:
    """The default study's problem: a stratified 15% of the digits to train on (about 270 rows), the rest to
    test; features standardized with the training rows' statistics."""
    data = load("digits")
    train, test = holdout_split(data.y, test_size, seed, stratify=True)
    scaler = Standardizer.fit(data.X[train])
    as_float = lambda rows: scaler.transform(data.X[rows]).astype(np.float32)  # noqa: E731
    return (as_float(train), data.y[train]), (as_float(test), data.y[test])


def print_comparison(summary: dict, paired: dict, name, digits: int) -> None:
    """Each setting's scores as mean [95% t-interval] (``summary``: setting → score → ``Interval``), then
    each other setting's paired difference from the first (``paired``: setting → score → ``Paired``);
    ``name(setting)`` labels a setting."""
    for setting, scores in summary.items():
        cells = "   ".join(
            f"{s} {v.mean:.{digits}f} [{v.low:.{digits}f}, {v.high:.{digits}f}]" for s, v in scores.items()
        )
        print(f"  {name(setting):<14} {cells}")
    first = name(next(iter(summary)))
    for setting, rows in paired.items():
        cells = "   ".join(
            f"{s} {p.mean_diff:+.{digits}f} [{p.low:+.{digits}f}, {p.high:+.{digits}f}]" for s, p in rows.items()
        )
        print(f"  {name(setting)} − {first}: {cells}")
