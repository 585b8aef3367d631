import numpy as np
import pandas as pd
import pytest

from reglab.data import DataError, load


def test_builtin_name():
    assert load("line", seed=4).name == "line"
    assert np.array_equal(load("line", seed=4).y, load("line", seed=4).y)


def test_table_path_needs_target(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 1.5, 2.5]}).to_csv(path, index=False)
    assert load(str(path), target="y").task == "regression"
    with pytest.raises(DataError, match="needs a target column"):
        load(str(path))


def test_target_only_for_tables():
    with pytest.raises(DataError, match="applies only to"):
        load("digits", target="y")


def test_unknown_source_lists_builtins():
    with pytest.raises(DataError, match=r"unknown dataset 'nope': use one of digits, .* or a path to a .csv/.parquet"):
        load("nope")


def test_folder_is_read_as_idx(tmp_path):
    for kind, shape in (("images-idx3", (2, 3, 3)), ("labels-idx1", (2,))):
        header = bytes([0, 0, 0x08, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
        (tmp_path / f"train-{kind}-ubyte").write_bytes(header + bytes(int(np.prod(shape)) - 1) + b"\x01")  # 2 classes
    assert load(str(tmp_path)).X.shape == (2, 1, 3, 3)
