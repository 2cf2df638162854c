"""Six-lead reconstruction from one lead (ConvexECG): sparse_events.ecg.SixLeadReconstructor."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal as sps
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from _scipy_reference import sosfiltfilt_min_length

from sparse_events.ecg import SixLeadReconstructor, derive_limb_leads

DATA = Path(__file__).resolve().parent / "data"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF"]


# --------------------------------------------------------------------- helpers
def smooth_source(n, fs, rng, cutoff_hz=5.0):
    sos = sps.butter(4, cutoff_hz, fs=fs, output="sos")
    x = sps.sosfiltfilt(sos, rng.standard_normal(n))
    return x / x.std()


def nonlinear_leads(x):
    """Leads I and II as a known nonlinear (piecewise-linear) function of the source."""
    return {"I": np.maximum(x, 0) - 0.3 * x, "II": np.abs(np.roll(x, 1)) - 0.5 * x}


def raw_model(**kw):
    """No filtering, no resampling, no normalization: windows of the raw input."""
    return SixLeadReconstructor(working_rate=None, band=None, normalize=None, **kw)


def load_ludb_excerpt():
    z = np.load(DATA / "ludb_1_limb_v2_v5.npz")
    phys = (z["adc"] - z["baseline"][:, None]) / z["gain"][:, None]
    return pd.DataFrame(phys.T, columns=[str(s) for s in z["leads"]]), float(z["sampling_rate"])


# ------------------------------------------------------------ derive_limb_leads
def test_derive_limb_leads_matches_limb_potentials(rng):
    # right arm, left arm, left leg potentials: I = L - R, II = F - R
    R, L, F = rng.standard_normal((3, 200))
    out = derive_limb_leads(L - R, F - R)
    assert list(out.columns) == LEADS
    np.testing.assert_allclose(out["III"], F - L, atol=1e-12)
    np.testing.assert_allclose(out["aVR"], R - (L + F) / 2, atol=1e-12)
    np.testing.assert_allclose(out["aVL"], L - (R + F) / 2, atol=1e-12)
    np.testing.assert_allclose(out["aVF"], F - (R + L) / 2, atol=1e-12)
    np.testing.assert_allclose(out[["aVR", "aVL", "aVF"]].sum(axis=1), 0, atol=1e-12)


def test_derive_limb_leads_keeps_series_index():
    idx = pd.Index([10, 11, 12], name="sample")
    out = derive_limb_leads(pd.Series([1.0, 2, 3], index=idx), np.array([0.0, 1, 1]))
    assert out.index.equals(idx)


def test_derive_limb_leads_refuses_series_with_different_indexes():
    """Two Series are combined by position: differing indexes raise instead of pairing
    mislabelled samples; aligned (reindexed) Series give the label-aligned leads."""
    a = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    b = pd.Series([10.0, 20.0, 30.0], index=[2, 1, 0])
    with pytest.raises(ValueError, match="lead_i and lead_ii .*different indexes"):
        derive_limb_leads(a, b)
    with pytest.raises(ValueError, match="different indexes"):  # shifted, same order
        derive_limb_leads(a, pd.Series([10.0, 20.0, 30.0], index=[1, 2, 3]))
    out = derive_limb_leads(a, b.reindex(a.index))
    np.testing.assert_array_equal(out["III"], (b - a).to_numpy())  # pandas aligns by label
    assert out.index.equals(a.index)
    # equal indexes, or one Series and one array, are accepted as before
    same = derive_limb_leads(a, pd.Series([30.0, 20.0, 10.0], index=[0, 1, 2]))
    np.testing.assert_array_equal(same["III"], [29.0, 18.0, 7.0])
    np.testing.assert_array_equal(derive_limb_leads(a, b.to_numpy())["III"], [9.0, 18.0, 27.0])


def test_fit_refuses_source_and_leads_with_different_indexes(rng):
    fs = 100.0
    x = smooth_source(3000, fs, rng)
    leads = pd.DataFrame(nonlinear_leads(x))
    source = pd.Series(x)
    shifted = leads.set_axis(leads.index + 5)
    with pytest.raises(ValueError, match="source and leads .*different indexes"):
        raw_model(model="ridge").fit(source, shifted, sampling_rate=fs)
    with pytest.raises(ValueError, match=r"source\[1\] and leads\[1\]"):
        raw_model(model="ridge").fit([source, source], [leads, shifted], sampling_rate=fs)
    with pytest.raises(ValueError, match=r"leads\['I'\]"):
        raw_model(model="ridge").fit(source, {"I": shifted["I"], "II": leads["II"]},
                                     sampling_rate=fs)
    # the same index (or plain arrays) fits exactly as the arrays do
    ref = raw_model(model="ridge").fit(x, leads.to_numpy(), sampling_rate=fs)
    got = raw_model(model="ridge").fit(source, leads, sampling_rate=fs)
    np.testing.assert_allclose(got.predict(x, sampling_rate=fs).to_numpy(),
                               ref.predict(x, sampling_rate=fs).to_numpy(), rtol=0, atol=0)
    # evaluate pairs source and leads by position too
    with pytest.raises(ValueError, match="source and leads .*different indexes"):
        got.evaluate(source, shifted, sampling_rate=fs)
    pd.testing.assert_frame_equal(got.evaluate(source, leads, sampling_rate=fs),
                                  got.evaluate(x, nonlinear_leads(x), sampling_rate=fs))


@pytest.mark.parametrize("a, b, match", [
    ([1.0, 2.0], [1.0], "same length"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ([1.0, np.nan], [1.0, 2.0], "lead_i .*finite"),
    ([], [], "lead_i must not be empty"),
])
def test_derive_limb_leads_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        derive_limb_leads(a, b)


# ------------------------------------------------------------ reconstructions
def test_einthoven_goldberger_hold_exactly_on_output(rng):
    fs = 250.0
    x = smooth_source(2000, fs, rng, cutoff_hz=20)
    leads = nonlinear_leads(x)
    model = SixLeadReconstructor(model="ridge").fit(x, leads, sampling_rate=fs)
    out = model.predict(x, sampling_rate=fs)
    assert list(out.columns) == LEADS and len(out) == x.size
    one, two = out["I"].to_numpy(), out["II"].to_numpy()
    assert np.array_equal(out["III"].to_numpy(), two - one)
    assert np.array_equal(out["aVR"].to_numpy(), -(one + two) / 2)
    assert np.array_equal(out["aVL"].to_numpy(), one - two / 2)
    assert np.array_equal(out["aVF"].to_numpy(), two - one / 2)
    # Goldberger: the augmented leads sum to zero
    np.testing.assert_allclose(out[["aVR", "aVL", "aVF"]].sum(axis=1), 0, atol=1e-12)


def test_gated_recovers_known_nonlinear_function(rng):
    fs, n_train = 100.0, 1500
    x = smooth_source(2500, fs, rng)
    leads = nonlinear_leads(x)
    train = {k: v[:n_train] for k, v in leads.items()}
    common = dict(window_s=0.05, n_patterns=20, alpha=1e-4, solver="cd", tol=1e-4,
                  random_state=0)
    gated = raw_model(model="gated", **common).fit(x[:n_train], train, sampling_rate=fs)
    ridge = raw_model(model="ridge", window_s=0.05).fit(x[:n_train], train, sampling_rate=fs)
    scores = gated.evaluate(x, leads, sampling_rate=fs, start_s=n_train / fs)
    linear = ridge.evaluate(x, leads, sampling_rate=fs, start_s=n_train / fs)
    # held-out samples, all six leads (III ... aVF against I and II's derived values)
    assert (scores["r"] > 0.99).all(), scores
    # the task is genuinely nonlinear: the linear model is far off
    assert (linear.loc[["I", "II"], "r"] < 0.8).all(), linear
    # evaluate's r is Pearson's r on the scored interval
    pred = gated.predict(x, sampling_rate=fs)
    ref = derive_limb_leads(leads["I"], leads["II"])
    for lead in LEADS:
        r = np.corrcoef(pred[lead][n_train:], ref[lead][n_train:])[0, 1]
        assert scores.loc[lead, "r"] == pytest.approx(r, rel=1e-12)
    assert gated.n_neurons_ == gated.regressor_.n_active_neurons_ > 0


@pytest.mark.parametrize("model", ["gated", "relu"])
def test_float32_products_match_float64_fit(rng, model):
    """Default float32 FISTA products: same problem solved within tol as in float64."""
    fs, n_train = 100.0, 1200
    x = smooth_source(2000, fs, rng)
    leads = nonlinear_leads(x)
    train = {k: v[:n_train] for k, v in leads.items()}
    tol = 1e-4
    kw = dict(model=model, window_s=0.05, n_patterns=10, alpha=1e-3, tol=tol, max_iter=20000,
              random_state=0)
    m32 = raw_model(**kw).fit(x[:n_train], train, sampling_rate=fs)
    m64 = raw_model(precision="float64", **kw).fit(x[:n_train], train, sampling_rate=fs)
    assert SixLeadReconstructor().get_params()["precision"] == "float32"
    r32, r64 = m32.regressor_, m64.regressor_
    assert r32.precision == "float32" and r64.precision == "float64"
    assert r32.solver == "fista" and r32.converged_ and r32.optimality_ <= tol
    # both objectives within tol of the optimum, hence of each other
    assert abs(r32.objective_ - r64.objective_) <= tol * r64.objective_
    p32, p64 = m32.predict(x, sampling_rate=fs), m64.predict(x, sampling_rate=fs)
    for lead in LEADS:
        assert np.corrcoef(p32[lead], p64[lead])[0, 1] > 0.999
    # Einthoven/Goldberger still exact on the float32 path's output
    np.testing.assert_allclose(p32["III"], p32["II"] - p32["I"], atol=1e-12)


def test_deterministic_with_random_state(rng):
    fs = 100.0
    x = smooth_source(800, fs, rng)
    leads = nonlinear_leads(x)
    kw = dict(model="gated", window_s=0.05, n_patterns=8, alpha=1e-3)
    a = raw_model(random_state=3, **kw).fit(x, leads, sampling_rate=fs).predict(x, sampling_rate=fs)
    b = raw_model(random_state=3, **kw).fit(x, leads, sampling_rate=fs).predict(x, sampling_rate=fs)
    c = raw_model(random_state=4, **kw).fit(x, leads, sampling_rate=fs).predict(x, sampling_rate=fs)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a.to_numpy(), c.to_numpy())


def test_exact_relu_model_option(rng):
    fs, n_train = 100.0, 400
    x = smooth_source(600, fs, rng)
    leads = nonlinear_leads(x)
    train = {k: v[:n_train] for k, v in leads.items()}
    model = raw_model(model="relu", window_s=0.03, n_patterns=6, alpha=1e-3, tol=1e-4,
                      solver="cd", random_state=0).fit(x[:n_train], train, sampling_rate=fs)
    from sparse_events.models import ConvexReLURegressor
    assert isinstance(model.regressor_, ConvexReLURegressor)
    ridge = raw_model(model="ridge", window_s=0.03).fit(x[:n_train], train, sampling_rate=fs)
    ours = model.evaluate(x, leads, sampling_rate=fs, start_s=n_train / fs)
    lin = ridge.evaluate(x, leads, sampling_rate=fs, start_s=n_train / fs)
    assert (ours.loc[["I", "II"], "r"] > lin.loc[["I", "II"], "r"]).all()


def test_ridge_option_equals_sklearn_ridge_on_windows(rng):
    fs, w = 50.0, 5
    x = rng.standard_normal(300)
    y = np.column_stack([np.tanh(x), np.roll(x, 2) ** 2])
    model = raw_model(model="ridge", window_s=w / fs, alpha=0.7).fit(x, y, sampling_rate=fs)
    # reference: centred windows by hand, standardized targets, sklearn Ridge
    rows = np.arange(2, 300 - 2)
    X = np.stack([x[t - 2:t + 3] for t in rows])
    mu, sd = y[rows].mean(0), y[rows].std(0)
    ref = Ridge(alpha=0.7).fit(X, (y[rows] - mu) / sd)
    pred = model.predict(x, sampling_rate=fs)
    expected = ref.predict(X) * sd + mu
    np.testing.assert_allclose(pred[["I", "II"]].to_numpy()[rows], expected, rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(model.train_time_s_, rows / fs)


def test_n_components_projects_windows_on_principal_directions(rng):
    fs, w = 50.0, 9
    x = smooth_source(400, fs, rng, cutoff_hz=8)
    y = np.column_stack([np.tanh(x), np.abs(x)])
    model = raw_model(model="ridge", window_s=w / fs, n_components=3, whiten=False).fit(
        x, y, sampling_rate=fs)
    rows = np.arange(4, 400 - 4)
    X = np.stack([x[t - 4:t + 5] for t in rows])
    # reference: leading right singular vectors from scipy, sklearn Ridge on projections
    import scipy.linalg

    _, sv, vt = scipy.linalg.svd(X, full_matrices=False)
    V = model.components_
    assert V.shape == (3, w)
    np.testing.assert_allclose(V @ V.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(np.abs(V @ vt[:3].T), np.eye(3), atol=1e-8)  # same subspace
    mu, sd = y[rows].mean(0), y[rows].std(0)
    ref = Ridge().fit(X @ V.T, (y[rows] - mu) / sd)
    pred = model.predict(x, sampling_rate=fs)[["I", "II"]].to_numpy()[rows]
    np.testing.assert_allclose(pred, ref.predict(X @ V.T) * sd + mu, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(model.component_scale_, np.ones(3))
    # whitened: each projection divided by its root mean square over the training windows
    white = raw_model(model="ridge", window_s=w / fs, n_components=3).fit(x, y, sampling_rate=fs)
    np.testing.assert_allclose(np.abs(white.components_ @ V.T), np.eye(3), atol=1e-8)
    proj = X @ white.components_.T
    np.testing.assert_allclose(white.component_scale_, np.sqrt(np.mean(proj ** 2, axis=0)),
                               rtol=1e-8)
    ref = Ridge().fit(proj / white.component_scale_, (y[rows] - mu) / sd)
    pred = white.predict(x, sampling_rate=fs)[["I", "II"]].to_numpy()[rows]
    np.testing.assert_allclose(pred, ref.predict(proj / white.component_scale_) * sd + mu,
                               rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="n_components must be <= 9"):
        raw_model(model="ridge", window_s=w / fs, n_components=10).fit(x, y, sampling_rate=fs)
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        raw_model(model="ridge", window_s=w / fs, n_components=0).fit(x, y, sampling_rate=fs)


def test_population_fit_uses_windows_of_each_recording_only(rng):
    fs, w = 50.0, 5
    xs = [rng.standard_normal(120), rng.standard_normal(90)]
    ys = [np.column_stack([np.tanh(x), x ** 2]) for x in xs]
    model = raw_model(model="ridge", window_s=w / fs).fit(xs, ys, sampling_rate=fs)
    X = np.concatenate([np.stack([x[t - 2:t + 3] for t in range(2, x.size - 2)]) for x in xs])
    Y = np.concatenate([y[2:-2] for y in ys])
    ref = Ridge().fit(X, (Y - Y.mean(0)) / Y.std(0))
    np.testing.assert_allclose(model.regressor_.coef_, ref.coef_, rtol=1e-10)
    assert model.n_recordings_ == 2
    np.testing.assert_array_equal(np.bincount(model.train_recording_), [116, 86])
    out = model.predict(xs, sampling_rate=fs)
    assert isinstance(out, list) and [len(o) for o in out] == [120, 90]


def test_linear_skip_is_ridge_plus_regressor_on_its_residuals(rng):
    """linear_skip: sklearn Ridge on the windows, our gated regressor on its residuals."""
    from sparse_events.models import ConvexGatedReLURegressor

    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8)]
    ys = [np.column_stack([np.maximum(x, 0) + 0.5 * x, np.abs(np.roll(x, 1))]) for x in xs]
    kw = dict(window_s=w / fs, n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
              random_state=0)
    model = raw_model(model="gated", linear_skip=0.4, **kw).fit(xs, ys, sampling_rate=fs)
    # reference: centred windows of each recording by hand, standardized targets
    X = np.concatenate([np.stack([x[t - 2:t + 3] for t in range(2, x.size - 2)]) for x in xs])
    Y = np.concatenate([y[2:-2] for y in ys])
    mu, sd = Y.mean(0), Y.std(0)
    Z = (Y - mu) / sd
    ridge = Ridge(alpha=0.4).fit(X, Z)
    np.testing.assert_allclose(model.skip_.coef_, ridge.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.skip_.intercept_, ridge.intercept_, atol=1e-12)
    gated = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
                                     random_state=0).fit(X, Z - ridge.predict(X))
    np.testing.assert_allclose(model.regressor_.convex_coef_, gated.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    # predictions: the sum of both parts, mapped back to lead units
    preds = model.predict(xs, sampling_rate=fs)
    expected = (ridge.predict(X) + gated.predict(X)) * sd + mu
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2] for p in preds])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # the nonlinear part improves on the linear skip alone; neurons still explainable
    lin = ridge.predict(X)
    assert np.sum((Z - lin - gated.predict(X)) ** 2) < 0.5 * np.sum((Z - lin) ** 2)
    assert model.explain_neurons() and model.n_neurons_ == gated.n_active_neurons_
    # without the option there is no skip; with ridge as the model it is refused
    assert raw_model(model="gated", **kw).fit(xs, ys, sampling_rate=fs).skip_ is None
    with pytest.raises(ValueError, match="linear_skip"):
        raw_model(model="ridge", window_s=w / fs, linear_skip=1.0).fit(xs, ys, sampling_rate=fs)
    with pytest.raises(ValueError, match="linear_skip"):
        raw_model(model="gated", linear_skip=-1.0, **kw).fit(xs, ys, sampling_rate=fs)


def _hand_windows(xs, ys, half=2):
    """Centred windows of each recording and their standardized targets, by hand."""
    X = np.concatenate([np.stack([x[t - half:t + half + 1] for t in range(half, x.size - half)])
                        for x in xs])
    Y = np.concatenate([y[half:-half] for y in ys])
    mu, sd = Y.mean(0), Y.std(0)
    return X, Y, mu, sd


def test_linear_blend_is_convex_combination_with_ridge(rng):
    """linear_blend: (1 - w) * model + w * sklearn Ridge, both on the same windows."""
    from sparse_events.models import ConvexGatedReLURegressor

    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8)]
    ys = [np.column_stack([np.maximum(x, 0) + 0.5 * x, np.abs(np.roll(x, 1))]) for x in xs]
    kw = dict(window_s=w / fs, n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
              random_state=0)
    X, Y, mu, sd = _hand_windows(xs, ys)
    Z = (Y - mu) / sd
    gated = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
                                     random_state=0).fit(X, Z)
    ridge = Ridge(alpha=0.7).fit(X, Z)
    model = raw_model(model="gated", linear_blend=0.3, linear_blend_alpha=0.7, **kw).fit(
        xs, ys, sampling_rate=fs)
    np.testing.assert_allclose(model.blend_.coef_, ridge.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.regressor_.convex_coef_, gated.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in model.predict(xs, sampling_rate=fs)])
    expected = (0.7 * gated.predict(X) + 0.3 * ridge.predict(X)) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # with a linear skip of the same strength: the skip plus the shrunk nonlinear part
    both = raw_model(model="gated", linear_skip=0.7, linear_blend=0.3, linear_blend_alpha=0.7,
                     **kw).fit(xs, ys, sampling_rate=fs)
    resid = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
                                     random_state=0).fit(X, Z - ridge.predict(X))
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in both.predict(xs, sampling_rate=fs)])
    expected = (ridge.predict(X) + 0.7 * resid.predict(X)) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    # the ridge partner sees the raw windows even when the model sees principal components
    proj = raw_model(model="gated", n_components=3, linear_blend=0.3, linear_blend_alpha=0.7,
                     **kw).fit(xs, ys, sampling_rate=fs)
    np.testing.assert_allclose(proj.blend_.coef_, ridge.coef_, rtol=1e-10, atol=1e-12)
    # ... and in predict: the model on the (documented) projection of the windows, the ridge
    # partner on the raw windows; the projection's directions are the top eigenvectors of X'X
    values, vectors = np.linalg.eigh(X.T @ X)
    top = vectors[:, np.argsort(values)[::-1][:3]]
    np.testing.assert_allclose(np.abs(proj.components_ @ top), np.eye(3), atol=1e-8)
    P = X @ proj.components_.T / proj.component_scale_
    gated_p = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd",
                                       random_state=0).fit(P, Z)
    np.testing.assert_allclose(proj.regressor_.convex_coef_, gated_p.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in proj.predict(xs, sampling_rate=fs)])
    expected = (0.7 * gated_p.predict(P) + 0.3 * ridge.predict(X)) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    # 0 and None: no blend, the plain model
    for off in (None, 0.0):
        plain = raw_model(model="gated", linear_blend=off, **kw).fit(xs, ys, sampling_rate=fs)
        assert plain.blend_ is None
        np.testing.assert_allclose(plain.regressor_.convex_coef_, gated.convex_coef_,
                                   rtol=1e-8, atol=1e-10)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="linear_blend"):
            raw_model(model="gated", linear_blend=bad, **kw).fit(xs, ys, sampling_rate=fs)
    with pytest.raises(ValueError, match="linear_blend"):
        raw_model(model="ridge", window_s=w / fs, linear_blend=0.5).fit(xs, ys, sampling_rate=fs)


@pytest.mark.parametrize("kind", ["six", "six_scaled"])
def test_target_loss_fits_the_six_lead_squared_error(rng, kind):
    """target_loss: the model fitted on z @ T, T = M^(1/2), mapped back by T^-1."""
    from sparse_events.models import ConvexGatedReLURegressor

    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8)]
    ys = [np.column_stack([np.maximum(x, 0) + 0.5 * x, 3 * np.abs(np.roll(x, 1))]) for x in xs]
    kw = dict(window_s=w / fs, n_patterns=6, alpha=1e-2, tol=1e-6, solver="cd",
              random_state=0)
    model = raw_model(model="gated", target_loss=kind, **kw).fit(xs, ys, sampling_rate=fs)
    X, Y, mu, sd = _hand_windows(xs, ys)
    Z = (Y - mu) / sd
    # the six leads in lead units from the standardized I and II: lead_k = z @ a_k
    six = derive_limb_leads(np.array([1.0, 0.0]), np.array([0.0, 1.0])).to_numpy()  # (2, 6)
    A = six * sd[:, None]
    weights = np.ones(6) if kind == "six" else 1.0 / np.var(Z @ A, axis=0)
    M = (A * weights) @ A.T
    M *= 2 / np.trace(M)
    T = model.target_transform_
    np.testing.assert_allclose(T, T.T, atol=1e-12)
    np.testing.assert_allclose(T @ T, M, rtol=1e-10, atol=1e-12)
    # the loss in the transformed coordinates is the weighted six-lead squared error
    E = rng.standard_normal(Z.shape)
    c = 2 / np.trace((A * weights) @ A.T)
    np.testing.assert_allclose(np.sum((E @ T) ** 2), c * np.sum(weights * (E @ A) ** 2),
                               rtol=1e-10)
    ref = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-2, tol=1e-6, solver="cd",
                                   random_state=0).fit(X, Z @ T)
    np.testing.assert_allclose(model.regressor_.convex_coef_, ref.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in model.predict(xs, sampling_rate=fs)])
    expected = ref.predict(X) @ np.linalg.inv(T) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    # explain_neurons: "lead" names the regressor's output, here a coordinate of z @ T
    items = model.explain_neurons(n_boundary=2)
    assert items
    assert [(it["neuron"], it["lead"], it["second_layer_weight"]) for it in items] == [
        (it["neuron"], ("I", "II")[it["output"]], it["second_layer_weight"])
        for it in ref.explain_neurons(n_boundary=2)]
    # ridge is equivariant under the transform: the same predictions as the two-lead loss
    two = raw_model(model="ridge", window_s=w / fs).fit(xs, ys, sampling_rate=fs)
    mapped = raw_model(model="ridge", window_s=w / fs, target_loss=kind).fit(
        xs, ys, sampling_rate=fs)
    for a, b in zip(two.predict(xs, sampling_rate=fs), mapped.predict(xs, sampling_rate=fs)):
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-8, atol=1e-10)
    # the linear skip is ridge, hence unchanged too: its predictions mapped back by T^-1 are
    # those of the two-lead skip and of a hand-built Ridge; the model fits the mapped residuals
    ridge = Ridge(alpha=0.7).fit(X, Z)
    skip_two = raw_model(model="gated", linear_skip=0.7, **kw).fit(xs, ys, sampling_rate=fs)
    skip_six = raw_model(model="gated", linear_skip=0.7, target_loss=kind, **kw).fit(
        xs, ys, sampling_rate=fs)
    T = skip_six.target_transform_
    inv = np.linalg.inv(T)
    np.testing.assert_allclose(skip_six.skip_.predict(X) @ inv, skip_two.skip_.predict(X),
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(skip_six.skip_.predict(X) @ inv, ridge.predict(X), rtol=1e-8,
                               atol=1e-10)
    resid = ConvexGatedReLURegressor(n_patterns=6, alpha=1e-2, tol=1e-6, solver="cd",
                                     random_state=0).fit(X, (Z - ridge.predict(X)) @ T)
    np.testing.assert_allclose(skip_six.regressor_.convex_coef_, resid.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in skip_six.predict(xs, sampling_rate=fs)])
    expected = (ridge.predict(X) + resid.predict(X) @ inv) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    # with linear_blend: the blend's ridge (on z @ T) mapped back is the two-lead ridge
    blend = raw_model(model="gated", linear_blend=0.4, linear_blend_alpha=0.7, target_loss=kind,
                      **kw).fit(xs, ys, sampling_rate=fs)
    np.testing.assert_allclose(blend.target_transform_, T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(blend.blend_.predict(X) @ inv, ridge.predict(X), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(blend.regressor_.convex_coef_, ref.convex_coef_, rtol=1e-8,
                               atol=1e-10)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in blend.predict(xs, sampling_rate=fs)])
    expected = (0.6 * ref.predict(X) @ inv + 0.4 * ridge.predict(X)) * sd + mu
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    assert raw_model(model="gated", **kw).fit(xs, ys, sampling_rate=fs).target_transform_ is None
    with pytest.raises(ValueError, match="target_loss"):
        raw_model(model="gated", target_loss="four", **kw).fit(xs, ys, sampling_rate=fs)


def test_causal_windows_never_look_ahead(rng):
    fs = 100.0
    x = smooth_source(600, fs, rng)
    leads = nonlinear_leads(x)
    model = SixLeadReconstructor(model="ridge", window="causal", working_rate=None,
                                 band=(0.5, 20.0), normalize="global", window_s=0.1)
    model.fit(x, leads, sampling_rate=fs)
    t = 400
    changed = x.copy()
    changed[t + 1:] += rng.standard_normal(x.size - t - 1)
    a = model.predict(x, sampling_rate=fs).to_numpy()
    b = model.predict(changed, sampling_rate=fs).to_numpy()
    np.testing.assert_array_equal(a[:t + 1], b[:t + 1])
    assert not np.allclose(a[t + 1:], b[t + 1:])


def test_prediction_independent_of_input_rate(rng):
    # the same band-limited lead at 500 Hz and at 250 Hz gives the same leads
    fs = 500.0
    x = smooth_source(5000, fs, rng, cutoff_hz=30)
    leads = nonlinear_leads(x)
    model = SixLeadReconstructor(model="ridge", working_rate=250.0, normalize="global")
    model.fit(x, leads, sampling_rate=fs)
    hi = model.predict(x, sampling_rate=fs)
    lo = model.predict(x[::2], sampling_rate=fs / 2)
    assert len(hi) == x.size and len(lo) == x.size // 2
    middle = slice(500, 2000)  # away from the edges
    diff = hi.to_numpy()[::2][middle] - lo.to_numpy()[middle]
    assert np.abs(diff).max() < 0.02 * np.abs(hi.to_numpy()).max()


@pytest.mark.parametrize("window", ["centred", "causal"])
@pytest.mark.parametrize("fs, working_rate", [(500.0, 250.0), (360.0, 250.0), (250.0, 500.0)])
def test_front_end_matches_scipy_per_lead(rng, fs, working_rate, window):
    # the front end (cached filter and resampling designs, several leads at once) gives
    # exactly scipy's band-pass and resample_poly with its default window, lead by lead
    x = rng.standard_normal((int(3 * fs), 3))
    model = SixLeadReconstructor(working_rate=working_rate, window=window)
    front = model._front_end(fs)
    sos = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos")
    up, down = front.up, front.down
    out = front.to_working(x)
    for k in range(3):
        if window == "causal":
            ref = sps.sosfilt(sos, x[:, k], zi=sps.sosfilt_zi(sos) * x[0, k])[0]
        else:
            ref = sps.sosfiltfilt(sos, x[:, k])
        ref = sps.resample_poly(ref, up, down)
        np.testing.assert_allclose(out[:, k], ref, rtol=0, atol=1e-12)
        back = front.to_input_rate(ref, x.shape[0])
        np.testing.assert_allclose(back, sps.resample_poly(ref, down, up)[:x.shape[0]],
                                   rtol=0, atol=1e-12)
    # a second front end reuses the designs without sharing mutable state
    front.sos[:] = 0.0
    np.testing.assert_array_equal(model._front_end(fs).sos, sos)


@pytest.mark.parametrize("train_step", [1, 3])
def test_training_matrix_holds_the_windows_of_the_training_rows(rng, train_step):
    """The regressor's training matrix (raw windows, the bias column aside) is the
    window of every training row cut from the preprocessed source, for any stride."""
    fs = 250.0
    x = smooth_source(1200, fs, rng, cutoff_hz=30)
    model = SixLeadReconstructor(model="gated", n_components=None, window_s=0.2,
                                 n_patterns=4, train_step=train_step, tol=1e-2,
                                 random_state=0).fit(x, nonlinear_leads(x), sampling_rate=fs)
    n_rows = model.train_time_s_.size
    ref = np.stack([model.training_window(row)[0] for row in range(n_rows)])
    np.testing.assert_array_equal(model.regressor_.X_fit_[:, :-1], ref)
    rows = np.round(model.train_time_s_ * fs).astype(int)
    assert np.all(np.diff(rows) == train_step)


def test_auto_components_whitened_for_convex_models_on_long_windows(rng):
    fs = 250.0
    x = smooth_source(3000, fs, rng, cutoff_hz=30)
    leads = nonlinear_leads(x)
    kw = dict(window_s=0.5, n_patterns=6, alpha=3e-2, tol=1e-6, random_state=0)
    gated = SixLeadReconstructor(model="gated", **kw).fit(x, leads, sampling_rate=fs)
    assert gated.components_.shape == (32, 125)
    # weak directions are divided by at least sqrt(1e-3) times the leading scale
    scale = gated.component_scale_
    assert np.all(scale[1:] <= scale[:-1] + 1e-12) and scale[-1] >= np.sqrt(1e-3) * scale[0]
    # the regressor is our convex gated-ReLU model on the whitened projections
    from sparse_events import ConvexGatedReLURegressor

    X = np.stack([gated.training_window(row)[0] for row in range(gated.train_time_s_.size)])
    _, filtered = gated.filter_leads(leads, sampling_rate=fs)
    rows = np.round(gated.train_time_s_ * fs).astype(int)
    Z = (filtered[["I", "II"]].to_numpy()[rows] - gated.target_mean_) / gated.target_scale_
    inputs = X @ gated.components_.T / scale
    np.testing.assert_allclose(np.mean(inputs[:, :5] ** 2, axis=0), 1.0, rtol=1e-8)
    from sparse_events._threads import one_blas_thread

    with one_blas_thread():  # as inside SixLeadReconstructor.fit (BLAS rounding)
        ref = ConvexGatedReLURegressor(n_patterns=6, alpha=3e-2, tol=1e-6, solver="fista",
                                       max_iter=3000, random_state=0,
                                       precision="float32").fit(inputs, Z)
    np.testing.assert_allclose(gated.regressor_.convex_coef_, ref.convex_coef_, atol=1e-10)
    # ridge, regressor objects and short windows keep the raw window by default
    ridge = SixLeadReconstructor(model="ridge").fit(x, leads, sampling_rate=fs)
    short = SixLeadReconstructor(model="gated", window_s=0.1, **{
        k: v for k, v in kw.items() if k != "window_s"}).fit(x, leads, sampling_rate=fs)
    assert ridge.components_ is None and short.components_ is None
    raw = SixLeadReconstructor(model="gated", n_components=None, **kw).fit(
        x, leads, sampling_rate=fs)
    assert raw.components_ is None and raw.regressor_.n_features_in_ == 125
    with pytest.raises(ValueError, match="n_components must be one of"):
        SixLeadReconstructor(n_components="all").fit(x, leads, sampling_rate=fs)
    with pytest.raises(TypeError, match="whiten must be True or False"):
        SixLeadReconstructor(whiten="yes").fit(x, leads, sampling_rate=fs)


def test_explain_neurons_points_to_activating_training_windows(rng):
    fs = 100.0
    x = smooth_source(500, fs, rng)
    leads = nonlinear_leads(x)
    model = raw_model(model="gated", window_s=0.05, n_patterns=6, alpha=1e-3, random_state=0)
    model.fit(x, leads, sampling_rate=fs)
    expl = model.explain_neurons(n_boundary=3)
    assert len(expl) == model.n_neurons_ > 0
    gates = model.regressor_.gates_
    for item in expl:
        assert item["lead"] in ("I", "II")
        gate = gates[:, item["pattern"]]
        active = set(item["active"]["row"])
        # recompute the activation from the windows themselves
        for row in range(model.train_recording_.size):
            window, rec, time_s = model.training_window(row)
            assert rec == 0
            on = window @ gate[:-1] + gate[-1] >= 0
            assert on == (row in active)
            assert time_s == pytest.approx(model.train_time_s_[row])
        dist = item["boundary"]["distance"].to_numpy()
        assert len(dist) == 3 and np.all(np.diff(dist) >= 0)
    ridge = raw_model(model="ridge", window_s=0.05).fit(x, leads, sampling_rate=fs)
    with pytest.raises(TypeError, match="convex ReLU model"):
        ridge.explain_neurons()


@pytest.mark.parametrize("n_components", [4, None])
def test_explain_neurons_default_n_boundary_is_the_regressor_input_size(rng, n_components):
    """Documented default of n_boundary: one boundary window per input feature of the
    regressor (the principal directions with a projection, else the window samples)."""
    fs = 100.0
    x = smooth_source(500, fs, rng)
    model = raw_model(model="gated", window_s=0.1, n_patterns=6, alpha=1e-3, random_state=0,
                      n_components=n_components).fit(x, nonlinear_leads(x), sampling_rate=fs)
    expected = model.window_samples_ if n_components is None else model.components_.shape[0]
    assert expected == model.regressor_.n_features_in_ < model.train_recording_.size
    expl = model.explain_neurons()
    assert expl and all(len(item["boundary"]) == expected for item in expl)
    doc = " ".join(type(model).explain_neurons.__doc__.replace("`", "").split())
    assert "components_ with a projection" in doc and "else the window length" in doc


def test_personalized_protocol_on_ludb_record():
    """LUDB record 1 (excerpt): fit on the first 7 s of V2, score the last 3 s."""
    df, fs = load_ludb_excerpt()
    n_train = int(7 * fs)
    src = df["v2"].to_numpy()
    train_leads = df[["i", "ii"]].iloc[:n_train]
    gated = SixLeadReconstructor(model="gated", random_state=0).fit(src[:n_train], train_leads, sampling_rate=fs)
    ridge = SixLeadReconstructor(model="ridge").fit(src[:n_train], train_leads, sampling_rate=fs)
    ours = gated.evaluate(src, df, sampling_rate=fs, start_s=7.0)
    lin = ridge.evaluate(src, df, sampling_rate=fs, start_s=7.0)
    assert (ours["r"] > lin["r"]).all(), (ours, lin)
    # derived reference = filtered recorded I and II through Einthoven/Goldberger
    sos = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos")
    i_f, ii_f = sps.sosfiltfilt(sos, df["i"]), sps.sosfiltfilt(sos, df["ii"])
    pred = gated.predict(src, sampling_rate=fs)
    tail = slice(n_train, None)
    r_iii = np.corrcoef(pred["III"][tail], (ii_f - i_f)[tail])[0, 1]
    assert ours.loc["III", "r"] == pytest.approx(r_iii, rel=1e-9)
    r_rec = np.corrcoef(pred["III"][tail], sps.sosfiltfilt(sos, df["iii"])[tail])[0, 1]
    assert ours.loc["III", "r_recorded"] == pytest.approx(r_rec, rel=1e-9)
    # recorded limb leads present for all six; RMSE in mV
    assert ours["r_recorded"].notna().all()
    rmse_i = np.sqrt(np.mean((pred["I"][tail] - i_f[tail]) ** 2))
    assert ours.loc["I", "rmse"] == pytest.approx(rmse_i, rel=1e-9)


# ------------------------------------------------------------------ bad input
@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    return x, {"I": np.tanh(x), "II": x ** 2}


def test_bad_input_lengths_and_rates(small):
    x, leads = small
    model = SixLeadReconstructor(model="ridge")
    with pytest.raises(ValueError, match="source has 1000 samples .* leads I and II have 500"):
        model.fit(x, {k: v[:500] for k, v in leads.items()}, sampling_rate=500)
    with pytest.raises(ValueError, match="same rate.*leads_sampling_rate=250"):
        model.fit(x, leads, sampling_rate=500, leads_sampling_rate=250)
    with pytest.raises(ValueError, match="sampling_rate is required"):
        model.fit(x, leads, sampling_rate=None)
    with pytest.raises(TypeError):
        model.fit(x, leads)  # sampling_rate is keyword-only and required
    with pytest.raises(ValueError, match="leads I and II have different lengths"):
        model.fit(x, {"I": leads["I"], "II": leads["II"][:-1]}, sampling_rate=500)


def test_bad_input_shorter_than_one_window(small):
    x, leads = small
    model = SixLeadReconstructor(model="ridge", window_s=0.5)
    with pytest.raises(ValueError, match="shorter than one window: 200 samples"):
        model.fit(x[:200], {k: v[:200] for k, v in leads.items()}, sampling_rate=500)
    model.fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match="source is shorter than one window"):
        model.predict(x[:100], sampling_rate=500)


@pytest.mark.parametrize("params, fs", [(dict(filter_order=10), 90.0),
                                        (dict(window_s=0.02), 500.0)])
def test_bad_input_shorter_than_the_zero_phase_filter_padding(small, params, fs):
    """An input that holds one window but is too short for sosfiltfilt's padding: a
    ValueError naming the argument and scipy's limit (scipy's own message named neither);
    causal windows (forward filter, no padding) accept it."""
    x, leads = small
    order = params.get("filter_order", 2)
    need = sosfiltfilt_min_length(
        sps.butter(order, (0.5, 40.0), btype="bandpass", fs=fs, output="sos"))
    model = SixLeadReconstructor(model="ridge", **params).fit(x, leads, sampling_rate=500)
    short = x[:need - 1]
    assert short.size >= int(np.ceil(model.window_samples_ * fs / model.working_rate_))
    with pytest.raises(ValueError, match=rf"^source is too short.* at least {need} samples"):
        model.predict(short, sampling_rate=fs)
    with pytest.raises(ValueError, match=rf"^source\[1\] is too short.* at least {need}"):
        model.predict([x, short], sampling_rate=fs)
    assert model.predict(x[:need], sampling_rate=fs).shape == (need, 6)
    with pytest.raises(ValueError, match=rf"^leads is too short.* at least {need} samples"):
        model.filter_leads({k: v[:need - 1] for k, v in leads.items()}, sampling_rate=fs)
    if fs == 500.0:   # in fit: a short recording of a population
        with pytest.raises(ValueError, match=rf"^source\[1\] is too short.* at least {need}"):
            SixLeadReconstructor(model="ridge", **params).fit(
                [x, short], [leads, {k: v[:need - 1] for k, v in leads.items()}],
                sampling_rate=fs)
    causal = SixLeadReconstructor(model="ridge", window="causal", **params).fit(
        x, leads, sampling_rate=500)
    assert causal.predict(short, sampling_rate=fs).shape == (short.size, 6)


def test_bad_input_missing_leads_and_shapes(small):
    x, leads = small
    model = SixLeadReconstructor(model="ridge")
    with pytest.raises(ValueError, match="missing lead 'II'.*got \\['I', 'V2'\\]"):
        model.fit(x, {"I": leads["I"], "V2": x}, sampling_rate=500)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        model.fit(x, np.column_stack([x, x, x]), sampling_rate=500)
    with pytest.raises(ValueError, match="source must be a 1-D array"):
        model.fit(np.column_stack([x, x]), leads, sampling_rate=500)
    with pytest.raises(ValueError, match="source has 2 recordings but leads has 1"):
        model.fit([x, x], [leads], sampling_rate=500)
    with pytest.raises(ValueError, match=r"source\[1\] is flat"):
        model.fit([x, np.full_like(x, 2.0)], [leads, leads], sampling_rate=500)
    # predict refuses a flat source as fit does (it returned ~1e-4 everywhere before)
    fitted = SixLeadReconstructor(model="ridge").fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match=r"^source is flat"):
        fitted.predict(np.full_like(x, 2.0), sampling_rate=500)
    with pytest.raises(ValueError, match=r"source\[1\] is flat"):
        fitted.predict([x, np.zeros_like(x)], sampling_rate=500)
    assert np.array_equal(fitted.predict([x], sampling_rate=500)[0].to_numpy(),
                          fitted.predict(x, sampling_rate=500).to_numpy())
    with pytest.raises(ValueError, match=r"source\[1\] must contain only finite"):
        bad = x.copy()
        bad[3] = np.nan
        model.fit([x, bad], [leads, leads], sampling_rate=500)
    # lower-case names (LUDB, PTB) are matched
    model.fit(x, {"i": leads["I"], "ii": leads["II"]}, sampling_rate=500)
    with pytest.raises(ValueError, match="missing lead 'I'"):
        model.filter_leads({"II": x}, sampling_rate=500)


def test_bad_parameters(small):
    x, leads = small
    with pytest.raises(ValueError, match="model must be one of"):
        SixLeadReconstructor(model="lstm").fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match="window must be one of"):
        SixLeadReconstructor(model="ridge", window="left").fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match="band upper edge 200.0 Hz must be below"):
        SixLeadReconstructor(model="ridge", band=(0.5, 200)).fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match="n_patterns must be >= 1"):
        SixLeadReconstructor(n_patterns=0).fit(x, leads, sampling_rate=500)
    with pytest.raises(ValueError, match="precision must be one of"):
        SixLeadReconstructor(precision="half").fit(x, leads, sampling_rate=500)
    with pytest.raises(NotFittedError):
        SixLeadReconstructor().predict(x, sampling_rate=500)


def test_sklearn_params_and_regressor_objects(small):
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression

    x, leads = small
    model = SixLeadReconstructor(model=LinearRegression(), window_s=0.02, working_rate=None)
    copy = clone(model).set_params(window="causal")
    assert copy.get_params()["window"] == "causal" and model.window == "centred"
    model.fit(x, leads, sampling_rate=500)
    # the regressor object passed in is cloned, never fitted in place
    assert not hasattr(model.model, "coef_") and hasattr(model.regressor_, "coef_")
    assert model.n_neurons_ is None
    with pytest.raises(TypeError, match="regressor with fit/predict"):
        SixLeadReconstructor(model=object()).fit(x, leads, sampling_rate=500)


# ------------------------------------------------------------------ n_estimators
def _ensemble_data(rng):
    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8)]
    ys = [np.column_stack([np.maximum(x, 0) + 0.5 * x, np.abs(np.roll(x, 1))]) for x in xs]
    kw = dict(window_s=w / fs, n_patterns=6, alpha=1e-3, tol=1e-6, solver="cd")
    return fs, xs, ys, kw


@pytest.mark.parametrize("extra", [
    {}, dict(linear_blend=0.3, linear_skip=0.5, target_loss="six"),
    dict(n_components=3, model="relu")])
def test_ensemble_is_the_mean_of_its_members(rng, extra):
    """n_estimators=3: the mean of single fits with random_state 5, 6, 7, and its members."""
    fs, xs, ys, kw = _ensemble_data(rng)
    extra = dict(extra)
    model_name = extra.pop("model", "gated")
    ens = raw_model(model=model_name, random_state=5, n_estimators=3, **kw, **extra).fit(
        xs, ys, sampling_rate=fs)
    singles = [raw_model(model=model_name, random_state=5 + k, **kw, **extra).fit(
        xs, ys, sampling_rate=fs) for k in range(3)]
    assert len(ens.regressors_) == 3 and ens.regressor_ is ens.regressors_[0]
    for member, single in zip(ens.regressors_, singles):
        np.testing.assert_allclose(member.convex_coef_, single.regressor_.convex_coef_,
                                   rtol=1e-12, atol=1e-14)
        # a single model (n_estimators=1) is its own only member
        assert single.regressors_ == [single.regressor_]
        assert single.n_neurons_ == single.regressor_.n_active_neurons_
    # the members share one read-only copy of the training windows, equal to a single fit's
    shared = ens.regressors_[0].X_fit_
    assert all(m.X_fit_ is shared for m in ens.regressors_) and not shared.flags.writeable
    assert np.array_equal(shared, singles[1].regressor_.X_fit_)
    # members differ (other gates), so the ensemble is not any one of them
    assert not np.array_equal(ens.regressors_[0].gates_, ens.regressors_[1].gates_)
    assert ens.n_neurons_ == sum(s.n_neurons_ for s in singles)
    got = ens.predict(xs, sampling_rate=fs)
    for k, pred in enumerate(got):
        members = [s.predict(xs[k], sampling_rate=fs) for s in singles]
        expected = np.mean([m.to_numpy() for m in members], axis=0)
        np.testing.assert_allclose(pred.to_numpy(), expected, rtol=1e-10, atol=1e-12)
        assert not np.allclose(pred.to_numpy(), members[0].to_numpy(), atol=1e-6)
        # Einthoven and Goldberger hold exactly on the ensemble's output
        one, two = pred["I"].to_numpy(), pred["II"].to_numpy()
        assert np.array_equal(pred["III"].to_numpy(), two - one)
        assert np.array_equal(pred["aVR"].to_numpy(), -(one + two) / 2)
        assert np.array_equal(pred["aVL"].to_numpy(), one - two / 2)
        assert np.array_equal(pred["aVF"].to_numpy(), two - one / 2)
    # explanations: every active neuron of every member, tagged with its member
    items = ens.explain_neurons(n_boundary=2)
    assert len(items) == ens.n_neurons_
    for k, single in enumerate(singles):
        mine = [(it["neuron"], it["lead"], it["second_layer_weight"]) for it in items
                if it["member"] == k]
        ref = [(it["neuron"], it["lead"], it["second_layer_weight"])
               for it in single.explain_neurons(n_boundary=2)]
        assert [m[:2] for m in mine] == [r[:2] for r in ref]
        np.testing.assert_allclose([m[2] for m in mine], [r[2] for r in ref], rtol=1e-10)


def test_ensemble_is_deterministic_with_random_state(rng):
    fs, xs, ys, kw = _ensemble_data(rng)
    preds = []
    for seed in (11, 11, np.random.default_rng(3), np.random.default_rng(3)):
        m = raw_model(model="gated", random_state=seed, n_estimators=3, **kw).fit(
            xs, ys, sampling_rate=fs)
        preds.append(np.concatenate([p.to_numpy() for p in m.predict(xs, sampling_rate=fs)]))
    assert np.array_equal(preds[0], preds[1]) and np.array_equal(preds[2], preds[3])
    assert not np.array_equal(preds[0], preds[2])
    # a Generator seeds the members with the integers it draws
    seeds = np.random.default_rng(3).integers(0, 2**31 - 1, size=3)
    ref = raw_model(model="gated", random_state=int(seeds[0]), **kw).fit(xs, ys, sampling_rate=fs)
    m = raw_model(model="gated", random_state=np.random.default_rng(3), n_estimators=3,
                  **kw).fit(xs, ys, sampling_rate=fs)
    np.testing.assert_allclose(m.regressors_[0].convex_coef_, ref.regressor_.convex_coef_,
                               rtol=1e-12, atol=1e-14)


def test_ensemble_seeds_legacy_random_state_and_none(rng):
    fs, xs, ys, kw = _ensemble_data(rng)
    # two equally seeded legacy RandomState objects give the same ensemble
    preds = []
    for _ in range(2):
        m = raw_model(model="gated", random_state=np.random.RandomState(1), n_estimators=3,
                      **kw).fit(xs, ys, sampling_rate=fs)
        preds.append(np.concatenate([p.to_numpy() for p in m.predict(xs, sampling_rate=fs)]))
    assert np.array_equal(preds[0], preds[1])
    # random_state=None: unseeded members, each with its own gates
    m = raw_model(model="gated", random_state=None, n_estimators=3, **kw).fit(
        xs, ys, sampling_rate=fs)
    gates = [member.gates_ for member in m.regressors_]
    assert all(not np.array_equal(gates[i], gates[j])
               for i in range(3) for j in range(i + 1, 3))


def test_n_estimators_bad_values(rng):
    fs, xs, ys, kw = _ensemble_data(rng)
    with pytest.raises(ValueError, match="n_estimators"):
        raw_model(model="gated", n_estimators=0, **kw).fit(xs, ys, sampling_rate=fs)
    with pytest.raises(ValueError, match="n_estimators > 1"):
        raw_model(model="ridge", window_s=kw["window_s"], n_estimators=2).fit(
            xs, ys, sampling_rate=fs)
    # n_estimators=1 stays allowed with ridge (the single model)
    raw_model(model="ridge", window_s=kw["window_s"], n_estimators=1).fit(xs, ys,
                                                                            sampling_rate=fs)


# ------------------------------------------------------------------ target_normalize
@pytest.mark.parametrize("extra", [{}, dict(linear_blend=0.4, linear_blend_alpha=0.7),
                                   dict(linear_skip=0.7), dict(target_loss="six"),
                                   dict(target_loss="six_scaled"), dict(n_estimators=2),
                                   dict(n_components=3)])
def test_target_normalize_divides_each_recording_by_its_amplitude(rng, extra):
    """target_normalize="recording": the fit of leads rescaled by hand, recording by recording."""
    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8),
          smooth_source(280, fs, rng, cutoff_hz=8)]
    gains = (1.0, 3.0, 0.2)  # subjects with other amplitudes of I and II
    ys = [g * np.column_stack([np.maximum(x, 0) + 0.5 * x, np.abs(np.roll(x, 1)) - 0.2])
          for g, x in zip(gains, xs)]
    # a tight tolerance: the two fits see targets equal up to rounding only
    kw = dict(window_s=w / fs, n_patterns=6, alpha=1e-3, tol=1e-12, solver="cd",
              random_state=0, **extra)
    model = raw_model(model="gated", target_normalize="recording", **kw).fit(
        xs, ys, sampling_rate=fs)
    # hand-computed amplitudes: root mean square over both leads of each (unfiltered) recording,
    # and their quadratic mean, the output scale
    amp = np.array([np.sqrt(np.mean(y ** 2)) for y in ys])
    common = np.sqrt(np.mean(amp ** 2))
    np.testing.assert_allclose(model.target_amplitudes_, amp, rtol=1e-12)
    np.testing.assert_allclose(model.target_amplitude_, common, rtol=1e-12)
    # the same as the plain model fitted on the leads divided by hand
    scaled = [y * common / a for y, a in zip(ys, amp)]
    ref = raw_model(model="gated", **kw).fit(xs, scaled, sampling_rate=fs)
    assert ref.target_amplitudes_ is None and ref.target_amplitude_ is None
    np.testing.assert_allclose(model.target_mean_, ref.target_mean_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.target_scale_, ref.target_scale_, rtol=1e-10)
    for m, r in zip(getattr(model, "regressors_", [model.regressor_]),
                    getattr(ref, "regressors_", [ref.regressor_])):
        np.testing.assert_allclose(m.convex_coef_, r.convex_coef_, rtol=1e-8, atol=1e-10)
    got = model.predict(xs, sampling_rate=fs)
    for a, b in zip(got, ref.predict(xs, sampling_rate=fs)):
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-8, atol=1e-10)
        # III = II - I and Goldberger's leads hold exactly on the output
        assert np.array_equal(a["III"].to_numpy(), a["II"].to_numpy() - a["I"].to_numpy())
    # other amplitudes per recording: the same shapes, only the output scale follows them
    other = [g * y for g, y in zip((0.5, 4.0, 1.0), ys)]
    again = raw_model(model="gated", target_normalize="recording", **kw).fit(
        xs, other, sampling_rate=fs)
    ratio = again.target_amplitude_ / common
    for a, b in zip(again.predict(xs, sampling_rate=fs), got):
        np.testing.assert_allclose(a.to_numpy(), ratio * b.to_numpy(), rtol=1e-8, atol=1e-10)


def test_target_normalize_ridge_and_bad_values(rng):
    fs, w = 50.0, 5
    xs = [smooth_source(300, fs, rng, cutoff_hz=8), smooth_source(250, fs, rng, cutoff_hz=8)]
    ys = [g * np.column_stack([x, np.roll(x, 2)]) for g, x in zip((1.0, 5.0), xs)]
    amp = np.array([np.sqrt(np.mean(y ** 2)) for y in ys])
    common = np.sqrt(np.mean(amp ** 2))
    X, Y, mu, sd = _hand_windows(xs, [y * common / a for y, a in zip(ys, amp)])
    ridge = Ridge(alpha=0.7).fit(X, (Y - mu) / sd)
    model = raw_model(model="ridge", alpha=0.7, window_s=w / fs,
                      target_normalize="recording").fit(xs, ys, sampling_rate=fs)
    got = np.concatenate([p[["I", "II"]].to_numpy()[2:-2]
                          for p in model.predict(xs, sampling_rate=fs)])
    np.testing.assert_allclose(got, ridge.predict(X) * sd + mu, rtol=1e-8, atol=1e-10)
    for bad in ("subject", "global", 1):
        with pytest.raises(ValueError, match="target_normalize"):
            raw_model(model="ridge", window_s=w / fs, target_normalize=bad).fit(
                xs, ys, sampling_rate=fs)


@pytest.mark.parametrize("extra", [dict(model="ridge", alpha=0.5),
                                   dict(model="gated", n_patterns=6, alpha=1e-3, tol=1e-12,
                                        solver="cd", random_state=0, linear_blend=0.3)])
def test_target_normalize_amplitude_of_the_band_passed_leads(rng, extra):
    """The amplitudes are those of the preprocessed leads (default 0.5-40 Hz band-pass), not
    of the raw ones: a DC offset and per-recording gains on I and II change the raw root mean
    square but not the band-passed one beyond the gain."""
    fs = 100.0
    xs = [smooth_source(n, fs, rng, cutoff_hz=20) for n in (600, 500, 550)]
    gains, offsets = (1.0, 4.0, 0.3), (2.0, -8.0, 0.7)  # per recording, on I and II
    ys = [g * np.column_stack([np.maximum(x, 0) + 0.5 * x, np.abs(np.roll(x, 1)) - 0.2]) + o
          for g, o, x in zip(gains, offsets, xs)]
    # default band-pass and window, no resampling (working_rate=None): the preprocessed leads
    # are the zero-phase Butterworth band-pass of the leads, by scipy
    kw = dict(working_rate=None, normalize=None, window_s=0.1, **extra)
    defaults = SixLeadReconstructor().get_params()
    sos = sps.butter(defaults["filter_order"], defaults["band"], btype="bandpass", fs=fs,
                     output="sos")
    amp = np.array([np.sqrt(np.mean(sps.sosfiltfilt(sos, y, axis=0) ** 2)) for y in ys])
    raw_amp = np.array([np.sqrt(np.mean(y ** 2)) for y in ys])
    assert np.all(np.abs(raw_amp / amp - 1) > 0.1)  # the offsets matter on the raw leads
    common = np.sqrt(np.mean(amp ** 2))
    model = SixLeadReconstructor(target_normalize="recording", **kw).fit(
        xs, ys, sampling_rate=fs)
    np.testing.assert_allclose(model.target_amplitudes_, amp, rtol=1e-10)
    np.testing.assert_allclose(model.target_amplitude_, common, rtol=1e-10)
    # the band-pass is linear: the plain model on the leads scaled by hand fits the same
    ref = SixLeadReconstructor(**kw).fit(xs, [y * common / a for y, a in zip(ys, amp)],
                                         sampling_rate=fs)
    np.testing.assert_allclose(model.target_mean_, ref.target_mean_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.target_scale_, ref.target_scale_, rtol=1e-8)
    for a, b in zip(model.predict(xs, sampling_rate=fs), ref.predict(xs, sampling_rate=fs)):
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7, atol=1e-9)


def test_target_normalize_flat_leads_raise(rng):
    """Flat reference leads (constant, or exactly zero) cannot be normalized: a clear error
    naming the recording, not an amplitude of rounding noise blown up to the common scale."""
    fs = 100.0
    xs = [smooth_source(500, fs, rng, cutoff_hz=20) for _ in range(2)]
    good = np.column_stack([xs[0], np.roll(xs[0], 3)])
    const = np.full((500, 2), 0.5)  # I = II = 0.5 mV: ~1e-14 left after the band-pass
    for flat, band in ((const, (0.5, 40.0)), (np.zeros((500, 2)), (0.5, 40.0)),
                       (np.zeros((500, 2)), None)):
        model = SixLeadReconstructor(model="ridge", working_rate=None, band=band,
                                     target_normalize="recording")
        with pytest.raises(ValueError, match=r"leads I and II are flat"):
            model.fit(xs[1], flat, sampling_rate=fs)
        with pytest.raises(ValueError, match=r"leads\[1\] I and II are flat"):
            model.fit(xs, [good, flat], sampling_rate=fs)
        # without target_normalize the same leads fit as before (no amplitude is needed)
        SixLeadReconstructor(model="ridge", working_rate=None, band=band).fit(
            xs, [good, flat], sampling_rate=fs)
    # one flat lead of the two is not flat jointly
    one = np.column_stack([np.full(500, 0.5), xs[1]])
    SixLeadReconstructor(model="ridge", working_rate=None, target_normalize="recording").fit(
        xs, [good, one], sampling_rate=fs)


def test_fit_is_the_same_whatever_the_blas_thread_count():
    """The regressors' products run on one BLAS thread inside ``fit`` (small products:
    extra threads only spin, and multi-threaded BLAS reductions round differently), so
    the caller's BLAS thread count does not change the model (LUDB excerpt, V5 -> I, II;
    reference: the same fit under a one-thread limit)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    frame, fs = load_ludb_excerpt()
    n_train = int(7 * fs)
    preds = {}
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            model = SixLeadReconstructor(random_state=0).fit(
                frame["v5"].to_numpy()[:n_train], frame[["i", "ii"]].to_numpy()[:n_train],
                sampling_rate=fs)
        preds[threads] = model.predict(frame["v5"].to_numpy(), sampling_rate=fs).to_numpy()
    np.testing.assert_array_equal(preds[2], preds[1])
