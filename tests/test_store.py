import hashlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reglab.store import SCHEMA_VERSION, Store, StoreError

WRITER = Path(__file__).with_name("store_writer.py")
SETTINGS = {"dataset": "digits", "epochs": 20, "methods": ["l1", "l2"], "fit": {"lr": 0.01, "batch": 64}}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@pytest.fixture
def store(path: Path):
    with Store(path) as db:
        yield db


def record(db: Store, study_id: int, key: str, **overrides):
    args = dict(
        method="l2",
        stage="cv",
        fold=0,
        seed=0,
        config={"l2": 1e-3},
        status="completed",
        metrics={"eval_loss": 0.5},
        seconds=1.5,
        history=[{"loss": 1.0}, {"loss": 0.5}],
    )
    args.update(overrides)
    return db.record_trial(study_id, key, **args)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_survives_reopening(path: Path) -> None:
    metrics = {"eval_loss": float("nan"), "train_loss": float("inf"), "low": -math.inf, "r2": np.float32(0.25)}
    history = [{"epoch": 0, "loss": 2.0}, {"epoch": 1, "loss": float("nan")}, {"epoch": 2, "loss": float("inf")}]
    with Store(path) as db:
        study = db.start_study("digits", SETTINGS, resume=False)
        first = record(
            db, study.id, "l2|l2=0.001|cv|fold=2|seed=0", fold=2, status="diverged", metrics=metrics, history=history
        )
        second = record(
            db,
            study.id,
            "l1|test|seed=3",
            method="l1",
            stage="test",
            fold=None,
            seed=3,
            status="failed",
            error="ValueError: boom",
            history=[],
        )
        db.finish_study(study.id, {"best": "l2", "interval": [0.1, float("nan")]})
    with Store(path) as db:
        (stored,) = db.studies()
        assert db.study("digits") == stored
        assert (stored.id, stored.name, stored.settings, stored.status) == (study.id, "digits", SETTINGS, "finished")
        assert stored.created <= stored.finished
        assert stored.summary["best"] == "l2" and math.isnan(stored.summary["interval"][1])
        trials = db.trials(study.id)
        assert trials == [first, second]
        a, b = trials
        assert (a.key, a.method, a.stage, a.fold, a.seed, a.status, a.seconds, a.error) == (
            "l2|l2=0.001|cv|fold=2|seed=0",
            "l2",
            "cv",
            2,
            0,
            "diverged",
            1.5,
            None,
        )
        assert a.config == {"l2": 1e-3}
        assert math.isnan(a.metrics["eval_loss"]) and a.metrics["train_loss"] == math.inf
        assert a.metrics["low"] == -math.inf and a.metrics["r2"] == 0.25
        assert (b.stage, b.fold, b.seed, b.status, b.error) == ("test", None, 3, "failed", "ValueError: boom")
        got = db.history(a.id)
        assert [h["epoch"] for h in got] == [0, 1, 2]
        assert got[0]["loss"] == 2.0 and math.isnan(got[1]["loss"]) and got[2]["loss"] == math.inf
        assert db.history(b.id) == []


def test_rerecording_a_key_keeps_the_first(store: Store) -> None:
    study = store.start_study("s", {}, resume=False)
    first = record(store, study.id, "k", metrics={"eval_loss": 1.0}, history=[{"loss": 1.0}])
    again = record(store, study.id, "k", metrics={"eval_loss": 9.0}, history=[{"loss": 9.0}, {"loss": 8.0}])
    assert again == first
    assert store.trials(study.id) == [first]
    assert store.history(first.id) == [{"loss": 1.0}]


def test_finished_keys_are_per_study_and_any_status(store: Store) -> None:
    a = store.start_study("a", {}, resume=False)
    b = store.start_study("b", {}, resume=False)
    record(store, a.id, "ok")
    record(store, a.id, "nan", status="diverged")
    record(store, a.id, "err", status="failed", error="boom")
    record(store, b.id, "other")
    assert store.finished_keys(a.id) == {"ok", "nan", "err"}
    assert store.finished_keys(b.id) == {"other"}
    assert [t.key for t in store.trials(b.id)] == ["other"]


def test_resume_semantics(store: Store, path: Path) -> None:
    study = store.start_study("s", SETTINGS, resume=False)
    assert study.status == "running" and study.finished is None and study.summary is None
    assert store.start_study("s", dict(SETTINGS), resume=True) == study
    with pytest.raises(
        StoreError,
        match=f"study 's' already exists in {path}: pass resume=True to continue it or choose another name=NAME",
    ):
        store.start_study("s", SETTINGS, resume=False)
    changed = {**SETTINGS, "epochs": 30, "fit": {"lr": 0.1, "batch": 64}}
    with pytest.raises(
        StoreError,
        match=r"other settings: epochs \(stored 20, given 30\); fit.lr \(stored 0.01, "
        r"given 0.1\); resume with the same settings",
    ):
        store.start_study("s", changed, resume=True)
    assert store.start_study("new", SETTINGS, resume=True).id != study.id


def test_missing_study_lists_known_names(store: Store) -> None:
    with pytest.raises(StoreError, match=r"no study 'x' in .* \(it has no studies\)"):
        store.study("x")
    store.start_study("b", {}, resume=False)
    store.start_study("a", {}, resume=False)
    with pytest.raises(StoreError, match=r"no study 'x' in .* \(known studies: b, a\)"):
        store.study("x")
    with pytest.raises(StoreError, match="no study with id 99"):
        record(store, 99, "k")


def test_bad_arguments_write_nothing(store: Store) -> None:
    study = store.start_study("s", {}, resume=False)
    with pytest.raises(ValueError, match="stage"):
        record(store, study.id, "k", stage="train")
    with pytest.raises(ValueError, match="status"):
        record(store, study.id, "k", status="done")
    with pytest.raises(TypeError, match="cannot store a value of type object"):
        record(store, study.id, "k", history=[{"loss": object()}])
    assert store.trials(study.id) == []
    assert record(store, study.id, "k").key == "k"


def test_not_sqlite_file_is_refused_untouched(path: Path) -> None:
    path.write_bytes(b"epoch,loss\n0,1.0\n" * 100)
    before = digest(path)
    with pytest.raises(StoreError, match="is not a reglab store"):
        Store(path)
    assert digest(path) == before


def test_foreign_sqlite_database_is_refused_untouched(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE experiments (x)")
    before = digest(path)
    with pytest.raises(StoreError, match=r"SQLite database but not a reglab store \(tables: experiments\)"):
        Store(path)
    assert digest(path) == before


def test_other_schema_version_is_refused(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} but this reglab reads version"):
        Store(path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory .*nowhere does not exist"):
        Store(tmp_path / "nowhere" / "runs.db")
    assert not (tmp_path / "nowhere").exists()


def test_file_is_in_wal_mode(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_switch_to_wal_yields_to_a_committing_writer(path: Path) -> None:
    """A new store's switch to WAL races another process's first commit; neither may wait out its timeout."""
    store = Store(path)
    store._conn.execute("PRAGMA journal_mode = DELETE")  # as a new file is before its switch
    other = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta VALUES ('other', 'writer')")
    committed = []
    thread = threading.Thread(target=lambda: (time.sleep(0.2), other.execute("COMMIT"), committed.append(True)))
    start = time.monotonic()
    thread.start()
    store._use_wal()  # holds a shared lock while it waits for the exclusive one
    thread.join()
    assert committed and time.monotonic() - start < 2.0
    assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    other.close()


def test_store_module_does_not_import_torch() -> None:
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('s', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); sys.modules['s'] = m; spec.loader.exec_module(m); "
        "sys.exit('torch' in sys.modules)"
    )
    module = Path(__file__).parents[1] / "reglab" / "store.py"
    assert subprocess.run([sys.executable, "-c", code, str(module)]).returncode == 0


def writer(path: Path, prefix: str, count: int, shared: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), "s", prefix, str(count), str(shared)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_complete(db: Store, study_id: int) -> list[str]:
    """Every stored trial has its full history; returns the stored keys."""
    trials = db.trials(study_id)
    for trial in trials:
        history = db.history(trial.id)
        assert len(history) == trial.metrics["epochs"], trial.key
        assert [h["epoch"] for h in history] == list(range(len(history)))
        assert {h["key"] for h in history} == {trial.key}
    return [t.key for t in trials]


def test_sigkill_loses_only_the_trial_in_flight(path: Path) -> None:
    printed = []
    for round_ in range(12):  # each round kills a little later, so the kills land at different moments of a write
        proc = writer(path, f"r{round_}-", 10**6, 0)
        printed += [proc.stdout.readline().strip() for _ in range(5)]
        time.sleep(round_ * 0.0004)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with Store(path) as db:
            keys = assert_complete(db, db.study("s").id)
        assert set(printed) <= set(keys)
    assert len(set(printed)) == 60


def test_concurrent_writers_lose_nothing(path: Path) -> None:
    procs = [writer(path, prefix, 100, 20) for prefix in ("a", "b")]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert len(out.split()) == 120
    with Store(path) as db:
        keys = assert_complete(db, db.study("s").id)
    expected = {f"{p}{i}" for p in "ab" for i in range(100)} | {f"shared{i}" for i in range(20)}
    assert sorted(keys) == sorted(expected)


@pytest.mark.parametrize(
    "table, column, text, says",
    [
        ("studies", "settings", "{bad", "the settings of study 's' is not JSON"),
        ("trials", "metrics", "[]", "the metrics of trial 'k' is not a JSON object"),
    ],
)
def test_a_row_changed_behind_the_store_is_a_store_error(path: Path, table, column, text, says) -> None:
    with Store(path) as db:
        record(db, db.start_study("s", {}, resume=False).id, "k")
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {table} SET {column} = ?", (text,))
    with Store(path) as db, pytest.raises(StoreError, match=f"the store is damaged: {says}.*restore it from a backup"):
        db.trials(db.study("s").id)
