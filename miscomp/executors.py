"""Where a scan's units of work run: in this process, in a local process pool, or on a Ray cluster.

The unit is one original with all its pending codecs (:class:`Unit`): the original is read once and
its per-original work (OCR of the original, its text boxes) is done once and shared by every codec
of that original, whichever executor runs it. This module knows nothing of what a unit's work is:
the caller passes it as ``work(payload, unit)`` (for a scan, :func:`miscomp.run.run_unit`, a
top-level function so that a process pool and Ray can send it by reference). The work commits each
pair to the run directory's store as soon as it is done, so the run directory is the single source
of truth: nothing but pair ids travels back to the driver, a unit that is run twice (a Ray retry
after a worker died, a re-run after Ctrl-C) rewrites the same part files atomically and skips the
pairs it already committed, and the tables are rebuilt from the parts at the end.

Models load once per worker process (``warm_up(payload)`` runs when a pool worker starts). Threads
inside a worker stay at ``Settings.threads`` (1 by default): on this 2-core machine two spinning torch
threads made OCR recognition 4× slower than one, and N single-threaded workers use N cores without
fighting over them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miscomp.errors import MiscompError

EXECUTORS = ("local", "ray")
# Ray retries a task whose worker process died (OOM kill, node lost) this many times; a unit is
# idempotent (see the module docstring), so a retry can only finish what the dead worker left.
RAY_MAX_RETRIES = 3
_FORWARD = ("PYTHONPATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class Unit:
    """One original and the tags of the sources (codecs) still to run on it."""

    image_id: str
    path: Path
    tags: tuple[str, ...]


def usable_cores() -> int:
    """CPUs this process may run on (cgroup/affinity aware, unlike ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


Work = Callable[[Any, "Unit"], Iterable[str]]  # (payload, unit) -> the unit's finished pair ids


def execute(
    work: Work,
    payload: Any,
    units: list[Unit],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str = "",
    warm_up: Callable[[Any], None] | None = None,
) -> Iterator[str]:
    """Run ``work(payload, unit)`` for every unit with ``executor``; yields each finished pair id.
    ``workers`` 0: one per usable core. In this process (one worker) pair ids come as they finish."""
    if not units:
        return
    if executor == "ray":
        yield from _ray(work, payload, units, workers, address)
        return
    if executor != "local":
        raise MiscompError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    n = min(workers or usable_cores(), len(units))
    if n <= 1:
        for unit in units:
            yield from work(payload, unit)
    else:
        yield from _pool(work, payload, units, n, warm_up)


def _collect(work: Work, payload: Any, unit: Unit) -> list[str]:
    """What a pool process or Ray worker runs: the unit's pair ids as a list (a generator does not
    travel back)."""
    return list(work(payload, unit))


def limit_threads(n: int) -> None:
    """Threads per worker for OpenMP, OpenCV and torch: the one place that sets them (miscomp.threads)."""
    from miscomp.threads import apply_threads

    apply_threads(n)


# ---- local process pool ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the scan process dies (kill -9, OOM killer): an orphaned
    worker would go on committing pairs beside the next run. Elsewhere a no-op."""
    import contextlib
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _init_pool_worker(payload: Any, threads: int, warm_up: Callable[[Any], None] | None) -> None:
    _die_with_parent()
    os.environ["MISCOMP_THREADS"] = str(threads)
    limit_threads(threads)
    if warm_up is not None:
        warm_up(payload)  # load the models now, not inside the first unit's timing


def _pool(
    work: Work, payload: Any, units: list[Unit], workers: int, warm_up: Callable[[Any], None] | None
) -> Iterator[str]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from miscomp.settings import Settings

    threads = Settings.from_env().threads
    # spawn, not fork: the driver may already hold torch/OpenMP thread pools, which do not survive a
    # fork (the child can deadlock on a lock held by a thread that does not exist there).
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_pool_worker, initargs=(payload, threads, warm_up)
    )
    try:
        pending = {pool.submit(_collect, work, payload, u): u for u in units}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                unit = pending.pop(fut)
                try:
                    yield from fut.result()
                except BrokenProcessPool:
                    raise MiscompError(
                        f"a worker process died while scanning {unit.path.name} (out of memory?); finished "
                        "pairs are saved: run the same command to resume (try fewer --workers)"
                    ) from None
                except (MiscompError, OSError):
                    raise  # the scan's own one-line handling (storage errors included) applies
                except Exception as err:  # noqa: BLE001 - a worker that could not even plan the scan
                    raise MiscompError(
                        f"worker failed on {unit.path.name}: {type(err).__name__}: {err}"
                    ) from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---- Ray ------------------------------------------------------------------------------------------


def _ray(work: Work, payload: Any, units: list[Unit], workers: int, address: str) -> Iterator[str]:
    # Ray phones home with usage statistics unless told not to; a scan must not reach the network.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise MiscompError("--executor ray needs Ray: pip install 'miscomp[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # Tasks see the driver's miscomp settings (model folders, cache) wherever they run; paths
        # in them must exist on every node (a shared filesystem, see docs/scaling.md).
        env = {k: v for k, v in os.environ.items() if k.startswith("MISCOMP_") or k in _FORWARD}
        env.setdefault("MISCOMP_THREADS", "1")
        env.update(RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS=env["MISCOMP_THREADS"])
        kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:  # a private single-node cluster for this scan, on this machine only
                ray.init(
                    num_cpus=workers or usable_cores(), include_dashboard=False,
                    _node_ip_address="127.0.0.1", **kwargs,
                )  # fmt: skip
        except Exception as err:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError by version
            where = address or "a local cluster"
            raise MiscompError(f"--executor ray: cannot connect to {where}: {err}") from None
    task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES, retry_exceptions=False)(_collect)
    try:
        refs = {task.remote(work, payload, u): u for u in units}
        while refs:
            finished, _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(finished[0])
            try:
                yield from ray.get(finished[0])
            except ray.exceptions.RayTaskError as err:
                cause = err.as_instanceof_cause()
                if isinstance(cause, OSError):  # e.g. the run dir on the shared filesystem is full
                    raise OSError(cause.errno, cause.strerror, cause.filename) from None
                if isinstance(cause, MiscompError):
                    raise MiscompError(str(cause).splitlines()[0]) from None
                raise MiscompError(
                    f"Ray task for {unit.path.name} failed: {str(err).splitlines()[0]}"
                ) from None
            except ray.exceptions.RayError as err:
                raise MiscompError(
                    f"Ray lost the task for {unit.path.name} after {RAY_MAX_RETRIES} retries "
                    f"({type(err).__name__}); finished pairs are saved: run again to resume"
                ) from None
    finally:
        if started_here:
            ray.shutdown()
