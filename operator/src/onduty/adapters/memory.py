"""Give the heap's free pages back to the operating system after a burst of work.

A storm of alerts, a re-list of a thousand objects or a retention sweep's page
of incidents allocates a lot for a moment. Python frees it, but glibc's
allocator keeps most freed pages mapped, so the resident size stays at the
burst's high-water mark for the life of the process, and a memory limit sized
for onduty at rest is hit long after the burst. ``malloc_trim(0)`` returns
them; it costs milliseconds. Elsewhere than glibc (musl, macOS) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_free_memory() -> bool:
    """Return the heap's free pages to the operating system; False where the allocator cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
