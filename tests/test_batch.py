"""Batch runs equal serial runs, keep order and isolate failures."""

import os
import threading
import time
from concurrent.futures import CancelledError

import numpy as np
import pytest

from sparse_events.batch import run_batch


def _deconvolve_seed(seed, n_samples=2000):
    from sparse_events import alpha_max, deconvolve
    from sparse_events.datasets import make_random_spike_train

    d = make_random_spike_train(n_samples, random_state=seed)
    return deconvolve(d.signal, d.kernel, 0.1 * alpha_max(d.signal, d.kernel)).coef


def _fails_on_three(seed):
    if seed == 3:
        raise ValueError("record 3 is unreadable")
    return seed * 2


def test_joblib_equals_serial_and_keeps_order():
    seeds = [5, 1, 4, 2]
    serial = run_batch(_deconvolve_seed, seeds, jobs=1, progress=False)
    parallel = run_batch(_deconvolve_seed, seeds, jobs=2, progress=False)
    assert [b.item for b in parallel] == seeds
    for a, b in zip(serial, parallel):
        assert a.ok and b.ok
        np.testing.assert_array_equal(a.value, b.value)
    for seed, a in zip(seeds, serial):
        np.testing.assert_array_equal(a.value, _deconvolve_seed(seed))


@pytest.mark.parametrize("jobs", [1, 2])
def test_failure_is_reported_and_others_kept(jobs):
    res = run_batch(_fails_on_three, [1, 2, 3, 4], jobs=jobs, progress=False)
    assert [r.ok for r in res] == [True, True, False, True]
    assert [r.value for r in res if r.ok] == [2, 4, 8]
    assert "ValueError: record 3 is unreadable" == res[2].error
    assert "Traceback" in res[2].traceback


def _sleeps(item):
    time.sleep(0.5)
    return item


def test_dask_local_cluster_equals_serial():
    from dask import distributed

    seeds = [3, 0, 2]
    serial = run_batch(_deconvolve_seed, seeds, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = run_batch(_deconvolve_seed, seeds, client=client, progress=False)
        bad = run_batch(_fails_on_three, [3, 1], client=client, progress=False)
        # a task whose workers die (the scheduler gives up after 4 deaths by default;
        # the other tasks of a dying worker are re-run elsewhere): that item's error
        # (the KilledWorker was raised by run_batch, losing every result)
        died = run_batch(_dies_on, [1, 2, 3, 4, 5, 6], client=client, progress=False)
        # a cancelled batch (or a lost scheduler) is not an error of the items: it
        # propagates (it was stored as each item's error and run_batch returned)
        timer = threading.Timer(1.0, lambda: client.cancel(
            [distributed.Future(key, client) for key in list(client.futures)]))
        timer.start()
        with pytest.raises(CancelledError):
            run_batch(_sleeps, list(range(16)), client=client, progress=False)
        timer.join()
    assert [r.ok for r in died] == [True, True, True, False, True, True]
    assert "KilledWorker" in died[3].error
    assert [r.value for r in died if r.ok] == [2, 4, 6, 10, 12]
    assert [r.item for r in res] == seeds
    for a, b in zip(serial, res):
        np.testing.assert_array_equal(a.value, b.value)
    assert not bad[0].ok and bad[1].value == 2


@pytest.mark.parametrize("backend", ["loky", "multiprocessing", "threading"])
def test_every_backend_equals_serial(backend):
    seeds = [4, 3, 0, 6, 1]
    serial = run_batch(_deconvolve_seed, seeds, progress=False)
    res = run_batch(_deconvolve_seed, seeds, jobs=2, backend=backend, progress=False)
    assert [r.item for r in res] == seeds and all(r.ok for r in res)
    for a, b in zip(serial, res):
        np.testing.assert_array_equal(a.value, b.value)
    bad = run_batch(_fails_on_three, [1, 3, 2], jobs=2, backend=backend, progress=False)
    assert [r.ok for r in bad] == [True, False, True]
    assert bad[1].error == "ValueError: record 3 is unreadable"
    assert [bad[0].value, bad[2].value] == [2, 4]


def _dies_on(item, culprits=(4,)):
    if item in culprits:
        os._exit(3)  # a worker that dies: segfault / out-of-memory kill stand-in
    if item == "exit":
        raise SystemExit("record called sys.exit")
    return item * 2


@pytest.mark.parametrize("backend, culprits", [("loky", (4,)),  # restarts take ~1 s
                                               ("multiprocessing", (4, 9))])
def test_worker_death_is_isolated(backend, culprits):
    # a dying worker lost every result (loky: TerminatedWorkerError) or hung forever
    # (multiprocessing); now only the culprits carry an error
    items = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    res = run_batch(_dies_on, items, jobs=2, backend=backend, progress=False,
                    culprits=culprits)
    assert [r.item for r in res] == items
    assert [r.ok for r in res] == [it not in culprits for it in items]
    assert [r.value for r in res if r.ok] == [2 * it for it in items if it not in culprits]
    assert all(r.error.startswith("WorkerDied") for r in res if not r.ok)
    # the pool works normally afterwards
    again = run_batch(_dies_on, [1, 2, 3], jobs=2, backend=backend, progress=False)
    assert [r.value for r in again] == [2, 4, 6]


@pytest.mark.parametrize("jobs", [1, 2])
def test_system_exit_is_the_items_error(jobs):
    # serially, SystemExit escaped run_batch and lost the other results
    res = run_batch(_dies_on, [1, "exit", 3], jobs=jobs, progress=False)
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].error == "SystemExit: record called sys.exit"
    assert [res[0].value, res[2].value] == [2, 6]


def _interrupts(item):
    if item == 2:
        raise KeyboardInterrupt
    return item


def test_keyboard_interrupt_propagates():
    with pytest.raises(KeyboardInterrupt):
        run_batch(_interrupts, [1, 2, 3], progress=False)


def _worker_pid(_):
    return os.getpid()


@pytest.mark.parametrize("jobs", [2, -1])
def test_worker_processes_are_reused_across_calls(jobs):
    """Many small batches start the worker processes once, not once per call."""
    pids = set()
    for first in range(0, 18, 6):
        res = run_batch(_worker_pid, range(first, first + 6), jobs=jobs, progress=False)
        assert [r.item for r in res] == list(range(first, first + 6)) and all(r.ok for r in res)
        pids |= {r.value for r in res}
    n_workers = os.cpu_count() if jobs == -1 else jobs
    assert os.getpid() not in pids  # worker processes, not this one
    # a new pool per call would show up to 3 x n_workers different processes
    assert len(pids) <= n_workers


@pytest.mark.parametrize("items", ["/data/mitdb/101", b"/data/mitdb/101", bytearray(b"ab")])
def test_string_items_are_refused(items):
    # a bare path was iterated character by character (15 one-letter "records")
    with pytest.raises(TypeError, match=r"items must be a list.*\[path\]"):
        run_batch(_fails_on_three, items, progress=False)
    assert [r.item for r in run_batch(_fails_on_three, [items], progress=False)] == [items]


@pytest.mark.parametrize("func", [3, "sparse_events.ecg.ecg_peaks", None])
def test_non_callable_func_is_refused_up_front(func):
    """run_batch(3, items) used to give every item "TypeError: 'int' object is not
    callable"; it is refused before any item runs (a generator of items is not consumed)."""
    consumed = []

    def items():
        for k in range(3):
            consumed.append(k)
            yield k

    with pytest.raises(TypeError, match=r"func must be a callable .*got "):
        run_batch(func, items(), progress=False)
    assert consumed == []
    assert [r.value for r in run_batch(abs, [-1, 2], progress=False)] == [1, 2]


def test_bad_jobs():
    with pytest.raises(ValueError, match="jobs"):
        run_batch(_fails_on_three, [1], jobs=0)


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_bar_shown_on_request_only(capsys, jobs):
    run_batch(_fails_on_three, [1, 2], jobs=jobs, progress=True, desc="records")
    err = capsys.readouterr().err
    assert "records" in err and "2/2" in err
    run_batch(_fails_on_three, [1, 2], jobs=jobs, progress=False, desc="records")
    assert capsys.readouterr().err == ""
    # default: only on an interactive terminal (pytest's captured stderr is not one)
    run_batch(_fails_on_three, [1, 2], jobs=jobs, desc="records")
    assert capsys.readouterr().err == ""


def test_worker_death_while_items_are_submitted():
    # the culprit kills its worker while the parent is still submitting the other
    # items: submit() raised BrokenProcessPool, losing every result (about 9 calls
    # in 10 on the old code; three calls here)
    items = list(range(3000))
    for _ in range(3):
        res = run_batch(_dies_on, items, jobs=2, backend="multiprocessing", progress=False,
                        culprits=(0,))
        assert res[0].error.startswith("WorkerDied")
        assert [r.value for r in res[1:]] == [2 * it for it in items[1:]]


def _interrupts_first(item, out_dir):
    if item == 0:
        raise KeyboardInterrupt
    time.sleep(0.1)
    (out_dir / str(item)).touch()
    return item


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_keyboard_interrupt_in_a_worker_stops_the_batch(tmp_path, backend):
    # multiprocessing waited for every queued item before re-raising (Ctrl-C took
    # as long as the whole batch)
    items = list(range(40))
    with pytest.raises(KeyboardInterrupt):
        run_batch(_interrupts_first, items, jobs=2, backend=backend, progress=False,
                  out_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) < len(items) - 1
    # the next call works normally
    res = run_batch(_interrupts_first, [1, 2, 3], jobs=2, backend=backend, progress=False,
                    out_dir=tmp_path)
    assert [r.value for r in res] == [1, 2, 3]


class _CountsPickling:
    """A keyword argument that counts how often this process pickles it."""

    pickled = 0

    def __getstate__(self):
        type(self).pickled += 1
        return {}

    def __setstate__(self, state):
        pass


def _uses_kwarg(item, arg=None):
    return item


def test_multiprocessing_sends_func_and_kwargs_once_per_worker():
    # they were pickled again with every item (100 items with a 16 MB array: ~5x slower)
    _CountsPickling.pickled = 0
    res = run_batch(_uses_kwarg, list(range(50)), jobs=2, backend="multiprocessing",
                    progress=False, arg=_CountsPickling())
    assert [r.value for r in res] == list(range(50))
    assert _CountsPickling.pickled <= 2


class _UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("__str__ fails")


def _raises_unprintable(item):
    if item == 2:
        raise _UnprintableError
    return item


@pytest.mark.parametrize("jobs", [1, 2])
def test_exception_whose_str_fails_is_the_items_error(jobs):
    # formatting the error raised inside the guard and lost the whole batch
    res = run_batch(_raises_unprintable, [1, 2, 3], jobs=jobs, progress=False)
    assert [r.value for r in res] == [1, None, 3]
    assert res[1].error.startswith("_UnprintableError: ")
    assert "_UnprintableError" in res[1].traceback
