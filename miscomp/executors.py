"""Where a scan's units of work run: in this process, in a local process pool, or on a Ray cluster.

The unit is one original with all its pending codecs (:class:`Unit`): the original is read once and
its per-original work (OCR of the original, its text boxes) is done once and shared by every codec
of that original, whichever executor runs it. Every executor runs the same function on a unit
(:func:`run_unit` → ``miscomp.run._run_original``), which commits each pair to the run directory's
store as soon as it is done. The run directory is therefore the single source of truth: nothing but
pair ids travels back to the driver, a unit that is run twice (a Ray retry after a worker died, a
re-run after Ctrl-C) rewrites the same part files atomically and skips the pairs it already
committed, and the tables are rebuilt from the parts at the end.

Models load once per worker process: the worker resolves the scan's plan (codecs, detectors) from
the frozen :class:`~miscomp.run.ScanConfig` on its first unit and keeps it for the next ones.
Threads inside a worker stay at ``Settings.threads`` (1 by default): on this 2-core machine two
spinning torch threads made OCR recognition 4× slower than one, and N single-threaded workers use N
cores without fighting over them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from miscomp.errors import MiscompError

if TYPE_CHECKING:
    from miscomp.run import ScanConfig, ScanPlan

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


def execute(cfg: ScanConfig, plan: ScanPlan, units: list[Unit]) -> Iterator[str]:
    """Run ``units`` with the executor ``cfg`` asks for; yields each finished pair id."""
    if not units:
        return
    if cfg.executor == "ray":
        yield from _ray(cfg, units)
        return
    if cfg.executor != "local":
        raise MiscompError(f"--executor {cfg.executor!r}: expected one of {', '.join(EXECUTORS)}")
    workers = min(cfg.workers or usable_cores(), len(units))
    if workers <= 1:
        for unit in units:
            yield from _run_planned(plan, unit, cfg)
    else:
        yield from _pool(cfg, units, workers)


# ---- what every executor runs -------------------------------------------------------------------

# One resolved plan per scan config in each worker process: building it loads the models (OCR reader
# ~2.5 s, codec weights), which must happen once per worker, not once per unit.
_PLANS: dict[ScanConfig, ScanPlan] = {}


def _worker_plan(cfg: ScanConfig) -> ScanPlan:
    if cfg not in _PLANS:
        from miscomp.run import plan_scan

        _limit_threads(int(os.environ.get("MISCOMP_THREADS") or 1))
        _PLANS[cfg] = plan_scan(cfg)
    return _PLANS[cfg]


def run_unit(cfg: ScanConfig, unit: Unit) -> list[str]:
    """Run one unit in a worker (pool process or Ray worker); returns its pair ids."""
    plan = _worker_plan(cfg)
    return list(_run_planned(plan, unit, cfg))


def _run_planned(plan: ScanPlan, unit: Unit, cfg: ScanConfig) -> Iterator[str]:
    from miscomp.pairs import make_pair_id
    from miscomp.run import _run_original, pending_sources
    from miscomp.store import ResultStore

    store = ResultStore(plan.run_dir)
    # Re-read what is committed, with the driver's resume rule: a retried unit (its first worker
    # died) skips the pairs its first attempt finished.
    ids = {t: make_pair_id(unit.image_id, t) for t in unit.tags}
    rows = {pid: row for pid in ids.values() if (row := store.committed_row(pid)) is not None}
    pending, _ = pending_sources(plan, unit.image_id, unit.path, rows)
    todo = [s for s in pending if s.tag in ids]
    yield from (ids[t] for t in unit.tags if t not in {s.tag for s in todo})
    trace = cfg.trace and bool(todo)  # the original's learned-codec trace score, once per original
    yield from _run_original(plan, store, unit.image_id, unit.path, todo, cfg.convert, cfg.max_pixels, trace)


def _limit_threads(n: int) -> None:
    """Threads per worker for OpenMP, OpenCV and torch (torch only if something imported it)."""
    import sys

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    import cv2

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


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


def _init_pool_worker(cfg: ScanConfig, threads: int) -> None:
    _die_with_parent()
    os.environ["MISCOMP_THREADS"] = str(threads)
    _limit_threads(threads)
    _worker_plan(cfg)  # load the models now, not inside the first unit's timing


def _pool(cfg: ScanConfig, units: list[Unit], workers: int) -> Iterator[str]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from miscomp.settings import Settings

    threads = Settings.from_env().threads
    # spawn, not fork: the driver may already hold torch/OpenMP thread pools, which do not survive a
    # fork (the child can deadlock on a lock held by a thread that does not exist there).
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_pool_worker, initargs=(cfg, threads)
    )
    try:
        pending = {pool.submit(run_unit, cfg, u): u for u in units}
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


def _ray(cfg: ScanConfig, units: list[Unit]) -> Iterator[str]:
    # Ray phones home with usage statistics unless told not to; a scan must not reach the network.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise MiscompError("--executor ray needs Ray: pip install 'miscomp[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # Tasks see the driver's miscomp settings (model folders, cache) wherever they run; paths
        # in them must exist on every node (a shared filesystem, see README "Scaling").
        env = {k: v for k, v in os.environ.items() if k.startswith("MISCOMP_") or k in _FORWARD}
        env.setdefault("MISCOMP_THREADS", "1")
        env.update(RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS=env["MISCOMP_THREADS"])
        kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "configure_logging": False}
        try:
            if cfg.address:
                ray.init(address=cfg.address, **kwargs)
            else:  # a private single-node cluster for this scan, on this machine only
                ray.init(
                    num_cpus=cfg.workers or usable_cores(), include_dashboard=False,
                    _node_ip_address="127.0.0.1", **kwargs,
                )  # fmt: skip
        except Exception as err:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError by version
            where = cfg.address or "a local cluster"
            raise MiscompError(f"--executor ray: cannot connect to {where}: {err}") from None
    task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES, retry_exceptions=False)(run_unit)
    try:
        refs = {task.remote(cfg, u): u for u in units}
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
