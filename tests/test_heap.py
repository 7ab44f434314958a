import subprocess
import sys
from pathlib import Path

import pytest

from miscomp import heap


def test_trim_heap_does_nothing_where_the_c_library_cannot(monkeypatch):
    def no_libc(_name):
        raise OSError("no C library")

    monkeypatch.setattr(heap.ctypes, "CDLL", no_libc)
    assert heap.trim_heap() is False
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.trim_heap() is False


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
