"""LASSO deconvolution: time to a relative suboptimality of 1e-6, ours vs peers.

Problem: the random-shapes case study of Luengo, Via and Trigano
(:func:`sparse_events.datasets.make_random_spike_train`: ``h ~ N(0, 1)`` of
length ``Lh`` = 12 or 70; one spike per 100 samples at ``100 k + U{1..10}`` with
``N(0, 1)`` amplitude; white noise at 20 dB input SNR; causal convolution) and

    P(s) = 0.5 ||y - H s||^2 + lam ||s||_1,   lam = 0.1 or 0.01 * alpha_max.

Every solver's output is scored with this objective (evaluated by direct
convolution); the reference optimum ``P*`` comes from our coordinate descent
at ``tol=1e-13`` (its duality gap certifies ``P*`` to that precision) and is
cross-checked against a second solver (our FISTA on small problems, celer on
larger ones).  Suboptimality is ``(P(s) - P*) / P*``.

Timing (as benchopt does): each solver runs from scratch with a sequence of
increasing budgets (iterations) or decreasing tolerances; the reported time is
the first run whose output reaches the target suboptimality.  Peers are capped
by ``--time-limit`` (scaled with N below 1e6); a peer that times out is not run
at larger N.  Every solver runs in its own worker process pinned to one
thread, after a warm-up solve (imports, numba compilation; ours also loads
every compiled kernel of its coordinate descent, since a short warm-up solve
does not reach all of them; our compile latency is reported separately) and
one untimed full-size run at the loosest budget of its sweep (so that no
solver's timed run is its first full-size call: first-touch page faults and
lazy set-up fall outside every timed run, not only outside those of solvers
whose sweep needs several budgets).
Times are process CPU time (``time.process_time``; the 2-core machine is
shared, CPU time is what load perturbs least) and wall time.  Peak memory: resident high-water mark of the solve beyond what was
resident before it (``/proc/self/clear_refs`` + ``VmHWM``; see
``benchmarks/_common.py``), which includes any copy of the inputs a solver makes.

Peers and how they are given the same problem:

* scikit-learn ``Lasso`` on the banded CSC matrix H (``alpha = lam / N``,
  ``fit_intercept=False``, ``tol=0``, budget ``max_iter``);
* skglm ``Lasso`` and celer ``Lasso`` on the same matrix (``alpha = lam / N``,
  budget ``tol``);
* PyLops ``fista`` on ``Convolve1D(N, h, offset=0)`` (causal; PyLops thresholds
  at ``eps * step / 2``, so ``eps = 2 lam``; step ``1 / L`` with our Lipschitz
  bound, sparing PyLops its eigenvalue estimate; budget ``niter``);
* sporco ``admm.cbpdn.ConvBPDN`` (objective ``0.5 ||sum d * x - s||^2 +
  lmbda ||w x||_1``, so ``lmbda = lam``; circular convolution over
  ``N + L - 1`` samples with weight 1e12 on the last ``L - 1`` coefficients
  (forced to zero: the circular product is then the full linear convolution);
  budget ``MaxMainIter``);
* alphacsc ``update_z_multi(..., solver="lgcd", positive=False)`` (locally
  greedy coordinate descent, full convolution of ``N`` coefficients, budget
  ``tol``).

sporco and alphacsc model the full convolution (``N + L - 1`` outputs); their
signal is ``y`` followed by the last ``L - 1`` samples of ``conv(s*, h)`` (``s*``
the reference solution), which makes the two problems share their minimiser
(the extra term vanishes with zero gradient at ``s*``) and keeps their
objective an upper bound of ours.

Run ``python benchmarks/lasso_deconvolution.py`` (full run: sizes 1e4..1e7) or
with ``--quick`` (1e4 and 1e5, short limits); ``--sizes``, ``--peers``,
``--configs``, ``--time-limit`` rerun parts; ``--write-results`` rewrites this
script's section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    PeakMemory,
    command_line,
    format_bytes,
    machine_info,
    markdown_table,
    package_versions,
    replace_section,
    single_thread_env,
)

HERE = Path(__file__).resolve().parent
SECTION = "lasso_deconvolution"
PEERS = ("ours", "sklearn", "skglm", "celer", "pylops", "sporco", "alphacsc")
DEFAULT_CONFIGS = ((12, 0.1), (12, 0.01), (70, 0.1), (70, 0.01))
DEFAULT_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
PEER_MAX_SIZE = 1_000_000  # peers are not run beyond this size (the issue: "1e7 ours only")
VERSIONS = ("sparse-events", "numpy", "scipy", "numba", "scikit-learn", "skglm", "celer",
            "pylops", "sporco", "alphacsc")


# --------------------------------------------------------------------------- problem
def make_problem(n, kernel_length, ratio, seed):
    from sparse_events.datasets import make_random_spike_train
    from sparse_events.models import alpha_max

    st = make_random_spike_train(n, kernel_length=kernel_length, random_state=seed)
    y, h = st.signal, st.kernel
    lam = ratio * alpha_max(y, h)
    return y, h, lam


def objective(y, h, lam, s):
    """0.5 ||y - H s||^2 + lam ||s||_1 with H the causal convolution (direct sums)."""
    s = np.asarray(s, dtype=np.float64).ravel()
    r = y - np.convolve(s, h)[: y.size]
    return 0.5 * float(r @ r) + lam * float(np.abs(s).sum())


def banded_matrix(h, n):
    """Causal convolution as a CSC matrix: H[i, j] = h[i - j] for 0 <= i - j < L."""
    import scipy.sparse as sp

    L = h.size
    return sp.diags([np.full(n - k, h[k]) for k in range(min(L, n))],
                    [-k for k in range(min(L, n))], shape=(n, n), format="csc")


# --------------------------------------------------------------------------- runners
class Runner:
    """One solver on one problem: ``prepare`` (untimed), then ``run(budget)`` -> coef."""

    budgets = ()
    budget_name = ""

    def __init__(self, y, h, lam, tail):
        self.y, self.h, self.lam, self.tail = y, h, lam, tail
        self.n = y.size

    def warmup(self):
        pass

    def run(self, budget):  # pragma: no cover - interface
        raise NotImplementedError


def _tols(first, last, per_decade=1):
    k = np.arange(round(-np.log10(first) * per_decade), round(-np.log10(last) * per_decade) + 1)
    return tuple(float(f"{10.0 ** (-i / per_decade):.3g}") for i in k)


def _iters(first, last, factor=1.5):
    out, v = [], float(first)
    while v <= last:
        if not out or int(round(v)) != out[-1]:
            out.append(int(round(v)))
        v *= factor
    return tuple(out)


class Ours(Runner):
    budget_name = "tol"
    budgets = _tols(1e-1, 1e-10)

    def warmup(self):
        from sparse_events.models import deconvolve
        from sparse_events.solvers import _cd_kernels

        deconvolve(self.y[:2000], self.h, self.lam, tol=1e-8)
        # every compiled kernel, not only those the short solve reaches: a 2000-sample solve
        # takes no Newton step, and loading `banded_newton` from numba's cache (about 10 ms)
        # then fell into the first timed run (measured 2026-11-24: 10.7 ms instead of 0.6 ms
        # at N = 1e4, Lh = 12, lam = 0.1 lam_max)
        _cd_kernels.warmup()

    def run(self, tol):
        from sparse_events.models import deconvolve

        return deconvolve(self.y, self.h, self.lam, tol=tol, max_iter=1000).coef


class SklearnLasso(Runner):
    budget_name = "max_iter"
    budgets = _iters(1, 5000)

    def prepare(self):
        self.H = banded_matrix(self.h, self.n)

    def _fit(self, H, y, max_iter):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import Lasso

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = Lasso(alpha=self.lam / y.size, fit_intercept=False, tol=0.0, max_iter=max_iter,
                      selection="cyclic")
            m.fit(H, y)
        return m.coef_

    def warmup(self):
        self._fit(banded_matrix(self.h, 500), self.y[:500], 5)

    def run(self, max_iter):
        return self._fit(self.H, self.y, max_iter)


class SkglmLasso(SklearnLasso):
    budget_name = "tol"
    budgets = _tols(1e-1, 1e-12, 2)

    def _fit(self, H, y, tol):
        from skglm import Lasso

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = Lasso(alpha=self.lam / y.size, fit_intercept=False, tol=tol, max_iter=1000,
                      max_epochs=100_000)
            m.fit(H, y)
        return m.coef_

    def warmup(self):
        self._fit(banded_matrix(self.h, 500), self.y[:500], 1e-8)

    def run(self, tol):
        return self._fit(self.H, self.y, tol)


class CelerLasso(SkglmLasso):
    def _fit(self, H, y, tol):
        from celer import Lasso

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = Lasso(alpha=self.lam / y.size, fit_intercept=False, tol=tol, max_iter=1000,
                      max_epochs=100_000)
            m.fit(H, y)
        return m.coef_


class PylopsFista(Runner):
    budget_name = "niter"
    budgets = _iters(10, 200_000, 2.0)

    def prepare(self):
        from pylops.signalprocessing import Convolve1D

        from sparse_events.operators import ConvolutionOperator

        self.op = Convolve1D(self.n, h=self.h, offset=0)
        self.step = 1.0 / ConvolutionOperator(self.h, self.n).lipschitz_constant()

    def warmup(self):
        from pylops.optimization.sparsity import fista
        from pylops.signalprocessing import Convolve1D

        fista(Convolve1D(500, h=self.h, offset=0), self.y[:500], niter=5, eps=2 * self.lam,
              alpha=self.step, tol=0.0)

    def run(self, niter):
        from pylops.optimization.sparsity import fista

        return fista(self.op, self.y, niter=niter, eps=2.0 * self.lam, alpha=self.step,
                     tol=0.0)[0]


class SporcoCBPDN(Runner):
    budget_name = "MaxMainIter"
    budgets = _iters(10, 100_000, 2.0)

    def prepare(self):
        L = self.h.size
        self.signal = np.concatenate([self.y, self.tail])
        self.weights = np.ones((self.n + L - 1, 1, 1, 1))
        self.weights[self.n:] = 1e12

    def _solve(self, signal, weights, iters):
        from sporco.admm import cbpdn

        opt = cbpdn.ConvBPDN.Options({
            "Verbose": False, "MaxMainIter": int(iters), "RelStopTol": 0.0,
            "AbsStopTol": 0.0, "FastSolve": True, "L1Weight": weights,
            "DataType": np.float64})
        solver = cbpdn.ConvBPDN(self.h[:, None], signal, self.lam, opt, dimK=0, dimN=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solver.solve()
        return np.asarray(solver.getcoef()).ravel()[: signal.size - self.h.size + 1]

    def warmup(self):
        L = self.h.size
        w = np.ones((500 + L - 1, 1, 1, 1))
        w[500:] = 1e12
        self._solve(np.concatenate([self.y[:500], np.zeros(L - 1)]), w, 5)

    def run(self, iters):
        return self._solve(self.signal, self.weights, iters)


class AlphacscLGCD(Runner):
    budget_name = "tol"
    budgets = _tols(1e-1, 1e-10, 2)

    def prepare(self):
        self.X = np.concatenate([self.y, self.tail])[None, None, :]

    def _solve(self, X, tol):
        from alphacsc.update_z_multi import update_z_multi

        z = update_z_multi(X, self.h[None, None, :], reg=self.lam, solver="lgcd",
                           solver_kwargs={"tol": tol, "max_iter": 1e15}, positive=False)[0]
        return np.asarray(z).ravel()

    def warmup(self):
        self._solve(np.concatenate([self.y[:500], np.zeros(self.h.size - 1)])[None, None],
                    1e-2)

    def run(self, tol):
        return self._solve(self.X, tol)


RUNNERS = {"ours": Ours, "sklearn": SklearnLasso, "skglm": SkglmLasso, "celer": CelerLasso,
           "pylops": PylopsFista, "sporco": SporcoCBPDN, "alphacsc": AlphacscLGCD}
LABELS = {"ours": "sparse-events CD", "sklearn": "scikit-learn Lasso (sparse H)",
          "skglm": "skglm Lasso (sparse H)", "celer": "celer Lasso (sparse H)",
          "pylops": "PyLops FISTA (Convolve1D)", "sporco": "sporco ConvBPDN (ADMM)",
          "alphacsc": "alphacsc LGCD"}


# --------------------------------------------------------------------------- workers
def _emit(obj):
    print(json.dumps(obj), flush=True)


def worker_reference(args):
    """Reference optimum: our CD at tol 1e-13, cross-checked with a second solver."""
    from sparse_events.models import deconvolve

    y, h, lam = make_problem(args.n, args.kernel_length, args.ratio, args.seed)
    t0 = time.perf_counter()
    res = deconvolve(y, h, lam, tol=1e-13, max_iter=10_000)
    t_ref = time.perf_counter() - t0
    s = res.coef
    p_cd = objective(y, h, lam, s)
    check, p_check = None, None
    if args.n <= 10_000:
        check = "our FISTA (tol 1e-12)"
        r2 = deconvolve(y, h, lam, tol=1e-12, max_iter=2_000_000, solver="fista")
        p_check = objective(y, h, lam, r2.coef)
    elif args.n <= 1_000_000:
        check = "celer (tol 1e-12)"
        try:
            runner = CelerLasso(y, h, lam, None)
            runner.prepare()
            p_check = objective(y, h, lam, runner.run(1e-12))
        except ImportError:  # pragma: no cover - optional peer
            check = None
    p_star = p_cd if p_check is None else min(p_cd, p_check)
    tail = np.convolve(s, h)[y.size:]
    idx = np.flatnonzero(s)
    np.savez(args.cache, p_star=p_star, tail=tail, idx=idx, val=s[idx])
    _emit({"p_star": p_star, "p_cd": p_cd, "gap_rel": res.gap / res.objective[-1],
           "check": check, "p_check": p_check, "support": int(idx.size), "t_ref": t_ref})


def worker_solver(args):
    """Budget sweeps of one solver on every job of ``args.jobs`` (JSON list of
    ``[kernel_length, ratio, cache, start]``); one JSON line per run."""
    for kernel_length, ratio, cache, start in json.loads(args.jobs):
        tag = {"kernel_length": kernel_length, "ratio": ratio}
        y, h, lam = make_problem(args.n, kernel_length, ratio, args.seed)
        ref = np.load(cache)
        p_star = float(ref["p_star"])
        runner = RUNNERS[args.solver](y, h, lam, ref["tail"])
        if hasattr(runner, "prepare"):
            runner.prepare()
        runner.warmup()
        if start < len(runner.budgets):
            # one untimed full-size run at the loosest budget of the sweep, for every
            # solver: the timed runs then all come after a first full-size call (its
            # first-touch page faults and lazy set-up), not only those of solvers whose
            # sweep needs several budgets
            runner.run(runner.budgets[start])
            gc.collect()
        t_total = 0.0
        for index in range(start, len(runner.budgets)):
            budget = runner.budgets[index]
            gc.collect()
            with PeakMemory() as mem:
                w0, c0 = time.perf_counter(), time.process_time()
                coef = runner.run(budget)
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            coef = np.asarray(coef, dtype=np.float64).ravel()
            if coef.size != y.size or not np.all(np.isfinite(coef)):
                _emit(dict(tag, budget=budget, error=f"bad output (size {coef.size})"))
                break
            subopt = max((objective(y, h, lam, coef) - p_star) / p_star, 0.0)
            t_total += cpu
            _emit(dict(tag, budget=budget, cpu=cpu, wall=wall, peak=mem.peak_bytes,
                       mem_method=mem.method, subopt=subopt, index=index))
            if subopt <= args.target:
                break
            if cpu > args.time_limit or t_total > 2 * args.time_limit:
                _emit(dict(tag, timeout=True))
                break
        else:
            _emit(dict(tag, exhausted=True))
        del runner, y, ref
        gc.collect()


# --------------------------------------------------------------------------- driver
def _spawn(argv, timeout):
    """Run a worker; return (list of JSON records, status)."""
    cmd = [sys.executable, str(Path(__file__).resolve())] + argv
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=single_thread_env())
    try:
        out, err = proc.communicate(timeout=timeout)
        last = (err.strip().splitlines() or [""])[-1].replace("|", "/")[:150]
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {last}"
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = "killed"
    records = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            records.append(json.loads(line))
    return records, status


def reference(n, kernel_length, ratio, seed, cache_dir):
    path = Path(cache_dir) / f"ref_n{n}_L{kernel_length}_r{ratio}_s{seed}.npz"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    recs, status = _spawn(["--worker", "reference", "--n", str(n), "--kernel-length",
                           str(kernel_length), "--ratio", str(ratio), "--seed", str(seed),
                           "--cache", str(path)], timeout=3600)
    if not recs:
        raise RuntimeError(f"reference failed for N={n}: {status}")
    meta.write_text(json.dumps(recs[-1]))
    return path, recs[-1]


def measure(solver, n, jobs, seed, target, time_limit):
    """Run one worker for ``jobs`` = [(kernel_length, ratio, cache, start)];
    returns {(kernel_length, ratio): result}."""
    argv = ["--worker", "solver", "--solver", solver, "--n", str(n), "--seed", str(seed),
            "--jobs", json.dumps([[L, r, str(c), st] for L, r, c, st in jobs]),
            "--target", str(target), "--time-limit", str(time_limit)]
    # per job: the untimed full-size run at the first budget (up to about one time
    # limit), the timed sweep (at most twice the limit, plus the run that crosses it)
    # and set-up
    recs, status = _spawn(argv, timeout=len(jobs) * (4 * time_limit + 120))
    out = {}
    for L, ratio, _, _ in jobs:
        mine = [r for r in recs if r["kernel_length"] == L and r["ratio"] == ratio]
        runs = [r for r in mine if "subopt" in r]
        hit = next((r for r in runs if r["subopt"] <= target), None)
        res = {"runs": runs, "hit": hit}
        if hit is None:
            if any(r.get("timeout") for r in mine):
                res["failure"] = "time limit"
            elif any(r.get("exhausted") for r in mine):
                res["failure"] = "budgets exhausted"
            elif any("error" in r for r in mine):
                res["failure"] = next(r["error"] for r in mine if "error" in r)
            else:
                res["failure"] = "killed" if status == "killed" else status
        out[(L, ratio)] = res
    return out


def compile_latency(repeats=1):
    """First ``deconvolve`` call in a fresh process: cold (empty NUMBA_CACHE_DIR) and warm."""
    code = ("import time, numpy as np; t0 = time.perf_counter();"
            "from sparse_events.models import deconvolve;"
            "t1 = time.perf_counter();"
            "rng = np.random.default_rng(0);"
            "deconvolve(rng.standard_normal(1000), rng.standard_normal(12), 1.0);"
            "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    out = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = single_thread_env()
        env["NUMBA_CACHE_DIR"] = cache_dir
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, timeout=600)
            if res.returncode:
                raise RuntimeError(res.stderr)
            out[label] = tuple(float(v) for v in res.stdout.split())
    return out


def import_time(repeats=7):
    code = "import time; t0 = time.perf_counter(); import sparse_events; print(time.perf_counter() - t0)"
    times = []
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=single_thread_env(), timeout=120)
        times.append(float(res.stdout.strip()))
    return statistics.median(times), times


def _fmt_t(t):
    if t is None:
        return "-"
    if t < 1.0:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def _size_label(n):
    e = int(round(np.log10(n)))
    return f"1e{e}" if 10 ** e == n else str(n)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=None,
                   help="comma-separated signal lengths (default 1e4,1e5,1e6,1e7)")
    p.add_argument("--peers", default=",".join(PEERS),
                   help=f"comma-separated solvers among {','.join(PEERS)}")
    p.add_argument("--configs", default=None,
                   help="comma-separated Lh:ratio pairs (default 12:0.1,12:0.01,70:0.1,70:0.01)")
    p.add_argument("--time-limit", type=float, default=120.0,
                   help="CPU seconds per peer run at N=1e6 (scaled by N/1e6, at least 10 s)")
    p.add_argument("--peer-max-size", type=float, default=PEER_MAX_SIZE,
                   help="largest N at which peers run (default 1e6)")
    p.add_argument("--target", type=float, default=1e-6, help="relative suboptimality target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="sizes 1e4,1e5 and a 20 s limit (smoke run)")
    p.add_argument("--cache-dir", default=None, help="where reference optima are cached")
    p.add_argument("--no-extras", action="store_true",
                   help="skip compile latency and import time")
    p.add_argument("--write-results", action="store_true",
                   help=f"rewrite the {SECTION} section of benchmarks/RESULTS.md")
    # worker mode (internal)
    p.add_argument("--worker", choices=("reference", "solver"), help=argparse.SUPPRESS)
    p.add_argument("--solver", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--kernel-length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ratio", type=float, help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--jobs", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "reference":
        return worker_reference(args)
    if args.worker == "solver":
        return worker_solver(args)

    sizes = ([int(float(v)) for v in args.sizes.split(",")] if args.sizes
             else ([10_000, 100_000] if args.quick else list(DEFAULT_SIZES)))
    peers = [v.strip() for v in args.peers.split(",") if v.strip()]
    unknown = set(peers) - set(PEERS)
    if unknown:
        p.error(f"unknown peers {sorted(unknown)}; choose among {PEERS}")
    configs = ([(int(c.split(":")[0]), float(c.split(":")[1])) for c in args.configs.split(",")]
               if args.configs else list(DEFAULT_CONFIGS))
    time_limit = 20.0 if args.quick else args.time_limit
    cache_dir = args.cache_dir or os.path.join(tempfile.gettempdir(), "sparse_events_bench")
    os.makedirs(cache_dir, exist_ok=True)

    wall_start = time.perf_counter()
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    info = machine_info()
    versions = package_versions(VERSIONS)
    say(f"Command: `{command_line()}`")
    say()
    say(f"Machine: {info['cpu']}, {info['cores']} cores ({info['threads_per_core']} thread(s) "
        f"per core), {info['memory']} RAM, {info['os']}, Python {info['python']}; shared "
        "with other jobs during the run (times noisy: compare ratios within a row).")
    say()
    say("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    say()

    results = {}  # (n, L, ratio) -> {solver: measure}
    refs = {}
    dropped = {}  # (L, ratio) -> {solver: reason} once a peer failed at some size
    starts = {}
    for n in sizes:
        limit = time_limit * min(1.0, max(n / 1e6, 10.0 / time_limit))
        paths = {}
        for L, ratio in configs:
            paths[(L, ratio)], refs[(n, L, ratio)] = reference(n, L, ratio, args.seed, cache_dir)
            results[(n, L, ratio)] = {}
        for solver in peers:
            if solver != "ours" and n > args.peer_max_size:
                continue
            jobs = []
            for L, ratio in configs:
                reason = dropped.get((L, ratio), {}).get(solver)
                if reason:
                    results[(n, L, ratio)][solver] = {"skipped": reason}
                    continue
                start = max(starts.get((solver, L, ratio), 0) - 2, 0)
                jobs.append((L, ratio, paths[(L, ratio)], start))
            if not jobs:
                continue
            for (L, ratio), m in measure(solver, n, jobs, args.seed, args.target,
                                         limit).items():
                results[(n, L, ratio)][solver] = m
                hit = m["hit"]
                if hit is not None:
                    starts[(solver, L, ratio)] = hit["index"]
                else:
                    dropped.setdefault((L, ratio), {})[solver] = (
                        f"{m['failure']} at N={_size_label(n)}")
                print(f"  N={n} Lh={L} ratio={ratio} {solver}: "
                      + (f"{hit['cpu']:.3f} s cpu ({hit['wall']:.3f} s wall), "
                         f"peak {format_bytes(hit['peak'])}" if hit else m["failure"]),
                      flush=True)

    # ---- main table
    say(f"Time to relative suboptimality {args.target:g} (CPU time of the first run of the "
        "budget sweep that reaches it; wall time in parentheses) and ratio to the fastest "
        "peer; `x N` = ours is N times faster.  Peak = resident memory of that run beyond "
        "what was resident before it (kernel high-water mark).  '-' = not run.")
    say()
    headers = ["N", "Lh", "lam/lam_max"] + [LABELS[s] for s in peers] + ["fastest peer",
                                                                         "ours vs fastest"]
    rows = []
    for (n, L, ratio), per in results.items():
        row = [_size_label(n), str(L), f"{ratio:g}"]
        best_peer = None
        for solver in peers:
            m = per.get(solver)
            if m is None:
                row.append("-")
            elif "skipped" in m:
                row.append(f"skipped ({m['skipped']})")
            elif m["hit"] is None:
                last = m["runs"][-1] if m["runs"] else None
                extra = f", best {last['subopt']:.1e} after {_fmt_t(last['cpu'])}" if last else ""
                row.append(f"no ({m['failure']}{extra})")
            else:
                h = m["hit"]
                row.append(f"{_fmt_t(h['cpu'])} ({_fmt_t(h['wall'])}), "
                           f"{format_bytes(h['peak'])}")
                if solver != "ours" and (best_peer is None or h["cpu"] < best_peer[1]):
                    best_peer = (solver, h["cpu"])
        ours = per.get("ours", {}).get("hit") if per.get("ours") else None
        if best_peer is not None:
            row.append(f"{LABELS[best_peer[0]]}")
            row.append(f"x {best_peer[1] / ours['cpu']:.1f}" if ours else "-")
        else:
            row += ["-", "-"]
        rows.append(row)
    say(markdown_table(headers, rows))
    say()

    # ---- reference optima
    say("Reference optima P* (our CD at tol 1e-13; relative duality gap certifies it) and "
        "the cross-check by a second solver (P* = the smaller of the two):")
    say()
    rows = []
    for (n, L, ratio), meta in refs.items():
        diff = ("-" if meta["p_check"] is None
                else f"{(meta['p_check'] - meta['p_cd']) / meta['p_cd']:+.1e}")
        rows.append([_size_label(n), str(L), f"{ratio:g}", f"{meta['p_star']:.10g}",
                     f"{meta['gap_rel']:.1e}", str(meta["support"]), meta["check"] or "-",
                     diff])
    say(markdown_table(["N", "Lh", "lam/lam_max", "P*", "CD rel. gap", "support",
                        "cross-check", "(P_check - P_cd)/P_cd"], rows))
    say()

    # ---- scaling of ours
    if "ours" in peers:
        rows = []
        for L, ratio in configs:
            for a, b in zip(sizes, sizes[1:]):
                ma = results.get((a, L, ratio), {}).get("ours")
                mb = results.get((b, L, ratio), {}).get("ours")
                if not (ma and mb and ma.get("hit") and mb.get("hit")):
                    continue
                ha, hb = ma["hit"], mb["hit"]
                rows.append([f"{_size_label(a)} -> {_size_label(b)}", str(L), f"{ratio:g}",
                             f"{hb['cpu'] / ha['cpu']:.1f}x", f"{hb['wall'] / ha['wall']:.1f}x",
                             f"{ha['peak'] / a:.1f} -> {hb['peak'] / b:.1f}"])
        if rows:
            say("Growth of our time and memory with N (target: 1e6 -> 1e7 at most 12x; peak "
                "under 64 bytes per sample beyond the input):")
            say()
            say(markdown_table(["N", "Lh", "lam/lam_max", "CPU time growth", "wall growth",
                                "peak bytes/sample"], rows))
            say()

    if not args.no_extras:
        lat = compile_latency()
        med, all_t = import_time()
        say("First call in a fresh process (`deconvolve` on N=1000, Lh=12), import of "
            "`sparse_events.models` excluded: cold numba cache (empty NUMBA_CACHE_DIR, "
            f"compiles) {_fmt_t(lat['cold'][1])}; warm cache (loads) {_fmt_t(lat['warm'][1])}."
            f"  `import sparse_events`: median {_fmt_t(med)} over {len(all_t)} fresh "
            f"processes (min {_fmt_t(min(all_t))}, max {_fmt_t(max(all_t))}); "
            f"`import sparse_events.models` (warm): {_fmt_t(lat['warm'][0])}.")
        say()
    say(f"Run time of this benchmark: {(time.perf_counter() - wall_start) / 60:.1f} min.")

    if args.write_results:
        text = "## benchmarks/lasso_deconvolution.py\n\n" + "\n".join(lines)
        replace_section(HERE / "RESULTS.md", SECTION, text)
        print(f"wrote the {SECTION} section of {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
