"""QRS templates and dictionaries of QRS templates.

A *QRS template* is a short unit-norm waveform ``h`` (one QRS complex) with the
index of its R apex, ``r_offset``: an activation at sample ``t`` of the
convolution model ``y = H s`` (causal mode, the template starts at ``t``) puts
the R peak at ``t + r_offset``.  A *dictionary* is a set of templates of any
lengths, zero-padded at the end to a common length for the dictionary operator
(padding at the end keeps every ``r_offset`` valid).

* :func:`ecgsyn_qrs_template` is the template of Luengo, Via and Trigano: the
  QRS complex of the first beat of an ECGSYN simulation (McSharry et al. 2003,
  as implemented by :func:`neurokit2.ecg_simulate`), ``Lh = 70`` samples at
  360 Hz, resampled to any sampling rate.
* :func:`qrs_dictionary` is a generic multi-template dictionary: several QRS
  shapes and widths, in both polarities.
* :func:`~sparse_events.ecg.learn_qrs_dictionary` (module ``_dictionary``)
  learns a personalized dictionary from a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from scipy.interpolate import CubicSpline

from .._validation import (
    as_float_array,
    check_int,
    check_option,
    check_sampling_rate,
    check_scalar,
)

__all__ = [
    "QRSTemplate",
    "QRSDictionary",
    "ecgsyn_qrs_template",
    "qrs_dictionary",
    "QRS_SHAPES",
]

#: Paper's template: ``Lh = 70`` samples at 360 Hz, R apex at sample 35.
_PAPER_RATE = 360.0
_PAPER_LENGTH = 70
_PAPER_R_OFFSET = 35


def _unit(w: np.ndarray, name: str) -> np.ndarray:
    norm = float(np.linalg.norm(w))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"{name} must have a non-zero finite L2 norm")
    return w / norm


@dataclass(frozen=True)
class QRSTemplate:
    """One unit-norm QRS template with the position of its R apex.

    Attributes
    ----------
    waveform : ndarray of shape (L,)
        Unit-L2-norm samples of the template.
    r_offset : int
        Index in ``waveform`` of the R apex (the fiducial point of the beat):
        an activation at sample ``t`` puts the R peak at ``t + r_offset``.
    sampling_rate : float
        Sampling rate of ``waveform`` in Hz.
    label : str
        Name of the shape (e.g. ``"ecgsyn"``, ``"qRs x1.5 -"``, ``"learned 0"``).
    polarity : int
        ``+1`` when the apex is a maximum, ``-1`` when it is a minimum.
    n_beats : int
        Number of beats averaged into a learned template (0 for synthetic ones).
    """

    waveform: np.ndarray = field(repr=False)
    r_offset: int
    sampling_rate: float
    label: str = ""
    polarity: int = 1
    n_beats: int = 0

    def __post_init__(self):
        w = as_float_array(self.waveform, "waveform", dtype=np.float64, ndim=1)
        if w.size < 2:
            raise ValueError(f"waveform must have at least 2 samples, got {w.size}")
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            raise ValueError("waveform must not be identically zero")
        if abs(norm - 1.0) > 1e-9:
            raise ValueError(f"waveform must have unit L2 norm, got {norm:.6g} "
                             "(use QRSTemplate.from_waveform to normalise)")
        r = check_int(self.r_offset, "r_offset", low=0, high=w.size - 1)
        fs = check_sampling_rate(self.sampling_rate)
        if self.polarity not in (1, -1):
            raise ValueError(f"polarity must be +1 or -1, got {self.polarity!r}")
        w = w.copy()
        w.setflags(write=False)
        object.__setattr__(self, "waveform", w)
        object.__setattr__(self, "r_offset", r)
        object.__setattr__(self, "sampling_rate", fs)
        object.__setattr__(self, "n_beats", check_int(self.n_beats, "n_beats", low=0))

    @classmethod
    def from_waveform(cls, waveform, r_offset, *, sampling_rate, label="", polarity=None,
                      n_beats=0):
        """Normalise ``waveform`` to unit L2 norm and build a template.

        ``polarity`` defaults to the sign of ``waveform[r_offset]``.
        """
        w = as_float_array(waveform, "waveform", dtype=np.float64, ndim=1)
        r = check_int(r_offset, "r_offset", low=0, high=w.size - 1)
        w = _unit(w, "waveform")
        if polarity is None:
            polarity = 1 if w[r] >= 0 else -1
        return cls(w, r, sampling_rate, label, int(polarity), n_beats)

    @property
    def length(self) -> int:
        return int(self.waveform.size)

    @property
    def duration_s(self) -> float:
        return self.length / self.sampling_rate

    def resample(self, sampling_rate) -> "QRSTemplate":
        """The same template on another sampling grid (cubic spline, unit norm again).

        The new grid is ``t_k = (k - r') / fs'`` seconds around the apex,
        ``r' = round(r_offset * fs' / fs)``, over the same duration:
        ``round(length * fs' / fs)`` samples (``duration_s`` up to half a
        sample; a round trip through a finer grid keeps the length); the new
        ``r_offset`` is the extremum of the template's polarity within two
        samples of ``r'`` (the spline may peak between the old samples).

        Downsampling can shorten the template's tail: the length is
        ``round(length * fs' / fs)`` samples (not the span ``(length - 1) / fs``
        plus one sample) and ``r'`` is rounded on its own, so the last sample
        can lie up to about 1.5 samples of the new rate closer to the apex than
        the old last sample (nearly 2 for large ratios); the apex
        (``r_offset``) is kept.  The ECGSYN template (360 Hz, 70 samples, tail
        94 ms after the apex) resampled to 100 Hz ends 80 ms after the apex
        (250 Hz: 96 ms).
        """
        fs_new = check_sampling_rate(sampling_rate)
        if fs_new == self.sampling_rate:
            return self
        return _resample_waveform(self, fs_new)

    def negated(self) -> "QRSTemplate":
        """The template of opposite polarity (same apex).

        Its label is this one's with the polarity suffix ``" +"``/``" -"``
        replaced (or appended): negating twice gives the template back, with the
        label ending in ``" +"``.
        """
        label = self.label[:-2] if self.label.endswith((" +", " -")) else self.label
        sign = "-" if self.polarity == 1 else "+"
        return replace(self, waveform=-self.waveform, polarity=-self.polarity,
                       label=f"{label} {sign}")


def _resample_waveform(t: QRSTemplate, fs_new: float) -> QRSTemplate:
    fs = t.sampling_rate
    time = (np.arange(t.length) - t.r_offset) / fs
    # zero beyond the template (it is a windowed QRS): pad one zero sample each side
    time = np.concatenate([[time[0] - 1 / fs], time, [time[-1] + 1 / fs]])
    values = np.concatenate([[0.0], t.waveform, [0.0]])
    spline = CubicSpline(time, values, bc_type="natural")
    r_new = int(round(t.r_offset * fs_new / fs))
    # the same duration: round(length * fs_new / fs) samples (the apex inside)
    n_new = max(int(round(t.length * fs_new / fs)), r_new + 1, 2)
    grid = (np.arange(n_new) - r_new) / fs_new
    w = spline(np.clip(grid, time[0], time[-1]))
    # the apex is the extremum (of the template's polarity) nearest the old apex: between
    # samples the spline may exceed the old apex sample by a fraction of a sample
    lo, hi = max(0, r_new - 2), min(n_new, r_new + 3)
    r_new = lo + int(np.argmax(t.polarity * w[lo:hi]))
    return QRSTemplate.from_waveform(w, r_new, sampling_rate=fs_new, label=t.label,
                                     polarity=t.polarity, n_beats=t.n_beats)


@dataclass(frozen=True)
class QRSDictionary:
    """A set of QRS templates (atoms), the dictionary of the sparse R-peak detector.

    Attributes
    ----------
    templates : tuple of QRSTemplate
        The atoms, all at the same sampling rate.
    """

    templates: tuple

    def __post_init__(self):
        temps = tuple(self.templates)
        if not temps:
            raise ValueError("templates must contain at least one QRSTemplate")
        for i, t in enumerate(temps):
            if not isinstance(t, QRSTemplate):
                raise TypeError(f"templates[{i}] must be a QRSTemplate, got {type(t).__name__}")
        rates = {t.sampling_rate for t in temps}
        if len(rates) != 1:
            raise ValueError(f"all templates must share one sampling rate, got {sorted(rates)}")
        object.__setattr__(self, "templates", temps)

    def __len__(self) -> int:
        return len(self.templates)

    def __iter__(self):
        return iter(self.templates)

    def __getitem__(self, i):
        return self.templates[i]

    @property
    def n_atoms(self) -> int:
        return len(self.templates)

    @property
    def sampling_rate(self) -> float:
        return self.templates[0].sampling_rate

    @property
    def atom_length(self) -> int:
        """Common length ``L`` of :attr:`kernels` (the longest template)."""
        return max(t.length for t in self.templates)

    @property
    def kernels(self) -> np.ndarray:
        """Atoms as a ``(P, L)`` array, each zero-padded at its end (unit norm rows)."""
        out = np.zeros((self.n_atoms, self.atom_length))
        for p, t in enumerate(self.templates):
            out[p, :t.length] = t.waveform
        return out

    @property
    def r_offsets(self) -> np.ndarray:
        """R-apex index of every atom, shape ``(P,)``."""
        return np.array([t.r_offset for t in self.templates], dtype=np.int64)

    @property
    def polarities(self) -> np.ndarray:
        return np.array([t.polarity for t in self.templates], dtype=np.int64)

    @property
    def labels(self) -> list:
        return [t.label for t in self.templates]

    def resample(self, sampling_rate) -> "QRSDictionary":
        """Every template resampled to ``sampling_rate`` (see :meth:`QRSTemplate.resample`)."""
        return QRSDictionary(tuple(t.resample(sampling_rate) for t in self.templates))

    def with_both_polarities(self) -> "QRSDictionary":
        """The dictionary plus the negation of every atom."""
        return QRSDictionary(self.templates + tuple(t.negated() for t in self.templates))

    def __add__(self, other):
        if not isinstance(other, QRSDictionary):
            return NotImplemented
        if other.sampling_rate != self.sampling_rate:
            other = other.resample(self.sampling_rate)
        return QRSDictionary(self.templates + other.templates)


# --------------------------------------------------------------------------- ECGSYN


@lru_cache(maxsize=8)
def _ecgsyn_first_beat(heart_rate: float, random_state: int):
    """First beat of a noise-free ECGSYN run at 360 Hz: (samples, R index)."""
    import neurokit2 as nk
    from scipy.signal import find_peaks

    x = np.asarray(nk.ecg_simulate(duration=10, sampling_rate=int(_PAPER_RATE), noise=0,
                                   heart_rate=heart_rate, heart_rate_std=heart_rate / 10,
                                   method="ecgsyn", random_state=random_state),
                   dtype=np.float64)
    # R apices: the most prominent maxima (R wave of amplitude 30 in the ECGSYN
    # model, every other wave at most 7.5), at least 200 ms apart
    peaks, props = find_peaks(x, prominence=0.0, distance=int(0.2 * _PAPER_RATE))
    peaks = peaks[props["prominences"] >= 0.5 * props["prominences"].max()]
    first = int(peaks[peaks >= _PAPER_R_OFFSET + 1][0])
    x.setflags(write=False)
    return x, first


def ecgsyn_qrs_template(*, sampling_rate=360.0, heart_rate=60.0, random_state=0,
                        detrend=True) -> QRSTemplate:
    """The paper's QRS template: the QRS of the first ECGSYN beat, unit norm.

    Luengo, Via and Trigano build ``H`` from the QRS complex of the first beat
    of an ECGSYN signal (McSharry, Clifford, Tarassenko and Smith 2003): from
    QRS onset to QRS offset, ``Lh = 70`` samples at 360 Hz, normalized.  This
    function simulates a noise-free ECGSYN signal with
    :func:`neurokit2.ecg_simulate` (``method="ecgsyn"``, 360 Hz, mean heart rate
    ``heart_rate``, standard deviation ``heart_rate / 10`` as in the paper's
    60 +- 6 bpm case study), finds the R apex of the first beat (the first
    dominant maximum) and keeps the 70 samples ``[R - 35, R + 35)``.  At 60 bpm
    this window spans the Q wave onset to the S wave offset of the ECGSYN
    model (Q and S Gaussians centred 15 degrees = 42 ms before and after R,
    width 0.1 rad = 16 ms: onset and offset about 3 widths beyond them,
    +-90 ms, i.e. about +-32 samples).

    Parameters
    ----------
    sampling_rate : float, default=360.0
        Sampling rate of the returned template in Hz; other rates than 360 Hz
        are obtained by cubic-spline resampling of the 360 Hz template (same
        duration, 194.4 ms; apex kept on a sample).
    heart_rate : float, default=60.0
        Mean heart rate of the simulation (ECGSYN scales its wave widths with
        ``sqrt(heart_rate / 60)``).
    random_state : int, default=0
        Seed of the simulation (RR process).
    detrend : bool, default=True
        Subtract the straight line through the first and last samples, so
        that the template starts and ends at zero (the isoelectric level of
        the QRS); ``False`` keeps the raw samples (then the template carries
        the local baseline of the simulated beat).

    Returns
    -------
    QRSTemplate
        Unit-norm template with ``r_offset`` the R apex (35 at 360 Hz).
    """
    fs = check_sampling_rate(sampling_rate)
    heart_rate = check_scalar(heart_rate, "heart_rate", low=20, high=300)
    random_state = check_int(random_state, "random_state", low=0)
    if not isinstance(detrend, (bool, np.bool_)):
        raise TypeError(f"detrend must be a bool, got {type(detrend).__name__}")
    x, r = _ecgsyn_first_beat(float(heart_rate), random_state)
    seg = x[r - _PAPER_R_OFFSET: r - _PAPER_R_OFFSET + _PAPER_LENGTH].copy()
    if detrend:
        seg -= np.linspace(seg[0], seg[-1], seg.size)
    t = QRSTemplate.from_waveform(seg, _PAPER_R_OFFSET, sampling_rate=_PAPER_RATE,
                                  label="ecgsyn", polarity=1)
    return t.resample(fs)


# --------------------------------------------------------------------------- generic


#: Analytic QRS shapes of :func:`qrs_dictionary` at width 1: Gaussian waves
#: ``(centre ms, standard deviation ms, amplitude)`` relative to the apex.
QRS_SHAPES = {
    "qRs": None,  # the ECGSYN template itself
    "R": ((0.0, 14.0, 1.0),),
    "Rs": ((0.0, 12.0, 1.0), (32.0, 14.0, -0.55)),
    "qR": ((-32.0, 14.0, -0.55), (0.0, 12.0, 1.0)),
    "RSr": ((0.0, 10.0, 1.0), (28.0, 10.0, -0.8), (56.0, 12.0, 0.5)),
}


def _analytic_shape(waves, width, fs):
    """Gaussian-sum QRS at sampling rate ``fs``, time axis scaled by ``width``."""
    centres = np.array([w[0] for w in waves]) * width / 1e3
    sigmas = np.array([w[1] for w in waves]) * width / 1e3
    amps = np.array([w[2] for w in waves])
    lo = float(np.min(centres - 3 * sigmas))
    hi = float(np.max(centres + 3 * sigmas))
    r = int(np.ceil(-lo * fs))
    n = r + int(np.ceil(hi * fs)) + 1
    t = (np.arange(n) - r) / fs
    w = (amps[:, None] * np.exp(-0.5 * ((t[None, :] - centres[:, None]) / sigmas[:, None]) ** 2)
         ).sum(axis=0)
    # overlapping waves shift the maximum of the R wave slightly: the apex is the maximum
    lo, hi = max(0, r - 3), min(n, r + 4)
    return w, lo + int(np.argmax(w[lo:hi]))


def qrs_dictionary(*, sampling_rate, shapes=("qRs", "Rs", "qR"), widths=(1.0, 1.8),
                   polarities=(1, -1)) -> QRSDictionary:
    """A generic multi-template QRS dictionary: several shapes and widths, both polarities.

    Every atom is a unit-norm template with its R apex:

    * ``"qRs"``: the ECGSYN template of :func:`ecgsyn_qrs_template` (194 ms at
      width 1);
    * the analytic shapes of :data:`QRS_SHAPES`, sums of Gaussian waves
      ``a_k exp(-(t - c_k)^2 / (2 sigma_k^2))`` around the apex (``"R"``
      monophasic, ``"Rs"`` R then S, ``"qR"`` Q then R, ``"RSr"`` triphasic),
      truncated at 3 standard deviations.

    A width factor ``w`` stretches the time axis by ``w`` (QRS durations from
    about 60 ms at ``w = 0.75`` to 200 ms and more at ``w >= 2``, the range of
    narrow normal beats to wide ventricular and bundle-branch-block beats).
    Polarity ``-1`` negates the atom (QS complexes, inverted leads); with both
    polarities the dictionary is meant for non-negative activations.

    Parameters
    ----------
    sampling_rate : float
        Sampling rate of the atoms in Hz (required).
    shapes : sequence of str
        Keys of :data:`QRS_SHAPES`.
    widths : sequence of float
        Time-scale factors ``> 0``.
    polarities : sequence of {1, -1}

    Returns
    -------
    QRSDictionary
        ``len(shapes) * len(widths) * len(polarities)`` atoms, ordered by
        polarity, then shape, then width.
    """
    fs = check_sampling_rate(sampling_rate)
    shapes = tuple(shapes) if not isinstance(shapes, str) else (shapes,)
    if not shapes:
        raise ValueError("shapes must not be empty")
    for s in shapes:
        check_option(s, "shapes", tuple(QRS_SHAPES))
    widths = as_float_array(widths, "widths", dtype=np.float64, ndim=1)
    if np.any(widths <= 0):
        raise ValueError(f"widths must all be > 0, got {widths.tolist()}")
    polarities = tuple(polarities)
    if not polarities or any(p not in (1, -1) for p in polarities):
        raise ValueError(f"polarities must be a non-empty sequence of +1/-1, got {polarities!r}")
    base = []
    for s in shapes:
        for w in widths:
            label = f"{s} x{w:g}"
            if QRS_SHAPES[s] is None:
                t = replace(_stretched(ecgsyn_qrs_template(sampling_rate=_PAPER_RATE), float(w),
                                       fs), label=label, polarity=1)
            else:
                wave, r = _analytic_shape(QRS_SHAPES[s], float(w), fs)
                t = QRSTemplate.from_waveform(wave, r, sampling_rate=fs, label=label, polarity=1)
            base.append(t)
    out = []
    for p in polarities:
        for t in base:
            if p == 1:
                out.append(replace(t, label=f"{t.label} +"))
            else:
                out.append(t.negated())
    return QRSDictionary(tuple(out))


def _stretched(ref: QRSTemplate, width: float, fs: float) -> QRSTemplate:
    """``ref`` with its time axis stretched by ``width``, sampled at ``fs``."""
    # read the samples as if taken at fs_ref / width: the template lasts `width` times longer
    slow = replace(ref, sampling_rate=ref.sampling_rate / width)
    return slow.resample(fs)
