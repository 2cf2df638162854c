"""Energy spectra of event amplitudes, and photopeak fits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, check_int, check_scalar

__all__ = ["energy_spectrum", "EnergySpectrum", "fit_photopeak", "PhotopeakFit"]


@dataclass
class EnergySpectrum:
    """A histogram of event energies.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_bins,)
    bin_edges_kev : ndarray of shape (n_bins + 1,)
    calibration : ndarray
        Polynomial ``E(a) = c[0] + c[1] a + ...`` (keV) applied to the amplitudes.
    n_outside : int
        Events outside the histogram range (reported, not silently lost).
    """

    counts: np.ndarray
    bin_edges_kev: np.ndarray
    calibration: np.ndarray
    n_outside: int

    @property
    def bin_centers_kev(self) -> np.ndarray:
        return 0.5 * (self.bin_edges_kev[1:] + self.bin_edges_kev[:-1])

    def counts_between(self, low_kev, high_kev) -> int:
        """Counts of the bins whose centers lie in ``[low_kev, high_kev)``."""
        c = self.bin_centers_kev
        return int(self.counts[(c >= low_kev) & (c < high_kev)].sum())


def energy_spectrum(amplitudes, *, calibration=(0.0, 1.0), bin_edges_kev=None, n_bins=1024,
                    energy_range_kev=None):
    """Histogram of the energies of recovered (or true) event amplitudes.

    Parameters
    ----------
    amplitudes : array_like of shape (n_events,)
        Event amplitudes (e.g. :attr:`EstimatedEvents.amplitudes`).
    calibration : sequence of float, default=(0, 1)
        Energy calibration polynomial ``E(a) = c[0] + c[1] a + c[2] a^2 + ...``
        in keV (``(offset, gain)`` for a linear one); must be increasing over
        the amplitudes.
    bin_edges_kev : array_like, optional
        Explicit increasing bin edges in keV.
    n_bins : int, default=1024
        Number of bins when ``bin_edges_kev`` is not given.
    energy_range_kev : (float, float), optional
        Range of those bins (default: the range of the energies).  For
        :func:`correct_unresolved_pileup` the bins must be uniform with the
        energy of a zero amplitude (``calibration[0]``) on a bin edge: pass
        ``bin_edges_kev=np.arange(calibration[0], E_max + width, width)``
        rather than relying on this default range.

    Returns
    -------
    EnergySpectrum
    """
    a = as_float_array(amplitudes, "amplitudes", dtype=np.float64, ndim=1, allow_empty=True)
    cal = as_float_array(calibration, "calibration", dtype=np.float64, ndim=1)
    if cal.size < 2 or cal[1:].max() == 0:
        raise ValueError("calibration must be a polynomial of degree >= 1 (offset, gain, ...)")
    e = np.polynomial.polynomial.polyval(a, cal)
    if a.size > 1:
        order = np.argsort(a)
        if np.any(np.diff(e[order]) < 0):
            raise ValueError("calibration must be increasing over the range of the amplitudes")
    if bin_edges_kev is not None:
        edges = as_float_array(bin_edges_kev, "bin_edges_kev", dtype=np.float64, ndim=1)
        if edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin_edges_kev must be strictly increasing with >= 2 entries")
    else:
        n_bins = check_int(n_bins, "n_bins", low=1)
        if energy_range_kev is None:
            if e.size == 0:
                raise ValueError("energy_range_kev is required for an empty set of amplitudes")
            lo, hi = float(e.min()), float(e.max())
            hi = hi if hi > lo else lo + 1.0
        else:
            lo, hi = (check_scalar(v, "energy_range_kev") for v in energy_range_kev)
            if hi <= lo:
                raise ValueError(f"energy_range_kev must be increasing, got ({lo}, {hi})")
        edges = np.linspace(lo, hi, n_bins + 1)
    counts, _ = np.histogram(e, bins=edges)
    outside = int(e.size - counts.sum())
    return EnergySpectrum(counts=counts.astype(np.int64), bin_edges_kev=edges,
                          calibration=cal, n_outside=outside)


@dataclass
class PhotopeakFit:
    """Gaussian photopeak on a linear background.

    Attributes
    ----------
    position_kev, fwhm_kev, area, area_uncertainty : float
        Peak centroid, full width at half maximum, net counts (Gaussian
        integral) and its standard error from the fit covariance.
    background : (float, float)
        Linear background ``b0 + b1 (E - E_c)`` in counts per bin, ``E_c`` the
        centre of the fit window ``window_kev`` of :func:`fit_photopeak` (not
        the peak position): ``b0`` is the background at the window centre.
    """

    position_kev: float
    fwhm_kev: float
    area: float
    area_uncertainty: float
    background: tuple


def fit_photopeak(spectrum, *, window_kev):
    r"""Fit ``A g(E; mu, sigma) w + b0 + b1 (E - E_c)`` to the bins in ``window_kev``.

    ``g`` is the unit-area Gaussian density, ``w`` the bin width, so ``A`` is
    the net peak area in counts.  For a plain histogram (an
    :class:`EnergySpectrum`) the counts are Poisson and the fit is their
    maximum-likelihood fit (least squares of the Poisson deviance residuals,
    unbiased down to a few counts per bin, where weighted least squares with
    weights ``1 / counts`` is not); for a spectrum that carries its bin
    variances (a :class:`PileupCorrectedSpectrum`; the correlation of its
    neighbouring bins is not used), weighted least squares with weights
    ``1 / max(counts_variance, 1)``.  ``E_c`` is the window center.  The
    parameters are bounded: ``A >= 0``, ``mu`` inside the window, ``0 < sigma
    <= `` the window width, and a background that is non-negative at both
    ends of the window.  ``area_uncertainty`` is the standard error of ``A``
    from the inverse Fisher information (Poisson variances ``= model``, or the
    given variances), which at a bound (e.g. ``A = 0`` for a window without a
    peak) is only indicative.

    Parameters
    ----------
    spectrum : EnergySpectrum
    window_kev : (float, float)
        Fit window; it should contain the peak and some background on both
        sides.

    Returns
    -------
    PhotopeakFit

    Raises
    ------
    ValueError
        Fewer than 6 bins or no counts in the window, or a fit that does not
        converge (the message names the window and its counts).
    """
    if not isinstance(spectrum, EnergySpectrum):
        raise TypeError(f"spectrum must be an EnergySpectrum (from energy_spectrum), got "
                        f"{type(spectrum).__name__}")
    lo, hi = (check_scalar(v, "window_kev") for v in window_kev)
    if hi <= lo:
        raise ValueError(f"window_kev must be increasing, got ({lo}, {hi})")
    x = spectrum.bin_centers_kev
    sel = (x >= lo) & (x < hi)
    if sel.sum() < 6:
        raise ValueError(f"window_kev ({lo}, {hi}) holds {int(sel.sum())} bins; need >= 6")
    x = x[sel]
    y = spectrum.counts[sel].astype(np.float64)
    var = getattr(spectrum, "counts_variance", None)
    if var is not None:
        var = np.maximum(np.asarray(var, dtype=np.float64)[sel], 1.0)
    if not np.any(y > 0):
        raise ValueError(f"window_kev ({lo}, {hi}) holds no counts in spectrum: no photopeak "
                         "to fit")
    w = np.diff(spectrum.bin_edges_kev)[sel]
    theta, cov = _fit_peak(x, y, var, w, lo, hi)
    area, mu, sigma, b_lo, b_hi = theta
    b1 = (b_hi - b_lo) / (hi - lo)
    return PhotopeakFit(position_kev=float(mu), fwhm_kev=float(2.354820045 * sigma),
                        area=float(area), area_uncertainty=float(np.sqrt(max(cov[0, 0], 0.0))),
                        background=(float(0.5 * (b_lo + b_hi)), float(b1)))


def _peak_model(theta, x, w, lo, hi):
    """Counts per bin: Gaussian peak of area ``A`` on the line through ``(lo, b_lo)`` and
    ``(hi, b_hi)``, ``theta = (A, mu, sigma, b_lo, b_hi)``."""
    area, mu, sigma, b_lo, b_hi = theta
    g = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return area * g * w + b_lo + (b_hi - b_lo) * (x - lo) / (hi - lo)


def _fit_peak(x, y, var, w, lo, hi):
    """Bounded fit of :func:`_peak_model`: Poisson likelihood (``var is None``) or weighted
    least squares; returns the parameters and their covariance (inverse Fisher information)."""
    from scipy.optimize import least_squares

    # starting point: the background from the window's ends, the peak from the rest
    edge = max(2, x.size // 8)
    y_lo, y_hi = y[:edge].mean(), y[-edge:].mean()
    bkg = y_lo + (y_hi - y_lo) * (x - x[:edge].mean()) / max(x[-edge:].mean()
                                                             - x[:edge].mean(), 1e-12)
    net = np.clip(y - bkg, 0, None)
    mu0 = x[np.argmax(net)]
    area0 = max(net.sum(), 1.0)
    sig_lo, sig_hi = 1e-3 * float(w.min()), hi - lo
    sigma0 = float(np.clip(max(np.sqrt(np.sum(net * (x - mu0) ** 2) / area0), w.mean()),
                           sig_lo, sig_hi))
    b_start = np.interp([lo, hi], x, bkg)
    floor = 1e-3 * max(float(y.mean()), 1e-3)
    theta0 = np.array([area0, mu0, sigma0, max(b_start[0], floor), max(b_start[1], floor)])
    lower = np.array([0.0, lo, sig_lo, 0.0, 0.0])
    upper = np.array([np.inf, hi, sig_hi, np.inf, np.inf])
    theta0 = np.clip(theta0, lower, np.where(np.isfinite(upper), upper, theta0))
    tiny = 1e-12 * max(float(y.max()), 1.0)

    def residuals(theta):
        m = _peak_model(theta, x, w, lo, hi)
        if var is not None:
            return (y - m) / np.sqrt(var)
        m = np.maximum(m, tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylog = np.where(y > 0, y * np.log(y / m), 0.0)
        return np.sign(y - m) * np.sqrt(np.maximum(2.0 * (m - y + ylog), 0.0))

    with np.errstate(over="ignore", invalid="ignore"):
        res = least_squares(residuals, theta0, bounds=(lower, upper), x_scale="jac",
                            max_nfev=2000)
    theta = res.x
    if res.status <= 0 or not np.all(np.isfinite(theta)):
        raise ValueError(
            f"photopeak fit in window_kev ({lo:g}, {hi:g}) did not converge ({res.message}); "
            f"the window holds {int(round(y.sum()))} counts in {y.size} bins (max "
            f"{int(round(y.max()))} per bin): widen the window, use wider bins, or check that "
            "it holds a peak")
    # Fisher information from the derivatives of the model (central differences)
    step = 1e-6 * np.maximum(np.abs(theta), 1e-3 * np.array(
        [max(float(y.sum()), 1.0), hi - lo, hi - lo, max(float(y.mean()), 1.0),
         max(float(y.mean()), 1.0)]))
    jac = np.empty((x.size, theta.size))
    for j in range(theta.size):
        d = np.zeros(theta.size)
        d[j] = step[j]
        jac[:, j] = (_peak_model(theta + d, x, w, lo, hi)
                     - _peak_model(theta - d, x, w, lo, hi)) / (2 * step[j])
    v = var if var is not None else np.maximum(_peak_model(theta, x, w, lo, hi), tiny)
    info = jac.T @ (jac / v[:, None])
    return theta, np.linalg.pinv(info)
