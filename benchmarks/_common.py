"""Helpers shared by the benchmark scripts.

* :func:`machine_info` / :func:`package_versions` / :func:`command_line`: what a
  results table must state (CPU model and cores from ``lscpu``, memory, Python,
  package versions, the exact command);
* :func:`markdown_table`: a GitHub-flavoured markdown table;
* :class:`PeakMemory`: peak resident memory of a code block beyond what was
  resident when it started (Linux: the kernel's high-water mark ``VmHWM``,
  reset through ``/proc/self/clear_refs``; elsewhere ``tracemalloc``, which
  only sees allocations made through Python's allocators, numpy included);
* :func:`single_thread_env`: environment for worker processes pinned to one
  thread (BLAS, OpenMP, numba), so that peers are compared on equal terms;
* :func:`replace_section`: rewrite the part of ``RESULTS.md`` between a
  script's ``<!-- BEGIN name -->`` / ``<!-- END name -->`` markers.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import tracemalloc
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = [
    "machine_info",
    "package_versions",
    "command_line",
    "markdown_table",
    "PeakMemory",
    "single_thread_env",
    "replace_section",
    "format_seconds",
    "format_bytes",
]


def _lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def _total_memory_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine_info() -> dict:
    """CPU model, core count, memory, OS and Python version of this machine."""
    cpu = _lscpu()
    mem = _total_memory_bytes()
    return {
        "cpu": cpu.get("Model name") or platform.processor() or platform.machine(),
        "cores": cpu.get("CPU(s)") or str(os.cpu_count()),
        "threads_per_core": cpu.get("Thread(s) per core", "?"),
        "memory": format_bytes(mem) if mem else "?",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def package_versions(names) -> dict:
    """``{name: version}`` for installed distributions (``"not installed"`` otherwise)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def command_line(argv=None) -> str:
    """The command that ran this script, relative to the repository root when possible."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script))] + [shlex.quote(a) for a in argv[1:]])


def markdown_table(headers, rows, align=None) -> str:
    """Markdown table; ``align`` is a string of ``l``/``r`` per column (default: right
    except the first column)."""
    headers = [str(h) for h in headers]
    rows = [[str(c) for c in row] for row in rows]
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def fmt(cells):
        return "| " + " | ".join(
            c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)
        ) + " |"

    sep = "| " + " | ".join(
        ("-" * (w - 1) + ":") if a == "r" else ("-" * w) for w, a in zip(widths, align)
    ) + " |"
    return "\n".join([fmt(headers), sep] + [fmt(r) for r in rows])


def _read_status(keys):
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key = line.split(":", 1)[0]
            if key in keys:
                out[key] = int(line.split()[1]) * 1024
    return out


def _can_reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "VmHWM" in _read_status(("VmHWM",))
    except OSError:
        return False


class PeakMemory:
    """Peak memory of a ``with`` block beyond the memory resident when it started.

    Attributes after the block: ``peak_bytes`` and ``method`` (``"rss"``: the
    kernel's resident high-water mark, which sees every allocator - numpy,
    numba, C extensions; ``"tracemalloc"``: Python-level allocations only).
    """

    def __init__(self, method="auto"):
        if method == "auto":
            method = "rss" if _can_reset_hwm() else "tracemalloc"
        self.method = method
        self.peak_bytes = None

    def __enter__(self):
        if self.method == "rss":
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset VmHWM to the current RSS
            self._start = _read_status(("VmRSS",))["VmRSS"]
        else:
            tracemalloc.start()
            tracemalloc.reset_peak()
            self._start = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc):
        if self.method == "rss":
            self.peak_bytes = max(_read_status(("VmHWM",))["VmHWM"] - self._start, 0)
        else:
            self.peak_bytes = max(tracemalloc.get_traced_memory()[1] - self._start, 0)
            tracemalloc.stop()
        return False


def single_thread_env(base=None) -> dict:
    """A copy of the environment with BLAS / OpenMP / numba limited to one thread."""
    env = dict(os.environ if base is None else base)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[key] = "1"
    return env


def replace_section(path, name, text) -> None:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    path = Path(path)
    content = path.read_text()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise ValueError(f"{path} has no section markers for {name!r}")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{text.strip()}\n{end}", content, count=1))


def format_seconds(t) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1.0:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def format_bytes(b) -> str:
    if b is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b} B"
