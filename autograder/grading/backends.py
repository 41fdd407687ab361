"""Where :func:`~autograder.sandboxed.run_task` runs: this process, a local process pool, or Dask.

Each backend turns an iterator of tasks into an iterator of results, in completion order, with
only a small window of tasks in flight (memory stays flat for a class of any size, and a crash of
the coordinator loses little work). A worker that dies is the grader's failure, not the
student's: the submissions it held are retried, and one that kills a worker again is reported
with the status ``error`` and left unrecorded.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from autograder.messages import GradeTask, TaskResult, failed
from autograder.sandboxed import probe_reference, run_task, shared_zygote

Outcome = tuple[GradeTask, TaskResult]


class Backend(Protocol):
    workers: int

    def results(self, tasks: Iterable[GradeTask]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


class Serial:
    """Grade in this process, one submission after another (for ``--workers 1`` and profiling)."""

    workers = 1

    def results(self, tasks: Iterable[GradeTask]) -> Iterator[Outcome]:
        for task in tasks:
            try:
                result = run_task(task)
            except Exception as err:  # a bug on our side: say so, keep grading the rest
                result = failed(task, f"{type(err).__name__}: {err}")
            yield task, result

    def close(self) -> None:
        pass


def _init_worker(shared: str | None, environ: dict[str, str], cwd: str) -> None:
    """A worker's start: the coordinator's environment and folder as they are now (a fork of
    the forkserver has them as they were when it started), then its zygote and imports."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    from autograder.sandboxed import warm_up

    warm_up(shared)


#: What a local pool's worker imports before its first task: with ``forkserver``, once for the
#: pool, in the process each worker is forked from.
PRELOAD = ["autograder.grading.backends", "autograder.sandboxed.execute_cells", "nbgrader.utils"]


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where there is one (the workers share its imports; it has no threads, and
    holds nothing of the coordinator's), else ``spawn``: never a fork of the coordinator."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


#: How many times a submission is tried again after its worker died (Dask's ``allowed-failures``,
#: which the local pool follows too): once, so a worker killed twice is the submission's doing.
RETRIES = 1


class Pool:
    """A local pool of long-lived worker processes, forked from a ``forkserver`` that has done
    their imports (:data:`PRELOAD`), or started with ``spawn`` where there is none.

    The workers start at once and do their heavy imports (about a second) in the background,
    while the coordinator prepares the workspace. Where kernels start warm, the pool first starts
    one zygote that its workers share (:mod:`autograder.sandboxed.shared_zygote`): each
    worker's zygote is a fork of it, so torch is imported once for the pool, not once a worker.

    NOTE: the retries are ours, not a library's. Dask's ``allowed-failures`` does this job on a
    cluster (see :class:`Dask`), but a Dask scheduler costs a process and was 14% slower than this
    pool on two cores (benchmarks/grading.py), and ``ProcessPoolExecutor`` has no retries at all:
    when one worker dies the whole pool breaks, every task in flight fails with
    ``BrokenProcessPool``, and nothing says which task killed it. So the tasks in flight are
    retried one at a time, each alone in a fresh pool, and one that breaks it again is reported
    (``RETRIES`` = 1, as Dask is told).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.zygote = shared_zygote()  # the workers' zygotes are forks of this one
        self.pool = self._start()

    def _start(self, spawn: bool = False) -> ProcessPoolExecutor:
        """A pool whose workers start now; with ``spawn``, or where the forkserver cannot fork
        them (it was killed: a kernel outside the sandbox can see it), each a fresh process."""
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn") if spawn else _context(),
            initializer=_init_worker,
            initargs=(
                None if self.zygote is None else self.zygote.path,
                dict(os.environ),
                os.getcwd(),
            ),
        )
        try:
            for _ in range(self.workers):  # each submission starts one more worker, up to the limit
                pool.submit(os.getpid)
        except OSError:
            pool.shutdown(wait=False, cancel_futures=True)
            if spawn:
                raise
            return self._start(spawn=True)
        return pool

    def results(self, tasks: Iterable[GradeTask]) -> Iterator[Outcome]:
        source = iter(tasks)
        suspects: deque[GradeTask] = deque()  # in flight when a worker died: retried one by one
        pending: dict[Future, GradeTask] = {}
        alone: GradeTask | None = None  # a suspect running by itself: if the pool breaks, it did
        while True:
            limit = 1 if suspects or alone else 2 * self.workers
            while len(pending) < limit:
                task = suspects.popleft() if suspects and not pending else None
                if task is not None:
                    alone = task
                elif not suspects and alone is None:
                    task = next(source, None)
                if task is None:
                    break
                pending[self.pool.submit(run_task, task)] = task
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    if task is alone:
                        alone = None
                        self._restart()
                        yield task, failed(task, "a grading worker died twice grading this")
                        continue
                    suspects.extend([task, *pending.values()])
                    pending.clear()
                    self._restart()
                    break
                except Exception as err:  # a bug on our side: say so, keep grading the rest
                    result = failed(task, f"{type(err).__name__}: {err}")
                if task is alone:
                    alone = None
                yield task, result

    def reference(self, *args: Any) -> Any:
        """:func:`~autograder.sandboxed.probe_reference` in one of this pool's workers, whose
        zygote has started already (the coordinator's own would cost one more), ahead of the
        submissions not yet sent; in this process if the pool breaks meanwhile (a submission
        that killed its worker)."""
        try:
            return self.pool.submit(probe_reference, *args).result()
        except (BrokenProcessPool, RuntimeError):  # RuntimeError: the pool was restarted
            return probe_reference(*args)

    def _restart(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._start()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.zygote is not None:
            self.zygote.stop()
        _stop_forkserver()


def _stop_forkserver() -> None:
    """End the forkserver, which would otherwise outlive the pool as long as this process
    lives; the next pool starts it again."""
    # NOTE: multiprocessing has no public way to stop it; ForkServer._stop is what CPython's
    # own tests call (3.8 and later). Without it, the forkserver idles until this process ends.
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


class Dask:
    """A Dask distributed cluster: an existing scheduler's, or a loopback LocalCluster of ours."""

    def __init__(self, scheduler: str | None = None, local_workers: int = 0) -> None:
        import dask
        from distributed import Client, LocalCluster

        self.cluster: Any = None
        self.zygote = None  # a local cluster's workers share one, as a pool's do
        if scheduler:  # its own scheduler's allowed-failures apply (Dask's default is 3)
            self.client = Client(scheduler, timeout=60)
        else:
            # A submission whose task kills its worker is tried once more, then KilledWorker.
            # NOTE: a worker holds only the task it runs (saturation 1.0: Dask's default, 1.1,
            # sends it the next one early); a task queued on a worker that dies counts as a
            # failure of its own, and an innocent submission behind a killer ended as an error.
            # NOTE: and no statistical profiler in the workers, a dashboard's diagnostic: it
            # walks the stacks of every worker thread 100 times a second, a grading thread's
            # deep in nbclient, and a local cluster gave 0.80x a local pool's throughput with it
            dask.config.set(
                {
                    "distributed.scheduler.allowed-failures": RETRIES,
                    "distributed.scheduler.worker-saturation": 1.0,
                    "distributed.worker.profile.enabled": False,
                }
            )
            self.zygote = shared_zygote()
            self.cluster = LocalCluster(
                n_workers=local_workers,
                threads_per_worker=1,  # one submission per worker process at a time
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # None still serves on 8787: one per machine
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        # No warm-up round: each worker does the heavy imports in its first task and keeps them,
        # but its zygote (warm kernels) starts now, on each worker, with the plugin
        from autograder.grading.zygotes import Zygotes

        self.client.register_plugin(Zygotes(None if self.zygote is None else self.zygote.path))
        self.workers = max(1, sum(self.client.nthreads().values()))

    def reference(self, *args: Any) -> Any:
        """:func:`~autograder.sandboxed.probe_reference` in a worker of a local cluster (its
        processes are this machine's and ours, as a pool's are), ahead of the submissions
        queued; in this process if it fails there. A remote cluster's workers never run it."""
        if self.cluster is None:
            return probe_reference(*args)
        try:
            return self.client.submit(probe_reference, *args, pure=False, priority=1).result()
        except Exception:  # a worker that died meanwhile, say: the reference runs here instead
            return probe_reference(*args)

    def results(self, tasks: Iterable[GradeTask]) -> Iterator[Outcome]:
        from distributed import as_completed

        source = iter(tasks)
        pending: dict[Any, GradeTask] = {}  # Dask future key -> its task
        running = as_completed()

        def submit() -> bool:
            task = next(source, None)
            if task is None:
                return False
            future = self.client.submit(run_task, task, pure=False)
            pending[future.key] = task
            running.add(future)
            return True

        for _ in range(2 * self.workers):
            if not submit():
                break
        for future in running:
            task = pending.pop(future.key)
            try:
                result = future.result()
            except Exception as err:  # KilledWorker after Dask's own retries, or a bug
                first = str(err).split(". ")[0]  # KilledWorker explains itself at length
                result = failed(task, f"{type(err).__name__}: {first}")
            future.release()
            submit()
            yield task, result

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.zygote is not None:
            self.zygote.stop()


def backend(workers: int, scheduler: str | None = None, dask_local: int = 0) -> Backend:
    """The backend the ``grade`` options ask for."""
    if scheduler or dask_local:
        return Dask(scheduler, dask_local)
    return Serial() if workers <= 1 else Pool(workers)
