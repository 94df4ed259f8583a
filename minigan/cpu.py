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
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

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
