"""Table-driven bad-input cases: shared machinery of tests/test_bad_input*.py.

A *case* calls one public entry point with one bad argument and states what
must happen: a given exception type whose message matches a regex naming the
argument, or (a *policy* case) a result that a check function accepts.  Every
call runs under a wall-clock limit, so a hang fails the case instead of the
whole run.  ``spec_cases`` expands one valid call into the standard battery
(NaN, inf, empty, wrong dimensionality, complex/string/object dtypes for array
arguments; NaN, inf, zero, negative, string for scalar parameters; wrong
integers; unknown options; missing/None/zero/negative/NaN/inf/str sampling
rate) plus hand-written extra cases.
"""

from __future__ import annotations

import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest


class CallTimeout(BaseException):
    """Raised by the alarm: a BaseException so that ``except Exception`` cannot hide it."""


@contextmanager
def time_limit(seconds: float):
    def _handler(signum, frame):
        raise CallTimeout(f"call did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Case:
    name: str                       # public name as "subpackage.name"
    label: str
    call: Callable[[], Any]
    raises: tuple | type | None     # expected exception type(s); None: policy case
    match: str | None = None        # regex the message must match
    check: Callable[[Any], None] | None = None  # policy cases: validates the result
    timeout: float = 30.0

    @property
    def id(self) -> str:
        return f"{self.name}-{self.label}"


def run_case(case: Case):
    with time_limit(case.timeout):
        if case.raises is None:
            out = case.call()
            if case.check is not None:
                case.check(out)
            return out
        with pytest.raises(case.raises) as info:
            case.call()
    msg = str(info.value)
    if case.match is not None:
        assert re.search(case.match, msg), (
            f"{case.id}: {type(info.value).__name__} message does not name the argument "
            f"(expected /{case.match}/): {msg!r}")
    return info.value


def as_params(cases, known_bugs=None):
    """pytest params; ``known_bugs`` maps a case id (or an id prefix ending in ``*``) to
    the reason of a strict xfail: bugs found by this suite in files owned by others."""
    known_bugs = known_bugs or {}

    def reason(case_id):
        for key, why in known_bugs.items():
            if case_id == key or (key.endswith("*") and case_id.startswith(key[:-1])):
                return why
        return None

    out = []
    for c in cases:
        why = reason(c.id)
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


# --------------------------------------------------------------------------- bad values
def _with(a, value):
    a = np.array(a, dtype=np.float64, copy=True)
    a.flat[a.size // 2] = value
    return a


def _wrong_ndim(a, ndim):
    a = np.asarray(a, dtype=np.float64)
    if ndim == 0:
        return np.float64(a.flat[0])
    if ndim < a.ndim:
        return a.reshape(a.shape[:ndim - 1] + (-1,))
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


ARRAY_KINDS = ("nan", "inf", "empty", "complex", "str", "object")


def bad_arrays(a, *, kinds=ARRAY_KINDS, ndim_bad=(3,), type_exc=TypeError,
               value_exc=ValueError):
    """(label, bad value, expected exception) for an array argument with valid value ``a``."""
    a = np.asarray(a)
    out = []
    if "nan" in kinds:
        out.append(("nan", _with(a, np.nan), value_exc))
    if "inf" in kinds:
        out.append(("inf", _with(a, -np.inf), value_exc))
    if "empty" in kinds:
        shape = a.shape[:-1] + (0,) if a.ndim else (0,)
        out.append(("empty", np.zeros(shape), value_exc))
    if "complex" in kinds:
        out.append(("complex", np.asarray(a, dtype=np.float64) + 1j, type_exc))
    if "str" in kinds:
        out.append(("str", "1, 2, 3", type_exc))
        out.append(("str-array", np.full(a.shape, "1.0"), type_exc))
    if "object" in kinds:
        obj = np.empty(a.shape, dtype=object)
        obj.flat[:] = [object()] * a.size
        out.append(("object", obj, type_exc))
    for nd in ndim_bad:
        out.append((f"{nd}d", _wrong_ndim(a, nd), value_exc))
    return out


def spec_cases(name, func, valid: dict, *, arrays=None, positive=(), nonneg=(), finite=(),
               ints=None, options=(), rate=None, extra=(), match=None, type_exc=TypeError,
               value_exc=ValueError, timeout=30.0, baseline=True):
    """Expand one valid call ``func(**valid)`` into the standard battery of bad calls.

    arrays : dict arg -> dict(kinds=..., ndim_bad=...) for array arguments.
    positive / nonneg / finite : scalar parameters that must be > 0 / >= 0 / finite.
    ints : dict arg -> smallest allowed value, for integer parameters.
    options : string-option parameters.
    rate : name of the required sampling-rate keyword.
    extra : (label, overrides dict or zero-arg callable, exception(s) or None, regex or
        check function) tuples.
    match : dict arg -> regex when the message names the argument differently.
    """
    match = match or {}
    cases = []

    def call_with(overrides):
        kw = dict(valid)
        for k, v in overrides.items():
            if v is _MISSING:
                kw.pop(k)
            else:
                kw[k] = v
        return lambda: func(**kw)

    def add(label, overrides, exc, arg):
        rx = match.get(arg, re.escape(arg)) if arg is not None else None
        cases.append(Case(name, label, call_with(overrides), exc, rx, timeout=timeout))

    if baseline:
        cases.append(Case(name, "valid-call", call_with({}), None, timeout=timeout))
    for arg, opts in (arrays or {}).items():
        opts = dict(opts or {})
        for label, value, exc in bad_arrays(valid[arg], type_exc=opts.pop("type_exc", type_exc),
                                            value_exc=opts.pop("value_exc", value_exc), **opts):
            add(f"{arg}-{label}", {arg: value}, exc, arg)
    for arg in positive:
        for label, value, exc in (("nan", np.nan, value_exc), ("inf", np.inf, value_exc),
                                  ("zero", 0.0, value_exc), ("negative", -1.0, value_exc),
                                  ("str", "1", type_exc)):
            add(f"{arg}-{label}", {arg: value}, exc, arg)
    for arg in nonneg:
        for label, value, exc in (("nan", np.nan, value_exc), ("negative", -1.0, value_exc),
                                  ("str", "1", type_exc)):
            add(f"{arg}-{label}", {arg: value}, exc, arg)
    for arg in finite:
        for label, value, exc in (("nan", np.nan, value_exc), ("inf", np.inf, value_exc),
                                  ("str", "1", type_exc)):
            add(f"{arg}-{label}", {arg: value}, exc, arg)
    for arg, low in (ints or {}).items():
        add(f"{arg}-below-{low}", {arg: low - 1}, value_exc, arg)
        add(f"{arg}-fraction", {arg: low + 0.5}, type_exc, arg)
        add(f"{arg}-str", {arg: str(low + 1)}, type_exc, arg)
    for arg in options:
        add(f"{arg}-unknown", {arg: "no-such-option"}, value_exc, arg)
    if rate is not None:
        add(f"{rate}-missing", {rate: _MISSING}, TypeError, rate)
        add(f"{rate}-none", {rate: None}, (ValueError, TypeError), rate)
        for label, value in (("zero", 0.0), ("negative", -360.0), ("nan", np.nan),
                             ("inf", np.inf)):
            add(f"{rate}-{label}", {rate: value}, value_exc, rate)
        add(f"{rate}-str", {rate: "360"}, type_exc, rate)
    for label, overrides, exc, rx in extra:
        call = overrides if callable(overrides) else call_with(overrides)
        if exc is None:
            cases.append(Case(name, label, call, None, check=rx, timeout=timeout))
        else:
            cases.append(Case(name, label, call, exc, rx, timeout=timeout))
    return cases


_MISSING = object()
MISSING = _MISSING


# --------------------------------------------------------------------------- checks
def all_finite(*getters):
    """Policy check: the result (or the given parts of it) holds only finite numbers."""
    def check(out):
        parts = [g(out) for g in getters] if getters else [out]
        for p in parts:
            arr = np.asarray(p, dtype=np.float64)
            assert np.all(np.isfinite(arr)), f"non-finite values returned: {arr}"
    return check


def public_objects(module_names):
    """{qualified name: object} over the ``__all__`` of the given modules."""
    import importlib

    out = {}
    for mod_name in module_names:
        mod = importlib.import_module(mod_name)
        for n in mod.__all__:
            out[f"{mod_name}.{n}"] = getattr(mod, n)
    return out
