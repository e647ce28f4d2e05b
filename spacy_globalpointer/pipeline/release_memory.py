"""Handing the memory a training step freed back to the operating system.

A step's band tensors are a few MB each and change shape with every batch.
glibc's malloc raises its mmap threshold each time such a block is freed, so
after a few steps they come from the heap instead, and the heap's free but
fragmented pages stay in the process: its RSS grows for a thousand steps or
more. ``malloc_trim`` returns those free pages; it changes no allocator
setting, so nothing else in the process behaves differently.

A trim costs a few milliseconds; two components updating one after the other
(entities, then relations) need one trim per step, not two: a trim within
MIN_INTERVAL seconds of the last one is skipped.
"""

import ctypes
import functools
import sys
import time
from typing import Callable, Optional

MIN_INTERVAL = 0.1
_last = [float("-inf")]


@functools.lru_cache(maxsize=None)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc's; musl and others lack it
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS where the C library can (glibc)
    and no trim ran in the last MIN_INTERVAL seconds; True if it trimmed."""
    trim = _malloc_trim()
    now = time.monotonic()
    if trim is None or now - _last[0] < MIN_INTERVAL:
        return False
    trim(0)
    _last[0] = time.monotonic()
    return True
