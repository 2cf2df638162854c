"""neurokit2-compatible (signals, info) API, method registry, and HRV interoperability."""

import numpy as np
import pytest

from sparse_events.ecg import (
    PEAK_METHODS, ecg_clean, ecg_findpeaks, ecg_peaks, find_peaks_pantompkins,
    register_peak_method)

neurokit2 = pytest.importorskip("neurokit2")
FS = 360


@pytest.fixture(scope="module")
def ecg():
    return neurokit2.ecg_simulate(duration=120, sampling_rate=FS, heart_rate=75, random_state=7,
                                  noise=0.05)


def test_signals_info_layout(ecg):
    signals, info = ecg_peaks(ecg, sampling_rate=FS, method="pantompkins")
    assert list(signals.columns) == ["ECG_R_Peaks"]
    assert len(signals) == ecg.size
    assert set(np.unique(signals["ECG_R_Peaks"])) <= {0, 1}
    peaks = info["ECG_R_Peaks"]
    assert peaks.dtype.kind == "i" and np.all(np.diff(peaks) > 0)
    np.testing.assert_array_equal(np.flatnonzero(signals["ECG_R_Peaks"].to_numpy()), peaks)
    assert info["sampling_rate"] == FS and info["method"] == "pantompkins"
    # ecg_peaks = ecg_clean + ecg_findpeaks = the method itself on the cleaned lead
    cleaned = ecg_clean(ecg, sampling_rate=FS)
    _, info2 = ecg_findpeaks(cleaned, sampling_rate=FS, method="pantompkins")
    np.testing.assert_array_equal(info2["ECG_R_Peaks"], peaks)
    np.testing.assert_array_equal(find_peaks_pantompkins(cleaned, sampling_rate=FS), peaks)


def test_output_feeds_neurokit2_hrv_directly(ecg):
    signals, info = ecg_peaks(ecg, sampling_rate=FS, method="pantompkins")
    hrv_info = neurokit2.hrv_time(info, sampling_rate=FS)
    hrv_signals = neurokit2.hrv_time(signals, sampling_rate=FS)
    hrv_array = neurokit2.hrv_time(info["ECG_R_Peaks"], sampling_rate=FS)
    for col in ("HRV_MeanNN", "HRV_SDNN", "HRV_RMSSD"):
        assert hrv_info[col].iloc[0] == pytest.approx(hrv_array[col].iloc[0])
        assert hrv_signals[col].iloc[0] == pytest.approx(hrv_array[col].iloc[0])
    # mean NN interval of the simulation: 60000 / 75 bpm = 800 ms
    assert hrv_info["HRV_MeanNN"].iloc[0] == pytest.approx(800.0, rel=0.03)
    full = neurokit2.hrv(info, sampling_rate=FS)
    assert np.isfinite(full["HRV_MeanNN"].iloc[0])


def test_registry_dispatches_and_validates_custom_methods(ecg):
    calls = {}

    def every_second(cleaned, *, sampling_rate, offset=0):
        calls["sampling_rate"] = sampling_rate
        return np.arange(offset, cleaned.size, int(sampling_rate))

    register_peak_method("test_every_second", every_second)
    try:
        _, info = ecg_peaks(ecg, sampling_rate=FS, method="test_every_second", offset=5)
        np.testing.assert_array_equal(info["ECG_R_Peaks"], np.arange(5, ecg.size, FS))
        assert calls["sampling_rate"] == FS
        with pytest.raises(ValueError, match="already registered"):
            register_peak_method("test_every_second", every_second)
        register_peak_method("test_bad_float", lambda c, *, sampling_rate: np.array([1.5]))
        with pytest.raises(TypeError, match="integer array"):
            ecg_peaks(ecg, sampling_rate=FS, method="test_bad_float")
        register_peak_method("test_out_of_range",
                             lambda c, *, sampling_rate: np.array([0, c.size]))
        with pytest.raises(ValueError, match="outside"):
            ecg_peaks(ecg, sampling_rate=FS, method="test_out_of_range")
        # unsorted duplicates are sorted and merged
        register_peak_method("test_unsorted", lambda c, *, sampling_rate: np.array([9, 3, 9]))
        _, info = ecg_peaks(ecg, sampling_rate=FS, method="test_unsorted")
        np.testing.assert_array_equal(info["ECG_R_Peaks"], [3, 9])
    finally:
        for name in ("test_every_second", "test_bad_float", "test_out_of_range",
                     "test_unsorted"):
            PEAK_METHODS.pop(name, None)
    with pytest.raises(TypeError, match="callable"):
        register_peak_method("x", 42)


def test_nan_policy_is_forwarded(ecg):
    x = ecg.copy()
    x[5000:5030] = np.nan
    with pytest.raises(ValueError, match="index 5000"):
        ecg_peaks(x, sampling_rate=FS, method="pantompkins")
    _, info = ecg_peaks(x, sampling_rate=FS, method="pantompkins", nan_policy="interpolate")
    filled = x.copy()
    filled[5000:5030] = np.interp(np.arange(5000, 5030), [4999, 5030], [x[4999], x[5030]])
    _, ref = ecg_peaks(filled, sampling_rate=FS, method="pantompkins")
    np.testing.assert_array_equal(info["ECG_R_Peaks"], ref["ECG_R_Peaks"])


def test_bad_input(ecg):
    with pytest.raises(TypeError):
        ecg_peaks(ecg)  # sampling_rate is keyword-only and required
    with pytest.raises(TypeError):
        ecg_findpeaks(ecg, FS)  # not positional
    with pytest.raises(ValueError, match="sampling_rate is required"):
        ecg_peaks(ecg, sampling_rate=None, method="pantompkins")
    with pytest.raises(ValueError, match="method must be one of"):
        ecg_peaks(ecg, sampling_rate=FS, method="nope")
    with pytest.raises(ValueError, match="1-D"):
        ecg_peaks(np.stack([ecg, ecg]), sampling_rate=FS, method="pantompkins")
    with pytest.raises(ValueError, match="too short"):
        ecg_findpeaks(ecg[:300], sampling_rate=FS, method="pantompkins")
    with pytest.raises(ValueError, match="cleaned"):
        ecg_findpeaks(np.r_[ecg[:1000], np.inf, ecg[:1000]], sampling_rate=FS,
                      method="pantompkins")


def _bool_calls(ecg):
    from sparse_events.ecg import (derive_limb_leads, find_peaks_sparse, interpolate_gaps,
                                   learn_qrs_dictionary)

    mask = ecg > 0
    return [
        ("signal", lambda: ecg_peaks(mask, sampling_rate=FS)),
        ("signal", lambda: ecg_peaks(mask, sampling_rate=FS, method="pantompkins")),
        ("signal", lambda: ecg_clean(mask, sampling_rate=FS)),
        ("signal", lambda: interpolate_gaps(mask, sampling_rate=FS)),
        ("cleaned", lambda: ecg_findpeaks(mask, sampling_rate=FS)),
        ("cleaned", lambda: find_peaks_sparse(mask, sampling_rate=FS)),
        ("cleaned", lambda: find_peaks_pantompkins(mask, sampling_rate=FS)),
        ("signal", lambda: learn_qrs_dictionary(mask, [FS, 2 * FS], sampling_rate=FS)),
        ("lead_i", lambda: derive_limb_leads(mask, ecg)),
    ]


def test_boolean_signal_is_refused(ecg):
    # ``sig > 0`` passed by mistake used to give "peaks" (197 on a 3-minute record)
    for name, call in _bool_calls(ecg):
        with pytest.raises(TypeError, match=f"{name} must be a real numeric signal.*boolean"):
            call()
    # the same samples as numbers are accepted
    ecg_peaks((ecg > 0).astype(float), sampling_rate=FS, method="pantompkins")


@pytest.mark.parametrize("method,options,doc", [
    ("sparse", {"correct_artifacts": True}, "find_peaks_sparse"),
    ("pantompkins", {"show": True}, "find_peaks_pantompkins")])
def test_unknown_method_option_names_the_caller_and_the_accepted_ones(ecg, method, options,
                                                                      doc):
    import inspect

    from sparse_events.ecg import detect_r_peaks_sparse

    target = detect_r_peaks_sparse if method == "sparse" else find_peaks_pantompkins
    accepted = [p for p in inspect.signature(target).parameters
                if p not in ("cleaned", "sampling_rate")]
    for caller, func, arg in [("ecg_peaks", ecg_peaks, ecg),
                              ("ecg_findpeaks", ecg_findpeaks, ecg_clean(ecg, sampling_rate=FS))]:
        with pytest.raises(TypeError) as info:
            func(arg, sampling_rate=FS, method=method, **options)
        msg = str(info.value)
        assert msg.startswith(f"{caller}()"), msg
        assert f"method={method!r}" in msg and repr(next(iter(options))) in msg, msg
        assert all(name in msg for name in accepted), msg
        assert f"sparse_events.ecg.{doc}" in msg, msg
        assert "detect_r_peaks_sparse()" not in msg
    # accepted options still reach the method: same peaks as calling it directly
    name = "refractory_s"
    direct = target(ecg_clean(ecg, sampling_rate=FS), sampling_rate=FS, **{name: 0.3})
    direct = direct.r_peaks if method == "sparse" else direct
    got = ecg_peaks(ecg, sampling_rate=FS, method=method, **{name: 0.3})[1]["ECG_R_Peaks"]
    np.testing.assert_array_equal(got, direct)


def test_method_with_open_kwargs_is_not_checked(ecg):
    def anything(cleaned, *, sampling_rate, **kwargs):
        return np.array([10, 20])

    register_peak_method("_open_kwargs", anything, overwrite=True)
    try:
        assert ecg_peaks(ecg, sampling_rate=FS, method="_open_kwargs",
                         whatever=1)[1]["ECG_R_Peaks"].tolist() == [10, 20]
    finally:
        PEAK_METHODS.pop("_open_kwargs")


def test_dataframe_hint_works_on_a_dataframe(ecg):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"ECG": ecg})
    with pytest.raises(ValueError, match="1-D") as info:
        ecg_peaks(frame, sampling_rate=FS, method="pantompkins")
    msg = str(info.value)
    assert "signal.iloc[:, 0]" in msg and "signal['ECG']" in msg and "signal[:, 0]" not in msg
    # both suggestions run and give the peaks of the lead
    expected = ecg_peaks(ecg, sampling_rate=FS, method="pantompkins")[1]["ECG_R_Peaks"]
    for lead in (frame.iloc[:, 0], frame["ECG"]):
        got = ecg_peaks(lead, sampling_rate=FS, method="pantompkins")[1]["ECG_R_Peaks"]
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match=r"signal\[:, 0\]"):  # arrays keep their hint
        ecg_peaks(ecg[:, None], sampling_rate=FS, method="pantompkins")
