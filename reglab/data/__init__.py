"""Data sources as one value, :class:`Dataset`: built-in sets, CSV/Parquet tables, IDX image folders.

``load(source)`` picks the reader from ``source``; splits and standardization live in
:mod:`reglab.data.splits` and are fitted on training rows only.
"""

from __future__ import annotations

from pathlib import Path

from reglab.data.builtin import BUILTIN, builtin_names, load_builtin
from reglab.data.dataset import DataError, Dataset
from reglab.data.idx import has_idx_split, load_idx_folder
from reglab.data.sources import as_dataset, with_test
from reglab.data.splits import Standardizer, holdout_split, kfold_splits
from reglab.data.tables import READERS, load_table
from reglab.importer import import_object, is_import_string

__all__ = [
    "DataError",
    "as_dataset",
    "Dataset",
    "Standardizer",
    "builtin_names",
    "holdout_split",
    "kfold_splits",
    "load",
    "load_builtin",
    "load_idx_folder",
    "load_table",
]


def load(source: str, target: str | None = None, impute: bool = False, seed: int = 0) -> Dataset:
    """A built-in name, a CSV/Parquet path (with ``target``), a folder of IDX files (its train split, and
    its t10k files, when present, as the given test set), or ``file.py:NAME`` / ``module:NAME``: a function
    returning any data ``as_dataset`` takes."""
    source = str(source)
    if is_import_string(source):
        function = import_object(source, "data")
        try:
            data = function()
        except Exception as error:
            raise DataError(f"data {source!r} raised {type(error).__name__}: {error}") from None
        return as_dataset(data, target=target, impute=impute)
    path = Path(source)
    is_table = path.suffix.lower() in READERS
    if target is not None and not is_table:
        raise DataError(f"target '{target}' applies only to .csv/.parquet tables, not to '{source}'")
    if source in BUILTIN:
        return load_builtin(source, seed)
    if is_table:
        if target is None and path.is_file():
            raise DataError(f"a table needs a target column: pass target=NAME for {path.name}")
        return load_table(path, target, impute)  # a missing file: "file not found"
    if path.is_dir():
        train = load_idx_folder(path)
        return with_test(train, load_idx_folder(path, "test")) if has_idx_split(path, "test") else train
    raise DataError(
        f"unknown dataset '{source}': use one of {', '.join(BUILTIN)} or a path to a .csv/.parquet file or IDX folder"
    )
