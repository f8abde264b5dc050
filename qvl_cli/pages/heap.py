"""Keeping a rendering process's freed page buffers for the next page.

A page's bitmap, its greyscale copy and its PNG are megabytes each, allocated and freed once a
page. glibc's malloc hands freed memory of that size back to the kernel (its trim threshold
follows its mmap threshold), so the next page faults every 4 KiB of it in again, zeroed: for
300 A4 pages, 150,000 page faults and a sixth of the rendering time spent in the kernel. A
rendering process keeps up to :data:`TRIM_BYTES` of freed memory instead, and takes buffers up
to :data:`MMAP_BYTES` from its heap (glibc's own ceiling for the threshold it adapts); a larger
buffer is still mapped and unmapped on its own.
"""

from __future__ import annotations

import sys
from typing import Any

MMAP_BYTES = 32 * 1024 * 1024
TRIM_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def glibc_mallopt() -> Any:
    """glibc's ``mallopt``, or None where malloc is not glibc's (musl has one that does nothing)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return libc.mallopt if hasattr(libc, "gnu_get_libc_version") else None
    except (OSError, AttributeError):
        return None


def keep_freed_pages() -> bool:
    """Set malloc's thresholds for this process; False where malloc is not glibc's (nothing is
    changed there)."""
    import ctypes

    mallopt = glibc_mallopt()
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES))
