import subprocess
import sys
from pathlib import Path

import pytest

from miscomp import heap


@pytest.fixture
def fresh_lookup():
    # the C library's malloc_trim is looked up once per process: each case looks it up afresh, and
    # what a patched case cached must not reach the other tests
    heap._malloc_trim.cache_clear()
    yield
    heap._malloc_trim.cache_clear()


def test_trim_heap_does_nothing_where_the_c_library_cannot(monkeypatch, fresh_lookup):
    def no_libc(_name):
        raise OSError("no C library")

    monkeypatch.setattr(heap.ctypes, "CDLL", no_libc)
    assert heap.trim_heap() is False


def test_trim_heap_does_nothing_off_linux(monkeypatch, fresh_lookup):
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.trim_heap() is False


@pytest.mark.skipif(sys.platform != "linux", reason="malloc_trim is glibc's")
def test_the_c_library_is_looked_up_once(monkeypatch, fresh_lookup):
    calls = []
    real = heap.ctypes.CDLL

    def counting(name):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(heap.ctypes, "CDLL", counting)
    results = [heap.trim_heap() for _ in range(3)]
    assert results == [True] * 3
    assert calls == [None]


@pytest.mark.skipif(sys.platform != "linux", reason="malloc_trim is glibc's")
def test_memory_freed_in_the_heap_goes_back_to_the_system():
    # 2000 blocks of 64 KiB (below glibc's mmap threshold: heap memory) freed but the last: glibc keeps
    # the ~125 MiB for later allocations, resident, until trim_heap hands it back. A fresh interpreter,
    # so nothing else allocates in between.
    code = (
        "from miscomp.heap import trim_heap\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "blocks = [bytearray(b'x' * 65536) for _ in range(2000)]\n"
        "keep = blocks[-1]; del blocks\n"
        "before = rss(); done = trim_heap(); print(done, round(before - rss()))"
    )
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    done, freed_mib = proc.stdout.split()
    if done == "False":
        pytest.skip("this C library has no malloc_trim (not glibc)")
    assert int(freed_mib) > 60
