"""The results store: studies, their trials and each trial's per-epoch history, in one SQLite file.

Contracts:

- **Atomic trials.** :meth:`Store.record_trial` writes a trial and all of its history rows in one
  transaction, committed before it returns: after a crash or a kill a trial is either wholly stored or
  absent, so a run loses at most the trials in flight.
- **Durable commits.** The file is in WAL mode with ``synchronous=FULL``: a commit survives a killed
  process and also a power cut (``NORMAL`` could lose the last commits to a power cut). That is one
  fsync per trial, which is small beside training one.
- **Processes.** Several processes may open the same file and write at once: every write takes the write
  lock up front (``BEGIN IMMEDIATE``) and waits up to :data:`BUSY_TIMEOUT_S` for it; readers never wait
  for writers. WAL needs a local file system (not a network share).
- **Threads.** A :class:`Store` holds one connection and belongs to the thread that opened it; another
  thread or process opens its own :class:`Store` on the same path.
- **Idempotent trials.** A trial's key is unique within its study. Recording a key again keeps the first
  record and returns it, so a resumed or repeated run never stores a trial twice.
- **Plain values.** Settings, configs, metrics, summaries and history rows are stored as JSON. NaN and
  ±inf round-trip; numpy (or any ``tolist()``) values are stored as their Python equivalents; values
  come back as JSON gives them (tuples as lists, keys as strings).
- **Files.** A missing file is created with the schema; a missing parent directory is an error (a typo
  should not create directories). A file that is not a reglab store, or one with another schema
  version, raises :class:`StoreError` and is left untouched.

A study's status is ``"running"`` from :meth:`Store.start_study` until :meth:`Store.finish_study`
(a killed study stays ``"running"``; resuming does not change the status).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
STAGES = ("cv", "test")
TRIAL_STATUSES = ("completed", "diverged", "failed")

_TABLES = ("meta", "studies", "trials", "history")
_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished')),
    created REAL NOT NULL,
    finished REAL,
    summary TEXT
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    stage TEXT NOT NULL,
    fold INTEGER,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL,
    error TEXT,
    created REAL NOT NULL,
    UNIQUE (study_id, key)
);
CREATE TABLE history (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (trial_id, epoch)
) WITHOUT ROWID;
"""


class StoreError(ValueError):
    """What is wrong with the store file and what to do, in one line."""


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: its settings, status and, once finished, its summary."""

    id: int
    name: str
    settings: dict
    status: str  # "running" | "finished"
    created: float  # seconds since the epoch
    finished: float | None
    summary: dict | None


@dataclass(frozen=True)
class TrialRecord:
    """One trial's outcome as stored (its per-epoch history is read with :meth:`Store.history`)."""

    id: int
    study_id: int
    key: str  # unique within its study, e.g. "l2|l2=0.001|cv|fold=2|seed=0"
    method: str
    stage: str  # "cv" | "test"
    fold: int | None
    seed: int
    config: dict
    status: str  # "completed" | "diverged" | "failed"
    metrics: dict
    seconds: float
    error: str | None
    created: float


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True, default=_plain)


def _diff(stored: Any, given: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, with both values."""
    if isinstance(stored, dict) and isinstance(given, dict):
        return [
            d for k in sorted(stored.keys() | given.keys()) for d in _diff(stored.get(k), given.get(k), f"{prefix}{k}.")
        ]
    if _dumps(stored) == _dumps(given):
        return []
    return [f"{prefix.rstrip('.')} (stored {_dumps(stored)}, given {_dumps(given)})"]


def _object(text: str, what: str) -> dict:
    """A stored JSON object; anything else means the file was changed by something other than reglab."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as error:
        raise StoreError(
            f"the store is damaged: {what} is not JSON ({error}); restore it from a backup or choose another store=PATH"
        ) from None
    if not isinstance(value, dict):
        raise StoreError(
            f"the store is damaged: {what} is not a JSON object; restore it from a backup or choose another store=PATH"
        )
    return value


def _study(row: tuple) -> StudyRecord:
    id_, name, settings, status, created, finished, summary = row
    what = f"study '{name}'"
    return StudyRecord(
        id_,
        name,
        _object(settings, f"the settings of {what}"),
        status,
        created,
        finished,
        None if summary is None else _object(summary, f"the summary of {what}"),
    )


def _trial(row: tuple) -> TrialRecord:
    id_, study_id, key, method, stage, fold, seed, config, status, metrics, seconds, error, created = row
    return TrialRecord(
        id_,
        study_id,
        key,
        method,
        stage,
        fold,
        seed,
        _object(config, f"the config of trial '{key}'"),
        status,
        _object(metrics, f"the metrics of trial '{key}'"),
        seconds,
        error,
        created,
    )


_STUDY_COLUMNS = "id, name, settings, status, created, finished, summary"
_TRIAL_COLUMNS = "id, study_id, key, method, stage, fold, seed, config, status, metrics, seconds, error, created"


class Store:
    """An open results store; see the module docstring for its contracts.

    Example::

        with Store("runs.db") as store:
            study = store.start_study("digits", {"epochs": 20}, resume=True)
            done = store.finished_keys(study.id)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StoreError(
                f"cannot create store {self.path}: directory {self.path.parent} does not exist; "
                "create it or choose another store=PATH"
            )
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}; choose another store=PATH") from None
        try:
            self._open()
        except sqlite3.OperationalError as exc:
            self._conn.close()
            raise StoreError(f"cannot open store {self.path}: {exc}; choose another store=PATH") from None
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path} is not a reglab store ({exc}); choose another store=PATH") from None
        except StoreError:
            self._conn.close()
            raise

    def _open(self) -> None:
        """Create or check the schema, then switch to WAL (only once the file is known to be a reglab store)."""
        conn = self._conn
        conn.execute("PRAGMA foreign_keys = ON")
        with self._write():
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            }
            if tables:
                self._check(tables)
            else:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._use_wal()
        conn.execute("PRAGMA synchronous = FULL")

    def _use_wal(self) -> None:
        """Switch a new store to WAL, retrying briefly while another process holds its write lock.

        The switch needs the exclusive lock while this connection holds a shared one. If another process
        holds the write lock and waits for our shared lock to commit, SQLite refuses the switch at once
        ("database is locked", without waiting: either would wait for the other); short waits between
        tries release our shared lock, so the other commits first and the switch then goes through.
        """
        conn = self._conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        conn.execute("PRAGMA busy_timeout = 20")
        try:
            while True:
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT_S * 1000)}")

    def _check(self, tables: set[str]) -> None:
        version = None
        if "meta" in tables:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = row and row[0]
        if version is None:
            raise StoreError(
                f"{self.path} is an SQLite database but not a reglab store (tables: "
                f"{', '.join(sorted(tables))}); choose another store=PATH"
            )
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"store {self.path} has schema version {version} but this reglab reads version "
                f"{SCHEMA_VERSION}; use the reglab that wrote it or choose another store=PATH"
            )
        missing = set(_TABLES) - tables
        if missing:
            raise StoreError(
                f"store {self.path} is damaged (missing tables: {', '.join(sorted(missing))}); "
                "choose another store=PATH"
            )

    def _write(self) -> _Transaction:
        return _Transaction(self._conn)

    def close(self) -> None:
        """Close the connection (every write is already committed)."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_study(self, name: str, settings: dict, resume: bool) -> StudyRecord:
        """Create study ``name``, or with ``resume`` return the existing one (its settings must equal ``settings``)."""
        with self._write():
            row = self._conn.execute(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name = ?", (name,)).fetchone()
            if row is None:
                cur = self._conn.execute(
                    "INSERT INTO studies (name, settings, status, created) VALUES (?, ?, 'running', ?)",
                    (name, _dumps(settings), time.time()),
                )
                row = self._conn.execute(
                    f"SELECT {_STUDY_COLUMNS} FROM studies WHERE id = ?", (cur.lastrowid,)
                ).fetchone()
                return _study(row)
        study = _study(row)
        if not resume:
            raise StoreError(
                f"study '{name}' already exists in {self.path}: pass resume=True to continue it "
                "or choose another name=NAME"
            )
        differences = _diff(study.settings, json.loads(_dumps(settings)))
        if differences:
            raise StoreError(
                f"study '{name}' in {self.path} was started with other settings: "
                f"{'; '.join(differences)}; resume with the same settings or choose another name=NAME"
            )
        return study

    def study(self, name: str) -> StudyRecord:
        """The study called ``name``."""
        row = self._conn.execute(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [s.name for s in self.studies()]
            known = f"known studies: {', '.join(names)}" if names else "it has no studies"
            raise StoreError(f"no study '{name}' in {self.path} ({known})")
        return _study(row)

    def studies(self) -> list[StudyRecord]:
        """All studies, oldest first."""
        return [_study(r) for r in self._conn.execute(f"SELECT {_STUDY_COLUMNS} FROM studies ORDER BY id")]

    def record_trial(
        self,
        study_id: int,
        key: str,
        method: str,
        stage: str,
        fold: int | None,
        seed: int,
        config: dict,
        status: str,
        metrics: dict,
        seconds: float,
        history: list[dict],
        error: str | None = None,
    ) -> TrialRecord:
        """Store a finished trial with its history (epoch ``i`` is ``history[i]``) in one transaction.

        If ``key`` is already stored in this study, nothing is written and the stored trial is returned.
        """
        if stage not in STAGES:
            raise ValueError(f"Invalid value for argument stage: expected one of {STAGES}. Received: stage={stage!r}")
        if status not in TRIAL_STATUSES:
            raise ValueError(
                f"Invalid value for argument status: expected one of {TRIAL_STATUSES}. Received: status={status!r}"
            )
        row = (
            study_id,
            key,
            method,
            stage,
            fold,
            seed,
            _dumps(config),
            status,
            _dumps(metrics),
            seconds,
            error,
            time.time(),
        )
        rows = [_dumps(h) for h in history]
        with self._write():
            self._require_study(study_id)
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO trials (study_id, key, method, stage, fold, seed, config, status, metrics, "
                "seconds, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if cur.rowcount:
                self._conn.executemany(
                    "INSERT INTO history (trial_id, epoch, data) VALUES (?, ?, ?)",
                    [(cur.lastrowid, i, data) for i, data in enumerate(rows)],
                )
        stored = self._conn.execute(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ? AND key = ?", (study_id, key)
        ).fetchone()
        return _trial(stored)

    def trials(self, study_id: int) -> list[TrialRecord]:
        """A study's trials in the order they were recorded."""
        self._require_study(study_id)
        return [
            _trial(r)
            for r in self._conn.execute(
                f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ? ORDER BY id", (study_id,)
            )
        ]

    def finished_keys(self, study_id: int) -> set[str]:
        """Keys of the trials stored in a study, whatever their status."""
        self._require_study(study_id)
        return {r[0] for r in self._conn.execute("SELECT key FROM trials WHERE study_id = ?", (study_id,))}

    def forget_failed(self, study_id: int) -> int:
        """Delete a study's failed trials (and their history), so that resuming it runs them again; returns
        how many there were. Diverged trials are outcomes and stay."""
        with self._write():
            self._require_study(study_id)
            return self._conn.execute(
                "DELETE FROM trials WHERE study_id = ? AND status = 'failed'", (study_id,)
            ).rowcount

    def history(self, trial_id: int) -> list[dict]:
        """A trial's per-epoch rows, in epoch order."""
        return [
            json.loads(r[0])
            for r in self._conn.execute("SELECT data FROM history WHERE trial_id = ? ORDER BY epoch", (trial_id,))
        ]

    def finish_study(self, study_id: int, summary: dict) -> None:
        """Mark a study finished with its summary (finishing again replaces the summary)."""
        with self._write():
            self._require_study(study_id)
            self._conn.execute(
                "UPDATE studies SET status = 'finished', finished = ?, summary = ? WHERE id = ?",
                (time.time(), _dumps(summary), study_id),
            )

    def _require_study(self, study_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM studies WHERE id = ?", (study_id,)).fetchone() is None:
            raise StoreError(f"no study with id {study_id} in {self.path}")


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
