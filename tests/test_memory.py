"""Freed heap goes back to the OS, and the runner does it after each enrichment run."""

from __future__ import annotations

import sys

import pytest

from tagwatch.monitor import memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def test_memory_freed_in_a_burst_is_handed_back():
    burst = [bytes(1000 + i % 7) for i in range(200_000)]  # ~200 MB through malloc
    survivors = burst[::10]  # what a batch leaves behind, scattered through the heap
    del burst
    held = memory.resident_mb("RssAnon")
    assert memory.release_free_memory() is True
    assert memory.resident_mb("RssAnon") < held - 100, "freed memory stayed with the process"
    assert len(survivors) == 20_000
