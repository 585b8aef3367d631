"""User tables (CSV, Parquet) as Datasets: one target column, numeric and categorical features.

Numeric columns become float32 features; text, category and bool columns are one-hot encoded
(``col=value``). Missing values are an error unless ``impute=True``, which drops rows whose target is
missing (the description says how many), keeps missing numbers as NaN — filled with the median of the
training rows when a split is standardized (``Standardizer``), so no statistic sees held-out rows — and
encodes a missing category as no category (all of its column's indicators 0). Standardization is not
done here: it is fitted on training rows only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reglab.data.dataset import DataError, Dataset

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
MAX_CLASSES_FOR_INTEGERS = 20  # an integer target with at most this many values is a class label
MAX_LEVELS = 200  # more distinct values than this in one text column is not a category


def load_table(path: str | Path, target: str, impute: bool = False) -> Dataset:
    """Read a CSV or Parquet table and encode it; ``target`` names the column to predict."""
    path = Path(path)
    return frame_dataset(_read(path), target, impute, path.stem, path.name)


def frame_dataset(
    df: pd.DataFrame, target: str, impute: bool = False, name: str = "dataframe", source: str = "the DataFrame"
) -> Dataset:
    """Encode a DataFrame: ``target`` is the column to predict, the others are features."""
    df = df.rename(columns=str)
    if df.empty:
        raise DataError(f"empty table: {source} has no rows")
    if target not in df.columns:
        raise DataError(f"target column '{target}' not found in {source}: columns are {', '.join(df.columns)}")
    if df.shape[1] == 1:
        raise DataError(f"no feature columns in {source}: the table holds only the target '{target}'")
    _check_missing(df, target, impute)
    dropped = int(df[target].isna().sum())
    df = df[df[target].notna()]
    if df.empty:
        raise DataError(f"every row of {source} lacks the target '{target}'")
    features = df.drop(columns=target)
    with np.errstate(over="ignore"):  # numbers beyond float32 become ±inf, which _check_finite reports
        columns, names = zip(*(_encode(features[c]) for c in features.columns))
        y, task, classes = _encode_target(df[target])
    X, names = np.concatenate(columns, axis=1), tuple(n for group in names for n in group)
    _check_finite(X, y, names, target, source)
    note = f"; {dropped} rows with missing target dropped" if dropped else ""
    return Dataset(
        name,
        X,
        y,
        task,
        names,
        classes,
        f"{source}: {len(df)} rows, target '{target}' ({task}){note}",
    )


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"unsupported file type '{path.suffix}' for {path.name}: use .csv, .parquet or .pq")
    try:
        df = reader(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"empty table: {path.name} has no rows") from None
    except Exception as error:  # parsers raise many types; all mean the file cannot be read
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"cannot read {path.name}: {reason}") from None
    if df.empty:
        raise DataError(f"empty table: {path.name} has no rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _check_missing(df: pd.DataFrame, target: str, impute: bool) -> None:
    counts = df.isna().sum()
    missing = counts[counts > 0]
    if impute:
        empty = [c for c in missing.index if missing[c] == len(df) and c != target]
        if empty:
            raise DataError(f"columns with no values at all cannot be imputed: {', '.join(empty)}; drop them")
    elif len(missing):
        listed = ", ".join(f"{c} ({n})" for c, n in missing.items())
        raise DataError(
            f"missing values in columns {listed}: pass impute=True to fill them "
            "(numbers with the median of the training rows, a missing category as none) and drop rows without a target"
        )


def _check_finite(X: np.ndarray, y: np.ndarray, names: tuple[str, ...], target: str, file: str) -> None:
    """Infinite values (or numbers beyond float32's range, which become infinite) name their columns."""
    counts = {name: int(n) for name, n in zip(names, np.isinf(X).sum(axis=0)) if n}
    if np.issubdtype(y.dtype, np.floating) and np.isinf(y).any():
        counts[target] = int(np.isinf(y).sum())
    if counts:
        listed = ", ".join(f"{c} ({n})" for c, n in counts.items())
        raise DataError(
            f"infinite values (or beyond ±3.4e38) in {file}, columns {listed}: replace them with "
            "finite numbers, or empty the cells and pass impute=True"
        )


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _encode(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """One numeric column, or one-hot columns ``name=value`` for a categorical one."""
    if _is_numeric(s):
        return s.to_numpy(np.float32)[:, None], [s.name]
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        raise DataError(f"cannot encode column '{s.name}' of type {s.dtype}: convert it to numbers first")
    text = s.astype(str).where(s.notna())
    levels = sorted(text.dropna().unique())
    if len(levels) > MAX_LEVELS:
        raise DataError(
            f"cannot encode column '{s.name}': {len(levels)} distinct text values are too many categories "
            f"(at most {MAX_LEVELS}); drop it or convert it to numbers"
        )
    onehot = (text.to_numpy()[:, None] == np.array(levels)[None, :]).astype(np.float32)
    return onehot, [f"{s.name}={level}" for level in levels]


def _encode_target(s: pd.Series) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """(y, task, classes): labels 0..k-1 for classification, float values for regression."""
    if _is_numeric(s):
        values = s.to_numpy(np.float64)
        if not (np.all(values == np.round(values)) and len(np.unique(values)) <= MAX_CLASSES_FOR_INTEGERS):
            return values.astype(np.float32), "regression", ()
        levels, labels = np.unique(values, return_inverse=True)
        classes = tuple(str(int(v)) for v in levels)
    else:
        levels, labels = np.unique(s.astype(str).to_numpy(), return_inverse=True)
        classes = tuple(levels.tolist())
    if len(classes) < 2:
        raise DataError(f"target '{s.name}' has a single class '{classes[0]}': a classifier needs at least two")
    return labels.astype(np.int64), "classification", classes
