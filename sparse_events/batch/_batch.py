"""Run a per-record function over many records: serial, joblib or Dask."""

from __future__ import annotations

import traceback
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from .._progress import progress_bar
from .._validation import _describe as _describe_value, check_int, check_option


@dataclass
class BatchItem:
    """Outcome of one record.

    Attributes
    ----------
    item : Any
        The input (e.g. a record path).
    value : Any
        What the function returned (``None`` if it failed).
    error : str or None
        ``"ExceptionType: message"`` when the function raised.
    traceback : str or None
        The formatted traceback of the failure.
    """

    item: Any
    value: Any = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Guarded:
    """Picklable wrapper turning exceptions into :class:`BatchItem` errors.

    Every exception of the item becomes its error, ``SystemExit`` (a record
    calling ``sys.exit``) included; only ``KeyboardInterrupt`` propagates.
    """

    def __init__(self, func, kwargs):
        self.func = func
        self.kwargs = kwargs

    def __call__(self, item):
        try:
            return BatchItem(item, self.func(item, **self.kwargs))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # one bad record must not lose the others
            return BatchItem(item, None, _describe(exc), traceback.format_exc())


def _describe(exc):
    """``"ExceptionType: message"``, even when the exception's ``__str__`` raises."""
    try:
        message = str(exc)
    except Exception:
        try:
            message = f"<str() failed> {exc!r}"
        except Exception:
            message = "<str() and repr() failed>"
    return f"{type(exc).__name__}: {message}"


class _Indexed:
    """``(index, item) -> (index, BatchItem)``: results matched to their input."""

    def __init__(self, guarded):
        self.guarded = guarded

    def __call__(self, index, item):
        return index, self.guarded(item)


def _worker_died(item, exc):
    return BatchItem(item, None, f"WorkerDied: the worker process running this item "
                                 f"exited or was killed ({type(exc).__name__}: {exc})")


def run_batch(func, items, *, jobs=1, client=None, progress=None, desc=None,
              backend="loky", **kwargs) -> list[BatchItem]:
    """Apply ``func(item, **kwargs)`` to every item; results in input order.

    Parameters
    ----------
    func : callable
        A picklable (module-level) function of one item.
    items : iterable
        Inputs, e.g. a list of WFDB record paths (a bare ``str``/``bytes`` is
        refused: ``[path]`` for one record).
    jobs : int
        Local worker processes (joblib); 1 runs serially in this process, -1
        uses every core.  Ignored when ``client`` is given.
    client : dask.distributed.Client, optional
        Run on this Dask cluster instead (``LocalCluster`` or a real cluster:
        ``Client("tcp://scheduler:8786")``).  The function and items must be
        importable/picklable on the workers (install sparse-events there).
    progress : bool or None
        tqdm progress bar; ``None`` shows it only on an interactive terminal.
    desc : str, optional
        Progress-bar label.
    backend : {"loky", "multiprocessing", "threading"}
        How ``jobs != 1`` runs: joblib's ``"loky"`` (reused worker processes)
        or ``"threading"`` backend, or ``"multiprocessing"``: a new
        :class:`concurrent.futures.ProcessPoolExecutor` at every call.
    **kwargs
        Passed to ``func``.

    Returns
    -------
    list of BatchItem
        One per item, in the order of ``items``; a failing item has ``error``
        set and does not affect the others.  Results equal the serial run's.
        Every exception raised by an item, ``SystemExit`` included, becomes
        its error; ``KeyboardInterrupt`` propagates.  An item whose worker
        process dies (crash, ``os._exit``, killed for memory) gets the error
        ``"WorkerDied: ..."`` (with Dask: the ``KilledWorker`` error once the
        scheduler gives up on it) and the other items keep their results.
        This needs worker processes: with ``jobs=1``, or a single item, the
        items run in this process, and one that ends it (``os._exit``, a
        crash) ends the caller too.
        Other failures of the machinery itself (Dask futures cancelled or the
        scheduler lost; with "multiprocessing" a result that cannot be pickled)
        propagate.

    Notes
    -----
    With the default ``"loky"`` backend the worker processes are started by
    the first call and reused by the following ones (joblib's reusable
    executor; idle workers exit after 300 s), so many small batches pay the
    start-up once: launching the processes and importing ``func``'s module
    (and whatever it imports) in each of them, typically seconds, against
    about 10 ms per later call of a few quick items.  ``"multiprocessing"``
    starts a new pool at every call.

    When a worker process dies, the items without a result are re-run one per
    worker call (serially) until the one that kills its worker is found and
    marked, then the rest run in parallel again; the ``"threading"`` backend
    cannot survive a dying process (threads share it).
    """
    if not callable(func):
        raise TypeError(f"func must be a callable (a module-level function of one item), "
                        f"got {_describe_value(func)}; the call is run_batch(func, items, ...)")
    if isinstance(items, (str, bytes, bytearray)):
        raise TypeError(f"items must be a list (or other iterable) of inputs, got a "
                        f"{type(items).__name__} ({items[:40]!r}); pass [path] for one item")
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"items must be an iterable of inputs, got "
                        f"{type(items).__name__}") from None
    check_option(backend, "backend", ("loky", "multiprocessing", "threading"))
    guarded = _Guarded(func, kwargs)
    if client is not None:
        return _run_dask(client, guarded, items, progress, desc)
    jobs = check_int(jobs, "jobs")
    if jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1, got {jobs}")
    if jobs == 1 or len(items) <= 1:
        return [guarded(it) for it in progress_bar(items, desc=desc, progress=progress)]
    out = [None] * len(items)
    todo = list(range(len(items)))
    with progress_bar(total=len(items), desc=desc, progress=progress) as bar:
        while todo:
            # all remaining items in parallel; a worker death stops the round
            # with the results so far
            broken = _parallel_round(guarded, items, todo, jobs, backend, out, bar)
            todo = [i for i in todo if out[i] is None]
            if broken is None or not todo:
                break
            # isolate the culprit: the items without a result, one per worker
            # call, until one kills its worker; then back to parallel
            todo = _isolate(guarded, items, todo, jobs, backend, out, bar)
    return out


def _parallel_round(guarded, items, todo, jobs, backend, out, bar):
    """Run ``items[todo]`` in parallel into ``out``; the worker-death exception or None."""
    from joblib import cpu_count

    if backend == "multiprocessing":
        n_workers = cpu_count() if jobs == -1 else jobs
        return _pool_round(guarded, items, todo, min(n_workers, len(todo)), out, bar)
    from joblib import Parallel, delayed

    task = _Indexed(guarded)
    parallel = Parallel(n_jobs=jobs, backend=backend, return_as="generator_unordered")
    try:
        for i, res in parallel(delayed(task)(i, items[i]) for i in todo):
            out[i] = res
            bar.update(1)
    except BrokenExecutor as exc:
        return exc
    return None


def _pool_round(guarded, items, todo, n_workers, out, bar):
    """:func:`_parallel_round` on a new ProcessPoolExecutor."""
    ex = _new_pool(guarded, n_workers)
    futures = {}
    broken = None
    try:
        try:
            for i in todo:
                futures[ex.submit(_call_worker_guarded, items[i])] = i
        except BrokenExecutor as exc:  # a worker died while items were still submitted
            broken = exc
        if broken is None:
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except BrokenExecutor as exc:
                    broken = exc
                    break
                out[futures[fut]] = res
                bar.update(1)
        if broken is not None:
            # once the pool's manager thread is done, every future it will ever
            # complete is done: keep the results that made it
            ex.shutdown(wait=True)
            for fut, i in futures.items():
                if out[i] is None and fut.done() and not fut.cancelled() \
                        and not isinstance(fut.exception(), BrokenExecutor):
                    out[i] = fut.result()
                    bar.update(1)
    except BaseException:
        # Ctrl-C, an item's KeyboardInterrupt, a result that cannot be sent back:
        # do not wait for the queued items
        _abandon(ex)
        raise
    ex.shutdown(wait=True)
    return broken


def _isolate(guarded, items, todo, jobs, backend, out, bar):
    """Run ``items[todo]`` one per worker call until one kills its worker (marked
    with the error); the indices still to run."""
    from joblib import Parallel, delayed

    pool = _new_pool(guarded, 1) if backend == "multiprocessing" else None
    try:
        for k, i in enumerate(todo):
            try:
                if pool is not None:
                    res = pool.submit(_call_worker_guarded, items[i]).result()
                else:
                    res = Parallel(n_jobs=jobs, backend=backend)([delayed(guarded)(items[i])])[0]
            except BrokenExecutor as exc:
                out[i] = _worker_died(items[i], exc)
                bar.update(1)
                return todo[k + 1:]
            out[i] = res
            bar.update(1)
    except BaseException:
        if pool is not None:
            _abandon(pool)
        raise
    if pool is not None:
        pool.shutdown(wait=True)
    return []


# The guarded function of a ProcessPoolExecutor's worker process, set once per
# process by the pool's initializer: the function and its keyword arguments
# (possibly large arrays) are not sent again with every item.
_WORKER_GUARDED = None


def _set_worker_guarded(guarded):
    global _WORKER_GUARDED
    _WORKER_GUARDED = guarded


def _call_worker_guarded(item):
    return _WORKER_GUARDED(item)


def _new_pool(guarded, n_workers):
    return ProcessPoolExecutor(max_workers=n_workers, initializer=_set_worker_guarded,
                               initargs=(guarded,))


def _abandon(ex):
    """Cancel the queued items of a ProcessPoolExecutor and terminate its workers
    without waiting for the running items."""
    processes = list((ex._processes or {}).values())  # private; stable since 3.3
    ex.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _run_dask(client, guarded, items, progress, desc):
    from dask.distributed import KilledWorker
    from dask.distributed import as_completed as dask_as_completed

    futures = client.map(guarded, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    out = [None] * len(items)
    with progress_bar(total=len(items), desc=desc, progress=progress) as bar:
        for fut in dask_as_completed(futures):
            i = index[fut.key]
            try:
                out[i] = fut.result()
            except KilledWorker as exc:  # the item's workers died; the item's own
                # errors are in its BatchItem, anything else (cancelled, lost
                # connection to the scheduler) propagates
                out[i] = BatchItem(items[i], None, _describe(exc), traceback.format_exc())
            bar.update(1)
    return out
