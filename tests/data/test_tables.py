import warnings

import numpy as np
import pandas as pd
import pytest

from reglab.data import DataError, load_table


def frame():
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 50.0, 40.0, 20.0],
            "city": ["paris", "rome", None, "rome", "rome"],
            "member": [True, False, True, True, False],
            "label": ["yes", "no", "yes", "no", "yes"],
        }
    )


def write(df, path):
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.fixture(params=[".csv", ".parquet"])
def table(request, tmp_path):
    return write(frame(), tmp_path / f"people{request.param}")


def test_missing_values_need_impute(table):
    with pytest.raises(DataError, match=r"age \(1\), city \(1\).*impute=True"):
        load_table(table, "label")


def test_infinite_values_name_their_columns(tmp_path):
    """±inf, and numbers that float32 cannot hold, are refused at load with the columns and counts."""
    df = pd.DataFrame(
        {
            "a": [1.0, np.inf, 2.0, 3.0],
            "b": [2.0, 3.0, 1e300, 4.0],
            "c": [1.0, 2.0, 3.0, 4.0],
            "price": [1.5, 2.5, -np.inf, 0.5],
        }
    )
    path = write(df, tmp_path / "inf.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy warning on the way
        with pytest.raises(DataError, match=r"inf.csv, columns a \(1\), b \(1\), price \(1\): replace them"):
            load_table(path, "price")


def test_impute_encodes_numbers_categories_and_classes(table):
    ds = load_table(table, "label", impute=True)
    assert ds.task == "classification" and ds.classes == ("no", "yes")
    assert ds.feature_names == ("age", "city=paris", "city=rome", "member=False", "member=True")
    np.testing.assert_array_equal(ds.y, [1, 0, 1, 0, 1])
    expected = [
        [30, 1, 0, 0, 1],
        [np.nan, 0, 1, 1, 0],  # filled when a split is standardized, from its training rows
        [50, 0, 0, 0, 1],  # a missing city is no city
        [40, 0, 1, 0, 1],
        [20, 0, 1, 1, 0],
    ]
    np.testing.assert_array_equal(ds.X, np.array(expected, dtype=np.float32))
    assert ds.X.dtype == np.float32 and ds.name == "people"


def test_rows_without_target_are_dropped_and_reported(tmp_path):
    df = frame().assign(label=["yes", None, "no", "yes", "no"])
    ds = load_table(write(df, tmp_path / "t.csv"), "label", impute=True)
    assert ds.n_samples == 4 and "1 rows with missing target dropped" in ds.description


@pytest.mark.parametrize(
    "values, task, n_out",
    [
        ([0, 1, 2, 1, 0, 2], "classification", 3),
        ([0.5, 1.5, 2.0, 3.0, 1.0, 2.5], "regression", 1),
        (list(range(0, 60, 2)), "regression", 1),  # integers, but more than 20 distinct values
    ],
)
def test_task_from_target(tmp_path, values, task, n_out):
    df = pd.DataFrame({"x": np.arange(len(values), dtype=float), "y": values})
    ds = load_table(write(df, tmp_path / "t.pq"), "y")
    assert ds.task == task and ds.n_outputs == n_out
    if task == "classification":
        assert ds.classes == ("0", "1", "2")


def test_unknown_target_lists_columns(table):
    with pytest.raises(DataError, match="columns are age, city, member, label"):
        load_table(table, "income")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty table"),
        ("a,b\n", "empty table"),
        ("y\n1\n2\n", "no feature columns"),
        ("x,y\n1,a\n2,a\n", "single class"),
    ],
)
def test_bad_tables(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_table(path, "y")


def test_file_problems(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_table(tmp_path / "none.csv", "y")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        load_table(tmp_path / "t.xlsx", "y")
    (tmp_path / "t.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read t.parquet"):
        load_table(tmp_path / "t.parquet", "y")


def test_text_only_table_is_one_hot_encoded(tmp_path):
    df = pd.DataFrame({"color": ["red", "blue", "red", "green"], "size": ["s", "m", "l", "m"], "y": list("abab")})
    ds = load_table(write(df, tmp_path / "t.csv"), "y")
    assert ds.n_features == 6 and ds.X.sum(axis=1).tolist() == [2, 2, 2, 2]


def test_text_column_that_is_not_a_category_is_rejected(tmp_path):
    df = pd.DataFrame({"note": [f"free text {i}" for i in range(300)], "y": [i % 2 for i in range(300)]})
    with pytest.raises(DataError, match="'note': 300 distinct text values"):
        load_table(write(df, tmp_path / "t.csv"), "y")


def test_dates_are_rejected(tmp_path):
    df = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=4), "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match="cannot encode column 'when'"):
        load_table(write(df, tmp_path / "t.parquet"), "y")
