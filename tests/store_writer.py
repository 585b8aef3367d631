"""Records trials into a store in a loop, printing each key once it is committed (used by test_store).

Usage: store_writer.py PATH STUDY PREFIX COUNT SHARED — trials PREFIX0 … PREFIX{COUNT-1}, the first SHARED
of them each followed by a trial whose key ``shared{i}`` every writer uses. Trial ``i`` has ``3 + i % 5``
history rows and records that number in its metrics, so a reader can tell a partial history. The store
module is loaded by file path: it needs nothing of the package, and the writer starts without torch.
"""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("reglab_store", Path(__file__).parents[1] / "reglab" / "store.py")
store = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = store
spec.loader.exec_module(store)


def record(db, study_id: int, key: str, i: int) -> None:
    epochs = 3 + i % 5
    history = [{"epoch": e, "loss": 1.0 / (e + 1), "key": key} for e in range(epochs)]
    db.record_trial(study_id, key, "l2", "cv", i % 5, 0, {"l2": 1e-3}, "completed", {"epochs": epochs}, 0.0, history)
    print(key, flush=True)


def main(path: str, study: str, prefix: str, count: int, shared: int) -> None:
    with store.Store(path) as db:
        study_id = db.start_study(study, {"epochs": 5}, resume=True).id
        for i in range(count):
            record(db, study_id, f"{prefix}{i}", i)
            if i < shared:
                record(db, study_id, f"shared{i}", i)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
