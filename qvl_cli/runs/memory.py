"""Give memory back between the windows of a long document.

Each window's page images are freed before the next window's are rendered, but the C allocator
keeps the freed blocks of a fragmented heap for reuse: without help, resident memory creeps up
window after window and stays at its high mark while evidence is read. :func:`release` collects
garbage and, with glibc, returns free heap pages to the system (``malloc_trim``), so the peak of
a long document is that of its largest window.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from functools import cache


def release() -> None:
    """Collect garbage and hand free heap pages back to the system where the C library can."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None on other systems and C libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim
