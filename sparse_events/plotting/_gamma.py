"""Recovered against true energy (amplitude) spectrum of a gamma detector."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_int
from ._common import new_axes


def plot_spectrum(recovered, true=None, *, others=None, bins=256, range=None,
                  xlabel="amplitude", log=True, ax=None, title=None, figsize=(9, 4)):
    """Histogram the recovered event amplitudes (energies) against the true ones.

    Parameters
    ----------
    recovered : array_like, shape (n_events,)
        Amplitudes (or calibrated energies) of the recovered events.
    true : array_like, optional
        True amplitudes of all events (e.g. the simulator's ground truth).
    others : dict of str -> array_like, optional
        More spectra to draw with their labels (e.g. ``{"threshold counting": ...}``).
    bins : int or array_like
        Number of bins or bin edges shared by every spectrum.
    range : (float, float), optional
        Histogram range ``(low, high)`` with ``low < high``; default the range of
        all given amplitudes.  Ignored when ``bins`` gives the edges.
    xlabel : str
        Axis label, e.g. ``"energy (keV)"``.
    log : bool
        Logarithmic count axis (sum peaks are small).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
        Step lines labelled "true (n)", "recovered (n)" and the keys of
        ``others``; every line's heights are the bin counts.
    """
    spectra = {}
    if true is not None:
        spectra["true"] = as_float_array(true, "true", ndim=1, allow_empty=True)
    spectra["recovered"] = as_float_array(recovered, "recovered", ndim=1, allow_empty=True)
    for label, values in (others or {}).items():
        spectra[str(label)] = as_float_array(values, f"others[{label!r}]", ndim=1,
                                             allow_empty=True)
    if range is not None:
        lims = as_float_array(range, "range", ndim=1)
        if lims.size != 2 or not lims[0] < lims[1]:
            raise ValueError(
                f"range must be (low, high) with low < high, got {tuple(lims.tolist())}")
        range = (float(lims[0]), float(lims[1]))
    if np.ndim(bins) == 0:
        nbins = check_int(bins, "bins", low=1)
        if range is None:
            allv = np.concatenate(list(spectra.values()))
            if allv.size == 0:
                raise ValueError("no amplitudes to histogram and no range given")
            lo, hi = float(allv.min()), float(allv.max())
            range = (lo, hi if hi > lo else lo + 1.0)
        edges = np.linspace(range[0], range[1], nbins + 1)
    else:
        edges = as_float_array(bins, "bins", ndim=1)
        if edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins as edges must be increasing with at least 2 values")
    fig, (axis,) = new_axes(ax, figsize=figsize)
    styles = {"true": dict(color="k", lw=1.5), "recovered": dict(color="C3", lw=1.2)}
    for k, (label, values) in enumerate(spectra.items()):
        counts, _ = np.histogram(values, bins=edges)
        style = styles.get(label, dict(color=f"C{k}", lw=1.0))
        axis.stairs(counts, edges, label=f"{label} ({values.size})", **style)
    if log:
        axis.set_yscale("symlog", linthresh=1)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("counts per bin")
    axis.legend(loc="upper right", fontsize="small")
    if title:
        axis.set_title(title)
    return fig
