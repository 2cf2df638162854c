"""Pan & Tompkins (1985) QRS detector, our own implementation.

Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
BME-32(3):230-236, 1985.

Stages (every time constant is in seconds, so any sampling rate works):

1. band-pass 5-15 Hz (Butterworth, zero phase: ``sosfiltfilt``), the band where
   QRS energy dominates P/T waves, baseline and muscle noise;
2. five-point derivative ``d[n] = fs/8 (-x[n-2] - 2 x[n-1] + 2 x[n+1] + x[n+2])``;
3. squaring ``d[n]^2``;
4. moving-window integration over 150 ms (centred, so its peaks line up with
   the QRS complexes);
5. decision rules on the local maxima of the integrated signal (at least
   200 ms apart): two threshold sets, one on the integrated signal (I) and one
   on the band-passed signal (F), each with running signal and noise levels
   ``SPK = 0.125 PEAK + 0.875 SPK`` / ``NPK = 0.125 PEAK + 0.875 NPK`` and
   thresholds ``THR1 = NPK + 0.25 (SPK - NPK)``, ``THR2 = 0.5 THR1``;
   a candidate is a QRS when it exceeds ``THR1`` in both; a 200 ms refractory
   period; T-wave discrimination (a candidate less than 360 ms after a QRS
   whose maximal slope is below half that of the preceding QRS is a T wave);
   two RR averages (the last 8 intervals, and the last 8 within 92-116 % of
   the second average); search-back when no QRS is found within 166 % of the
   second RR average: the largest candidate above ``THR2`` in that interval is
   taken, with ``SPK = 0.25 PEAK + 0.75 SPK``; thresholds halved while the
   rhythm is irregular (latest RR outside 92-116 % of the second average).

Departures from the 1985 paper, all documented: the filters are zero-phase
(offline detection, no group delay to undo) and designed for the actual
sampling rate instead of the paper's integer filters at 200 Hz; the learning
phase uses the median over the first (up to) eight 1-second windows instead
of the first 2 s (robust to an artifact at the start); when the last eight RR
intervals all fall outside the 92-116 % band the second RR average is reset
to the first (the rhythm has changed); after ``relearn_s`` seconds without a
QRS the signal and noise levels are re-learned from the last window (a lead
that changes gain must not silence the detector forever); a QRS accepted with
a weak integrated peak (below half the signal level) is withdrawn and counted
as noise when a candidate more than ``replace_ratio`` times larger follows
within the T-wave interval (offline look-ahead: tall P waves and artifacts
just before a QRS would otherwise lock the detector into a false rhythm); the
T-wave slope test uses the derivative of the input (cleaned) signal, where a
T wave's slope is small, rather than of the 5-15 Hz signal.  The R peak is
placed at the largest absolute value of the input (cleaned) signal within the
QRS window of the detection; two detections whose R peaks land
``refractory_s`` or less apart (a wide or notched complex whose integrated
signal has two peaks more than ``refractory_s`` apart) are merged, keeping the
larger ``|x - median|``, so that no two returned R peaks are closer than the
refractory period (the paper's promise, which the decision rules only keep for
the integrated peaks).  Candidates whose integrated peak is below
``FLAT_FRACTION = 1e-4`` times the 99th percentile of the integrated signal (a
QRS amplitude under 1 % of the record's typical one) are ignored, so flat,
lead-off or saturated stretches give no detection; a wholly flat lead raises
``ValueError``.  The detector first scales the lead by a power of two (exact)
so that its largest absolute value lies in ``[0.5, 1)``: the detections do not
depend on the amplitude scale, and the squared derivative cannot overflow or
underflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from .._validation import check_int, check_scalar
from ._clean import check_ecg_signal
from ._zero_phase import odd_extension_length

__all__ = ["pantompkins_transform", "find_peaks_pantompkins", "PanTompkinsStages"]

#: candidates whose integrated peak is below this fraction of the 99th percentile of
#: the integrated signal are ignored (flat, lead-off or saturated stretches)
FLAT_FRACTION = 1e-4


@dataclass(frozen=True)
class PanTompkinsStages:
    """Intermediate signals of the Pan-Tompkins transform (same length as input).

    Attributes
    ----------
    bandpassed : ndarray
        5-15 Hz band-passed signal.
    derivative : ndarray
        Five-point derivative of ``bandpassed`` (units per second).
    squared : ndarray
        ``derivative ** 2``.
    integrated : ndarray
        Centred moving average of ``squared`` over ``window`` samples.
    window : int
        Integration window length in samples (``round(0.150 * fs)``, odd).
    """

    bandpassed: np.ndarray
    derivative: np.ndarray
    squared: np.ndarray
    integrated: np.ndarray
    window: int


def _odd(n: int) -> int:
    n = max(int(n), 1)
    return n if n % 2 == 1 else n + 1


def five_point_derivative(x, sampling_rate):
    """``fs/8 (-x[n-2] - 2x[n-1] + 2x[n+1] + x[n+2])``, edges by repetition."""
    xp = np.pad(x, 2, mode="edge")
    return (sampling_rate / 8.0) * (-xp[:-4] - 2.0 * xp[1:-3] + 2.0 * xp[3:-1] + xp[4:])


def pantompkins_transform(signal, *, sampling_rate, band_hz=(5.0, 15.0),
                          integration_window_s=0.150, order=2):
    """Band-pass, differentiate, square and integrate (Pan & Tompkins stages 1-4).

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        One ECG lead.
    sampling_rate : float
        In Hz (keyword-only, required; must exceed ``2 * band_hz[1]``).
    band_hz : (float, float)
        Band-pass edges in Hz.
    integration_window_s : float
        Moving-window integration width in seconds (150 ms in the paper);
        rounded to an odd number of samples so the window is centred.
    order : int
        Butterworth order of each pass of the zero-phase band-pass.

    Returns
    -------
    PanTompkinsStages
    """
    x, fs = check_ecg_signal(signal, sampling_rate=sampling_rate)
    try:
        low, high = band_hz
    except (TypeError, ValueError):
        raise TypeError(f"band_hz must be a pair (low_hz, high_hz), got {band_hz!r}") from None
    low = check_scalar(low, "band_hz[0]", low=0, low_inclusive=False)
    high = check_scalar(high, "band_hz[1]", low=low, low_inclusive=False)
    if high >= 0.5 * fs:
        raise ValueError(
            f"band_hz[1]={high} Hz must lie below the Nyquist frequency: sampling_rate must "
            f"exceed twice the band-pass upper edge ({2 * high} Hz) for the Pan-Tompkins "
            f"detector, got {fs} Hz")
    width_s = check_scalar(integration_window_s, "integration_window_s", low=0,
                           low_inclusive=False)
    order = check_int(order, "order", low=1)
    sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    # zero-phase filtering pads each end with odd_extension_length samples and needs more
    # samples than that (scipy.signal.sosfiltfilt)
    need = odd_extension_length(sos) + 1
    if x.size < need:
        raise ValueError(
            f"signal is too short for the zero-phase band-pass (order={order}): {x.size} "
            f"samples ({x.size / fs:.4g} s at {fs:g} Hz), but the filter needs at least "
            f"{need} samples ({need / fs:.4g} s at this sampling_rate)")
    bp = sps.sosfiltfilt(sos, x - np.mean(x))
    der = five_point_derivative(bp, fs)
    sq = der * der
    window = _odd(round(width_s * fs))
    integrated = uniform_filter1d(sq, size=window, mode="constant")
    return PanTompkinsStages(bp, der, sq, integrated, window)


def _learn_levels(values, fs, start, stop):
    """Median over up to eight 1-s windows of the window maxima / means."""
    sec = max(int(round(fs)), 1)
    maxima, means = [], []
    for k in range(start, min(stop, start + 8 * sec), sec):
        seg = values[k:k + sec]
        if seg.size:
            maxima.append(seg.max())
            means.append(seg.mean())
    return float(np.median(maxima)), float(np.median(means))


def find_peaks_pantompkins(cleaned, *, sampling_rate, refractory_s=0.200, twave_s=0.360,
                           relearn_s=5.0, halve_when_irregular=True, replace_ratio=2.0):
    """R peaks by the Pan & Tompkins (1985) decision rules.

    Parameters
    ----------
    cleaned : array_like, shape (n_samples,)
        One ECG lead, preferably cleaned by :func:`ecg_clean`; the detector
        filters it again (5-15 Hz) and places each R peak at the largest
        absolute value of ``cleaned`` within the QRS window.
    sampling_rate : float
        In Hz (keyword-only, required; > 30 Hz).
    refractory_s : float
        Refractory period after a QRS (200 ms): any two returned R peaks are
        more than ``round(refractory_s * sampling_rate)`` samples apart (of two
        located R peaks that close, the one with the larger ``|cleaned -
        median|`` is kept).
    twave_s : float
        Candidates closer than this to the previous QRS go through T-wave
        discrimination (360 ms).
    relearn_s : float
        Seconds without a QRS after which the levels are re-learned.
    halve_when_irregular : bool
        Halve the first thresholds while the rhythm is irregular (paper rule).
    replace_ratio : float
        Withdraw a weak QRS when a candidate this many times larger (integrated
        signal) follows within ``twave_s``; 0 disables the rule.

    Returns
    -------
    ndarray of int64
        Sorted R-peak sample indices.

    Raises
    ------
    ValueError
        For a flat signal (constant, or nothing in the 5-15 Hz band), as the
        sparse detector does.

    Notes
    -----
    The whole record is filtered at once (no chunking, unlike
    :func:`find_peaks_sparse`): the stages take about 70 bytes per sample at
    their peak (``ecg_peaks`` on MIT-BIH 101 tiled to 4 h at 360 Hz: +365 MB),
    some 2 GB for a 24-hour lead at 360 Hz (process such a record in overlapping
    pieces, or use the sparse method).

    The lead is first scaled by the power of two that brings its largest
    absolute value into ``[0.5, 1)``: an exact operation, so multiplying a lead
    by a power of two gives the same detections bit for bit, other factors
    only change the input by its own rounding (1e-200 to 1e300 times an
    ECGSYN lead in mV gave the same peaks in the tests), and the squared
    derivative never over- or underflows.

    The refractory merge keeps the stronger of two close R peaks, which on a
    wide or notched complex is its R wave; on a noisy lead the stronger sample
    can be the artefact and the weaker one the beat.  On NSTDB 118e06 (6 dB)
    the merge turned 1896 TP / 20 FN / 394 FP into 1873 / 43 / 385 (23 TP
    lost, 9 FP removed); over MIT-BIH and NSTDB as a whole, and on CPSC, it
    was a net gain (the 24 MIT-BIH records of ``ecg/mitdb_benchmark.py``,
    TP / FN / FP: 45933 / 208 / 143 -> 45926 / 215 / 116; its NSTDB records:
    11015 / 481 / 1961 -> 10959 / 537 / 1893).  No rule measured (keep the
    first, the weaker or the stronger) was best everywhere: FN + FP on MIT-BIH
    108 were 105 keeping the stronger, 145 the first, 143 the weaker; on 203
    72, 66, 70; on 118e06 428, 396, 386 (``ecg_clean`` then this detector,
    channel 0, scored by :func:`evaluate`; 2026-11-25).
    """
    x, fs = check_ecg_signal(cleaned, sampling_rate=sampling_rate, name="cleaned")
    refractory = int(round(check_scalar(refractory_s, "refractory_s", low=0) * fs))
    twave = int(round(check_scalar(twave_s, "twave_s", low=0) * fs))
    relearn = int(round(check_scalar(relearn_s, "relearn_s", low=0, low_inclusive=False) * fs))
    replace_ratio = check_scalar(replace_ratio, "replace_ratio", low=0)
    x = _normalize_amplitude(x)
    stages = pantompkins_transform(x, sampling_rate=fs)
    n = x.size
    mwi, bp = stages.integrated, stages.bandpassed
    half = stages.window // 2
    span = float(np.ptp(x))
    if span == 0.0 or not np.max(np.abs(bp)) > 1e-6 * span or not np.any(mwi > 0):
        raise ValueError("cleaned is flat (the cleaned lead: ecg_peaks cleans its signal into it; "
                         "constant, or no signal in the QRS band 5-15 Hz): "
                         "no beat to detect")

    cand, _ = sps.find_peaks(mwi, distance=max(refractory, 1))
    # flat / lead-off stretches: integrated peaks below FLAT_FRACTION of the record's
    # QRS energy scale (QRS amplitude under 1 % of the typical one) are never candidates
    cand = cand[mwi[cand] > FLAT_FRACTION * np.percentile(mwi, 99)]
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    # per-candidate features over the QRS window [p - half, p + half]
    peak_f = _window_max(np.abs(bp), cand, half).tolist()
    slope = _window_max(np.abs(five_point_derivative(x, fs)), cand, half).tolist()
    peak_i = mwi[cand].tolist()
    cand_l = cand.tolist()

    spki, mean_i = _learn_levels(mwi, fs, 0, n)
    spkf, mean_f = _learn_levels(np.abs(bp), fs, 0, n)
    npki, npkf = 0.5 * mean_i, 0.5 * mean_f
    spki, spkf = spki / 3.0, spkf / 3.0  # paper: a third of the learning maximum

    qrs = []              # accepted candidate indices (into cand)
    rr_recent = []        # last 8 RR intervals (samples)
    rr_regular = []       # last 8 RR intervals within the regular band
    rr1 = rr2 = fs        # 60 bpm until two beats are found
    irregular = False
    last_qrs = -(10 ** 12)  # for the refractory period and T-wave test
    last_slope = None
    rr_valid = False      # whether last_qrs is a real beat (for RR bookkeeping)
    anchor = 0            # time of the last QRS or of the last (re)learning
    pending = []          # noise candidates since the last QRS (search-back pool)
    states = []           # detector state before each accepted QRS (for replacement)

    def thresholds():
        thr_i1 = npki + 0.25 * (spki - npki)
        thr_f1 = npkf + 0.25 * (spkf - npkf)
        if irregular and halve_when_irregular:
            thr_i1, thr_f1 = 0.5 * thr_i1, 0.5 * thr_f1
        return thr_i1, thr_f1, 0.5 * thr_i1, 0.5 * thr_f1

    def snapshot():
        return (spki, spkf, last_qrs, last_slope, rr1, rr2, irregular, rr_valid, anchor,
                list(rr_recent), list(rr_regular))

    def restore(state):
        nonlocal spki, spkf, last_qrs, last_slope, rr1, rr2, irregular, rr_valid, anchor
        (spki, spkf, last_qrs, last_slope, rr1, rr2, irregular, rr_valid, anchor,
         rr_recent[:], rr_regular[:]) = state

    def accept(k, searchback):
        nonlocal spki, spkf, last_qrs, last_slope, rr1, rr2, irregular, rr_valid, anchor
        p = cand_l[k]
        states.append(snapshot())
        w = 0.25 if searchback else 0.125
        spki = w * peak_i[k] + (1 - w) * spki
        spkf = w * peak_f[k] + (1 - w) * spkf
        if rr_valid:
            rr = p - last_qrs
            rr_recent.append(rr)
            del rr_recent[:-8]
            rr1 = sum(rr_recent) / len(rr_recent)
            if 0.92 * rr2 <= rr <= 1.16 * rr2 or not rr_regular:
                rr_regular.append(rr)
                del rr_regular[:-8]
                rr2 = sum(rr_regular) / len(rr_regular)
                irregular = False
            else:
                irregular = True
                if len(rr_recent) == 8 and not any(
                        0.92 * rr2 <= r <= 1.16 * rr2 for r in rr_recent):
                    rr_regular[:] = rr_recent
                    rr2 = rr1
        qrs.append(k)
        last_qrs = anchor = p
        rr_valid = True
        last_slope = slope[k]
        pending.clear()

    def search_back(until):
        """Accept the best pending candidate while the gap exceeds 166 % of RR2."""
        while rr_valid and until - last_qrs > 1.66 * rr2 and pending:
            _, _, thr_i2, thr_f2 = thresholds()
            pool = [k for k in pending if cand_l[k] - last_qrs > refractory
                    and peak_i[k] > thr_i2 and peak_f[k] > thr_f2]
            if not pool:
                return
            best = max(pool, key=lambda k: peak_i[k])
            later = [k for k in pending if cand_l[k] > cand_l[best]]
            accept(best, searchback=True)
            pending.extend(later)

    for k, p in enumerate(cand_l):
        search_back(p)
        if p - anchor > relearn:
            # long silence: re-learn levels from the preceding window
            s_i, m_i = _learn_levels(mwi, fs, p - relearn, p)
            s_f, m_f = _learn_levels(np.abs(bp), fs, p - relearn, p)
            spki, spkf, npki, npkf = s_i / 3.0, s_f / 3.0, 0.5 * m_i, 0.5 * m_f
            pending.clear()
            anchor = p
            rr_valid = False  # restart the RR bookkeeping at the next QRS
        if p - last_qrs <= refractory:
            continue
        if (replace_ratio and qrs and p - last_qrs < twave
                and peak_i[k] > replace_ratio * peak_i[qrs[-1]]
                and peak_i[qrs[-1]] < 0.5 * states[-1][0]):
            # the previous "QRS" was a P wave or an artifact: undo it, count it as noise
            bad = qrs.pop()
            restore(states.pop())
            npki = 0.125 * peak_i[bad] + 0.875 * npki
            npkf = 0.125 * peak_f[bad] + 0.875 * npkf
        thr_i1, thr_f1, _, _ = thresholds()
        is_twave = (last_slope is not None and p - last_qrs < twave
                    and slope[k] < 0.5 * last_slope)
        if not is_twave and peak_i[k] > thr_i1 and peak_f[k] > thr_f1:
            accept(k, searchback=False)
        else:
            npki = 0.125 * peak_i[k] + 0.875 * npki
            npkf = 0.125 * peak_f[k] + 0.875 * npkf
            if not is_twave:
                pending.append(k)
    search_back(n)

    det = cand[np.asarray(qrs, dtype=np.int64)] if qrs else np.zeros(0, np.int64)
    return _locate_r_peaks(x, det, half, refractory)


def _normalize_amplitude(x):
    """``x`` times the power of two that brings ``max |x|`` into ``[0.5, 1)``.

    Scaling by a power of two is exact in floating point, so the detections
    are bit-for-bit those of the unscaled signal whenever that one neither
    overflows nor underflows, and the squared derivative can neither overflow
    (``x`` of order 1e155) nor underflow (order 1e-200).  An all-zero ``x`` is returned as is.
    """
    amplitude = float(np.max(np.abs(x)))  # finite: checked by check_ecg_signal
    if amplitude == 0.0:
        return x  # flat: reported by the caller, after the parameter checks
    _, exponent = np.frexp(amplitude)
    return np.ldexp(x, -int(exponent))


def _windows(values, centers, half):
    """Rows ``values[c - half : c + half + 1]`` (edge-padded), one per center."""
    padded = np.pad(values, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[centers]


def _window_max(values, centers, half):
    return _windows(values, centers, half).max(axis=1)


def _locate_r_peaks(x, det, half, refractory):
    """Largest |x - median(x)| within [p - half, p + half] of each detection.

    Two detections may locate onto the same QRS (their integrated peaks are more
    than ``refractory`` apart, their R peaks not): located peaks ``refractory``
    samples apart or closer are merged by :func:`_merge_within_refractory`.
    """
    if det.size == 0:
        return det.astype(np.int64)
    ax = np.abs(x - np.median(x))
    out = det + np.argmax(_windows(ax, det, half), axis=1) - half
    # edge padding repeats the end samples: keep indices inside the signal
    out = np.unique(np.clip(out, 0, x.size - 1)).astype(np.int64)
    return _merge_within_refractory(out, ax[out], refractory)


def _merge_within_refractory(peaks, strength, refractory):
    """Drop the weaker of any two peaks ``refractory`` samples apart or closer.

    Within each run of sorted ``peaks`` whose consecutive gaps are at most
    ``refractory``, peaks are kept from the strongest down (ties: the earlier
    one) unless a kept peak lies within ``refractory`` of them; the result has
    every interval above ``refractory`` and is a subset of ``peaks``.  The
    stronger peak is not always the beat: on a noisy lead it can be an
    artefact (see the Notes of :func:`find_peaks_pantompkins`).
    """
    close = np.diff(peaks) <= refractory
    if not np.any(close):
        return peaks
    keep = np.ones(peaks.size, dtype=bool)
    # runs of peaks linked by close gaps: only those need a decision
    starts = np.flatnonzero(np.diff(np.concatenate(([0], close.astype(np.int8)))) == 1)
    for s in starts:
        e = s + 1
        while e < close.size and close[e]:
            e += 1
        run = np.arange(s, e + 1)
        kept = []
        for i in run[np.lexsort((run, -strength[run]))]:
            if all(abs(int(peaks[i]) - int(peaks[j])) > refractory for j in kept):
                kept.append(i)
        keep[run] = False
        keep[kept] = True
    return peaks[keep]
