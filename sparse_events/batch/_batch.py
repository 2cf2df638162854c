"""Run a per-record function over many records: serial, joblib or Dask."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from .._progress import progress_bar
from .._validation import check_int, check_option


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
    """Picklable wrapper turning exceptions into :class:`BatchItem` errors."""

    def __init__(self, func, kwargs):
        self.func = func
        self.kwargs = kwargs

    def __call__(self, item):
        try:
            return BatchItem(item, self.func(item, **self.kwargs))
        except Exception as exc:  # one bad record must not lose the others
            return BatchItem(item, None, f"{type(exc).__name__}: {exc}",
                             traceback.format_exc())


def run_batch(func, items, *, jobs=1, client=None, progress=None, desc=None,
              backend="loky", **kwargs) -> list[BatchItem]:
    """Apply ``func(item, **kwargs)`` to every item; results in input order.

    Parameters
    ----------
    func : callable
        A picklable (module-level) function of one item.
    items : iterable
        Inputs, e.g. WFDB record paths.
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
        joblib backend for ``jobs != 1``.  With ``"multiprocessing"`` the
        progress bar advances only when every item is done.
    **kwargs
        Passed to ``func``.

    Returns
    -------
    list of BatchItem
        One per item, in the order of ``items``; a failing item has ``error``
        set and does not affect the others.  Results equal the serial run's.

    Notes
    -----
    With the default ``"loky"`` backend the worker processes are started by
    the first call and reused by the following ones (joblib's reusable
    executor; idle workers exit after 300 s), so many small batches pay the
    start-up once: launching the processes and importing ``func``'s module
    (and whatever it imports) in each of them, typically seconds, against
    about 10 ms per later call of a few quick items.  ``"multiprocessing"``
    starts a new pool at every call.
    """
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
    from joblib import Parallel, delayed

    bar = progress_bar(total=len(items), desc=desc, progress=progress)
    out = []
    with bar:
        # results stream back in input order as they complete, except from the
        # multiprocessing backend, which joblib only lets return a list
        return_as = "list" if backend == "multiprocessing" else "generator"
        parallel = Parallel(n_jobs=jobs, backend=backend, return_as=return_as)
        for res in parallel(delayed(guarded)(it) for it in items):
            out.append(res)
            bar.update(1)
    return out


def _run_dask(client, guarded, items, progress, desc):
    from dask.distributed import as_completed

    futures = client.map(guarded, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    out = [None] * len(items)
    with progress_bar(total=len(items), desc=desc, progress=progress) as bar:
        for fut in as_completed(futures):
            out[index[fut.key]] = fut.result()
            bar.update(1)
    return out
