"""The CPU backend's one piece of tuning: freed memory stays in the process for the next step.

A training step allocates and frees the same few dozen arrays, of a few MB each, every
iteration. glibc's malloc serves arrays that large with fresh pages from the kernel and gives
them back when they are freed (above its mmap threshold, or by trimming the top of the heap),
so every new array costs one page fault per 4 KiB page, and the kernel zeroes each page: at
batch 64 that was ~12,000 faults and a tenth of a DCGAN iteration in system time, most of the
cost of the elementwise ops (a LeakyReLU spent more time faulting than computing).

:func:`retain_freed_memory` asks glibc (through ``mallopt``) to serve arrays up to 32 MiB from
the heap and to keep up to 256 MiB of freed memory instead of returning it, so the next
iteration reuses pages that are already mapped. That is what ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment would do; the process keeps its peak memory
instead of returning it between steps. minigan calls it once, on import; it does nothing on
other C libraries (macOS, Windows, musl), and nothing when the environment already sets either
variable (the user's choice wins).

Arrays above 32 MiB still get fresh pages each time (glibc allows no higher threshold): at batch
256 the columns conv2d keeps for its weight gradient are 51 MB, two or three a step, and faulting
them in cost ~20 ms of system time per step. :func:`recycled_empty` serves such arrays from a few
buffers kept after the arrays that used them died.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
import weakref

import numpy as np

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value: arrays above it still get their own pages
TRIM_THRESHOLD = 256 << 20  # freed memory kept at the top of the heap before any is returned


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; True if it was asked."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ \
            or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


MAX_RECYCLED = 4  # buffers kept for reuse (the biggest ones)
_recycled, _recycled_lock = [], threading.RLock()  # (re-entrant: a finalizer may run inside)


def recycled_empty(shape, dtype) -> np.ndarray:
    """An uninitialised NumPy array whose memory is a buffer reused from an array that died.

    The array is a view of a buffer through a NumPy array that does not own its memory (the
    *anchor*, from ``np.frombuffer``); NumPy points every view taken of it at the anchor, so the
    anchor dies only with the last view, and only then does the buffer go back to the pool."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    nbytes = count * dtype.itemsize
    with _recycled_lock:  # the smallest kept buffer that is big enough (by position: arrays don't compare)
        fitting = [i for i, b in enumerate(_recycled) if b.size >= nbytes]
        buffer = _recycled.pop(min(fitting, key=lambda i: _recycled[i].size)) if fitting else None
    if buffer is None:
        buffer = np.empty(nbytes, dtype=np.uint8)
    anchor = np.frombuffer(memoryview(buffer)[:nbytes], dtype=dtype, count=count)
    weakref.finalize(anchor, _give_back, buffer)
    return anchor.reshape(shape)


def _give_back(buffer) -> None:
    """Called when an anchor and all its views are gone: keep the buffer for the next array."""
    with _recycled_lock:
        _recycled.append(buffer)
        if len(_recycled) > MAX_RECYCLED:
            del _recycled[min(range(len(_recycled)), key=lambda i: _recycled[i].size)]
