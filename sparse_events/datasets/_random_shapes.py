"""The random-shapes case study of Luengo, Via and Trigano."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_option, check_random_state, check_scalar


@dataclass
class SpikeTrain:
    """A simulated sparse deconvolution problem ``y = H s + w`` (causal ``H``).

    Attributes
    ----------
    signal : ndarray of shape (N,)
        Noisy observation ``y``.
    clean : ndarray of shape (N,)
        ``H s`` without noise.
    coef : ndarray of shape (N,)
        True sparse activations ``s``.
    kernel : ndarray of shape (L,)
        Event shape ``h``.
    noise_std : float
        Standard deviation of the white Gaussian noise.
    """

    signal: np.ndarray
    clean: np.ndarray
    coef: np.ndarray
    kernel: np.ndarray
    noise_std: float


def make_random_spike_train(n_samples=10_000, *, kernel_length=12, spacing=100, jitter=10,
                            snr_db=20.0, snr_reference="absolute", kernel=None,
                            random_state=None) -> SpikeTrain:
    """Simulate the random-shapes case study (Luengo, Via, Trigano, case study 1).

    ``h ~ N(0, 1)`` of length ``kernel_length``; one spike per ``spacing``
    samples, the k-th at ``spacing * k + U{1..jitter}`` with ``N(0, 1)``
    amplitude; causal convolution; white Gaussian noise.

    Parameters
    ----------
    n_samples : int
        Signal length ``N``.
    kernel_length : int
        ``L_h`` (ignored when ``kernel`` is given).
    spacing : int
        ``M``, samples per spike (true sparsity ``1 / M``).
    jitter : int
        Offsets are uniform on ``{1, ..., jitter}`` (``jitter < spacing``).
    snr_db : float
        Input SNR in dB; ``np.inf`` gives a noise-free signal (``noise_std``
        0).  ``-inf``, NaN and values so low that the noise standard
        deviation overflows float64 (below about -3000 dB) raise ValueError.
    snr_reference : {"absolute", "relative"}
        ``"absolute"``: noise variance ``10^(-snr_db / 10)`` as in the paper;
        ``"relative"``: noise variance ``mean(clean^2) * 10^(-snr_db / 10)``.
    kernel : array_like, optional
        Use this event shape instead of drawing one.
    random_state : None, int or Generator

    Returns
    -------
    SpikeTrain
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    spacing = check_int(spacing, "spacing", low=2)
    jitter = check_int(jitter, "jitter", low=1, high=spacing - 1)
    snr_db = check_scalar(snr_db, "snr_db", allow_inf=True)
    if snr_db == -np.inf:
        raise ValueError("snr_db must be a finite number of dB or +inf (no noise), got -inf")
    check_option(snr_reference, "snr_reference", ("absolute", "relative"))
    rng = check_random_state(random_state)
    if kernel is None:
        kernel_length = check_int(kernel_length, "kernel_length", low=1)
        kernel = rng.standard_normal(kernel_length)
    else:
        from .._validation import check_kernel
        kernel = check_kernel(kernel, "kernel", ndim=1, dtype=np.float64)
    n_spikes = -(-n_samples // spacing)
    positions = spacing * np.arange(n_spikes) + rng.integers(1, jitter + 1, n_spikes)
    keep = positions < n_samples
    coef = np.zeros(n_samples)
    coef[positions[keep]] = rng.standard_normal(n_spikes)[keep]
    clean = np.convolve(coef, kernel)[:n_samples]
    if np.isinf(snr_db):
        std = 0.0
    else:
        try:
            ratio = 10.0 ** (-snr_db / 10.0)  # noise / reference power
        except OverflowError:
            ratio = np.inf
        with np.errstate(over="ignore"):
            if snr_reference == "absolute":
                std = float(np.sqrt(ratio))
            else:
                std = float(np.sqrt(np.mean(clean ** 2) * ratio))
        if not np.isfinite(std):
            raise ValueError(f"snr_db={snr_db} dB: the noise standard deviation overflows "
                             f"float64 (snr_reference={snr_reference!r}); use a higher snr_db")
    with np.errstate(over="ignore"):
        signal = clean + std * rng.standard_normal(n_samples)
    if not np.all(np.isfinite(signal)):
        raise ValueError(f"snr_db={snr_db} dB: the noisy signal overflows float64 (noise "
                         f"standard deviation {std:.3g}); use a higher snr_db")
    return SpikeTrain(signal=signal, clean=clean, coef=coef, kernel=kernel, noise_std=std)
