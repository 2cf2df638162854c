"""Beat-by-beat scoring of QRS detections, the ANSI/AAMI EC57 way.

The rules are those of the ANSI/AAMI EC38/EC57 standards as implemented by
PhysioNet's reference comparator ``bxb`` (G. Moody, WFDB software package);
this module re-implements them in Python:

* **Reference beats** are the beat annotations only: symbols
  ``N L R B A a J S V r F e j n E / f Q ?`` (:data:`BEAT_SYMBOLS`).  Rhythm,
  noise, artifact (``|``), non-conducted P wave (``x``), flutter-wave (``!``)
  and other annotations are ignored.
* **Ventricular flutter/fibrillation** episodes, marked by ``[`` (onset) and
  ``]`` (offset), are excluded from beat-by-beat scoring: the reference
  annotations between ``[`` and ``]`` are skipped, and a detection falling
  inside an episode (``onset <= t <= offset``) that is not matched to a
  reference beat outside it is neither a true nor a false positive.  An episode
  that is never closed lasts to the end of the record.
* **Learning period**: the comparison starts ``learning_period_s`` after the
  beginning of the record (5 minutes, the standard).  A detection made just
  before that instant may still match the first reference beat after it, and
  an unmatched detection made within one match window after it is not counted
  when the next detection matches the first reference beat better (bxb's start
  rule).
* **Matching** is one-to-one, within ``match_window_s`` (150 ms, i.e.
  ``round(0.15 * sampling_rate)`` samples).  Reference and detection streams are
  merged in time order; the earlier of the current reference beat ``T`` and the
  current detection ``t`` is paired with the other when they are within the
  window and no better partner exists (``|T - t| < |next - other|``, or the two
  *next* annotations match each other better, the 2002 revision of bxb);
  otherwise it is counted as a miss (reference) or a false detection (test).
* **Shutdown** marks of the reference (noise annotations with both signals
  unreadable) do not change the QRS counts in bxb (detections during reference
  shutdown still count as false positives, and a detector's output carries no
  shutdown marks), so they need no special handling here.

QRS sensitivity ``Se = TP / (TP + FN)``, positive predictivity
``+P = TP / (TP + FP)`` and ``F1 = 2 TP / (2 TP + FN + FP)``; gross statistics
over several records sum ``TP``, ``FN`` and ``FP`` first (EC57 "gross"
statistics, which weight each beat equally).  The timing error of a matched
pair is ``detection - reference`` (in seconds or milliseconds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import as_float_array, check_int, check_sampling_rate, check_scalar

__all__ = [
    "BEAT_SYMBOLS",
    "EC57Result",
    "evaluate",
    "ec57_table",
    "gross_statistics",
    "reference_beats",
]

#: a match window this wide (seconds) or wider cannot be an EC57 window: two beats of a
#: fast rhythm (RR 1 s or less) would share it; a larger value is a window given in ms
MAX_MATCH_WINDOW_S = 0.5

#: a learning period of 1 s or more but shorter than this (seconds) on a record longer
#: than ``_LONG_RECORD_S`` is most likely given in minutes (EC57: 300 s = 5 min); below
#: 1 s it is an edge margin in seconds (0.25 s: a few incomplete beats)
_MINUTES_SUSPECT_S = 60.0
_LONG_RECORD_S = 600.0

#: a refused match window this large or larger is read as milliseconds (or samples) in the
#: error message; between MAX_MATCH_WINDOW_S and this it is just too wide (0.5 ms or 1 ms
#: is not a plausible EC57 window either)
_MS_SUSPECT = 10.0

#: Beat annotation symbols of the MIT/PhysioNet annotation code (``isqrs``).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
_VF_ONSET = "["
_VF_OFFSET = "]"
_HUGE = 1 << 62  # sentinel time after the end of every stream


@dataclass(frozen=True)
class EC57Result:
    """Beat-by-beat comparison of one record (see :func:`evaluate`).

    Attributes
    ----------
    record : str or None
        Record name, if known.
    sampling_rate : float
        Sampling rate in Hz of both annotation streams.
    tp, fn, fp : int
        True positives (matched pairs), false negatives (missed reference
        beats) and false positives (unmatched detections outside
        flutter/fibrillation episodes).
    matched_reference, matched_detections : ndarray of int
        Sample indices of the matched pairs (same length ``tp``, same order).
    missed_reference : ndarray of int
        Sample indices of the missed reference beats.
    false_detections : ndarray of int
        Sample indices of the false detections.
    ignored_detections : ndarray of int
        Unmatched detections inside reference flutter/fibrillation episodes
        (not scored).
    n_reference : int
        Number of scored reference beats (``tp + fn``).
    learning_period_s, match_window_s : float
        Scoring parameters used.
    """

    record: str | None
    sampling_rate: float
    tp: int
    fn: int
    fp: int
    matched_reference: np.ndarray = field(repr=False)
    matched_detections: np.ndarray = field(repr=False)
    missed_reference: np.ndarray = field(repr=False)
    false_detections: np.ndarray = field(repr=False)
    ignored_detections: np.ndarray = field(repr=False)
    learning_period_s: float = 300.0
    match_window_s: float = 0.15

    @property
    def n_reference(self) -> int:
        return self.tp + self.fn

    @property
    def sensitivity(self) -> float:
        """QRS sensitivity ``TP / (TP + FN)`` (NaN without reference beats)."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def positive_predictivity(self) -> float:
        """QRS positive predictivity ``TP / (TP + FP)`` (NaN without detections)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float:
        """``2 TP / (2 TP + FN + FP)``."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fn + self.fp)

    @property
    def timing_errors_s(self) -> np.ndarray:
        """``detection - reference`` of every matched pair, in seconds."""
        return (self.matched_detections - self.matched_reference) / self.sampling_rate

    @property
    def median_abs_timing_error_ms(self) -> float:
        err = self.timing_errors_s
        return float(np.median(np.abs(err)) * 1e3) if err.size else float("nan")

    @property
    def mean_abs_timing_error_ms(self) -> float:
        err = self.timing_errors_s
        return float(np.mean(np.abs(err)) * 1e3) if err.size else float("nan")

    @property
    def mean_timing_error_ms(self) -> float:
        """Mean signed timing error (bias) in milliseconds."""
        err = self.timing_errors_s
        return float(np.mean(err) * 1e3) if err.size else float("nan")

    def as_dict(self) -> dict:
        """Counts and statistics as a flat dict (percentages for Se, +P, F1)."""
        return {
            "record": self.record,
            "n_reference": self.n_reference,
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "se_percent": 100.0 * self.sensitivity,
            "ppv_percent": 100.0 * self.positive_predictivity,
            "f1_percent": 100.0 * self.f1,
            "median_abs_timing_error_ms": self.median_abs_timing_error_ms,
            "mean_abs_timing_error_ms": self.mean_abs_timing_error_ms,
            "mean_timing_error_ms": self.mean_timing_error_ms,
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den > 0 else float("nan")


def reference_beats(samples, symbols):
    """Reference beats and flutter/fibrillation episodes from an annotation list.

    Parameters
    ----------
    samples : array_like of int, shape (n_annotations,)
        Annotation sample indices (sorted, as in a WFDB annotation file; ties
        keep their order).
    symbols : sequence of str, shape (n_annotations,)
        Annotation symbols (``wfdb.Annotation.symbol``).

    Returns
    -------
    beats : ndarray of int64
        Sample indices of the beat annotations (:data:`BEAT_SYMBOLS`) outside
        flutter/fibrillation episodes.
    episodes : ndarray of int64, shape (n_episodes, 2)
        ``[onset, offset]`` of each episode (``[`` ... ``]``); an episode that is
        not closed ends at a huge sentinel time.
    """
    samples = _as_sample_indices(samples, "reference samples", allow_empty=True)
    symbols = [str(s) for s in symbols]
    if len(symbols) != samples.size:
        raise ValueError(
            f"reference symbols must have one entry per reference sample; got "
            f"{len(symbols)} symbols for {samples.size} samples")
    order = np.argsort(samples, kind="stable")
    beats, episodes = [], []
    onset = None
    for k in order:
        sym, time = symbols[k], int(samples[k])
        if onset is not None:  # inside VF: skip everything up to the offset mark
            if sym == _VF_OFFSET:
                episodes.append((onset, time))
                onset = None
            continue
        if sym == _VF_ONSET:
            onset = time
        elif sym in BEAT_SYMBOLS:
            beats.append(time)
    if onset is not None:
        episodes.append((onset, _HUGE))
    return (np.asarray(beats, dtype=np.int64),
            np.asarray(episodes, dtype=np.int64).reshape(-1, 2))


def _as_sample_indices(x, name, *, allow_empty=True, signal_length=None) -> np.ndarray:
    """Finite, integral, non-negative sample indices as int64 (below ``signal_length``)."""
    if isinstance(x, dict) and "ECG_R_Peaks" in x:  # neurokit2-style info dict
        x = x["ECG_R_Peaks"]
    arr = as_float_array(x, name, ndim=1, allow_empty=allow_empty)
    if arr.size and np.any(arr != np.round(arr)):
        bad = int(np.flatnonzero(arr != np.round(arr))[0])
        raise ValueError(f"{name} must be integer sample indices; found {arr[bad]!r} at "
                         f"position {bad}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative sample indices; found {int(arr.min())}")
    # checked on the float values, before the cast (which would wrap huge values)
    limit = _HUGE if signal_length is None else signal_length
    if arr.size and arr.max() >= limit:
        where = ("2**62 (the largest supported index)" if signal_length is None
                 else f"signal_length={signal_length} samples")
        raise ValueError(
            f"{name} must be sample indices below {where}; found {arr.max():.17g} at "
            f"position {int(np.argmax(arr))}" + (
                "" if signal_length is None else
                f" (to score only part of a record, drop the later {name} first)"))
    return arr.astype(np.int64)


def _check_not_mask(x, name):
    """Refuse a 0/1 (or boolean) per-sample column passed instead of sample indices."""
    if isinstance(x, dict):
        return
    values = np.asarray(x)
    if values.ndim != 1:
        return
    is_mask = values.dtype == np.bool_
    if not is_mask and values.size >= 3 and values.dtype.kind in "iuf":
        # sample indices are distinct; a 0/1 array of 3 or more values repeats 0 or 1
        is_mask = bool(np.all((values == 0) | (values == 1)))
    if is_mask:
        raise ValueError(
            f"{name} looks like a per-sample 0/1 column (dtype {values.dtype}, "
            f"{values.size} values, all 0 or 1), e.g. signals['ECG_R_Peaks']; "
            f"{name} must be R-peak sample indices: pass info (or info['ECG_R_Peaks']), "
            f"not the 0/1 column")


def _unpack_reference(reference, reference_symbols, sampling_rate, signal_length, record,
                      default_rate=None):
    """Accept an ECGRecord, a wfdb.Annotation, or sample indices (+ symbols).

    ``default_rate`` (the detections' own rate, if known) is used when neither
    ``sampling_rate`` nor the reference gives one.
    """
    fs_ref = None
    n_record = None
    if hasattr(reference, "annotation_samples") and hasattr(reference, "annotation_symbols"):
        samples, symbols = reference.annotation_samples, reference.annotation_symbols
        fs_ref = getattr(reference, "sampling_rate", None)
        n_record = getattr(reference, "n_samples", None)
        if signal_length is None:
            signal_length = n_record
        record = record if record is not None else getattr(reference, "name", None)
    elif hasattr(reference, "sample") and hasattr(reference, "symbol"):  # wfdb.Annotation
        samples, symbols = reference.sample, reference.symbol
        fs_ref = getattr(reference, "fs", None)
        record = record if record is not None else getattr(reference, "record_name", None)
    else:
        samples, symbols = reference, reference_symbols
    if reference_symbols is not None and symbols is not reference_symbols:
        raise ValueError("reference_symbols is only used when reference is an array of samples")
    samples = _as_sample_indices(samples, "reference", allow_empty=True)
    if symbols is None:
        symbols = ["N"] * samples.size
    if sampling_rate is None:
        if fs_ref is None:
            fs_ref = default_rate
        if fs_ref is None:
            raise ValueError("sampling_rate is required (in Hz); got None")
        sampling_rate = fs_ref
    elif fs_ref is not None and not np.isclose(float(fs_ref), float(sampling_rate)):
        raise ValueError(
            f"sampling_rate={sampling_rate} differs from the reference's sampling rate {fs_ref}")
    return (samples, symbols, check_sampling_rate(sampling_rate), signal_length, record,
            n_record)


def evaluate(detections, reference, *, sampling_rate=None, reference_symbols=None,
             signal_length=None, learning_period_s=300.0, match_window_s=0.15,
             record=None) -> EC57Result:
    """Score QRS detections against reference beat annotations (ANSI/AAMI EC57).

    See the module documentation for the rules (beat annotations only,
    flutter/fibrillation episodes excluded, learning period, one-to-one
    matching within 150 ms as PhysioNet's ``bxb`` does).

    Parameters
    ----------
    detections : array_like of int, or dict
        Detected R-peak sample indices, or a neurokit2-style ``info`` dict with
        an ``"ECG_R_Peaks"`` entry (and optionally ``"sampling_rate"``, which
        must then equal the reference's rate: ``ValueError`` otherwise; it is
        the rate used when neither ``sampling_rate`` nor ``reference`` gives
        one).  Order does not matter; a repeated index is a second detection
        (at most one of the copies can match, the other counts as a false
        positive, as in ``bxb``).  The indices must be finite, integral,
        non-negative, below 2**62 and, with an ``ECGRecord`` reference, below
        its length (``ValueError`` naming ``detections`` otherwise).
        Detections and reference annotations after ``signal_length`` are
        outside the comparison and not scored, like those inside the
        learning period, as by ``bxb -t`` (an annotation file may extend
        beyond an excerpt; ``signal_length`` may end the comparison before the
        record does).  A per-sample 0/1 column such as
        ``signals["ECG_R_Peaks"]`` or a boolean mask (a boolean array, or 3 or
        more values all 0 or 1) is refused with ``ValueError``: pass ``info``
        or ``info["ECG_R_Peaks"]``.
    reference : ECGRecord, wfdb.Annotation or array_like of int
        Reference annotations: an :class:`~sparse_events.ecg.ECGRecord` (its
        annotations, sampling rate, length and name are used), a
        ``wfdb.Annotation`` (``sample``, ``symbol``, ``fs``), or annotation
        sample indices with their symbols in ``reference_symbols`` (when
        ``reference_symbols`` is None every index is a beat).
    sampling_rate : float, optional
        Sampling rate in Hz; required unless ``reference`` carries it.
    reference_symbols : sequence of str, optional
        Symbols of the annotations when ``reference`` is an array.
    signal_length : int, optional
        End of the comparison in samples (an integer >= 1; ``bool``,
        fractional, NaN or string values raise): the comparison covers
        ``[learning_period, signal_length]``.  Default: the
        length of an :class:`~sparse_events.ecg.ECGRecord` reference, else the
        record is taken to end at the last annotation of either stream; then,
        with a learning period, at least one annotation (reference or
        detection) must lie at or after its end, otherwise the record is
        shorter than the learning period as far as can be told and a
        ``ValueError`` is raised, as it is for an ``ECGRecord`` shorter than
        the learning period.
    learning_period_s : float
        Initial period excluded from scoring, in seconds (EC57: 300 s).  A
        value of at least 1 but below 60 on a record longer than 10 minutes
        gives a ``UserWarning`` (probably minutes: ``5`` for ``300``), unless
        that many minutes would not be shorter than the record.
    match_window_s : float
        Matching tolerance in seconds (EC57: 0.15 s); converted to
        ``round(match_window_s * sampling_rate)`` samples.  Must be below
        0.5 s (``ValueError`` otherwise; from 10 up, the message reads the
        value as milliseconds or samples: ``150`` for ``0.15``).
    record : str, optional
        Name stored in the result.

    Returns
    -------
    EC57Result
    """
    fs_det = None
    if isinstance(detections, dict) and "ECG_R_Peaks" in detections:
        fs_det = detections.get("sampling_rate")
    ref_samples, ref_symbols, fs, signal_length, record, n_record = _unpack_reference(
        reference, reference_symbols, sampling_rate, signal_length, record,
        default_rate=fs_det)
    if fs_det is not None and not np.isclose(check_sampling_rate(
            fs_det, "detections['sampling_rate']"), fs):
        raise ValueError(
            f"the detections were made at {fs_det} Hz (info['sampling_rate']) but the "
            f"reference is scored at sampling_rate={fs} Hz: detect on the reference's "
            f"sampling grid, or convert the sample indices first")
    learning_period_s = check_scalar(learning_period_s, "learning_period_s", low=0)
    match_window_s = check_match_window(match_window_s)
    start = int(np.floor(learning_period_s * fs + 0.5))
    window = int(np.floor(match_window_s * fs + 0.5))
    if signal_length is not None:
        signal_length = check_int(signal_length, "signal_length", low=1)
        if signal_length < start:
            raise ValueError(
                f"signal_length ({signal_length} samples) is shorter than the learning "
                f"period ({start} samples = {learning_period_s} s at {fs} Hz)")
    _check_not_mask(detections, "detections")
    # beyond the record (its length known from an ECGRecord) a detection is an error; after
    # a signal_length that ends the comparison earlier it is outside the comparison (not
    # scored), as a reference annotation there
    det = np.sort(_as_sample_indices(detections, "detections", allow_empty=True,
                                     signal_length=n_record))
    beats, episodes = reference_beats(ref_samples, ref_symbols)
    if signal_length is None:
        # the record's extent is known only from its last annotation (either stream)
        last = max(int(ref_samples.max()) if ref_samples.size else -1,
                   int(det[-1]) if det.size else -1)
        if start > 0 and last < start:
            raise ValueError(
                f"the record looks shorter than the learning period ({start} samples = "
                f"{learning_period_s} s at {fs} Hz): its last annotation (reference or "
                f"detection) is at sample {last}; pass signal_length, or a shorter "
                f"learning_period_s (e.g. 0)")
        end = max(last, start)
    else:
        end = signal_length
    _warn_if_minutes(learning_period_s, end / fs)
    tp_ref, tp_det, missed, false, ignored = _bxb_match(
        beats.tolist(), det.tolist(), episodes.tolist(), start, end, window)
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return EC57Result(
        record=None if record is None else str(record), sampling_rate=fs,
        tp=len(tp_ref), fn=len(missed), fp=len(false),
        matched_reference=as_int(tp_ref), matched_detections=as_int(tp_det),
        missed_reference=as_int(missed), false_detections=as_int(false),
        ignored_detections=as_int(ignored),
        learning_period_s=learning_period_s, match_window_s=match_window_s)


def check_match_window(match_window_s):
    """``match_window_s`` as a float in ``(0, MAX_MATCH_WINDOW_S)`` seconds, else ValueError.

    A window of half a second or more would let one detection match either of
    two beats of a fast rhythm: such a value is a window given in milliseconds
    (``150`` for EC57's 150 ms), which would score random detections as
    matches.  The message reads a value of ``_MS_SUSPECT`` (10) or more as
    milliseconds or samples; a smaller one (``1``, ``0.5``) is only too wide.
    """
    match_window_s = check_scalar(match_window_s, "match_window_s", low=0, low_inclusive=False)
    if match_window_s < MAX_MATCH_WINDOW_S:
        return match_window_s
    v = match_window_s
    if v < _MS_SUSPECT:
        raise ValueError(
            f"match_window_s is in seconds (EC57: 0.15 s = 150 ms) and must be below "
            f"{MAX_MATCH_WINDOW_S} s (half of a short RR interval), got {v:g} s")
    hint = (f": for {v:g} ms pass match_window_s={v / 1000:g}, for {v:g} samples "
            f"pass {v:g} / sampling_rate" if v / 1000 < MAX_MATCH_WINDOW_S else "")
    raise ValueError(
        f"match_window_s is in seconds (EC57: 0.15 s = 150 ms), not samples or milliseconds, "
        f"and must be below {MAX_MATCH_WINDOW_S} s (half of a short RR interval), got {v:g}"
        + hint)


def _warn_if_minutes(learning_period_s, record_s):
    """Warn when a learning period in [1, 60) s is given on a long record.

    Only when that many minutes would be shorter than the record (the value the
    warning suggests must be usable; otherwise minutes cannot have been meant).
    """
    if (1.0 <= learning_period_s < _MINUTES_SUSPECT_S and record_s > _LONG_RECORD_S
            and learning_period_s * 60 < record_s):
        warnings.warn(
            f"learning_period_s={learning_period_s:g} is in seconds (EC57: 300 s = 5 min) "
            f"and the record lasts {record_s / 60:.3g} min: if {learning_period_s:g} "
            f"minutes were meant, pass learning_period_s={learning_period_s * 60:g}",
            UserWarning, stacklevel=3)


def _bxb_match(beats, det, episodes, start, end, window):
    """Merge-match two sorted streams of sample times the way bxb does.

    Returns lists: matched reference times, matched detection times, missed
    reference times, false detection times, ignored detection times (in VF).
    """
    ref = beats + [_HUGE, _HUGE]
    test = det + [_HUGE, _HUGE]

    def in_vf(time):
        for onset, offset in episodes:
            if onset <= time <= offset:
                return True
        return False

    tp_ref, tp_det, missed, false, ignored = [], [], [], [], []
    # first reference beat at or after the start of the test period
    i = 0
    while ref[i] < start:
        i += 1
    # first detection at or after start; j - 1 is the last one before it (if any)
    j = 0
    while test[j] < start:
        j += 1
    T, Tn = ref[i], ref[i + 1]
    tn = test[j]
    if j > 0 and T - test[j - 1] <= window and T - test[j - 1] < abs(T - tn):
        # the last detection of the learning period matches the first beat
        tp_ref.append(T)
        tp_det.append(test[j - 1])
        i += 1
    elif test[j] - start <= window and abs(T - test[j + 1]) < abs(T - test[j]):
        j += 1  # discard an unmatched detection right after the start
    while True:
        T, Tn = ref[i], ref[i + 1]
        t, tn = test[j], test[j + 1]
        if not (T <= end or t <= end):
            break
        if t < T:
            if T - t <= window and (T - t < abs(T - tn) or abs(Tn - tn) < abs(T - tn)):
                tp_ref.append(T)
                tp_det.append(t)
                i += 1
                j += 1
            else:
                (ignored if in_vf(t) else false).append(t)
                j += 1
        else:
            if t - T <= window and (t - T < abs(t - Tn) or abs(tn - Tn) < abs(t - Tn)):
                tp_ref.append(T)
                tp_det.append(t)
                i += 1
                j += 1
            else:
                missed.append(T)
                i += 1
    return tp_ref, tp_det, missed, false, ignored


def _check_results(results):
    try:
        results = list(results)
    except TypeError:
        raise TypeError(f"results must be an iterable of EC57Result, got "
                        f"{type(results).__name__}") from None
    if not results:
        raise ValueError("results must contain at least one EC57Result")
    bad = [type(r).__name__ for r in results if not isinstance(r, EC57Result)]
    if bad:
        raise TypeError(f"results must hold EC57Result objects (from evaluate), got {bad[0]}")
    return results


def gross_statistics(results) -> dict:
    """Gross EC57 statistics over several records (counts summed first).

    Parameters
    ----------
    results : iterable of EC57Result

    Returns
    -------
    dict
        ``n_records``, ``n_reference``, ``tp``, ``fn``, ``fp``, ``se_percent``,
        ``ppv_percent``, ``f1_percent`` and the median / mean absolute and mean
        signed timing errors (ms) over all matched pairs pooled.
    """
    results = _check_results(results)
    tp = sum(r.tp for r in results)
    fn = sum(r.fn for r in results)
    fp = sum(r.fp for r in results)
    err = np.concatenate([r.timing_errors_s for r in results]) * 1e3
    return {
        "record": "gross",
        "n_records": len(results),
        "n_reference": tp + fn,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "se_percent": 100.0 * _ratio(tp, tp + fn),
        "ppv_percent": 100.0 * _ratio(tp, tp + fp),
        "f1_percent": 100.0 * _ratio(2 * tp, 2 * tp + fn + fp),
        "median_abs_timing_error_ms": float(np.median(np.abs(err))) if err.size else float("nan"),
        "mean_abs_timing_error_ms": float(np.mean(np.abs(err))) if err.size else float("nan"),
        "mean_timing_error_ms": float(np.mean(err)) if err.size else float("nan"),
    }


def ec57_table(results):
    """Per-record results and the gross row as a pandas DataFrame.

    Parameters
    ----------
    results : iterable of EC57Result

    Returns
    -------
    pandas.DataFrame
        One row per record (columns of :meth:`EC57Result.as_dict`) followed by
        a ``"gross"`` row from :func:`gross_statistics`.
    """
    import pandas as pd

    results = _check_results(results)
    rows = [r.as_dict() for r in results]
    gross = gross_statistics(results)
    gross.pop("n_records")
    rows.append(gross)
    return pd.DataFrame(rows)
