"""One input-validation layer for every public function and estimator.

Every checker raises ``TypeError`` (wrong kind of object: complex, strings,
objects) or ``ValueError`` (right kind, wrong value: NaN, inf, empty, bad shape,
out of range) with a message that names the argument, what was expected and
what was received.  Integer inputs (ADC counts) are converted to floating point
without overflow: the conversion goes through ``float64``.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = [
    "all_finite",
    "as_float_array",
    "check_signal",
    "check_kernel",
    "check_scalar",
    "check_int",
    "check_sampling_rate",
    "check_option",
    "check_bool",
    "check_random_state",
    "check_weights",
]


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:200]


def as_float_array(x, name: str, *, dtype=None, ndim=None, allow_empty=False,
                   finite=True, copy=False, allow_bool=True) -> np.ndarray:
    """Convert ``x`` to a real floating-point ndarray, checking it thoroughly.

    Parameters
    ----------
    x : array_like
        Input.
    name : str
        Argument name used in error messages.
    dtype : {None, np.float32, np.float64}
        Target dtype.  ``None`` keeps float32/float64 input as is and converts
        integers and booleans to float64.
    ndim : int or tuple of int or None
        Allowed numbers of dimensions.
    allow_empty : bool
        Whether zero-size arrays are accepted.
    finite : bool
        Whether to refuse NaN and infinity.
    copy : bool
        Force a copy.
    allow_bool : bool
        Whether boolean arrays are accepted (as 0.0 and 1.0).  Signals refuse them
        (``sig > 0`` passed by mistake is not a signal); design matrices accept them.

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a real numeric array, got {_describe(x)}")
    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a dense array, got sparse {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be a real numeric array, got {_describe(x)}") from exc
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if arr.dtype.kind == "b" and not allow_bool:
        raise TypeError(f"{name} must be a real numeric signal, got a boolean array of "
                        f"shape {arr.shape} (convert it explicitly, e.g. {name}.astype(float), "
                        "if 0/1 samples are meant)")
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a real numeric array, got dtype {arr.dtype} ({_describe(x)})")
    if dtype is None:
        target = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    else:
        target = np.dtype(dtype)
    if arr.dtype.kind in "biu" and target == np.float32:
        # go through float64 so that large integers are rounded once, never wrapped
        arr = arr.astype(np.float64)
    arr = np.array(arr, dtype=target, copy=True) if copy else np.asarray(arr, dtype=target)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            exp = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {exp}, got a {arr.ndim}-D array of shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and arr.size and not all_finite(arr):
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))
        kind = "NaN" if np.isnan(arr.ravel()[bad[0]]) else "infinite"
        where = np.unravel_index(bad[0], arr.shape)
        where = where[0] if len(where) == 1 else tuple(int(i) for i in where)
        raise ValueError(
            f"{name} must contain only finite values; found {bad.size} non-finite "
            f"value(s), the first ({kind}) at index {where}")
    return arr


def all_finite(arr) -> bool:
    """Whether the real array ``arr`` holds only finite values, without a full-size temporary.

    One summation pass decides the common case: a finite sum implies finite
    entries (NaN and infinities propagate through a sum).  Only when the sum is
    not finite (a non-finite entry, or an overflow of finite ones) are the
    entries tested one by one.
    """
    arr = np.asarray(arr)
    if arr.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr, axis=None, dtype=np.float64)
    if np.isfinite(total):
        return True
    return bool(np.isfinite(arr).all())


def check_signal(y, name: str = "y", *, ndim=(1, 2), dtype=None, min_length: int = 1):
    """Validate a signal (last axis = time) and return it as a float array.

    Boolean arrays are refused (``TypeError``): a mask passed by mistake is not a signal.
    """
    arr = as_float_array(y, name, dtype=dtype, ndim=ndim, allow_bool=False)
    if arr.shape[-1] < min_length:
        raise ValueError(
            f"{name} must have at least {min_length} samples along its last axis, "
            f"got {arr.shape[-1]}")
    return arr


def check_kernel(kernel, name: str = "kernel", *, ndim=(1, 2), dtype=None):
    """Validate a kernel (1-D) or a dictionary of kernels (2-D, one per row)."""
    arr = as_float_array(kernel, name, dtype=dtype, ndim=ndim)
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    norms = np.abs(arr).reshape(-1, arr.shape[-1]).max(axis=1)
    if np.any(norms == 0):
        which = int(np.flatnonzero(norms == 0)[0])
        where = "" if arr.ndim == 1 else f" (row {which})"
        raise ValueError(f"{name} must not be identically zero{where}")
    if not arr.flags.writeable:
        # kernels are small: an owned, writable copy keeps numba from compiling a
        # second specialisation of every kernel for read-only arrays
        arr = arr.copy()
    return arr


def check_scalar(x, name: str, *, low=None, high=None, low_inclusive=True,
                 high_inclusive=True, allow_inf=False) -> float:
    """Validate a real scalar parameter within ``[low, high]`` and return a float."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name} must be a real number, got {_describe(x)}")
    if isinstance(x, np.ndarray):
        if x.ndim != 0 or x.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real scalar, got {_describe(x)}")
        x = x.item()
    x = float(x)
    if np.isnan(x) or (np.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {x}")
    if low is not None and (x < low or (x == low and not low_inclusive)):
        rel = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {rel} {low}, got {x}")
    if high is not None and (x > high or (x == high and not high_inclusive)):
        rel = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {rel} {high}, got {x}")
    return x


def check_int(x, name: str, *, low=None, high=None) -> int:
    """Validate an integer parameter within ``[low, high]``."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {_describe(x)}")
    try:
        value = operator.index(x)
    except TypeError:
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            value = int(x)
        else:
            raise TypeError(f"{name} must be an integer, got {_describe(x)}") from None
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_sampling_rate(sampling_rate, name: str = "sampling_rate") -> float:
    """Validate a sampling rate in Hz (required, finite, > 0)."""
    if sampling_rate is None:
        raise ValueError(f"{name} is required (in Hz); got None")
    return check_scalar(sampling_rate, name, low=0, low_inclusive=False)


def check_bool(x, name: str) -> bool:
    """Validate a flag: ``True``/``False`` (or numpy's bools), nothing read by truthiness.

    A string such as ``"no"`` or ``"False"`` is truthy, so ``bool(x)`` would turn
    it into ``True``: such values raise a ``TypeError`` naming the argument.
    """
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise TypeError(f"{name} must be True or False, got {x!r} ({type(x).__name__})")


def check_option(x, name: str, options):
    """Validate that ``x`` is one of ``options``."""
    if not any(_equals(x, o) for o in options):
        opts = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {opts}; got {x!r}")
    return x


def _equals(x, option) -> bool:
    """``x == option`` as a plain bool (False when the comparison is not a bool: arrays)."""
    if x is option:
        return True
    try:
        return bool(x == option) if not isinstance(x, np.ndarray) else False
    except Exception:
        return False


def check_random_state(random_state) -> np.random.Generator:
    """Return a local ``numpy.random.Generator`` (never the global state).

    ``None`` gives a fresh unseeded generator, an int or ``SeedSequence`` a seeded
    one, a ``Generator`` is used as is, and a legacy ``RandomState`` is turned
    into a generator seeded from it (deterministically).
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {_describe(random_state)}")


def check_weights(weights, shape, name: str = "weights", *, strictly_positive=False):
    """Validate non-negative penalty weights broadcastable to ``shape``."""
    w = as_float_array(weights, name, dtype=np.float64, ndim=None)
    try:
        w = np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"{name} must have shape {tuple(shape)} (or broadcast to it), got {w.shape}") from None
    if strictly_positive and np.any(w <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got min {w.min()}")
    if np.any(w < 0):
        raise ValueError(f"{name} must be >= 0 everywhere, got min {w.min()}")
    return w
