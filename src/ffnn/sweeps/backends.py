"""Where trials run: in this process one after another, in local worker processes, or on a
Dask cluster.  Each backend sends every distinct data set to each worker once and yields the
trials' results as they finish.

* ``SequentialBackend``: this process (one BLAS thread per trial, like the workers).
* ``ProcessBackend``: ``concurrent.futures.ProcessPoolExecutor`` whose workers are forked
  from ``multiprocessing``'s fork server (``forkserver``), which has imported
  ``ffnn.sweeps.preload`` (NumPy, ffnn, numba with its kernels run once) before forking: a
  worker starts in milliseconds, and the server stays up for later sweeps in this process.
  The data go to each worker through its initializer, once.
* ``DaskBackend``: a ``distributed.Client`` on a new ``LocalCluster`` (``n_workers``
  processes, one thread each) or on a running scheduler (``address``); the data are
  ``client.scatter(..., broadcast=True)``-ed once and passed to the tasks as futures.  A
  worker that dies takes its running trials with it; the scheduler runs them again elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator

from .trial import run_trial

# the data sets of a local worker process, set once by its initializer
_WORKER_DATA: dict = {}


class SequentialBackend:
    """One trial after another in this process."""

    name = "sequential"

    def __init__(self) -> None:
        self.workers = 1

    def run(self, trials: list[dict], data: dict) -> Iterator[tuple[dict, dict]]:
        for trial in trials:
            yield trial, run_trial(trial, data[trial["data_key"]])

    def close(self, abandon: bool = False) -> None:
        pass


class ProcessBackend:
    """``workers`` local processes (default: the machine's cores)."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor = None
        self._children: list = []
        self.context = _worker_context()

    def run(self, trials: list[dict], data: dict) -> Iterator[tuple[dict, dict]]:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        before = set(multiprocessing.active_children())
        self._executor = ProcessPoolExecutor(
            max_workers=min(self.workers, len(trials)) or 1,
            mp_context=self.context,
            initializer=_init_worker, initargs=(data,))
        pending = {self._executor.submit(_run_in_worker, t): t for t in trials}
        self._children = [p for p in multiprocessing.active_children() if p not in before]
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                trial = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise RuntimeError(
                        "a worker process died (killed, or out of memory?) while running "
                        f"trial {trial['id']}; the finished trials are recorded: run the same "
                        "sweep again to go on (--workers 1 runs the trials in this process)"
                    ) from None
                yield trial, result

    def close(self, abandon: bool = False) -> None:
        """Stop the workers; ``abandon``: without waiting for the running trials."""
        if self._executor is None:
            return
        self._executor.shutdown(wait=not abandon, cancel_futures=True)
        if abandon:
            for process in self._children:
                if process.is_alive():
                    process.terminate()
            for process in self._children:
                process.join(5)
                if process.is_alive():
                    process.kill()
        self._executor = None


class DaskBackend:
    """Trials as Dask tasks on a new ``LocalCluster`` or an existing scheduler."""

    name = "dask"

    def __init__(self, n_workers: int | None = None, address: str | None = None,
                 client=None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError("ffnn sweep on Dask needs distributed: pip install "
                              "'ffnn[sweep]'") from exc
        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            self.client = Client(address)
        else:
            self._cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1,
                                         threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        self.name = f"dask ({self.client.scheduler.address})"
        self.workers = len(self.client.scheduler_info().get("workers", {}))
        self._futures: list = []

    def run(self, trials: list[dict], data: dict) -> Iterator[tuple[dict, dict]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        keys = sorted({t["data_key"] for t in trials})
        # every distinct data set goes to every worker once; the tasks only name it
        scattered = self.client.scatter({k: data[k] for k in keys}, broadcast=True, hash=False)
        by_key = {}
        for trial in trials:
            # pure=False: the scheduler must not merge two tasks it cannot tell apart; the
            # trial id in the key makes the dashboard readable
            future = self.client.submit(run_trial, _strip(trial), scattered[trial["data_key"]],
                                        key=f"ffnn-trial-{trial['id']}", pure=False)
            by_key[future.key] = trial
            self._futures.append(future)
        for future in as_completed(self._futures):
            trial = by_key[future.key]
            try:
                result = future.result()
            except KilledWorker as exc:  # not a worker's bad luck: this trial kills them
                result = {"row": {"trial": trial["id"], "index": trial["index"],
                                  "status": "failed",
                                  "error": f"KilledWorker: {' '.join(str(exc).split())}"},
                          "files": {}}
            yield trial, result

    def close(self, abandon: bool = False) -> None:
        if self._futures:
            self.client.cancel(self._futures)
            self._futures = []
        if self._own_client:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()


PRELOAD = "ffnn.sweeps.preload"


def _worker_context():
    """The ``forkserver`` context with ffnn's preload, its server started now (it loads
    while this process reads the data); ``spawn`` where there is no fork server (not POSIX)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # the server is one per process: a server someone else started keeps its own preload
    # (the workers then import what they need themselves)
    context.set_forkserver_preload([PRELOAD])
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return context


def _init_worker(data: dict) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the sweep, the workers must
    # not die mid-trial on their own (the parent ends them, with SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM leaves through the `finally` blocks: the trial's temporary directory is removed
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _WORKER_DATA.update(data)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _run_in_worker(trial: dict) -> dict:
    try:
        return run_trial(_strip(trial), _WORKER_DATA[trial["data_key"]])
    except SystemExit as exc:  # SIGTERM from the parent: the trial has cleaned up; go now
        os._exit(exc.code if isinstance(exc.code, int) else 1)


def _strip(trial: dict) -> dict:
    return {k: trial[k] for k in ("id", "index", "settings", "config")}
