"""Six-lead (frontal plane) ECG reconstruction against the truth."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from ._common import time_axis

SIX_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")


def _as_leads(x, name, leads):
    """DataFrame / dict of 1-D arrays / 2-D array (n_samples, n_leads) -> dict."""
    if hasattr(x, "columns") or isinstance(x, dict):
        missing = [lead for lead in leads if lead not in x]
        if missing:
            raise ValueError(f"{name} lacks the lead(s) {missing}; it has {list(x.keys())}")
        out = {lead: as_float_array(np.asarray(x[lead]), f"{name}[{lead!r}]", ndim=1)
               for lead in leads}
    else:
        arr = as_float_array(x, name, ndim=2)
        if arr.shape[1] != len(leads):
            raise ValueError(f"{name} as an array must have one column per lead "
                             f"({len(leads)}: {list(leads)}), got shape {arr.shape}")
        out = {lead: arr[:, k] for k, lead in enumerate(leads)}
    sizes = {v.size for v in out.values()}
    if len(sizes) != 1:
        raise ValueError(f"the leads of {name} have different lengths {sorted(sizes)}")
    return out


def plot_six_leads(predicted, truth=None, *, sampling_rate=None, leads=SIX_LEADS,
                   title=None, figsize=(11, 7)):
    """Plot reconstructed leads (red) over the true leads (black), one panel per lead.

    Parameters
    ----------
    predicted : DataFrame, dict or array_like of shape (n_samples, n_leads)
        Reconstructed leads (e.g. ``SixLeadReconstructor.predict`` output).
    truth : same kinds, optional
        Reference leads, same length; each panel title then shows the Pearson
        correlation ``r`` and the RMSE between the two.
    sampling_rate : float, optional
        In Hz; the time axis is in seconds when given.
    leads : sequence of str
        Lead names to draw (columns of the inputs), default the six frontal leads.
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
        One axes per lead, in the order of ``leads`` (grid of 2 columns).
    """
    import matplotlib.pyplot as plt

    leads = tuple(leads)
    pred = _as_leads(predicted, "predicted", leads)
    true = None if truth is None else _as_leads(truth, "truth", leads)
    n = next(iter(pred.values())).size
    if true is not None and next(iter(true.values())).size != n:
        raise ValueError(f"predicted and truth have different lengths "
                         f"({n} and {next(iter(true.values())).size} samples)")
    t, xlabel = time_axis(n, sampling_rate)
    ncols = 2 if len(leads) > 1 else 1
    nrows = -(-len(leads) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, sharex=True, squeeze=False,
                             layout="constrained")
    flat = axes.T.ravel()  # fill column by column: I, II, III | aVR, aVL, aVF
    for ax, lead in zip(flat, leads):
        if true is not None:
            ax.plot(t, true[lead], color="k", lw=0.9, label="truth")
        ax.plot(t, pred[lead], color="C3", lw=0.9, label="reconstruction")
        text = lead
        if true is not None:
            a, b = pred[lead], true[lead]
            r = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else np.nan
            rmse = float(np.sqrt(np.mean((a - b) ** 2)))
            text = f"{lead}: r = {r:.3f}, RMSE = {rmse:.3g}"
        ax.set_title(text, fontsize="medium", loc="left")
    for ax in flat[len(leads):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    flat[0].legend(loc="upper right", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
