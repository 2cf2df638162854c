"""Six frontal ECG leads from a single lead (ConvexECG).

ConvexECG (Ansari, Cao, ..., Pilanci, arXiv 2409.12493) maps windows of one
lead (an implantable monitor, a wearable, a precordial lead) to the limb leads
I and II with convex two-layer ReLU models; the four other frontal leads follow
from Einthoven's and Goldberger's laws (:func:`derive_limb_leads`).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import Ridge
from sklearn.utils.validation import check_is_fitted

from .._threads import one_blas_thread as _one_blas_thread
from .._validation import (
    as_float_array,
    check_bool,
    check_int,
    check_option,
    check_random_state,
    check_sampling_rate,
    check_scalar,
)
from ._six_lead_preprocessing import (
    FrontEnd,
    as_lead_pairs,
    as_recordings,
    lead_column,
    window_offsets,
)

__all__ = ["LEAD_NAMES", "SixLeadReconstructor", "derive_limb_leads"]

LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF")

_MODELS = ("gated", "relu", "ridge")
_ALIGNMENTS = ("centred", "centered", "causal")
_NORMALIZATIONS = ("recording", "global", None)
# principal directions kept by n_components="auto" (convex models): 2 * 40 Hz * 0.5 s = 40
# degrees of freedom in a band-limited default window; 32 chosen on CinC 2021 (personalized,
# V2 and V5), see ecg/RESULTS.md
_AUTO_COMPONENTS = 32
# whitening never amplifies a direction by more than 1 / sqrt(_WHITEN_FLOOR) relative to the
# leading one (weak directions carry mostly filter leakage and edge effects)
_WHITEN_FLOOR = 1e-3
_CONVEX_MODELS = ("gated", "relu")
_TARGET_LOSSES = ("two", "six", "six_scaled")
_TARGET_NORMALIZATIONS = ("recording", None)
# coefficients of the six frontal leads in terms of leads I and II (rows: I, II, III, aVR,
# aVL, aVF), as in derive_limb_leads
_LEAD_COEFFICIENTS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0], [-0.5, -0.5],
                               [1.0, -0.5], [-0.5, 1.0]])
# windows handed to the regressor's predict at once (bounds memory for long records)
_PREDICT_CHUNK = 20000
# (multi-threaded BLAS products are not bit-reproducible across thread counts; the
# projection step is small: one BLAS thread, ``_one_blas_thread``)


def _lead_vector(x, name):
    if isinstance(x, pd.Series):
        x = x.to_numpy()
    arr = as_float_array(x, name, dtype=np.float64, allow_bool=False)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one lead), got shape {arr.shape}")
    return arr


def _check_same_index(a, b, name_a, name_b):
    """Refuse two pandas objects whose indexes differ (they are combined by position).

    Arrays, lists and a single pandas object pass; two Series/DataFrames must
    carry equal indexes (``Index.equals``: same labels in the same order),
    otherwise pairing their samples by position would silently misalign them.
    """
    index_a = a.index if isinstance(a, (pd.Series, pd.DataFrame)) else None
    index_b = b.index if isinstance(b, (pd.Series, pd.DataFrame)) else None
    if index_a is None or index_b is None or index_a.equals(index_b):
        return
    raise ValueError(
        f"{name_a} and {name_b} are pandas objects with different indexes; their samples "
        f"are combined by position, not by label, so they must carry the same index "
        f"(same labels, same order): align them first, e.g. "
        f"{name_b}.reindex({name_a}.index), or pass plain arrays (.to_numpy())")


def _check_source_not_flat(x, xs, label):
    """Refuse an input lead with no variation left after the front end (``x`` as given,
    ``xs`` preprocessed): nothing to reconstruct from (``fit`` and ``predict``)."""
    if np.std(xs) <= 1e-10 * max(float(np.abs(x).max()), 1e-300):
        raise ValueError(
            f"{label} is flat (no variation left after band-pass filtering): the input "
            "lead carries no signal (disconnected electrode?)")


def _check_fit_indexes(source, leads):
    """:func:`_check_same_index` for every (source, leads) pair given to ``fit`` or
    ``evaluate``."""
    if isinstance(source, (list, tuple)) and isinstance(leads, (list, tuple)):
        pairs = [(x, y, f"source[{k}]", f"leads[{k}]")
                 for k, (x, y) in enumerate(zip(source, leads))]
    else:
        pairs = [(source, leads, "source", "leads")]
    for x, y, name_x, name_y in pairs:
        if isinstance(y, dict):
            for key, value in y.items():
                _check_same_index(x, value, name_x, f"{name_y}[{key!r}]")
        else:
            _check_same_index(x, y, name_x, name_y)


def derive_limb_leads(lead_i, lead_ii):
    """The six frontal leads from leads I and II (Einthoven and Goldberger).

    With the limb potentials of the right arm, left arm and left leg
    (``R``, ``L``, ``F``), ``I = L - R`` and ``II = F - R``; then

    * ``III = II - I`` (Einthoven's law, ``F - L``),
    * ``aVR = -(I + II) / 2``,
    * ``aVL = I - II / 2``,
    * ``aVF = II - I / 2``

    (Goldberger's augmented leads, ``R - (L + F) / 2`` and so on), so that
    ``aVR + aVL + aVF = 0``.  The columns are computed by exactly these
    expressions.

    Parameters
    ----------
    lead_i, lead_ii : array_like of shape (n_samples,) or pandas.Series
        Leads I and II, aligned, same length and units.  The index of a Series
        (``lead_i`` first) becomes the index of the result.  Samples are
        combined by position: two Series must have equal indexes (same labels
        in the same order), else ``ValueError`` (align them first, e.g.
        ``lead_ii.reindex(lead_i.index)``), so that differently ordered or
        shifted indexes are never paired silently.

    Returns
    -------
    pandas.DataFrame
        Columns ``I, II, III, aVR, aVL, aVF``.

    Examples
    --------
    >>> from sparse_events.ecg import derive_limb_leads
    >>> derive_limb_leads([1.0, 0.5], [2.0, 0.5]).round(2).to_dict("list")
    {'I': [1.0, 0.5], 'II': [2.0, 0.5], 'III': [1.0, 0.0], 'aVR': [-1.5, -0.5], \
'aVL': [0.0, 0.25], 'aVF': [1.5, 0.25]}
    """
    _check_same_index(lead_i, lead_ii, "lead_i", "lead_ii")
    index = next((s.index for s in (lead_i, lead_ii) if isinstance(s, pd.Series)), None)
    lead_i = _lead_vector(lead_i, "lead_i")
    lead_ii = _lead_vector(lead_ii, "lead_ii")
    if lead_i.shape != lead_ii.shape:
        raise ValueError(
            f"lead_i and lead_ii must have the same length, got {lead_i.size} and "
            f"{lead_ii.size} samples")
    if index is not None and len(index) != lead_i.size:
        index = None
    return pd.DataFrame({
        "I": lead_i,
        "II": lead_ii,
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }, index=index)


def _pearson(a, b):
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def _target_transform(kind, target_scale, target_cov):
    """2x2 map ``T`` of the standardized targets ``z = [I, II]`` for ``target_loss``.

    The regressor is fitted on ``z @ T`` and its predictions mapped back by
    ``T^-1``, so that its squared loss ``||(f - z) T||^2`` is proportional to
    ``sum_k w_k ||(f - z) a_k||^2``, the weighted sum of the squared errors of
    the six frontal leads (``a_k``: coefficients of lead ``k`` in terms of the
    standardized I and II; ``T = M^(1/2)`` with ``M = c sum_k w_k a_k a_k^T``,
    ``c = 2 / trace(sum_k w_k a_k a_k^T)`` so that ``trace(M) = 2``, the trace
    of the two-lead loss): ``||(f - z) T||^2 = c sum_k w_k ||(f - z) a_k||^2``.

    Parameters
    ----------
    kind : {"two", "six", "six_scaled"}
        The ``target_loss`` option.
    target_scale : ndarray of shape (2,)
        Training standard deviations of I and II (lead units per standardized
        unit).
    target_cov : ndarray of shape (2, 2)
        Covariance of the standardized training targets (``"six_scaled"``).

    Returns
    -------
    ndarray of shape (2, 2) or None
        Symmetric positive definite ``T``; ``None`` for ``"two"`` (the
        identity: I and II with equal weight).
    """
    if kind == "two":
        return None
    a = _LEAD_COEFFICIENTS * target_scale  # lead k = a_k . z, in lead units
    if kind == "six":
        w = np.ones(len(a))
    else:  # "six_scaled": each lead's squared error relative to its training variance
        var = np.einsum("ki,ij,kj->k", a, target_cov, a)
        w = 1.0 / np.where(var > 0, var, 1.0)
    m = (a * w[:, None]).T @ a
    m *= 2.0 / np.trace(m)
    values, vectors = np.linalg.eigh(m)
    return (vectors * np.sqrt(values)) @ vectors.T


class SixLeadReconstructor(BaseEstimator):
    r"""Reconstruct the six frontal ECG leads from one lead (ConvexECG).

    Two regressions map windows of the input lead to the limb leads I and II
    (one multi-output model); the other four leads follow exactly from
    :func:`derive_limb_leads`, so Einthoven's and Goldberger's laws hold on
    every output sample.

    **Preprocessing** (identical for the input lead and, in ``fit``, the
    reference leads I and II):

    1. Butterworth band-pass ``band`` of order ``filter_order`` at the input
       rate: zero phase (``sosfiltfilt``, effective order doubled) for centred
       windows, causal (``sosfilt`` from its steady state) for causal windows.
       The 0.5 Hz high-pass removes baseline wander, which a single lead
       cannot predict in other leads.
    2. Polyphase resampling (``scipy.signal.resample_poly``, linear-phase FIR)
       to ``working_rate``; the model works at that rate.
    3. Amplitude normalization of the input lead (``normalize``): by its own
       standard deviation per recording, or by one pooled training value
       (root mean square of the training input).
       Targets I and II are standardized with their pooled training mean and
       standard deviation (each lead separately) and mapped back on output.
    4. Windows of ``round(window_s * working_rate)`` samples of the input lead,
       one per target sample: centred on it (``window="centred"``, look-ahead
       of half a window) or ending at it (``window="causal"``).  ``fit`` uses
       only windows lying fully inside each recording (every ``train_step``-th
       sample); ``predict`` gives one output per input sample, zero-padding
       the (band-passed, zero-mean) input beyond its ends, so the first and
       last half window (causal: the first window) are less accurate.
    5. Projection of each window on the ``n_components`` leading principal
       directions of the (uncentred) training windows, each projection
       divided by its root mean square over the training windows
       (``whiten=True``): the model's inputs are
       ``window @ components_.T / component_scale_``.  By default
       (``n_components="auto"``) the convex models see 32 whitened
       components of windows longer than that, other models the raw window.
    6. ``predict`` resamples the model output back to the input rate and
       returns exactly as many samples as the input.

    **Model** (``model``): ``"gated"`` is
    :class:`~sparse_events.ConvexGatedReLURegressor` (convex gated-ReLU
    network, group LASSO over ``n_patterns`` sampled activation patterns),
    ``"relu"`` is :class:`~sparse_events.ConvexReLURegressor` (the exact convex
    reformulation of a two-layer ReLU network with weight decay), both with
    ``alpha``, ``n_patterns``, ``fit_intercept``, ``tol``, ``max_iter`` and
    ``solver`` and ``random_state`` passed on (objective and scaling in their
    docstrings, on the standardized windows and targets).  ``"ridge"`` is
    scikit-learn's ``Ridge`` on the same data, for comparison.  Any other scikit-learn regressor object
    with multi-output ``fit``/``predict`` is accepted as well (cloned).

    **Protocols.**  Personalized: fit on the beginning of one recording and
    predict the rest (:meth:`evaluate` with ``start_s`` scores the rest while
    using the whole input lead as context).  Population: fit on a list of
    recordings of several subjects and predict recordings of others.

    Parameters
    ----------
    model : {"gated", "relu", "ridge"} or regressor, default="gated"
    window_s : float, default=0.5
        Window length in seconds (125 samples at 250 Hz, as in ConvexECG).
    window : {"centred", "causal"}, default="centred"
        Window alignment relative to the predicted sample (``"centered"`` is
        accepted too).  With causal windows the band-pass is causal too, but
        the resampling FIR still looks a few input samples ahead; use
        ``working_rate=None`` for a strictly causal chain.
    working_rate : float or None, default=250.0
        Rate (Hz) the model works at; ``None`` keeps the input rate.  Must be a
        simple fraction ``up / down`` (both <= 1000) of the input rate.
    band : (float or None, float or None) or None, default=(0.5, 40.0)
        Band-pass edges in Hz; ``None`` disables filtering, a ``None`` edge
        gives a high-pass or low-pass filter.  The upper edge must lie below
        both Nyquist frequencies.
    filter_order : int, default=2
        Butterworth order per pass.
    train_step : int, default=1
        Stride in working-rate samples between training windows (``> 1``
        thins the training set of long or many recordings).
    normalize : {"recording", "global", None}, default="recording"
        How the input lead is scaled before windowing: divided by the standard
        deviation of each recording (the one being fitted or predicted), by
        the pooled root mean square of the training recordings, or not at
        all.
    n_patterns : int, default=20
        Sampled activation patterns (convex models only).
    alpha : float or None, default=None
        Regularization strength of the chosen model (``None``: 3e-2 for the
        convex models, 1.0 for ridge).  For the convex models the objective
        is ``(1/(2n)) sum_o ||f_o(X) - z_o||^2 + alpha sum ||u_g||`` on the
        standardized windows ``X`` and standardized targets ``z`` (see
        :class:`~sparse_events.ConvexGatedReLURegressor`); for ridge
        ``||Z - X W - b||_F^2 + alpha ||W||_F^2``.  The defaults
        (``n_patterns=20``, ``alpha=3e-2``, on 32 whitened components) were
        chosen on the CinC 2021 records, personalized protocol
        (``ecg/six_lead_benchmark.py``).
    fit_intercept : bool, default=True
    tol : float, default=5e-2
        Convex models' stopping tolerance (relative duality gap: the
        objective is within ``tol`` of the global optimum; tighter values
        change the reconstructed leads by far less than their error: on the
        CinC 2021 records, personalized protocol, the tuning set, ``tol=5e-2``
        gives the mean r of the six leads of ``tol=1e-3`` within 6e-4 and of
        ``3e-2`` (the previous default) within 3e-4, with V2 and V5 inputs,
        in 15-20 % fewer iterations than ``3e-2``).
    max_iter : int, default=3000
        Convex models' iteration limit.
    solver : {"auto", "cd", "fista"}, default="fista"
        Convex models' solver on the shared solver layer (FISTA, or working-set
        group coordinate descent with ``"auto"``/``"cd"``).
    n_components : int, "auto" or None, default="auto"
        If set, the model sees the projections of each window on the
        ``n_components`` leading right singular vectors of the (uncentred)
        training windows (``components_``) instead of the raw window: a
        ReLU network whose first-layer weights lie in that subspace.  Band-
        limited windows have few significant components (a 0.5 s window of a
        0.5-40 Hz signal has about ``2 * 40 * 0.5 = 40`` degrees of freedom),
        so this shrinks the convex problem (4 times fewer columns, faster
        fits) without losing accuracy.  ``"auto"``: 32 components for the
        convex models when the window is longer than 32 samples, else (and
        for ridge and regressor objects) the raw window; 32 was chosen on the
        CinC 2021 records (24 and 48 were no better).  ``None``: the raw
        window.
    whiten : bool, default=True
        With a projection (``n_components``), divide each projection by its
        root mean square over the training windows (``component_scale_``), so
        every model input has unit mean square, as the samples of the
        normalized input lead (directions with less than 1e-3 of the leading
        direction's mean square are divided by ``sqrt(1e-3)`` times the
        leading root mean square instead, so that weak directions, mostly
        filter leakage and zero-padded edges, are never amplified more than
        about 30 times relative to the leading one).  For the convex models
        this spreads the random gates and the weight decay evenly over the
        principal directions instead of concentrating them on the first few,
        and makes the convex program better conditioned (FISTA needs about
        half the iterations).  On the CinC 2021 records (the tuning set) 32
        whitened components gave the same or a slightly higher mean r than
        the raw windows; see ``ecg/RESULTS.md`` for LUDB.
    random_state : None, int or numpy Generator, default=None
        Seeds the convex models' pattern sampling (fits are deterministic for
        a fixed seed).
    precision : {"float32", "float64"}, default="float32"
        Convex models with ``solver="fista"``: precision of the two design
        products of every FISTA iteration (the regressors' ``precision``).
        The iterates, the objective, the duality gap and the stopping test
        stay in float64, so the fit is still certified within ``tol`` of the
        optimum.  ``"float32"`` cut the CPU time of a whole fit by 20-24 %
        and gave the same mean r, lead by lead, to 4 decimals as
        ``"float64"`` on the CinC 2021 records (the tuning set) and LUDB 1-25,
        inputs V2 and V5 (``ecg/RESULTS.md``).  Ignored by other models and by
        ``solver="cd"``/``"auto"``.
    linear_skip : float or None, default=None
        If set, a linear skip connection of ridge strength ``linear_skip``:
        scikit-learn ``Ridge`` (``alpha=linear_skip``, same ``fit_intercept``)
        is fitted first on the model inputs (the windows, or their whitened
        principal components) and the standardized targets, then the model
        is fitted on the ridge residuals, and ``predict`` adds both outputs
        (``skip_``).  Each stage is convex; the pair is the first pass of
        block coordinate descent on the joint convex problem (squared loss of
        the sum, ridge penalty on the linear part, the model's penalty on the
        rest), not necessarily its optimum.  The nonlinear part then only
        models what a linear map of the window cannot, and with a strong
        model penalty (no active neuron) the fit is exactly ridge; the
        neurons of :meth:`explain_neurons` describe the nonlinear part only.
        Motivation: ridge is the strongest population peer with input V5 on
        held-out databases (CinC 2021).  Chosen for V5 in the population
        protocol by validation on training subjects (``ecg/RESULTS.md``,
        population protocol 2026-11-24; two folds); not chosen by the
        five-fold validation with ``linear_blend`` (2026-11-24 b); not
        validated for the personalized protocol.  ``None``: no skip.  Not
        allowed with ``model="ridge"``.
    linear_blend : float in [0, 1] or None, default=None
        If set, the prediction is the convex combination
        ``(1 - linear_blend) * model + linear_blend * ridge`` of the model
        (with its linear skip, if any) and a separately fitted scikit-learn
        ``Ridge`` (``alpha=linear_blend_alpha``, same ``fit_intercept``) on
        the raw windows (not their principal components: the ridge model of
        ``model="ridge"``) and the same targets as the model (``blend_``:
        the standardized I and II ``z``, or ``z @ T`` with ``target_loss``;
        the blend is formed before the map back by ``T^-1``, and ridge is
        equivariant under ``T``, so the ridge term equals the prediction of
        the same ridge fitted on ``z``).
        With raw-window inputs and ``linear_skip`` of the same strength this
        only shrinks the nonlinear part by ``1 - linear_blend`` (the two
        ridge fits coincide); without a skip it averages two differently
        regularized models (chosen for V5 in the population protocol by
        validation on training subjects, ``ecg/RESULTS.md``, population
        2026-11-24 b; the V5 weight re-chosen, 0.4 instead of 0.6, by the
        per-lead margins over the peers in population 2026-11-24 d).  The
        neurons of :meth:`explain_neurons` describe the nonlinear model (``regressor_``), whose output enters
        the prediction scaled by ``1 - linear_blend``.  ``None`` (or 0): no
        blend.  Not allowed with ``model="ridge"``.
    linear_blend_alpha : float, default=1.0
        Ridge strength of ``linear_blend`` (ignored without it).
    target_loss : {"two", "six", "six_scaled"}, default="two"
        The squared loss the model minimizes.  ``"two"``: the squared errors
        of the standardized leads I and II, equal weights.  ``"six"``: the sum
        of the squared errors of all six frontal leads in lead units (III,
        aVR, aVL and aVF are fixed combinations of I and II, so an error in
        I and II counts as often as it shows in the six leads);
        ``"six_scaled"``: the same with each lead's squared error divided by
        that lead's training variance (every lead weighted as in its
        correlation, the score).  Implemented as least squares in the metric
        ``M = sum_k w_k a_k a_k^T`` (``a_k``: coefficients of lead ``k`` in
        the standardized I and II, ``w_k`` its weight): the model (and the
        linear skip) is fitted on the targets ``z @ T``, ``T = M^(1/2)``
        (``trace(M)`` scaled to 2, as for ``"two"``, so ``alpha`` keeps its
        scale), and its predictions are mapped back by ``T^-1``
        (``target_transform_``).  For ridge (and the linear skip) the fit is
        unchanged (ridge is equivariant under invertible maps of its
        targets); for the convex models, whose group penalty acts on each
        output separately, the fit changes.  With a transform, the outputs of
        ``regressor_``, ``skip_`` and ``blend_`` are the transformed
        coordinates ``z @ T`` (first output ``z @ T[:, 0]``, second
        ``z @ T[:, 1]``; for ``"six"`` the diagonal of ``T`` dominates, so
        mostly I and mostly II), and so is ``lead`` in
        :meth:`explain_neurons`.  In the population protocol (five-fold
        validation on training subjects, ``ecg/RESULTS.md``, 2026-11-24 b)
        the six-lead losses changed the mean r of the six leads against
        ``"two"`` (same inputs and strength) by -0.0024 to -0.0016 with
        input V2 and by +0.0013 to +0.0025 with V5, and were not chosen.
    n_estimators : int, default=1
        Ensemble size of a convex model (``model="gated"`` or ``"relu"``):
        ``n_estimators`` regressors fitted on the same preprocessed windows
        and targets, differing only in their sampled activation patterns
        (member ``k`` gets ``random_state + k`` for an integer seed, so member
        0 is the single model; ``None`` leaves every member unseeded; a
        Generator or RandomState draws one integer seed per member; with an
        integer seed, ensembles at neighbouring seeds share members: member
        ``k + 1`` at seed ``s`` is member ``k`` at seed ``s + 1``, so
        ensembles fitted at seeds ``s`` and ``s + 1`` are not independent),
        and
        ``predict`` uses the mean of their outputs (``regressors_``; the
        linear skip and the ridge blend are shared and applied to that
        mean).  The mean of gated-ReLU networks is itself one wider
        gated-ReLU network (each member's second-layer weights divided by
        ``n_estimators``); averaging members with independent gates lowers
        the variance of the prediction (bagging over gates), at
        ``n_estimators`` times the fit and predict cost.  ``1`` (default):
        the single model, unchanged.  Values above 1 need a convex model.
        In the population protocol (five subject-grouped folds on the
        training subjects, ``ecg/RESULTS.md``, population 2026-11-24 c) 16
        members (32 whitened components, ``alpha=0.01``, 50 patterns) raised
        the mean r of the six leads with input V2 from 0.5519 (the best
        single model) to 0.5582 and were chosen; with V5 no ensemble beat the
        single model blended with ridge (``linear_blend``).  Bootstrap
        resamples of the training subjects as well (tried in the same
        validation) were worse than other gates alone and are not offered.
        Not validated for the personalized protocol.
    target_normalize : {"recording", None}, default=None
        Amplitude normalization of the reference leads in ``fit``.
        ``"recording"``: the preprocessed leads I and II of each training
        recording are divided by their joint root mean square (one divisor
        for both leads, over every working-rate sample of that recording:
        ``target_amplitudes_``), so that III = II - I and the other derived
        leads keep their meaning, and all are multiplied by the quadratic
        mean of these amplitudes (``target_amplitude_``, lead units) before
        the usual standardization.  Pearson r is scale-invariant per
        recording, so in a population fit the subjects' different amplitudes
        are a nuisance of the squared loss: after this normalization every
        training recording has the same target RMS (a recording still weighs
        by its number of windows) and the model learns the shape of I and II
        rather than their amplitude.  The predictions then have one
        typical amplitude (``target_amplitude_``): the r of each recording is
        whatever the shapes give, the RMSE (mV) is that of a typical-amplitude
        prediction.  With ``linear_blend`` or ``linear_skip`` the ridge fits
        see the same normalized targets.  ``None`` (default): the leads as
        recorded (pooled standardization only).  In the population protocol
        with input V5 (five subject-grouped folds on the training subjects,
        ``ecg/RESULTS.md``, population 2026-11-24 d), for the two settings
        tried with and without it (raw windows, ``alpha=0.01``, 100 and 50
        patterns, each blended with ridge at weights 0 to 0.7) it did not
        raise the best mean r of the six leads (100 patterns 0.6193 against
        0.6201 without it, 50 patterns 0.6193 both) nor the highest smallest
        per-lead margin over the peers (+0.0019 against +0.0024, +0.0015
        against +0.0017); ``alpha=0.03``, 50 patterns was tried only with it
        (no comparison); not chosen.  Flat reference leads of a training
        recording (no variation left after the band-pass) raise a
        ``ValueError``.  Not validated for the personalized protocol.

    Attributes
    ----------
    regressor_ : estimator
        The fitted regressor (model inputs -> standardized I and II ``z``;
        with ``target_loss`` other than ``"two"``: -> ``z @ T``, T of
        ``target_transform_``; with ``linear_skip``: the residuals of
        ``skip_``); with ``n_estimators > 1`` the first member.
    regressors_ : list of estimator
        All ``n_estimators`` fitted members (``[regressor_]`` for one); the
        model output is their mean.  With more than one member they share
        one read-only ``X_fit_`` array (the same training windows).
    window_samples_ : int
        Window length at the working rate.
    working_rate_ : float
        Working rate of the fit (the input rate when ``working_rate=None``).
    source_scale_ : float
        Pooled root mean square of the preprocessed (band-passed, hence
        zero-mean) training input lead.
    target_mean_, target_scale_ : ndarray of shape (2,)
        Standardization of leads I and II.
    train_recording_ : ndarray of int, shape (n_windows,)
        Training recording of each training window (row of the regressor's
        training matrix).
    train_time_s_ : ndarray of float, shape (n_windows,)
        Time (s from the recording start) of the sample each training window
        predicts.
    training_sources_ : list of ndarray
        The preprocessed (filtered, resampled, normalized) input lead of each
        training recording, from which :meth:`training_window` cuts windows.
    n_neurons_ : int or None
        Active neurons of a convex model, summed over the ``n_estimators``
        members (``None`` for other models).
    components_ : ndarray of shape (n_components, window_samples_) or None
        Orthonormal principal directions on which every window is projected
        (``n_components``), else ``None``.
    component_scale_ : ndarray of shape (n_components,) or None
        Divisor of each projection (its training root mean square with
        ``whiten=True``, else ones); ``None`` without projection.
    n_recordings_ : int
        Number of training recordings.
    skip_ : sklearn.linear_model.Ridge or None
        The linear skip connection (``linear_skip``; model inputs ->
        standardized I and II ``z``, or ``z @ T`` with a target transform,
        added to ``regressor_``'s output), else ``None``.
    blend_ : sklearn.linear_model.Ridge or None
        The ridge model of ``linear_blend`` (raw windows -> ``z``, or
        ``z @ T`` with a target transform), else ``None``.
    target_transform_ : ndarray of shape (2, 2) or None
        ``T`` of ``target_loss`` (the regressor and the skip predict
        ``z @ T``), ``None`` for ``"two"``.
    target_amplitudes_ : ndarray of shape (n_recordings_,) or None
        With ``target_normalize="recording"``: the root mean square of the
        preprocessed leads I and II (both together) of each training
        recording, the divisor of its targets; else ``None``.
    target_amplitude_ : float or None
        With ``target_normalize="recording"``: the quadratic mean of
        ``target_amplitudes_``, the amplitude the normalized targets are
        multiplied by (so the predictions are in lead units); else ``None``.

    Examples
    --------
    Personalized protocol on one 10 s recording (first 7 s for training):

    >>> import numpy as np
    >>> from sparse_events.ecg import SixLeadReconstructor
    >>> fs = 500
    >>> t = np.arange(10 * fs) / fs
    >>> v2 = np.sin(2 * np.pi * 1.2 * t) ** 5
    >>> leads = {"I": 0.5 * v2, "II": np.maximum(v2, 0)}
    >>> model = SixLeadReconstructor(model="ridge").fit(
    ...     v2[:7 * fs], {k: v[:7 * fs] for k, v in leads.items()}, sampling_rate=fs)
    >>> model.predict(v2, sampling_rate=fs).columns.tolist()
    ['I', 'II', 'III', 'aVR', 'aVL', 'aVF']
    """

    def __init__(self, model="gated", *, window_s=0.5, window="centred", working_rate=250.0,
                 band=(0.5, 40.0), filter_order=2, train_step=1, normalize="recording",
                 n_patterns=20, alpha=None, fit_intercept=True, tol=5e-2, max_iter=3000,
                 solver="fista", n_components="auto", whiten=True, random_state=None,
                 precision="float32", linear_skip=None, linear_blend=None,
                 linear_blend_alpha=1.0, target_loss="two", n_estimators=1,
                 target_normalize=None):
        self.model = model
        self.window_s = window_s
        self.window = window
        self.working_rate = working_rate
        self.band = band
        self.filter_order = filter_order
        self.train_step = train_step
        self.normalize = normalize
        self.n_patterns = n_patterns
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state
        self.precision = precision
        self.linear_skip = linear_skip
        self.linear_blend = linear_blend
        self.linear_blend_alpha = linear_blend_alpha
        self.target_loss = target_loss
        self.n_estimators = n_estimators
        self.target_normalize = target_normalize

    # ------------------------------------------------------------------ params
    def _check_params(self):
        if isinstance(self.model, str):
            check_option(self.model, "model", _MODELS)
        elif not (hasattr(self.model, "fit") and hasattr(self.model, "predict")):
            raise TypeError(
                f"model must be one of {_MODELS} or a regressor with fit/predict, got "
                f"{type(self.model).__name__}")
        window_s = check_scalar(self.window_s, "window_s", low=0, low_inclusive=False)
        alignment = check_option(self.window, "window", _ALIGNMENTS)
        alignment = "causal" if alignment == "causal" else "centred"
        working_rate = None if self.working_rate is None else check_scalar(
            self.working_rate, "working_rate", low=0, low_inclusive=False)
        band = self.band
        if band is not None:
            if not isinstance(band, (tuple, list)) or len(band) != 2:
                raise ValueError(
                    f"band must be None or a pair (low_hz, high_hz), got {band!r}")
            low = None if band[0] is None else check_scalar(
                band[0], "band[0]", low=0, low_inclusive=False)
            high = None if band[1] is None else check_scalar(
                band[1], "band[1]", low=0, low_inclusive=False)
            if low is not None and high is not None and high <= low:
                raise ValueError(f"band must satisfy low < high, got {band!r}")
            band = (low, high)
        check_int(self.filter_order, "filter_order", low=1)
        check_int(self.train_step, "train_step", low=1)
        check_option(self.normalize, "normalize", _NORMALIZATIONS)
        check_option(self.precision, "precision", ("float32", "float64"))
        check_option(self.target_loss, "target_loss", _TARGET_LOSSES)
        check_option(self.target_normalize, "target_normalize", _TARGET_NORMALIZATIONS)
        check_scalar(self.linear_blend_alpha, "linear_blend_alpha", low=0)
        if self.linear_blend is not None:
            check_scalar(self.linear_blend, "linear_blend", low=0, high=1)
            if isinstance(self.model, str) and self.model == "ridge":
                raise ValueError(
                    "linear_blend mixes a ridge fit into a nonlinear model; with model='ridge' "
                    "use linear_blend=None")
        check_int(self.n_patterns, "n_patterns", low=1)
        check_bool(self.fit_intercept, "fit_intercept")
        if check_int(self.n_estimators, "n_estimators", low=1) > 1 and not (
                isinstance(self.model, str) and self.model in _CONVEX_MODELS):
            raise ValueError(
                f"n_estimators > 1 averages convex models with different activation patterns; "
                f"it needs model='gated' or 'relu', got model={self.model!r}")
        if isinstance(self.n_components, str):
            check_option(self.n_components, "n_components", ("auto",))
        elif self.n_components is not None:
            check_int(self.n_components, "n_components", low=1)
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {self.whiten!r}")
        if self.alpha is not None:
            check_scalar(self.alpha, "alpha", low=0)
        if self.linear_skip is not None:
            check_scalar(self.linear_skip, "linear_skip", low=0)
            if isinstance(self.model, str) and self.model == "ridge":
                raise ValueError(
                    "linear_skip adds a ridge term to a nonlinear model; with model='ridge' "
                    "use linear_skip=None")
        return window_s, alignment, working_rate, band

    def _front_end(self, sampling_rate, params=None):
        window_s, alignment, working_rate, band = params or self._check_params()
        rate = sampling_rate if working_rate is None else working_rate
        window_samples = int(round(window_s * rate))
        if window_samples < 1:
            raise ValueError(
                f"window_s={window_s} s is shorter than one sample at {rate} Hz")
        return FrontEnd(sampling_rate, working_rate, band, self.filter_order, alignment,
                        window_samples)

    def _member_seeds(self):
        """``random_state`` of each ensemble member (``n_estimators``)."""
        n = int(self.n_estimators)
        rs = self.random_state
        if n == 1:
            return [rs]
        if rs is None:
            return [None] * n
        if isinstance(rs, numbers.Integral):
            return [int(rs) + k for k in range(n)]
        # Generator, RandomState, SeedSequence: one integer seed per member
        rng = check_random_state(rs)
        return [int(v) for v in rng.integers(0, 2**31 - 1, size=n)]

    def _make_regressor(self, random_state=None):
        if not isinstance(self.model, str):
            return clone(self.model)
        if self.model == "ridge":
            return Ridge(alpha=1.0 if self.alpha is None else self.alpha,
                         fit_intercept=self.fit_intercept)
        from .. import models
        name = "ConvexGatedReLURegressor" if self.model == "gated" else "ConvexReLURegressor"
        cls = getattr(models, name)
        return cls(n_patterns=self.n_patterns, alpha=3e-2 if self.alpha is None else self.alpha,
                   fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                   solver=self.solver, random_state=random_state,
                   precision=self.precision)

    # --------------------------------------------------------------- helpers
    def _n_components_for(self, window_samples):
        """Number of principal directions kept (``None``: the raw window)."""
        nc = self.n_components
        if nc is None:
            return None
        if isinstance(nc, str):  # "auto"
            convex = isinstance(self.model, str) and self.model in _CONVEX_MODELS
            return _AUTO_COMPONENTS if convex and window_samples > _AUTO_COMPONENTS else None
        return check_int(nc, "n_components", low=1, high=window_samples)

    def _fit_projection(self, windows):
        """Principal directions (and whitening scales) of the training windows."""
        k = self._n_components_for(windows.shape[1])
        if k is None:
            self.components_ = self.component_scale_ = None
            return
        # eigenvectors of the (uncentred) Gram matrix = right singular vectors of the
        # windows; the Gram matrix of the few-hundred-sample window is cheap
        with _one_blas_thread():
            gram = windows.T @ windows
            values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1][:k]
        self.components_ = np.ascontiguousarray(vectors[:, order].T)
        if self.whiten:
            mean_square = np.maximum(values[order], 0.0) / windows.shape[0]
            floor = _WHITEN_FLOOR * float(mean_square[0])
            scale = np.sqrt(np.maximum(mean_square, floor)) if floor > 0 else np.ones(k)
        else:
            scale = np.ones(k)
        self.component_scale_ = scale
        self._projection = self.components_.T / scale

    def _project(self, windows):
        with _one_blas_thread():
            return windows @ self._projection

    def _scale_of(self, x):
        if self.normalize == "recording":
            s = float(np.std(x))
            return s if s > 0 else 1.0
        if self.normalize == "global":
            return self.source_scale_
        return 1.0

    def _prepare_inputs(self, source, sampling_rate, front):
        recs, several, indexes = as_recordings(source, "source")
        for k, x in enumerate(recs):
            front.check_length(x.size, f"source[{k}]" if several else "source")
        return recs, several, indexes

    # ------------------------------------------------------------------- fit
    def fit(self, source, leads, *, sampling_rate, leads_sampling_rate=None):
        """Fit the mapping from windows of ``source`` to leads I and II.

        Parameters
        ----------
        source : array_like of shape (n_samples,) or list of them
            The single input lead (one recording, or a list of recordings of
            one or several subjects).
        leads : DataFrame, dict, array of shape (n_samples, 2), or list of them
            Reference leads I and II aligned with ``source`` (same length and
            rate): a DataFrame or dict with entries ``"I"`` and ``"II"``
            (matched case-insensitively, so ``"i"``/``"ii"`` work; extra leads
            are ignored), or a 2-column array (I, II).  A list, one per
            recording, when ``source`` is a list.  Samples are paired by
            position: a Series ``source`` and a DataFrame (or Series in a
            dict) ``leads`` must carry equal indexes, else ``ValueError``.
        sampling_rate : float
            Sampling rate of ``source`` and ``leads`` in Hz (keyword-only,
            required).
        leads_sampling_rate : float or None
            If given, the reference leads' rate; it must equal
            ``sampling_rate`` (resample them first otherwise).

        Returns
        -------
        self
        """
        params = self._check_params()
        fs = check_sampling_rate(sampling_rate)
        if leads_sampling_rate is not None:
            leads_fs = check_sampling_rate(leads_sampling_rate, "leads_sampling_rate")
            if leads_fs != fs:
                raise ValueError(
                    f"source and leads must be sampled at the same rate: sampling_rate={fs} Hz "
                    f"but leads_sampling_rate={leads_fs} Hz; resample the leads first")
        front = self._front_end(fs, params)
        _check_fit_indexes(source, leads)
        recs, several, _ = self._prepare_inputs(source, fs, front)
        pairs = as_lead_pairs(leads, len(recs), several, "leads")
        for k, (x, y) in enumerate(zip(recs, pairs)):
            if y.shape[0] != x.size:
                label = f" of recording {k}" if several else ""
                raise ValueError(
                    f"source and leads{label} must be aligned: source has {x.size} samples "
                    f"({x.size / fs:.4g} s at {fs:g} Hz) but leads I and II have {y.shape[0]}; "
                    "they must have the same length and sampling rate")

        step = check_int(self.train_step, "train_step", low=1)
        sources, rows, targets, rec_ids, times, amplitudes = [], [], [], [], [], []
        for k, (x, y) in enumerate(zip(recs, pairs)):
            # source and leads I, II through the front end together (columns are processed
            # independently: the same result as three calls, for a third of the overhead)
            both = front.to_working(np.column_stack([x, y]))
            xs = np.ascontiguousarray(both[:, 0])
            ys = both[:, 1:]
            sources.append(xs)
            if self.target_normalize == "recording":
                # joint amplitude of I and II of this recording (root mean square over both
                # preprocessed leads): the same divisor for both keeps III = II - I
                amp = float(np.sqrt(np.mean(ys * ys)))
                if amp <= 1e-10 * max(float(np.abs(y).max()), 1e-300):
                    # as the flat-source check below: negligible against the recorded leads'
                    # scale (a true zero included), never blown up to the common amplitude
                    label = f"leads[{k}]" if several else "leads"
                    raise ValueError(
                        f"{label} I and II are flat (no variation left after band-pass "
                        "filtering): target_normalize='recording' cannot normalize their "
                        "amplitude (disconnected electrodes?)")
                amplitudes.append(amp)
                ys = ys / amp
            idx = front.valid_targets(xs.size, step)
            rows.append(idx)
            targets.append(ys[idx])
            rec_ids.append(np.full(idx.size, k))
            times.append(idx / front.working_rate)
        self.n_recordings_ = len(recs)
        self.working_rate_ = front.working_rate
        self.window_samples_ = front.window_samples
        for k, (x, xs) in enumerate(zip(recs, sources)):
            _check_source_not_flat(x, xs, f"source[{k}]" if several else "source")
        self.source_scale_ = float(np.sqrt(np.mean(np.concatenate(sources) ** 2)))
        sources = [xs / self._scale_of(xs) for xs in sources]
        # training windows gathered straight into one array (one copy of the strided views)
        windows = np.empty((sum(idx.size for idx in rows), front.window_samples))
        start = 0
        for xs, idx in zip(sources, rows):
            if idx.size:
                # idx is a range (valid_targets): a strided slice of the windows' view,
                # copied row by row (np.take on the view is several times slower)
                windows[start:start + idx.size] = \
                    front.padded_windows(xs)[idx[0]:idx[-1] + 1:step]
            start += idx.size
        Y = np.concatenate(targets)
        if amplitudes:
            self.target_amplitudes_ = np.array(amplitudes)
            # back to lead units: the quadratic mean of the recordings' amplitudes
            self.target_amplitude_ = float(np.sqrt(np.mean(self.target_amplitudes_ ** 2)))
            Y = Y * self.target_amplitude_
        else:
            self.target_amplitudes_ = self.target_amplitude_ = None
        self.target_mean_ = Y.mean(axis=0)
        scale = Y.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        Z = (Y - self.target_mean_) / self.target_scale_
        T = _target_transform(self.target_loss, self.target_scale_, np.cov(Z.T, bias=True))
        self.target_transform_ = T
        self._target_inverse = None if T is None else np.linalg.inv(T)
        if T is not None:
            Z = Z @ T

        seeds = self._member_seeds()
        self.blend_ = None
        if self.linear_blend is not None and float(self.linear_blend) > 0:
            # the ridge partner of the blend sees the raw windows (as the ridge peer)
            with _one_blas_thread():
                self.blend_ = Ridge(alpha=float(self.linear_blend_alpha),
                                    fit_intercept=self.fit_intercept).fit(windows, Z)
        self._blend_weight = 0.0 if self.blend_ is None else float(self.linear_blend)
        self._fit_projection(windows)
        if self.components_ is not None:
            windows = self._project(windows)
        if self.linear_skip is not None:
            # linear skip connection: ridge first, the model on what ridge leaves
            with _one_blas_thread():
                self.skip_ = Ridge(alpha=float(self.linear_skip),
                                   fit_intercept=self.fit_intercept).fit(windows, Z)
                Z = Z - self.skip_.predict(windows)
        else:
            self.skip_ = None
        members = []
        for seed in seeds:
            member = self._make_regressor(seed)
            with _one_blas_thread():  # small products: extra BLAS threads only spin
                member.fit(windows, Z)
            shared = getattr(members[0], "X_fit_", None) if members else None
            if shared is not None and np.array_equal(member.X_fit_, shared):
                # every member stores the same (augmented) training windows for
                # explain_neurons: keep one array, not n_estimators copies
                member.X_fit_ = shared
            members.append(member)
        if len(members) > 1 and getattr(members[0], "X_fit_", None) is not None:
            members[0].X_fit_.flags.writeable = False  # shared by the members: read only
        self.regressors_ = members
        self.regressor_ = members[0]
        self.training_sources_ = sources
        self.train_recording_ = np.concatenate(rec_ids)
        self.train_time_s_ = np.concatenate(times)
        self._train_rows = np.concatenate(rows)
        counts = [getattr(m, "n_active_neurons_", None) for m in members]
        self.n_neurons_ = None if counts[0] is None else int(sum(counts))
        self.sampling_rate_ = fs
        return self

    # --------------------------------------------------------------- predict
    def _predict_one(self, x, front, label="source"):
        xs = front.to_working(x)
        _check_source_not_flat(x, xs, label)
        xs = xs / self._scale_of(xs)
        windows = front.padded_windows(xs)
        out = np.empty((xs.size, 2))
        members = getattr(self, "regressors_", [self.regressor_])
        for start in range(0, xs.size, _PREDICT_CHUNK):
            stop = min(start + _PREDICT_CHUNK, xs.size)
            raw = block = windows[start:stop]
            if self.components_ is not None:
                block = self._project(block)
            with _one_blas_thread():  # same output whatever the BLAS thread count
                pred = np.asarray(members[0].predict(block), dtype=np.float64)
                if len(members) > 1:
                    pred = pred.reshape(stop - start, -1)
                    for member in members[1:]:
                        pred = pred + np.asarray(member.predict(block),
                                                 dtype=np.float64).reshape(stop - start, -1)
                    pred = pred / len(members)
                if self.skip_ is not None:
                    pred = pred.reshape(stop - start, 2) + self.skip_.predict(block)
                pred = pred.reshape(stop - start, 2)
                if getattr(self, "blend_", None) is not None:
                    w = self._blend_weight
                    pred = (1.0 - w) * pred + w * self.blend_.predict(raw)
            inverse = getattr(self, "_target_inverse", None)
            if inverse is not None:
                pred = pred @ inverse
            out[start:stop] = pred
        out = out * self.target_scale_ + self.target_mean_
        return front.to_input_rate(out, x.size)

    def predict(self, source, *, sampling_rate):
        """Six frontal leads from the input lead.

        Parameters
        ----------
        source : array_like of shape (n_samples,), pandas.Series, or list of them
            The input lead (same lead and units as in ``fit``).
        sampling_rate : float
            Its rate in Hz (keyword-only, required).  It may differ from the
            fit's rate unless ``working_rate=None``.

        Returns
        -------
        pandas.DataFrame or list of DataFrame
            Columns ``I, II, III, aVR, aVL, aVF`` (units of the training
            leads), one row per input sample (index of a Series input, else
            0..n-1); a list for a list input.  These are band-passed leads,
            comparable to the references filtered by :meth:`filter_leads`.
        """
        check_is_fitted(self, "regressor_")
        fs = check_sampling_rate(sampling_rate)
        if self.working_rate is None and fs != self.sampling_rate_:
            raise ValueError(
                f"with working_rate=None the model works at the training rate "
                f"{self.sampling_rate_:g} Hz; got sampling_rate={fs:g} Hz")
        front = self._front_end(fs)
        recs, several, indexes = self._prepare_inputs(source, fs, front)
        out = []
        for k, (x, index) in enumerate(zip(recs, indexes)):
            y = self._predict_one(x, front, f"source[{k}]" if several else "source")
            df = derive_limb_leads(y[:, 0], y[:, 1])
            if index is not None:
                df.index = index
            out.append(df)
        return out if several else out[0]

    # ---------------------------------------------------------------- scoring
    def filter_leads(self, leads, *, sampling_rate):
        """Band-pass reference leads exactly as the model's training targets.

        Parameters
        ----------
        leads : DataFrame or dict of 1-D arrays
            Recorded leads (any of ``I, II, III, aVR, aVL, aVF``, matched
            case-insensitively; I and II required).
        sampling_rate : float
            Their rate in Hz.

        Returns
        -------
        derived : DataFrame
            Six leads derived from the filtered recorded I and II.
        recorded : DataFrame
            The recorded leads among the six that are present, filtered.
        """
        fs = check_sampling_rate(sampling_rate)
        front = self._front_end(fs)
        if not isinstance(leads, (pd.DataFrame, dict)):
            raise TypeError(
                f"leads must be a DataFrame or dict of leads, got {type(leads).__name__}")
        keys = list(leads.columns) if isinstance(leads, pd.DataFrame) else list(leads)
        present = {}
        for lead in LEAD_NAMES:
            key = lead_column(keys, lead, "leads")
            if key is not None:
                present[lead] = _lead_vector(np.asarray(leads[key]), f"leads[{key!r}]")
        for lead in ("I", "II"):
            if lead not in present:
                raise ValueError(
                    f"leads is missing lead {lead!r} (case-insensitive); got {keys}")
        lengths = {k: v.size for k, v in present.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"leads must all have the same length, got {lengths}")
        front.check_filter_length(next(iter(lengths.values())), "leads")
        names = list(present)
        filtered = front.filter(np.column_stack([present[k] for k in names]))
        recorded = pd.DataFrame(filtered, columns=names)
        return derive_limb_leads(recorded["I"], recorded["II"]), recorded

    def evaluate(self, source, leads, *, sampling_rate, start_s=0.0, stop_s=None):
        """Per-lead Pearson r and RMSE of the prediction on ``[start_s, stop_s)``.

        The whole ``source`` is predicted (so windows near ``start_s`` see
        their context) and scored on the interval against the reference
        filtered by :meth:`filter_leads`.  III, aVR, aVL and aVF are scored
        against the values derived from the recorded I and II (a perfect I
        and II then score perfectly); when recorded III ... aVF are given, the
        comparison with them is reported separately (some databases' recorded
        limb leads do not satisfy Einthoven's law exactly).

        Parameters
        ----------
        source : array_like of shape (n_samples,)
        leads : DataFrame or dict
            Recorded leads aligned with ``source`` (I and II required).
        sampling_rate : float
        start_s, stop_s : float
            Scored interval in seconds from the start (``stop_s=None``: end).

        Returns
        -------
        pandas.DataFrame
            Index ``I ... aVF``; columns ``r``, ``rmse`` (units of the leads)
            against the derived reference, and ``r_recorded``,
            ``rmse_recorded`` against the recorded leads (NaN when absent).
        """
        check_is_fitted(self, "regressor_")
        fs = check_sampling_rate(sampling_rate)
        _check_fit_indexes(source, leads)  # paired by position, as in fit
        pred = self.predict(source, sampling_rate=fs)
        if isinstance(pred, list):
            raise ValueError("evaluate takes a single recording; call it once per recording")
        derived, recorded = self.filter_leads(leads, sampling_rate=fs)
        if len(derived) != len(pred):
            raise ValueError(
                f"source has {len(pred)} samples but leads have {len(derived)}; they must be "
                "aligned and sampled at the same rate")
        n = len(pred)
        start = int(round(check_scalar(start_s, "start_s", low=0) * fs))
        stop = n if stop_s is None else int(round(check_scalar(stop_s, "stop_s", low=0) * fs))
        if not 0 <= start < stop <= n or stop - start < 2:
            raise ValueError(
                f"the scored interval [start_s, stop_s) = [{start_s}, {stop_s}) s must hold at "
                f"least 2 samples of the {n / fs:.4g} s recording")
        part = slice(start, stop)
        rows = {}
        for lead in LEAD_NAMES:
            p = pred[lead].to_numpy()[part]
            d = derived[lead].to_numpy()[part]
            row = {"r": _pearson(p, d), "rmse": float(np.sqrt(np.mean((p - d) ** 2))),
                   "r_recorded": np.nan, "rmse_recorded": np.nan}
            if lead in recorded:
                q = recorded[lead].to_numpy()[part]
                row["r_recorded"] = _pearson(p, q)
                row["rmse_recorded"] = float(np.sqrt(np.mean((p - q) ** 2)))
            rows[lead] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    # --------------------------------------------------------- explanations
    def training_window(self, row):
        """The preprocessed input window of training row ``row``.

        Parameters
        ----------
        row : int
            Row of the regressor's training matrix (as referenced by the
            neuron explanations).

        Returns
        -------
        window : ndarray of shape (window_samples_,)
        recording : int
        time_s : float
            Time (s) of the sample the window predicts in that recording.
        """
        check_is_fitted(self, "regressor_")
        if not isinstance(row, numbers.Integral):
            raise TypeError(f"row must be an integer, got {type(row).__name__}")
        n = self.train_recording_.size
        row = check_int(row, "row", low=-n, high=n - 1)
        rec = int(self.train_recording_[row])
        target = int(self._train_rows[row])
        before, _ = window_offsets(self.window_samples_, self._alignment())
        start = target - before
        window = self.training_sources_[rec][start:start + self.window_samples_].copy()
        return window, rec, float(self.train_time_s_[row])

    def _alignment(self):
        return "causal" if self.window == "causal" else "centred"

    def _row_table(self, rows, extra=None):
        rows = np.asarray(rows, dtype=np.int64)
        table = {"row": rows, "recording": self.train_recording_[rows],
                 "time_s": self.train_time_s_[rows]}
        if extra is not None:
            table.update(extra)
        return pd.DataFrame(table)

    def explain_neurons(self, n_boundary=None):
        """Training windows behind each active neuron of a convex model.

        ConvexECG's explanation: every neuron of the convex ReLU network is
        tied to the training windows that switch it on and to those that pin
        down its hyperplane (see the regressor's ``explain_neurons``).  Here
        the regressor's training rows are mapped back to recordings and times;
        :meth:`training_window` returns the window of any row (with a
        projection, ``n_components``, the regressor's input is
        ``window @ components_.T / component_scale_``).

        Parameters
        ----------
        n_boundary : int, optional
            Delimiting windows per neuron (default: the number of input
            features of the regressor, enough points to pin down a
            hyperplane: the number of principal directions ``components_``
            with a projection, ``n_components``, else the window length in
            samples ``window_samples_``; at most the number of training
            windows).

        Returns
        -------
        list of dict
            One dict per active neuron (members of an ensemble,
            ``n_estimators``, one after the other): ``member`` (its index in
            ``regressors_``; its output enters the prediction divided by
            ``n_estimators``), ``neuron`` (index within the member),
            ``lead`` (``"I"`` or
            ``"II"``, the output of ``regressor_`` it feeds: with a target
            transform, ``target_loss`` other than ``"two"``, these are the
            transformed coordinates ``z @ T[:, 0]`` and ``z @ T[:, 1]``, not
            the leads, and the prediction maps them back by ``T^-1``),
            ``pattern`` (gate index), ``sign``, ``second_layer_weight``
            (standardized units, or transformed ones; with ``linear_blend``
            the neuron's output enters the prediction multiplied by
            ``1 - linear_blend``; with ``linear_skip`` it adds to the
            skip's), ``active`` (DataFrame
            of the training windows on its active side: ``row``,
            ``recording``, ``time_s``) and ``boundary`` (the ``n_boundary``
            windows closest to its hyperplane, nearest first, with their
            ``distance`` in normalized input units).

        Raises
        ------
        TypeError
            If the model is not a convex ReLU model.
        """
        check_is_fitted(self, "regressor_")
        if not hasattr(self.regressor_, "explain_neurons"):
            raise TypeError(
                f"explain_neurons needs a convex ReLU model (model='gated' or 'relu'); this "
                f"reconstructor uses {type(self.regressor_).__name__}")
        out = []
        members = getattr(self, "regressors_", [self.regressor_])
        for member, regressor in enumerate(members):
            out += self._explain_member(regressor, member, n_boundary)
        return out

    def _explain_member(self, regressor, member, n_boundary):
        out = []
        for item in regressor.explain_neurons(n_boundary=n_boundary):
            out.append({
                "member": member,
                "neuron": item["neuron"],
                "lead": ("I", "II")[item["output"]],
                "pattern": item["pattern"],
                "sign": item["sign"],
                "second_layer_weight": item["second_layer_weight"],
                "active": self._row_table(item["active_samples"]),
                "boundary": self._row_table(item["boundary_samples"],
                                            {"distance": item["boundary_distances"]}),
            })
        return out
