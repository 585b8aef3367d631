"""Data handed over from Python as one :class:`Dataset`: arrays, tensors, DataFrames, a name or path.

``as_dataset(data)`` accepts a built-in name or a path (as ``load``), a ``Dataset``, ``(X, y)`` numpy arrays or
torch tensors (``X`` one array, or several as a tuple or dict of arrays with one ``y``), a pandas DataFrame
with ``target=``, or a map-style torch Dataset of ``(input, target)`` items. The task follows the target
unless ``task=`` says it: integer, boolean or string labels are classes, floating-point values are a
regression target.
``with_test(train, test)`` keeps a separate test set: its rows are appended and marked as the given test rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from reglab import inputs
from reglab.data.dataset import TASKS, DataError, Dataset, input_arrays
from reglab.data.tables import frame_dataset


def as_dataset(
    data: object, target: str | None = None, task: str | None = None, impute: bool = False, test_data: object = None
) -> Dataset:
    """The study's data as a ``Dataset``; with ``test_data`` (any form ``data`` takes) its rows are the test set."""
    if task is not None and task not in TASKS:
        raise DataError(f"Invalid value for argument task: expected one of {TASKS}. Received: task={task!r}")
    if test_data is None:
        return _one(data, target, task, impute)
    if _is_pair(data) and _is_pair(test_data):  # labels of both parts encoded together, so classes agree
        (X, y), (Xt, yt) = _pair(data, "data"), _pair(test_data, "test_data")
        both = _arrays(_concatenate(X, Xt), np.concatenate([y, yt]), task)
        return replace(both, test_idx=np.arange(len(y), len(y) + len(yt)))
    if _is_frame(data) and _is_frame(test_data):  # one encoding of categories and labels for both
        import pandas as pd

        if set(data.columns) != set(test_data.columns):
            raise _other_columns(list(data.columns), list(test_data.columns))
        if test_data.empty:
            raise DataError("test_data holds no rows: give at least a few samples, or no test_data")

        both = pd.concat([data, test_data], ignore_index=True)
        encoded = frame_dataset(both, target, impute) if target is not None else _one(both, target, task, impute)
        is_test = np.arange(len(both)) >= len(data)
        return replace(encoded, test_idx=np.flatnonzero(is_test[both[target].notna().to_numpy()]))
    return with_test(_one(data, target, task, impute), _one(test_data, target, task, impute))


def with_test(train: Dataset, test: Dataset) -> Dataset:
    """``train``'s rows followed by ``test``'s, the latter marked as the given test set."""
    if train.test_idx is not None:
        raise DataError(
            f"{train.name} comes with its own test set: give test_data only for data without one, "
            "or take the official split as it is"
        )
    if train.feature_names and test.feature_names and train.feature_names != test.feature_names:
        raise _other_columns(train.feature_names, test.feature_names)
    if train.input_shape != test.input_shape or train.task != test.task:
        raise DataError(
            f"the test set does not fit the training data: samples of shape {test.input_shape} "
            f"({test.task}) against {train.input_shape} ({train.task}); give both with the same columns and shapes"
        )
    if train.task == "classification" and test.classes != train.classes[: len(test.classes)]:
        raise DataError(
            f"the test set's classes {list(test.classes)} are not the training data's "
            f"{list(train.classes)}: encode both with the same labels"
        )
    n = train.n_samples
    if (train.source is None) != (test.source is None):
        raise DataError("give the training and the test set in the same form: both torch Datasets, or neither")
    if train.source is not None:
        from torch.utils.data import ConcatDataset

        from reglab.data.cache import CachedDataset

        if isinstance(train.source, CachedDataset) and isinstance(test.source, CachedDataset):
            source = CachedDataset.concatenate(train.source, test.source)
        else:
            source = ConcatDataset([train.source, test.source])
        return replace(
            train,
            X=_stand_in(inputs.take(train.X, 0), n + test.n_samples),
            y=np.concatenate([train.y, test.y]),
            test_idx=np.arange(n, n + test.n_samples),
            source=source,
        )
    return replace(
        train,
        X=_concatenate(train.X, test.X),
        y=np.concatenate([train.y, test.y]),
        test_idx=np.arange(n, n + test.n_samples),
        coef=train.coef,
    )


def _other_columns(train: Sequence[str], test: Sequence[str]) -> DataError:
    missing, extra = sorted(set(train) - set(test), key=str), sorted(set(test) - set(train), key=str)
    return DataError(
        f"the test set's columns are not the training data's (missing {missing or 'none'}, extra "
        f"{extra or 'none'}): give both with the same columns"
    )


def _one(data: object, target: str | None, task: str | None, impute: bool) -> Dataset:
    from reglab.data import load

    if isinstance(data, Dataset):
        return data
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return load(str(data), target=target, impute=impute)
    if _is_frame(data):
        if target is None:
            raise DataError("a DataFrame needs target=NAME, the column to predict")
        return frame_dataset(data, target, impute, "dataframe")
    if _is_pair(data):
        return _arrays(*_pair(data, "data"), task)
    if _is_torch_dataset(data):
        return torch_dataset(data, task)
    raise DataError(
        f"cannot use data of type {type(data).__name__}: give (X, y) arrays or tensors, a DataFrame "
        "with target=, a built-in name or a path"
    )


def _is_torch_dataset(data: object) -> bool:
    from torch.utils.data import Dataset as TorchDataset

    return isinstance(data, TorchDataset)


def torch_dataset(data, task: str | None = None) -> Dataset:
    """A map-style torch Dataset of (input, target) items as a Dataset whose rows are its items: trained
    through a DataLoader, standardized by nothing (its transforms are its own). An input is one tensor, or
    several as a tuple, list or dict of tensors (collated by ``default_collate``). Targets are read once (from
    ``data.targets`` when it has them): integer class indices 0..k-1, or numbers for regression."""
    n = _length(data)
    given = getattr(data, "targets", None)
    read = range(2) if given is not None and len(given) == n else range(n)  # every item, when its target is needed
    items = [_item(data, i) for i in read]
    first = _sample(items[0][0], 0)
    for i, (x, _) in enumerate(items[1:], 1):
        if inputs.shapes(_sample(x, i)) != inputs.shapes(first):
            raise DataError(
                f"the Dataset's inputs must all have one structure and shape: item 0 is "
                f"{inputs.shapes(first)}, item {i} is {inputs.shapes(_sample(x, i))}"
            )
    targets = np.asarray(given if len(items) < n else [_target(t) for _, t in items])
    task = task or ("regression" if np.issubdtype(targets.dtype, np.floating) else "classification")
    if task == "classification":
        if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0:
            raise DataError(
                "a torch Dataset's class targets must be integer indices 0..k-1, as cross-entropy takes them; "
                "map its labels to indices, or pass task='regression'"
            )
        classes = tuple(str(c) for c in range(int(targets.max()) + 1))
    else:
        classes = ()
    shape = inputs.shapes(first)
    return Dataset(
        type(data).__name__,
        _stand_in(first, n),
        targets,
        task,
        classes=classes,
        source=data,
        description=f"a torch Dataset ({type(data).__name__}) of {n} items of shape {shape}",
    )


def _sample(x, i: int):
    """One item's input as arrays (one, or several in a tuple, list or dict), each with at least one axis."""
    try:
        sample = inputs.map_parts(lambda part: np.asarray(part.detach().cpu() if hasattr(part, "detach") else part), x)
    except (TypeError, ValueError, RuntimeError):
        sample = None
    kinds = [] if sample is None else inputs.parts(sample)
    if not kinds or any(part.ndim == 0 or not np.issubdtype(part.dtype, np.number) for part in kinds):
        raise DataError(
            f"the Dataset's inputs must be tensors with at least one axis, or a tuple, list or dict of them: "
            f"item {i} is {type(x).__name__}"
        )
    return sample


def _stand_in(sample, n: int):
    """Zero-stride arrays of ``n`` rows shaped as ``sample``'s parts: a torch Dataset's ``X``, read by nothing."""
    return inputs.map_parts(
        lambda part: np.broadcast_to(
            np.zeros((), part.dtype if not inputs.is_float(part) else np.float32), (n, *part.shape)
        ),
        sample,
    )


def _concatenate(X, Xt):
    """The rows of two inputs of one structure, one after the other."""
    if inputs.sample_shape(X) != inputs.sample_shape(Xt):
        raise DataError(
            f"the test set's inputs do not fit the training data's: samples of shape {inputs.sample_shape(Xt)} "
            f"against {inputs.sample_shape(X)}; give both with the same columns and shapes"
        )
    return inputs.map_parts(lambda part, test_part: np.concatenate([part, test_part]), X, Xt)


def _length(data) -> int:
    try:
        n = len(data)
    except TypeError:
        raise DataError(
            f"{type(data).__name__} has no len(): give a map-style Dataset (__getitem__ and __len__)"
        ) from None
    if n < 2:
        raise DataError(f"the Dataset holds {n} item(s): a study needs rows to split")
    return n


def _item(data, i: int) -> tuple:
    item = data[i]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise DataError(
            f"the Dataset's items must be (input, target) pairs; item {i} is {type(item).__name__}"
            f"{f' of length {len(item)}' if isinstance(item, (tuple, list)) else ''}"
        )
    return item


def _target(value) -> float | int:
    value = value.detach().cpu() if hasattr(value, "detach") else value
    if np.asarray(value).size != 1:
        raise DataError(f"the Dataset's targets must be single numbers (a class index or a value); got {value!r}")
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"the Dataset's targets must be single numbers (a class index or a value); got {value!r}")
    return value


def _is_frame(data: object) -> bool:
    import pandas as pd

    return isinstance(data, pd.DataFrame)


def _is_pair(data: object) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str)


def _pair(data: tuple, name: str) -> tuple[object, np.ndarray]:
    """(X, y) as numpy arrays (torch tensors are copied off their device); ``X`` one array (a list of rows
    is one), or several in a tuple or dict, each with a row per target."""

    def array(value) -> np.ndarray:
        return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)

    X, y = data[0], array(data[1])
    X = array(X) if isinstance(X, list) else inputs.map_parts(array, X)
    several = inputs.is_several(X)
    if several and not inputs.parts(X):
        raise DataError(f"{name}'s X is an empty {type(X).__name__}: give one array, or several in a tuple or dict")
    lengths = [len(part) if part.ndim else 0 for part in inputs.parts(X)]
    if several and len(set(lengths)) > 1:
        raise DataError(
            f"{name}'s inputs have different numbers of rows {inputs.map_parts(len, X)}: give every input "
            "one row per sample"
        )
    if y.ndim != 1 or (not several and X.ndim < 2) or set(lengths) != {len(y)}:
        shapes = inputs.map_parts(lambda part: part.shape, X)
        raise DataError(
            f"{name} must be (X, y) with X of shape (n, ...) (or several such arrays) and y of shape (n,), "
            f"every one with the same n: got X {shapes} and y {y.shape}"
        )
    if len(y) == 0:
        raise DataError(f"{name} holds no rows: give at least a few samples")
    for part in inputs.parts(X):
        if not np.issubdtype(part.dtype, np.number) and part.dtype != bool:
            raise DataError(f"{name}'s X must hold numbers, not {part.dtype}: encode categories first")
    return X, y


def _arrays(X: object, y: np.ndarray, task: str | None) -> Dataset:
    """A Dataset of arrays; labels become classes 0..k-1 named by their values."""
    task = task or ("regression" if np.issubdtype(y.dtype, np.floating) else "classification")
    if task == "regression":
        if not np.issubdtype(y.dtype, np.number):
            raise DataError(f"a regression target must hold numbers, not {y.dtype}")
        values = y.astype(np.float32)
        classes: tuple[str, ...] = ()
    else:
        if np.issubdtype(y.dtype, np.floating) and not np.all(y == np.round(y)):
            raise DataError(
                "class labels must be integers or strings: this target holds fractions; "
                "pass task='regression' to predict its values"
            )
        levels, values = np.unique(y, return_inverse=True)
        if len(levels) < 2:
            raise DataError(f"the target has a single class {levels[0]!r}: a classifier needs at least two")
        classes = tuple(str(v.item() if hasattr(v, "item") else v) for v in levels)
    with np.errstate(over="ignore"):
        features = input_arrays(X)
    finite = all(np.isfinite(part).all() for part in inputs.parts(features) if inputs.is_float(part))
    if not finite or not np.isfinite(values).all():
        raise DataError("X and y must be finite numbers (within ±3.4e38): replace NaN and infinite values first")
    return Dataset(
        "arrays",
        features,
        values,
        task,
        classes=classes,
        description=f"arrays: {len(y)} rows of shape {inputs.sample_shape(X)} ({task})",
    )
