"""The same steps in this process or on Dask: executors and the local cluster."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from distributed import Client


# On Dask, images per histogram task: up to this many, and small enough that every worker
# gets about _CHUNKS_PER_WORKER tasks. A task sums its images' histograms in place, which
# costs a fraction of a merge task per image (and of the scheduler's work per task).
_CHUNK_MAX: Final = 8
_CHUNKS_PER_WORKER: Final = 4


# --------------------------------------------------------------------------------------------
# Executors: the same steps in process or on Dask


class _Ready:
    """A computed value with the interface of a Dask future (for the in-process path)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class InProcess:
    """Runs every task here, at once; map results come in submission order."""

    def submit(self, fn: Callable[..., Any], *args: Any, worker: str | None = None) -> _Ready:
        return _Ready(fn(*(a.value if isinstance(a, _Ready) else a for a in args)))

    def fit_worker(self, warm_up: Callable[[], None]) -> str | None:
        """Nothing to prepare in process (the fit loads its kernels when it runs)."""
        return None

    def chunk_size(self, n_items: int) -> int:
        """One image per histogram step in process: progress counts every image."""
        return 1

    def map_completed(
        self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any
    ) -> Iterator[tuple[Any, _Ready]]:
        """``(item, result)`` pairs, in order."""
        for item in items:  # lazily, so that only one image is in memory at a time
            yield item, self.submit(fn, item, None, *shared)

    def gather(self, future: Any) -> Any:
        return future.value


def _payload(item: Any) -> tuple[Any, Any]:
    """Split a task's in-memory pixels or bytes off it (paths stay: workers read them)."""
    if isinstance(item, tuple):  # a chunk of sources: a list of payloads, or None
        split = [_payload(source) for source in item]
        if all(payload is None for _, payload in split):
            return item, None
        return tuple(task for task, _ in split), [payload for _, payload in split]
    # A label job carries its source; a histogram task is the source itself.
    job = hasattr(item, "source")
    source = item.source if job else item
    if isinstance(source.data, str):
        return item, None
    stripped = replace(source, data=None)
    return (replace(item, source=stripped) if job else stripped), source.data


class OnDask:
    """Runs tasks on a ``distributed.Client``; yields futures as they complete.

    Counts the pickled bytes of the tasks it sends (through the scheduler) and of the
    results it gathers, for :attr:`CollectionResult.traffic`.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.task_bytes = 0
        self.result_bytes = 0
        self._warm_up: Any = None  # held, so that Dask runs it

    def _count(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        import pickle

        plain = tuple(a for a in args if not hasattr(a, "key"))  # futures are references
        self.task_bytes += len(pickle.dumps((fn, plain), protocol=pickle.HIGHEST_PROTOCOL))

    def submit(self, fn: Callable[..., Any], *args: Any, worker: str | None = None) -> Any:
        """Run ``fn(*args)`` on the cluster; preferably on `worker` (any other if it is lost)."""
        self._count(fn, args)
        if worker is None:
            return self.client.submit(fn, *args, pure=False)
        return self.client.submit(fn, *args, pure=False, workers=[worker], allow_other_workers=True)

    def fit_worker(self, warm_up: Callable[[], None]) -> str | None:
        """A worker to run the fit on, told now to run `warm_up` (load the fit's compiled kernels).

        Loading them (numba and its registries) takes about a second the first time in a
        process; done while the other workers count colours, it is off the fit's path.
        """
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            return None
        self._warm_up = self.submit(warm_up, worker=workers[0])
        return workers[0]

    def chunk_size(self, n_items: int) -> int:
        """Images per histogram task for `n_items` images on this cluster."""
        workers = max(1, len(self.client.scheduler_info()["workers"]))
        return max(1, min(_CHUNK_MAX, n_items // (_CHUNKS_PER_WORKER * workers)))

    def map_completed(
        self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any
    ) -> Iterator[tuple[Any, Any]]:
        """``(item, future)`` pairs as the futures complete."""
        from distributed import as_completed

        if not items:
            return
        futures = []
        for item in items:
            task, payload = _payload(item)
            if payload is not None:
                # In-memory images go straight to a worker, not through the task graph.
                payload = self.client.scatter(payload, hash=False)
            self._count(fn, (task,))
            futures.append(self.client.submit(fn, task, payload, *shared, pure=False))
        item_of = {future.key: item for future, item in zip(futures, items, strict=True)}
        try:
            for future in as_completed(futures):
                yield item_of[future.key], future
        finally:
            # Interrupted (Ctrl-C) or done: release what is still running.
            self.client.cancel([f for f in futures if not f.done()])

    def gather(self, future: Any) -> Any:
        import pickle

        value = future.result()
        self.result_bytes += len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value

    def worker_stats(self) -> dict[str, dict[str, int]]:
        """Per worker: bytes sent to other workers so far, and peak resident memory."""
        return self.client.run(_worker_stats)


def _worker_stats(dask_worker: Any = None) -> dict[str, int]:
    import resource

    return {
        "sent_to_workers": int(getattr(dask_worker, "transfer_outgoing_bytes_total", 0)),
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def make_executor(client: Client | None) -> InProcess | OnDask:
    if client is None:
        return InProcess()
    if not hasattr(client, "submit") or not hasattr(client, "map"):
        raise TypeError(
            f"client must be a dask.distributed.Client or None, got {type(client).__name__}. "
            "Connect with distributed.Client('tcp://HOST:8786') or use core.local_client()."
        )
    return OnDask(client)


@contextlib.contextmanager
def local_client(n_workers: int | None = None) -> Iterator[Client]:
    """A ``LocalCluster`` of worker processes (one thread each) and a client, closed after.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default: the number of CPUs.

    Yields
    ------
    distributed.Client

    Raises
    ------
    RuntimeError
        If called while a spawned worker process re-imports the calling script, i.e. the
        script does not guard it with ``if __name__ == "__main__":``.
    """
    import dask
    from distributed import Client, LocalCluster

    if (
        multiprocessing.parent_process() is not None
        and multiprocessing.current_process().name != "MainProcess"
    ):
        raise RuntimeError(
            "core.local_client() was called while a worker process imported your script. "
            "Put the code that starts the cluster under 'if __name__ == \"__main__\":'."
        )
    workers = n_workers or os.cpu_count() or 1
    with (
        # One thread per worker process for numba too (Dask already pins BLAS and OpenMP):
        # W workers on W cores, not W x cores threads fighting over them.
        dask.config.set(
            {
                "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": "1",
                # Dask sets MALLOC_TRIM_THRESHOLD_, which also fixes glibc's mmap threshold
                # at 128 KiB: every image-sized array is then mapped and faulted in afresh
                # (about 25 % more CPU per image). Arrays up to 32 MiB come from the heap.
                "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(1 << 25),
            }
        ),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            # Failures reach the caller as exceptions (the CLI: one line); Dask's own log of
            # a failed task or a closed connection would only repeat them as tracebacks.
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
