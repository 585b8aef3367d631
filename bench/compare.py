"""Wall time of the default `reglab compare` (the README's main job), measured end to end.

Run: python bench/compare.py [--repeat N] [extra reglab compare flags...]
Prints one line: `compare default wall_s=.. trials=.. per_trial_ms=..`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    args, extra = parser.parse_known_args()
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            store = Path(folder) / "bench.sqlite"
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "reglab", "compare", "--store", str(store), "--json", *extra],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            wall = time.perf_counter() - start
            trials = _count_trials(store)
        winner = json.loads(out)["winner"]
        print(
            f"compare default wall_s={wall:.1f} trials={trials} per_trial_ms={1000 * wall / trials:.0f} winner={winner}"
        )


def _count_trials(store: Path) -> int:
    import sqlite3

    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT COUNT(*) FROM trials").fetchone()[0]


if __name__ == "__main__":
    main()
