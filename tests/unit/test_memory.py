"""Memory a burst freed goes back to the operating system (adapters/memory.py)."""

from __future__ import annotations

import platform

from onduty.adapters.memory import release_free_memory


def test_the_allocator_of_this_machine_and_of_the_image_can_return_free_memory() -> None:
    # Debian (the image's base) and this machine use glibc: trimming must be available there, not
    # silently off. What it returns after a real burst is measured by hack/bench_rest.py.
    assert platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is True
    assert release_free_memory() is True  # nothing left to return is no error
