"""Filtering kernels shared by the convolution operators.

Two engines compute the same sums for a bank of ``P`` kernels of common length
``L`` (rows of ``kernels``):

* direct: ``numpy.convolve`` / ``numpy.correlate`` (vectorised C loops), best
  for short kernels;
* FFT overlap-add with kernel spectra computed once per block size and cached,
  processed in chunks so that transient memory stays bounded.

``full_convolve(s)`` returns ``sum_p conv(s_p, h_p)`` (length ``N + L - 1``) and
``correlate(z)`` returns ``x_p[j] = sum_l h_p[l] z[j + l]`` (length
``len(z) - L + 1``), the adjoint of the former.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sp_fft

from .._validation import check_int

# Cost model, calibrated on x86-64 (numpy 2.4, scipy 1.17, N = 1e4..1e6): numpy's
# direct convolution costs about 3 ns per output sample for L <= 8 and
# 8 + 0.1 L ns beyond (vectorised dot products); the cached overlap-add about
# 1.1 log2(nfft) ns per sample and transform.  Only the crossover matters.
_DIRECT_MAX_TAPS = 8
_DIRECT_NS_BASE = 8.0
_DIRECT_NS_PER_TAP = 0.1
_FFT_NS_PER_LOG = 1.1

# samples processed per overlap-add chunk (bounds transient memory to a few MB)
_CHUNK_SAMPLES = 1 << 17


def _block_size(kernel_length: int) -> int:
    """Overlap-add block length: about 8 kernel lengths, nfft a power of two."""
    nfft = 1 << int(np.ceil(np.log2(max(9 * kernel_length, 256))))
    return nfft - kernel_length + 1


def estimate_cost(n_samples: int, kernel_length: int, n_kernels: int = 1):
    """Estimated nanoseconds for one pass of each engine (direct, fft)."""
    direct = n_kernels * n_samples * (_DIRECT_NS_BASE + _DIRECT_NS_PER_TAP * kernel_length)
    block = _block_size(kernel_length)
    nfft = block + kernel_length - 1
    transforms = (n_kernels + 1) / 2.0
    fft = n_samples * (nfft / block) * _FFT_NS_PER_LOG * np.log2(nfft) * transforms
    return direct, fft


def choose_method(n_samples: int, kernel_length: int, n_kernels: int = 1) -> str:
    """Pick ``"direct"`` or ``"fft"`` by estimated cost."""
    n_samples = check_int(n_samples, "n_samples", low=1)
    kernel_length = check_int(kernel_length, "kernel_length", low=1)
    n_kernels = check_int(n_kernels, "n_kernels", low=1)
    if kernel_length <= _DIRECT_MAX_TAPS:
        return "direct"
    direct, fft = estimate_cost(n_samples, kernel_length, n_kernels)
    return "direct" if direct <= fft else "fft"


class FilterBank:
    """A bank of ``P`` real kernels of common length ``L`` with cached spectra.

    Signals may be real or complex (complex ones give the same result on both engines).

    Parameters
    ----------
    kernels : ndarray of shape (P, L)
    method : {"direct", "fft"}
    """

    def __init__(self, kernels: np.ndarray, method: str):
        self.kernels = np.ascontiguousarray(kernels)
        self.n_kernels, self.kernel_length = self.kernels.shape
        self.method = method
        self.dtype = self.kernels.dtype
        self._block = _block_size(self.kernel_length)
        self._nfft = self._block + self.kernel_length - 1
        self._spectra = None  # forward spectra (P, F)
        self._spectra_rev = None  # spectra of the reversed kernels (P, F)

    # -- cached spectra -------------------------------------------------
    def _get_spectra(self, reverse: bool):
        if self._spectra is None:
            self._spectra = sp_fft.rfft(self.kernels, n=self._nfft, axis=-1)
            self._spectra_rev = sp_fft.rfft(self.kernels[:, ::-1], n=self._nfft, axis=-1)
        return self._spectra_rev if reverse else self._spectra

    def _overlap_add(self, x: np.ndarray, spectra: np.ndarray, combine: bool) -> np.ndarray:
        """Linear convolution of the rows of ``x`` with kernels by overlap-add.

        x : (k, Pin, n) with Pin = P (combine=True: output summed over kernels) or
        Pin = 1 (combine=False: one output per kernel).
        Returns (k, 1 or P, n + L - 1).  A complex ``x`` is filtered as its real and
        imaginary parts (the kernels are real), as the direct engine does.
        """
        if np.iscomplexobj(x):
            return (self._overlap_add(x.real, spectra, combine)
                    + 1j * self._overlap_add(x.imag, spectra, combine))
        k, p_in, n = x.shape
        L, B, nfft = self.kernel_length, self._block, self._nfft
        p_out = 1 if combine else self.n_kernels
        n_blocks = -(-n // B)
        out = np.zeros((k, p_out, (n_blocks + 1) * B), dtype=np.result_type(x.dtype, self.dtype))
        blocks_per_chunk = max(1, _CHUNK_SAMPLES // B)
        for b0 in range(0, n_blocks, blocks_per_chunk):
            b1 = min(n_blocks, b0 + blocks_per_chunk)
            start, stop = b0 * B, min(n, b1 * B)
            seg = np.zeros((k, p_in, (b1 - b0) * B), dtype=x.dtype)
            seg[:, :, : stop - start] = x[:, :, start:stop]
            seg = seg.reshape(k, p_in, b1 - b0, B)
            spec = sp_fft.rfft(seg, n=nfft, axis=-1)  # (k, p_in, nb, F)
            if combine:
                spec = np.einsum("kpbf,pf->kbf", spec, spectra)[:, None]
            else:
                spec = spec * spectra[None, :, None, :]
            blocks = sp_fft.irfft(spec, n=nfft, axis=-1)  # (k, p_out, nb, nfft)
            nb = b1 - b0
            span = out[:, :, start: start + (nb + 1) * B]
            span[:, :, : nb * B].reshape(k, p_out, nb, B)[...] += blocks[..., :B]
            tail = span[:, :, B:].reshape(k, p_out, nb, B)
            tail[..., : L - 1] += blocks[..., B: B + L - 1]
        return out[:, :, : n + L - 1]

    # -- public engines -------------------------------------------------
    def full_convolve(self, s: np.ndarray) -> np.ndarray:
        """``sum_p conv(s[:, p], h_p)`` for s of shape (k, P, N) -> (k, N + L - 1)."""
        k, P, n = s.shape
        if self.method == "direct":
            out = np.zeros((k, n + self.kernel_length - 1),
                           dtype=np.result_type(s.dtype, self.dtype))
            for i in range(k):
                for p in range(P):
                    out[i] += np.convolve(s[i, p], self.kernels[p])
            return out
        return self._overlap_add(s, self._get_spectra(False), combine=True)[:, 0]

    def correlate(self, z: np.ndarray) -> np.ndarray:
        """``x_p[j] = sum_l h_p[l] z[j + l]`` for z of shape (k, M) -> (k, P, M - L + 1)."""
        k, m = z.shape
        L = self.kernel_length
        n = m - L + 1
        if self.method == "direct":
            out = np.empty((k, self.n_kernels, n), dtype=np.result_type(z.dtype, self.dtype))
            for i in range(k):
                for p in range(self.n_kernels):
                    out[i, p] = np.correlate(z[i], self.kernels[p], mode="valid")
            return out
        full = self._overlap_add(z[:, None, :], self._get_spectra(True), combine=False)
        return full[:, :, L - 1: L - 1 + n]

    def frequency_response_bound(self) -> float:
        """Rigorous upper bound of ``sup_w sum_p |H_p(w)|^2``.

        The sum is a trigonometric polynomial of degree ``L - 1``; sampled on a grid
        of ``K`` points its supremum is at most ``max_grid / (1 - pi (L - 1) / K)``
        (Bernstein's inequality), with ``K >= 64 L`` the factor is below 1.052.
        """
        L = self.kernel_length
        K = 1 << int(np.ceil(np.log2(64 * max(L, 2))))
        power = (np.abs(np.fft.rfft(self.kernels.astype(np.float64), n=K, axis=-1)) ** 2).sum(0)
        return float(power.max() / (1.0 - np.pi * (L - 1) / K))
