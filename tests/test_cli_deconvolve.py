"""``sparse-events deconvolve``: events CSV equals the library's solution; bad input."""

import numpy as np
import pandas as pd
import pytest

from sparse_events import alpha_max, cross_products_deconvolve, deconvolve, refractory_window
from sparse_events.cli import main
from sparse_events.datasets import make_random_spike_train


@pytest.fixture
def files(tmp_path):
    st = make_random_spike_train(3000, snr_db=20, random_state=3)
    y = tmp_path / "y.csv"
    pd.DataFrame({"time": np.arange(st.signal.size), "signal": st.signal}).to_csv(y, index=False)
    h = tmp_path / "h.npy"
    np.save(h, st.kernel)
    return st, y, h


def _coef_from_csv(path, n, n_kernels=None):
    t = pd.read_csv(path)
    coef = np.zeros(n) if n_kernels is None else np.zeros((n_kernels, n))
    if n_kernels is None:
        coef[t["sample"].to_numpy()] = t["amplitude"].to_numpy()
    else:
        coef[t["kernel"].to_numpy(), t["sample"].to_numpy()] = t["amplitude"].to_numpy()
    return coef, t


def test_cross_products_events_equal_library(files, tmp_path):
    st, y, h = files
    out = tmp_path / "ev.csv"
    assert main(["deconvolve", str(y), "--kernel", str(h), "--channel", "signal",
                 "--out", str(out), "--alpha-ratio", "0.05", "--refractory-samples", "30",
                 "--strength", "10", "--debias", "--sampling-rate", "250"]) == 0
    amax = alpha_max(st.signal, st.kernel)
    alpha = 0.05 * amax
    g = refractory_window(30, 10.0 * np.sum(st.kernel ** 2) / amax)
    ref = cross_products_deconvolve(st.signal, st.kernel, beta=1 / (2 * alpha), g=g,
                                    debias=True)
    coef, table = _coef_from_csv(out, st.signal.size)
    assert list(table.columns) == ["sample", "time_s", "amplitude", "amplitude_debiased"]
    # the CSV round trip of the signal may change the last bit of a sample
    np.testing.assert_array_equal(coef != 0, ref.coef != 0)
    np.testing.assert_allclose(coef, ref.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["amplitude_debiased"],
                               ref.coef_debiased[table["sample"]], rtol=1e-9)
    np.testing.assert_allclose(table["time_s"], table["sample"] / 250.0)
    assert np.all(np.diff(table["sample"]) > 30)  # refractory period respected


def test_without_refractory_is_the_lasso(files, tmp_path):
    st, y, h = files
    out = tmp_path / "ev.csv"
    assert main(["deconvolve", str(y), "--kernel", str(h), "--channel", "1", "--out", str(out),
                 "--alpha-ratio", "0.1", "--tol", "1e-8"]) == 0
    ref = deconvolve(st.signal, st.kernel, 0.1 * alpha_max(st.signal, st.kernel), tol=1e-10)
    coef, _ = _coef_from_csv(out, st.signal.size)
    np.testing.assert_array_equal(coef != 0, ref.coef != 0)
    np.testing.assert_allclose(coef, ref.coef, atol=1e-6 * np.abs(ref.coef).max())


def test_strength_is_scale_free(files, tmp_path):
    st, y, h = files
    y100 = tmp_path / "y100.npy"
    np.save(y100, 100.0 * st.signal)
    args = ["--kernel", str(h), "--alpha-ratio", "0.05", "--refractory-samples", "30"]
    assert main(["deconvolve", str(y), "--channel", "signal", "--out", str(tmp_path / "a.csv"),
                 *args]) == 0
    assert main(["deconvolve", str(y100), "--out", str(tmp_path / "b.csv"), *args]) == 0
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    np.testing.assert_array_equal(a["sample"], b["sample"])
    np.testing.assert_allclose(100 * a["amplitude"], b["amplitude"], rtol=1e-4)


@pytest.mark.parametrize("layout", ["csv", "npy"])
def test_dictionary_kernel_file_layouts(tmp_path, rng, layout):
    """A CSV dictionary has one kernel per column, a .npy one (n_kernels, length): the same
    dictionary either way."""
    n = 1500
    kernels = np.stack([np.hanning(10), -np.sin(np.linspace(0, np.pi, 10)) * np.arange(10) / 9])
    coef = np.zeros((2, n))
    coef[0, 100::300] = 1.0
    coef[1, 250::300] = 0.8
    y = sum(np.convolve(coef[p], kernels[p])[:n] for p in range(2))
    y = y + 0.01 * rng.standard_normal(n)
    np.save(tmp_path / "y.npy", y)
    if layout == "csv":
        pd.DataFrame(kernels.T, columns=["a", "b"]).to_csv(tmp_path / "k.csv", index=False)
    else:
        np.save(tmp_path / "k.npy", kernels)
    out = tmp_path / "ev.csv"
    assert main(["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / f"k.{layout}"),
                 "--out", str(out), "--refractory-samples", "50", "--positive",
                 "--plot", str(tmp_path / "p.png")]) == 0
    amax = alpha_max(y, kernels, positive=True)
    g = refractory_window(50, np.max(np.sum(kernels ** 2, axis=1)) / amax)
    ref = cross_products_deconvolve(y, kernels, beta=1 / (2 * 0.1 * amax), g=g, positive=True)
    got, table = _coef_from_csv(out, n, n_kernels=2)
    assert list(table.columns) == ["sample", "kernel", "amplitude"]
    np.testing.assert_array_equal(got != 0, ref.coef != 0)
    np.testing.assert_allclose(got, ref.coef, rtol=1e-12)
    assert (tmp_path / "p.png").stat().st_size > 0


@pytest.mark.parametrize("args, fragment", [
    (["{y}", "--kernel", "{tmp}/none.npy"], "none.npy: file not found"),
    (["{y}", "--kernel", "{long}"], "longer than the signal"),
    (["{nan}", "--kernel", "{h}"], "non-numeric or missing"),
    (["{y}", "--kernel", "{h}", "--refractory-s", "0.1"], "--sampling-rate"),
    (["{y}", "--kernel", "{h}", "--channel", "5"], "out of range"),
    (["{y}", "--kernel", "{h}", "--alpha-ratio", "1.5"], "--alpha-ratio"),
    (["{y}", "--kernel", "{h}", "--refractory-samples", "5000"], "g"),
    (["{y}", "--kernel", "{tmp}/k.json"], "expected a .csv"),
    (["{zeros}", "--kernel", "{h}"], "alpha_max is 0"),
])
def test_bad_input_one_line(files, tmp_path, capsys, args, fragment):
    st, y, h = files
    long = tmp_path / "long.npy"
    np.save(long, np.ones(5000))
    nan = tmp_path / "nan.csv"
    nan.write_text("y\n1.0\n2.0\nnan\n")
    zeros = tmp_path / "zeros.npy"
    np.save(zeros, np.zeros(100))
    (tmp_path / "k.json").write_text("[1, 2]")
    fmt = dict(y=y, h=h, tmp=tmp_path, long=long, nan=nan, zeros=zeros)
    argv = ["deconvolve", *[a.format(**fmt) for a in args], "--out", str(tmp_path / "o.csv")]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err


def _events_at_onsets(n, kernels, onsets, amplitudes):
    """The signal of events starting at known signal samples (negative: before the signal),
    built with numpy.convolve in signal coordinates, independently of the operators."""
    kernels = np.atleast_2d(kernels)
    pad = kernels.shape[1]
    y = np.zeros(n)
    for p, t, a in zip(*np.broadcast_arrays(np.arange(len(onsets)) % kernels.shape[0],
                                            onsets, amplitudes)):
        z = np.zeros(n + pad)
        z[pad + t] = a
        y += np.convolve(z, kernels[p])[pad:pad + n]
    return y


@pytest.mark.parametrize("mode", ["causal", "full", "same", "valid"])
def test_sample_is_the_event_onset_in_every_mode(tmp_path, mode):
    h = np.array([1.0, 3, 5, 7, 9, 7, 5, 3, 1])
    n, fs = 300, 100.0
    onsets = [60, 100, 231]
    if mode in ("same", "valid"):  # an event starting before the signal, its tail seen
        onsets = [-(len(h) - 1) // 2] + onsets
    amplitudes = np.linspace(1.0, 2.0, len(onsets))
    y = _events_at_onsets(n, h, onsets, amplitudes)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)
    out = tmp_path / "ev.csv"
    assert main(["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / "h.npy"),
                 "--out", str(out), "--sampling-rate", str(fs), "--alpha-ratio", "0.001",
                 "--tol", "1e-10", "--mode", mode]) == 0
    t = pd.read_csv(out)
    big = t.loc[t["amplitude"].abs() > 0.5].sort_values("sample")
    np.testing.assert_array_equal(big["sample"], onsets)
    # amplitudes of the events seen whole (an event cut by the start is less identifiable)
    whole = np.asarray(onsets) >= 0
    np.testing.assert_allclose(big["amplitude"].to_numpy()[whole], amplitudes[whole],
                               rtol=0.02)
    np.testing.assert_allclose(t["time_s"], t["sample"] / fs)


@pytest.mark.parametrize("mode", ["causal", "same", "valid"])
def test_dictionary_sample_is_the_event_onset(tmp_path, mode):
    kernels = np.stack([np.hanning(12), np.sin(np.linspace(0, 2 * np.pi, 12))])
    onsets, amplitudes = [40, 150, 300, 420], [1.0, 1.5, 0.8, 1.2]
    y = _events_at_onsets(500, kernels, onsets, amplitudes)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "k.npy", kernels)
    out = tmp_path / "ev.csv"
    assert main(["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / "k.npy"),
                 "--out", str(out), "--alpha-ratio", "0.001", "--tol", "1e-10",
                 "--mode", mode]) == 0
    t = pd.read_csv(out)
    big = t.loc[t["amplitude"].abs() > 0.4].sort_values("sample")
    np.testing.assert_array_equal(big["sample"], onsets)
    np.testing.assert_array_equal(big["kernel"], [0, 1, 0, 1])


def test_plot_draws_events_at_their_onsets(tmp_path, monkeypatch):
    import sparse_events.plotting

    drawn = []
    real = sparse_events.plotting.plot_deconvolution

    def spy(signal, coef, *args, **kwargs):
        drawn.append(np.asarray(coef))
        return real(signal, coef, *args, **kwargs)

    monkeypatch.setattr(sparse_events.plotting, "plot_deconvolution", spy)
    h = np.array([1.0, 3, 5, 7, 9, 7, 5, 3, 1])
    onsets = [60, 100, 231]
    y = _events_at_onsets(300, h, onsets, [1.0, 1.5, 2.0])
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)
    for mode in ("causal", "same"):
        assert main(["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / "h.npy"),
                     "--out", str(tmp_path / "ev.csv"), "--alpha-ratio", "0.001", "--tol",
                     "1e-10", "--mode", mode, "--plot", str(tmp_path / f"{mode}.png")]) == 0
        t = pd.read_csv(tmp_path / "ev.csv")
        coef = drawn[-1]
        np.testing.assert_array_equal(np.flatnonzero(coef), t["sample"])
        np.testing.assert_array_equal(np.flatnonzero(np.abs(coef) > 0.5), onsets)
