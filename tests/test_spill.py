"""Arrays kept on disk for the same original's next codec (miscomp/spill.py)."""

from __future__ import annotations

import numpy as np
import pytest

from miscomp.spill import Spill


def test_arrays_come_back_equal_for_the_current_original_only(rng):
    spill = Spill(10**7)
    a, b = rng.random((30, 40, 3), dtype=np.float32), rng.integers(0, 9, (7,)).astype(np.uint16)
    spill.owner("sha@0,0,40,30")
    assert spill.put("k", (a, b)) and not spill.put("k", (a, b))  # once per key
    got = spill.get("k")
    assert (
        [x.dtype for x in got] == [a.dtype, b.dtype]
        and np.array_equal(got[0], a)
        and np.array_equal(got[1], b)
    )
    assert got[0] is not a and spill.nbytes == a.nbytes + b.nbytes and "k" in spill
    spill.owner("sha@40,0,40,30")  # another tile of the same original: kept
    assert "k" in spill
    folder = spill.folder
    spill.owner("other")  # another original: dropped, files removed
    assert "k" not in spill and spill.get("k") is None and spill.nbytes == 0 and not any(folder.iterdir())
    del spill
    assert not folder.exists()


def test_the_budget_is_never_exceeded(rng):
    a = rng.random((100, 100), dtype=np.float32)  # 40 kB
    spill = Spill(100_000)
    assert spill.put(1, (a,)) and spill.put(2, (a,)) and not spill.put(3, (a,))
    assert spill.nbytes == 2 * a.nbytes
    nothing = Spill(0)
    assert not nothing.put(1, (a,)) and nothing.folder is None


def _spill_in_a_worker() -> str:
    global _KEPT
    _KEPT = Spill(10**6, "miscomp-spilltest-")  # alive until the worker exits, as a detector's is
    _KEPT.owner("sha")
    _KEPT.put(1, (np.zeros(100),))
    return str(_KEPT.folder)


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_the_folder_goes_when_a_pool_worker_exits(start):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(start)) as pool:
        folder = Path(pool.submit(_spill_in_a_worker).result())
        assert folder.exists()
    assert not folder.exists()
