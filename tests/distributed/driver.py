"""A study driver that stops committing: it runs a study on a Dask scheduler and, once COUNT trials are
committed, prints ``stalled`` and sleeps until it is killed (used by test_distributed).

Usage: driver.py SCHEDULER STORE STUDY COUNT SETTINGS_JSON
"""

import json
import sys
import time

from reglab.engine.distributed import DaskExecutor
from reglab.store import Store
from reglab.study.runner import run_study
from reglab.study.settings import StudySettings


def main(scheduler: str, path: str, name: str, count: int, settings: dict) -> None:
    def progress(finished: int, total: int) -> None:
        print(finished, flush=True)
        if finished >= count:
            print("stalled", flush=True)
            time.sleep(3600)

    with Store(path) as store, DaskExecutor(scheduler=scheduler) as execute:
        run_study(StudySettings.from_dict(settings), store, name, progress=progress, execute=execute)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]))
