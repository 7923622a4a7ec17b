"""What the operator process does for itself: give memory freed after a burst back (adapters/memory.py).

Once a minute: a full garbage collection first (Kopf's and asyncio's objects
form reference cycles that only the oldest generation's rare collections
free; at 300 waiting incidents it freed 6 MB), then the heap's free pages go
back to the operating system, in a worker thread (the call releases the GIL
while it walks the heap). A burst's memory is returned within a minute of it;
a process at rest pays tens of milliseconds a minute for it.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from onduty.adapters.memory import release_free_memory

log = logging.getLogger(__name__)

TRIM_SECONDS = 60.0


async def trim_forever(interval: float = TRIM_SECONDS) -> None:
    """Release free memory every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        gc.collect()
        if not await asyncio.to_thread(release_free_memory):
            log.debug("this allocator cannot return free memory (not glibc): memory is not trimmed")
            return
