"""Process-wide settings for a process that trains many models, made once by the process's owner (the
``reglab`` command, the benchmarks), never by the library behind a caller's back.

- ``gc.freeze()``: the objects that exist by then (every import: torch, scikit-learn, pandas) are never
  garbage, yet each full collection during a study would walk all of them (~0.1 s apiece);
- glibc's malloc keeps freed memory for reuse (``mallopt``: blocks up to 32 MiB from the heap, the heap's
  top trimmed past 1 GiB only) instead of handing it back and faulting fresh pages in at the next
  allocation: a training step frees and allocates its activations and gradients again and again. The
  engine's sweeps measured 7-15% faster; PyTorch's CPU tuning guide recommends another allocator for
  the same reason. Elsewhere than on glibc this part does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's largest allowed on 64-bit systems
TRIM_THRESHOLD = 2**30


@functools.cache
def prepare_process() -> None:
    """Freezes the objects that exist now out of full collections and has malloc keep freed memory;
    once a process (later calls do nothing)."""
    gc.freeze()
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library this process runs on
    if mallopt is not None:  # glibc
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def load_note() -> str:
    """The machine's load average (1, 5, 15 minutes) and cores, for a benchmark's header: a figure
    measured with the load above about 1.5 on 2 cores is timing someone else's work too."""
    one, five, fifteen = os.getloadavg()
    return f"# load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"
