"""Keep freed memory for reuse: training steps allocate and free the same large tensors (a batch
of 16 windows of frames is 44 M values), and glibc returns every block above its mmap threshold
to the kernel on free. The next step then takes a page fault for each 4 KiB page again, which on
some virtual machines costs more than the arithmetic."""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and never trim it (glibc's mallopt). False where the C
    library has no mallopt (not glibc); nothing changes then."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
