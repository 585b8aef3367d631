import gzip
import struct

import numpy as np
import pytest

from reglab.data import DataError, load_idx_folder
from reglab.data.idx import read_idx


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_split(folder, prefix, images, labels, gz=False):
    for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
        path = folder / f"{prefix}-{kind}-idx{dims}-ubyte{'.gz' if gz else ''}"
        data = idx_bytes(array)
        path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 0, 1, 2, 3], dtype=np.uint8)
    write_split(tmp_path, "train", images, labels, gz)
    write_split(tmp_path, "t10k", images[:2], labels[:2], gz)
    ds = load_idx_folder(tmp_path)
    assert ds.X.shape == (5, 1, 28, 28) and ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_allclose(ds.X[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.task == "classification" and ds.n_outputs == 4
    assert load_idx_folder(tmp_path, "test").n_samples == 2


def test_big_endian_types(tmp_path):
    array = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "a").write_bytes(idx_bytes(array, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


def test_problems(tmp_path):
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataError, match="not an IDX file"):
        load_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 4, 4), np.uint8))[:-3])
    with pytest.raises(DataError, match="truncated"):
        load_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated"):
        load_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read"):
        load_idx_folder(tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        load_idx_folder(tmp_path, "valid")


def test_image_and_label_counts_must_match(tmp_path):
    write_split(tmp_path, "train", np.zeros((3, 4, 4), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="must be"):
        load_idx_folder(tmp_path)


def test_a_single_class_is_refused(tmp_path):
    write_split(tmp_path, "train", np.zeros((3, 4, 4), np.uint8), np.full(3, 7, np.uint8))
    with pytest.raises(DataError, match="a single class 7: a classifier needs at least two"):
        load_idx_folder(tmp_path)
