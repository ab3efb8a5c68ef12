"""The op's own peak RSS: an allocation inside the measured window shows, one made before it does not."""

import sys

import pytest

from bench.machine.host_memory import PeakRSS, rss_bytes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux-only")


def test_peak_sees_a_transient_allocation():
    peak = PeakRSS()
    peak.begin()
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    del block
    measured = peak.end()
    if measured is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    assert measured >= 60 * 2**20


def test_peak_excludes_memory_held_before():
    held = bytearray(64 * 2**20)
    held[::4096] = b"x" * len(held[::4096])
    peak = PeakRSS()
    peak.begin()
    measured = peak.end()
    if measured is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    assert measured < 16 * 2**20
    assert rss_bytes() > 64 * 2**20
    del held
