"""Image folders in IDX format (MNIST, Fashion-MNIST), read with numpy.

An IDX file starts with a magic number ``0 0 <dtype code> <number of dims>``, then one big-endian
uint32 per dimension, then the values in C order (big-endian). Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from reglab.data.dataset import DataError, Dataset

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
PREFIXES = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in one IDX file."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path.name}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in DTYPES:
        raise DataError(f"{path.name} is not an IDX file: it lacks the magic number 0 0 <type> <dims>")
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"{path.name} is truncated: its header is incomplete")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">u4"))
    dtype = np.dtype(DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path.name} is truncated or damaged: its header announces shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find(folder: Path, base: str, kind: str) -> Path:
    """``base-kind`` or ``base.kind`` in ``folder``, optionally gzipped."""
    for name in (f"{base}-{kind}", f"{base}.{kind}"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"no {base}-{kind} (or .gz) in {folder}: an IDX folder holds MNIST-style files")


def has_idx_split(folder: Path, split: str) -> bool:
    """Whether ``folder`` holds the images and labels of ``split``."""
    try:
        (
            _find(folder, f"{PREFIXES[split]}-images", "idx3-ubyte"),
            _find(folder, f"{PREFIXES[split]}-labels", "idx1-ubyte"),
        )
    except DataError:
        return False
    return True


def load_idx_folder(folder: str | Path, split: str = "train") -> Dataset:
    """The ``train`` or ``test`` (``t10k``) images and labels of an IDX folder, as (n, 1, H, W).

    uint8 pixels are scaled to [0, 1]; other pixel types are kept as they are.
    """
    folder = Path(folder)
    if split not in PREFIXES:
        raise DataError(f"unknown split '{split}': use train or test")
    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}")
    prefix = PREFIXES[split]
    images = read_idx(_find(folder, f"{prefix}-images", "idx3-ubyte"))
    labels = read_idx(_find(folder, f"{prefix}-labels", "idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"IDX images must be (n, H, W) and labels (n,): got {images.shape} and {labels.shape}")
    if labels.min(initial=0) < 0:
        raise DataError(f"IDX labels in {folder} must be non-negative class numbers")
    levels = np.unique(labels)  # labels are class numbers, kept as they are so that splits agree
    if len(levels) < 2:
        found = f"a single class {levels[0]}" if len(levels) else "no label"
        raise DataError(f"IDX labels in {folder} hold {found}: a classifier needs at least two classes")
    X = images[:, None].astype(np.float32)
    if images.dtype == np.uint8:
        X /= 255.0
    description = f"IDX images from {folder} ({split} split)"
    return Dataset(folder.name, X, labels.astype(np.int64), "classification", description=description)
