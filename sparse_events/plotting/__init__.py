"""Plots for deconvolution results, R-peak detections, six-lead ECG and gamma spectra.

Every function takes plain arrays (or DataFrames), draws with matplotlib
(imported only when a function is called, so ``import sparse_events`` never
loads it) and returns the :class:`matplotlib.figure.Figure`; save it with
``fig.savefig("out.png")``.  Pass ``ax=`` to draw into an existing axes where a
function draws a single panel.
"""

from ._deconvolution import plot_deconvolution
from ._detections import match_events, plot_detections
from ._gamma import plot_spectrum
from ._leads import plot_six_leads

__all__ = [
    "match_events",
    "plot_deconvolution",
    "plot_detections",
    "plot_six_leads",
    "plot_spectrum",
]
