"""neurokit2-style R-peak API dispatching on ``method``.

Method protocol
---------------
A detection method is a function::

    find_peaks_xxx(cleaned, *, sampling_rate, **kwargs) -> array of int

taking one cleaned lead (1-D float64 ndarray, already validated: finite, at
least 2 s long) and the sampling rate in Hz (passed by keyword), and returning
the R-peak sample indices (any integer dtype; they are checked to lie in
``[0, n_samples)`` and then sorted and de-duplicated here).  Extra keyword
arguments of :func:`ecg_findpeaks` / :func:`ecg_peaks` are forwarded to it,
after a check against its signature (an unknown name raises ``TypeError``
naming the caller, the method and the accepted names); a method whose
``**kwargs`` are passed on to another function names that function in its
attribute ``forwards_kwargs_to`` (as :func:`find_peaks_sparse` does), else
its ``**kwargs`` accept any name.

Methods are registered in :data:`PEAK_METHODS`, a dict mapping the method name
to either the function itself or a lazy reference ``"module:function"`` with
the module relative to this package (imported on first use, so that heavy
dependencies load only when needed)::

    PEAK_METHODS["sparse"] = "._sparse_detector:find_peaks_sparse"

Users may add their own with :func:`register_peak_method`.
"""

from __future__ import annotations

import inspect
from importlib import import_module

import numpy as np

from .._validation import check_option
from ._clean import check_ecg_signal, ecg_clean

__all__ = ["ecg_findpeaks", "ecg_peaks", "PEAK_METHODS", "register_peak_method"]

#: name -> function or "relative.module:function" (see the module docstring)
PEAK_METHODS = {
    "sparse": "._sparse_detector:find_peaks_sparse",
    "pantompkins": "._pantompkins:find_peaks_pantompkins",
}


def register_peak_method(name, func, *, overwrite=False):
    """Register a detection method under ``name`` (see the method protocol).

    Parameters
    ----------
    name : str
    func : callable or str
        ``func(cleaned, *, sampling_rate, **kwargs) -> int array``, or a lazy
        ``"module:function"`` reference (absolute, or relative to
        ``sparse_events.ecg`` when it starts with a dot).
    overwrite : bool
        Allow replacing an existing method.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not (callable(func) or (isinstance(func, str) and ":" in func)):
        raise TypeError(f"func must be callable or a 'module:function' string, got {func!r}")
    if name in PEAK_METHODS and not overwrite:
        raise ValueError(f"method {name!r} is already registered (pass overwrite=True)")
    PEAK_METHODS[name] = func


def _resolve(method):
    check_option(method, "method", tuple(PEAK_METHODS))
    func = PEAK_METHODS[method]
    if isinstance(func, str):
        module_name, func_name = func.split(":")
        module = import_module(module_name, package=__package__)
        func = getattr(module, func_name)
        PEAK_METHODS[method] = func
    return func


def _method_keywords(func):
    """Keyword options of a detection method: the names it accepts besides the lead and
    ``sampling_rate``, or ``None`` when it accepts any name (``**kwargs`` not forwarded
    to a function named by its ``forwards_kwargs_to`` attribute)."""
    names = []
    while func is not None:
        try:
            params = list(inspect.signature(func).parameters.values())[1:]  # after the lead
        except (TypeError, ValueError):  # no signature (some builtins): not checked
            return None
        names += [p.name for p in params if p.name != "sampling_rate"
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return sorted(set(names))
        func = getattr(func, "forwards_kwargs_to", None)
    return None


def _check_method_kwargs(func, method, kwargs, caller):
    """Refuse keyword arguments the detection method does not accept (``TypeError``
    naming ``caller``, the method and the accepted names)."""
    if not kwargs:
        return
    accepted = _method_keywords(func)
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"{caller}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))} "
            f"for method={method!r}; it accepts: {', '.join(accepted) or 'none'} "
            f"(documented in {_public_name(func)})")


def _public_name(func):
    """``sparse_events.ecg.find_peaks_sparse`` for a function of a private module."""
    parts = []
    for part in str(getattr(func, "__module__", "")).split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts + [getattr(func, "__name__", repr(func))])


def _format_peaks(peaks, n_samples, method):
    peaks = np.asarray(peaks)
    if peaks.ndim != 1 or (peaks.size and peaks.dtype.kind not in "iu"):
        raise TypeError(f"method {method!r} must return a 1-D integer array of sample "
                        f"indices, got {peaks.dtype} array of shape {peaks.shape}")
    peaks = np.unique(peaks.astype(np.int64))
    if peaks.size and (peaks[0] < 0 or peaks[-1] >= n_samples):
        raise ValueError(f"method {method!r} returned sample indices outside "
                         f"[0, {n_samples}): {peaks[0]}..{peaks[-1]}")
    return peaks


def _signals_info(peaks, n_samples, fs, method):
    import pandas as pd

    column = np.zeros(n_samples, dtype=np.int64)
    column[peaks] = 1
    signals = pd.DataFrame({"ECG_R_Peaks": column}, copy=False)  # a fresh column: no copy
    info = {"ECG_R_Peaks": peaks, "sampling_rate": fs, "method": method}
    return signals, info


def ecg_findpeaks(cleaned, *, sampling_rate, method="sparse", **kwargs):
    """Find R peaks in a cleaned ECG lead.

    Parameters
    ----------
    cleaned : array_like, shape (n_samples,)
        One lead cleaned by :func:`ecg_clean` (finite, at least 2 s long).
    sampling_rate : float
        Sampling rate in Hz (keyword-only, required).
    method : str
        A key of :data:`PEAK_METHODS`: ``"sparse"`` (sparse deconvolution with
        QRS templates) or ``"pantompkins"`` (:func:`find_peaks_pantompkins`,
        Pan & Tompkins 1985).  Only ``"sparse"`` processes a long record in
        chunks (``chunk_s``); ``"pantompkins"`` filters the whole record at
        once, with a peak memory of about 70 bytes per sample (``ecg_peaks`` on
        MIT-BIH 101 tiled to 4 h at 360 Hz: +365 MB, against +215 MB for
        ``"sparse"``), some 2 GB for a 24-hour lead at 360 Hz.
    **kwargs
        Options of the method, forwarded to it: those of :func:`find_peaks_sparse`
        (``method="sparse"``: ``dictionary``, ``refractory_s``, ``chunk_s``, ...) or of
        :func:`find_peaks_pantompkins` (``method="pantompkins"``), documented there.  A
        name the method does not accept raises ``TypeError`` listing the accepted ones.

    Returns
    -------
    signals : pandas.DataFrame
        One row per sample with an ``ECG_R_Peaks`` column (1 at R peaks, else 0).
    info : dict
        ``"ECG_R_Peaks"`` (sorted int64 sample indices), ``"sampling_rate"``
        (Hz) and ``"method"``.  ``info`` (or ``signals``) can be passed to
        ``neurokit2.hrv_time`` / ``neurokit2.hrv`` directly.

    Notes
    -----
    neurokit2's own ``ecg_findpeaks`` returns only the ``info`` dict; this one
    returns ``(signals, info)`` like ``ecg_peaks``.
    """
    return _findpeaks(cleaned, sampling_rate, method, kwargs, "ecg_findpeaks")


def _findpeaks(cleaned, sampling_rate, method, kwargs, caller):
    x, fs = check_ecg_signal(cleaned, sampling_rate=sampling_rate, name="cleaned")
    func = _resolve(method)
    _check_method_kwargs(func, method, kwargs, caller)
    peaks = _format_peaks(func(x, sampling_rate=fs, **kwargs), x.size, method)
    return _signals_info(peaks, x.size, fs, method)


def ecg_peaks(signal, *, sampling_rate, method="sparse", nan_policy="raise", max_gap_s=0.25,
              **kwargs):
    """Clean a raw ECG lead with :func:`ecg_clean`, then find its R peaks.

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        One raw ECG lead (at least 2 s long).
    sampling_rate : float
        Sampling rate in Hz (keyword-only, required).
    method : str
        Detection method (see :func:`ecg_findpeaks`).
    nan_policy, max_gap_s
        Non-finite samples: ``"raise"`` (default) reports where they are;
        ``"interpolate"`` fills gaps of at most ``max_gap_s`` seconds (see
        :func:`ecg_clean`).
    **kwargs
        Options of the detection method: those of :func:`find_peaks_sparse`
        (``method="sparse"``) or :func:`find_peaks_pantompkins`
        (``method="pantompkins"``), documented there.  A name the method does not
        accept raises ``TypeError`` listing the accepted ones (checked before the
        signal is cleaned).

    Returns
    -------
    signals : pandas.DataFrame
        ``ECG_R_Peaks`` 0/1 column, one row per sample.
    info : dict
        ``"ECG_R_Peaks"``, ``"sampling_rate"``, ``"method"``.

    Examples
    --------
    >>> import neurokit2 as nk
    >>> from sparse_events.ecg import ecg_peaks
    >>> ecg = nk.ecg_simulate(duration=30, sampling_rate=360, random_state=0)
    >>> signals, info = ecg_peaks(ecg, sampling_rate=360, method="pantompkins")
    >>> hrv = nk.hrv_time(info, sampling_rate=360)
    """
    if kwargs:  # before the cleaning: a misspelt option costs no work
        _check_method_kwargs(_resolve(method), method, kwargs, "ecg_peaks")
    cleaned = ecg_clean(signal, sampling_rate=sampling_rate, nan_policy=nan_policy,
                        max_gap_s=max_gap_s)
    return _findpeaks(cleaned, sampling_rate, method, kwargs, "ecg_peaks")
