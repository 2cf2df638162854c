"""Pile-up and dead time: threshold counting, classical corrections and sparse deconvolution.

Benchmark of ``sparse_events.gamma`` on pulse trains built from measured data:

* the pulse: the HPGe preamplifier step learned from the CAEN DT5720 WaveDump
  traces (250 MS/s), turned into its current pulse by the pole-zero filter
  (the step shows no decay within the 28 us after it, so the filter is the
  first difference), trimmed to its main lobe;
* the noise: white Gaussian with the standard deviation of the differenced
  baseline of the same traces;
* the energies: drawn from the measured HPGe spectrum of a kelp sample
  (Mendocino, becquerel test data; main photopeak K-40 at 1460.8 keV) above
  30 keV, converted to pulse amplitudes with a gain that puts the K-40 line at a
  2000-ADC preamplifier step.

Sections (markdown tables on stdout, PNG figures in ``--out``):

1. rate sweep, rate x pulse length from 0.01 to 2: relative error of the true
   rate estimated by threshold counting (raw, + non-paralyzable correction,
   + paralyzable correction), by the non-negative LASSO and by the
   cross-products LASSO (``estimate_activity``);
2. spectrum with 20 % of the pulses piled up: K-40 photopeak position, width
   and area (true / threshold counting / LASSO / LASSO with the unresolved
   pile-up removed by ``correct_unresolved_pileup``, its resolving times
   measured on a separate simulated record by ``measure_pair_resolution``) and
   the sum peak at 2 x 1460.8 keV;
3. processing time of one second of 250 MS/s signal;
4. live/real-time dead-time fractions of the measured spectra next to the
   classical corrections.

Run ``python gamma/dead_time_example.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import numpy as np

from sparse_events import gamma as G

HERE = Path(__file__).resolve().parent
# $SPARSE_EVENTS_GAMMA_DATA, else gamma/ in the data folder ($SPARSE_EVENTS_DATA, the
# variable of the benchmark scripts and notebooks, else ../shared/data next to the repository)
DEFAULT_DATA = Path(os.environ.get("SPARSE_EVENTS_GAMMA_DATA", Path(os.environ.get(
    "SPARSE_EVENTS_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    / "gamma"))
FS = 250e6  # CAEN DT5720
K40_KEV = 1460.8
K40_STEP_ADC = 2000.0
LOW_CUT_KEV = 30.0
# the analyzer's lower-level discriminator for recovered events: 3/4 of the smallest true
# amplitude (30 keV), so that amplitude noise does not cut true events
LLD_FRACTION = 0.75


def measured_inputs(data):
    wd = G.read_wavedump(data / "waveforms/toward_caen_wavedump/HPGe_DT5720/wave0.dat")
    lp = G.learn_pulse_shape(wd.waveforms, sampling_rate=FS, baseline_samples=2800,
                             pre_samples=50, length=2000)
    step = lp.pulse / lp.pulse[200:1900].mean()  # unit preamplifier step
    current = G.pole_zero_filter(step, sampling_rate=FS, decay_time_s=np.inf)
    pulse = G.trim_pulse(current, fraction=0.01, normalize="peak")
    base = wd.waveforms[:, :2800].astype(float)
    noise = float(np.median(np.diff(base, axis=1).std(axis=1, ddof=1)))
    peak_per_step = float(current.max())  # current-pulse peak of a unit step
    spec = G.read_spectrum(data / "spectra/becquerel/Mendocino_07-10-13_Acq-10-10-13.Spe")
    gain = K40_STEP_ADC * peak_per_step / K40_KEV  # current-pulse peak ADC per keV
    sampler = G.SpectrumSampler(spec.counts, spec.energy_edges_kev, gain=gain, low=LOW_CUT_KEV)
    return dict(waveforms=wd, learned=lp, step=step, pulse=pulse, noise=noise, gain=gain,
                sampler=sampler, spectrum=spec, step_amplitudes=lp.amplitudes,
                lld=LLD_FRACTION * LOW_CUT_KEV * gain)


def sipm_summary(data):
    """The SiPM traces: the file ends inside its last event (refused by default)."""
    import warnings

    path = data / "waveforms/toward_caen_wavedump/SiPM_DT5751/wave0.dat"
    try:
        G.read_wavedump(path)
        note = "read"
    except ValueError as exc:
        note = f"refused by default ({str(exc).split(': ', 2)[-1].split('. Pass')[0]})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wd = G.read_wavedump(path, on_truncated="drop")
    lp = G.learn_pulse_shape(wd.waveforms, sampling_rate=1e9, baseline_samples=150,
                             pre_samples=20, length=120)
    print(f"\nSiPM DT5751 file: {note}; with on_truncated='drop': {wd.n_events} events.  "
          f"Learned SiPM pulse: {lp.used.sum()} of {wd.n_events} waveforms averaged "
          f"({(~lp.used).sum()} rejected for residuals above 6 sigma + 5 % of the amplitude: "
          f"pile-up or shape variation), 10-90 % rise "
          f"{1e9 * G.rise_time_10_90_s(lp.pulse, sampling_rate=1e9):.1f} ns, "
          f"{1e9 * G.pulse_duration_s(lp.pulse, sampling_rate=1e9, fraction=0.05):.0f} ns "
          "above 5 % of its peak.")


def relerr(est, true):
    return (est - true) / true


def threshold_rates(tc, T, tau):
    m = tc.n_events / T
    out = {"threshold": m}
    try:
        out["threshold + non-paralyzable"] = G.true_rate(m, dead_time_s=tau,
                                                         model="nonparalyzable")
    except ValueError:
        out["threshold + non-paralyzable"] = np.nan
    try:
        out["threshold + paralyzable"] = G.true_rate(m, dead_time_s=tau, model="paralyzable")
    except ValueError:
        out["threshold + paralyzable"] = np.nan
    return out


def rate_sweep(inp, rls, duration, seeds, cp_duration, cp_rls, cp_dead_samples, d_list):
    p, noise, sampler, lld = inp["pulse"], inp["noise"], inp["sampler"], inp["lld"]
    L = p.size
    tau = L / FS
    thr = 5 * noise
    rows = []
    for rl in rls:
        rate = rl / tau
        errs = {}
        piled = []
        t_lasso = []
        for seed in range(seeds):
            tr = G.simulate_pulse_train(rate_hz=rate, duration_s=duration, sampling_rate=FS,
                                        pulse=p, amplitudes=sampler, noise_std=noise,
                                        random_state=seed, dtype=np.float32)
            n_true = tr.n_events / tr.duration_s  # realized rate in this record
            d = np.diff(tr.arrival_times_s)
            near = np.zeros(tr.n_events, dtype=bool)
            near[1:] |= d < tau
            near[:-1] |= d < tau
            piled.append(near.mean())
            tc = G.threshold_counter(tr.signal, sampling_rate=FS, threshold=thr,
                                     dead_time_s=tau, dead_time_model="nonparalyzable")
            for k, v in threshold_rates(tc, tr.duration_s, tau).items():
                errs.setdefault(k, []).append(relerr(v, n_true))
            t0 = time.perf_counter()
            act = G.estimate_activity(tr.signal, sampling_rate=FS, pulse=p, noise_std=noise,
                                      min_amplitude=lld)
            t_lasso.append(time.perf_counter() - t0)
            errs.setdefault("NN-LASSO", []).append(relerr(act.rate_hz, n_true))
            errs.setdefault("NN-LASSO sd", []).append(act.rate_uncertainty_hz / n_true)
            for dd in d_list:
                try:
                    a2 = G.activity_from_events(act.events, resolving_time_s=dd / FS)
                    e2 = relerr(a2.rate_hz, n_true)
                except ValueError:
                    e2 = np.nan
                errs.setdefault(f"d={dd}", []).append(e2)
            if rl in cp_rls and seed == 0:
                n_cp = int(round(cp_duration * FS))
                sig = tr.signal[:n_cp]
                n_true_cp = np.sum(tr.arrival_times_s < n_cp / FS) / (n_cp / FS)
                t0 = time.perf_counter()
                try:
                    cp = G.estimate_activity(sig, sampling_rate=FS, pulse=p, noise_std=noise,
                                             dead_time_s=cp_dead_samples / FS,
                                             min_amplitude=lld)
                    cp_rate, cp_sd = cp.rate_hz, cp.rate_uncertainty_hz
                except ValueError:
                    cp_rate = cp_sd = np.nan
                t_cp = time.perf_counter() - t0
                plain = G.estimate_activity(sig, sampling_rate=FS, pulse=p, noise_std=noise,
                                            resolving_time_s=cp_dead_samples / FS,
                                            min_amplitude=lld)
                errs["CP-LASSO"] = [relerr(cp_rate, n_true_cp)]
                errs["CP-LASSO sd"] = [cp_sd / n_true_cp]
                errs["NN-LASSO same record"] = [relerr(plain.rate_hz, n_true_cp)]
                errs["CP time"] = [t_cp / (n_cp / FS)]
        row = {"rL": rl, "rate_hz": rate, "piled": float(np.mean(piled)),
               "d": act.resolving_time_s * FS,
               "lasso_s_per_s": float(np.mean(t_lasso)) / duration}
        for k, v in errs.items():
            row[k] = (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else np.nan)
        rows.append(row)
        print(f"  rL={rl:<5} done ({row['lasso_s_per_s']:.1f} s per s of signal)", flush=True)
    return rows


def _cell(m, s=np.nan):
    if np.isnan(m):
        return "n/a (above max)"
    return f"{100 * m:+.2f} % +- {100 * s:.2f}" if not np.isnan(s) else f"{100 * m:+.2f} %"


def print_sweep(rows, seeds, duration, cp_duration, cp_dead_samples, d_list):
    print(f"\n### 1. Rate sweep: relative error of the true-rate estimate "
          f"(mean over {seeds} records of {duration * 1e3:g} ms; +- their sd)\n")
    cols = ["threshold", "threshold + non-paralyzable", "threshold + paralyzable", "NN-LASSO"]
    print("| rate x pulse length | rate (MHz) | piled-up fraction | " + " | ".join(cols)
          + " | NN-LASSO reported sd | CP-LASSO* | NN-LASSO same record* | "
          "NN-LASSO s per s of signal | CP-LASSO s per s* |")
    print("|---" * (len(cols) + 8) + "|")
    for r in rows:
        cells = [_cell(*r[c]) for c in cols]
        sd = f"{100 * r['NN-LASSO sd'][0]:.2f} %"
        cp = f"{_cell(r['CP-LASSO'][0])} (sd {100 * r['CP-LASSO sd'][0]:.2f} %)" \
            if "CP-LASSO" in r else ""
        pl = _cell(r["NN-LASSO same record"][0]) if "CP-LASSO" in r else ""
        cpt = f"{r['CP time'][0]:.0f}" if "CP time" in r else ""
        print(f"| {r['rL']:g} | {r['rate_hz'] / 1e6:.3g} | {100 * r['piled']:.1f} % | "
              + " | ".join(cells) + f" | {sd} | {cp} | {pl} | {r['lasso_s_per_s']:.0f} | "
              f"{cpt} |")
    print(f"\n*CP-LASSO: `estimate_activity(..., dead_time_s={cp_dead_samples} samples)` on the "
          f"first {cp_duration * 1e3:g} ms of the first record; next to it the NN-LASSO on the "
          f"same record with the same resolving time.")
    print(f"\nNN-LASSO resolving time d (`estimate_activity` default: "
          f"{rows[0]['d']:.0f} samples): rate error with other d on the same events\n")
    print("| rate x pulse length | " + " | ".join(f"d = {d} samples" for d in d_list) + " |")
    print("|---" * (len(d_list) + 1) + "|")
    for r in rows:
        print(f"| {r['rL']:g} | " + " | ".join(_cell(*r[f"d={d}"]) for d in d_list) + " |")


def _sum_spectra(specs):
    s0 = specs[0]
    return G.EnergySpectrum(counts=np.sum([s.counts for s in specs], axis=0),
                            bin_edges_kev=s0.bin_edges_kev, calibration=s0.calibration,
                            n_outside=int(sum(s.n_outside for s in specs)))


CLASS_EDGES_KEV = np.array([0.0, 100.0, 200.0, 400.0, 800.0, np.inf])


def measure_resolution(inp, rate, duration, seed):
    """Merging and amplitude-resolving times of the NN-LASSO, from a simulated record's truth."""
    p, noise = inp["pulse"], inp["noise"]
    L = p.size
    tr = G.simulate_pulse_train(rate_hz=rate, duration_s=duration, sampling_rate=FS, pulse=p,
                                amplitudes=inp["sampler"], noise_std=noise, random_state=seed,
                                dtype=np.float32)
    ev = G.estimate_events(tr.signal, sampling_rate=FS, pulse=p, noise_std=noise,
                           min_amplitude=inp["lld"])
    sigma_amp = noise / float(np.linalg.norm(p))  # amplitude noise of an isolated event
    res = G.measure_pair_resolution(tr.arrival_times_s, tr.amplitudes, ev.arrival_times_s,
                                    ev.amplitudes, amplitude_tolerance=3 * sigma_amp,
                                    max_separation_s=L / FS, n_bins=2 * L,
                                    amplitude_class_edges=CLASS_EDGES_KEV * inp["gain"])
    return res, tr.n_events, sigma_amp


def spectrum_study(inp, duration, out, n_records=6, calib_duration=0.2):
    p, noise, sampler, gain = inp["pulse"], inp["noise"], inp["sampler"], inp["gain"]
    L = p.size
    tau = L / FS
    rl = -0.5 * np.log(1 - 0.2)  # P(a neighbour within one pulse length) = 1 - e^{-2 rL} = 20 %
    rate = rl / tau
    # resolving times measured on a separate simulated record (same pulse, noise, spectrum, rate)
    res, n_cal, sigma_amp = measure_resolution(inp, rate, calib_duration, seed=99)
    d_m, sd_m = res.merge_resolving_time_s, res.merge_resolving_time_uncertainty_s
    d_cls = res.merge_resolving_time_by_class_s
    sd_cls = res.merge_resolving_time_by_class_uncertainty_s
    k40_cls = int(np.searchsorted(CLASS_EDGES_KEV, K40_KEV, side="right") - 1)
    d_a = res.amplitude_resolving_time_by_class_s[k40_cls]
    amp_sd = res.isolated_amplitude_error_sd  # amplitude noise of isolated recovered events
    sd_a = res.amplitude_resolving_time_by_class_uncertainty_s[k40_cls]

    def d_by_energy(e1_kev, e2_kev):
        """Merging resolving time of a pair, by the class of its smaller energy."""
        k = np.searchsorted(CLASS_EDGES_KEV, np.minimum(e1_kev, e2_kev), side="right") - 1
        return d_cls[np.clip(k, 0, d_cls.size - 1)]

    sd_by_energy = float(np.max(sd_cls))
    cal = (0.0, 1.0 / gain)
    edges = np.arange(0.0, 3200.0, 1.0)
    pooled, by_e = "NN-LASSO, corrected, pooled d", "NN-LASSO, corrected, d by energy"
    smeared = "true, at the NN-LASSO resolution"
    names = ["true", smeared, "threshold, W = L + 4", "threshold, W = 3 L", "NN-LASSO", pooled,
             by_e]
    per = {k: [] for k in names}
    rates, rate_sds, near_frac, n_events, n_thr_m, t_est = [], [], [], 0, [], 0.0
    for rec in range(n_records):
        tr = G.simulate_pulse_train(rate_hz=rate, duration_s=duration, sampling_rate=FS,
                                    pulse=p, amplitudes=sampler, noise_std=noise,
                                    random_state=100 + rec, dtype=np.float32)
        d = np.diff(tr.arrival_times_s)
        near = np.zeros(tr.n_events, dtype=bool)
        near[1:] |= d < tau
        near[:-1] |= d < tau
        near_frac.append(near.mean())
        n_events += tr.n_events
        t0 = time.perf_counter()
        ev = G.estimate_events(tr.signal, sampling_rate=FS, pulse=p, noise_std=noise,
                               min_amplitude=inp["lld"])
        t_est += time.perf_counter() - t0
        # classical analyzer: trigger at 5 sigma, dead for one pulse length, charge integrated
        # from 2 samples before the threshold crossing over W samples: W = L + 4 (the pulse
        # and a margin: near-optimal for white noise) or W = 3 L (a longer integration)
        for name, W in (("threshold, W = L + 4", L + 4), ("threshold, W = 3 L", 3 * L)):
            tc = G.threshold_counter(tr.signal, sampling_rate=FS, threshold=5 * noise,
                                     dead_time_s=tau, dead_time_model="nonparalyzable",
                                     integration_window_s=W / FS,
                                     integration_offset_s=2 / FS, pulse_area=p.sum())
            per[name].append(G.energy_spectrum(tc.integrals, calibration=cal,
                                               bin_edges_kev=edges))
            if W == L + 4:
                n_thr_m.append(tc.n_events / tr.duration_s)
        per["true"].append(G.energy_spectrum(tr.amplitudes, calibration=cal,
                                             bin_edges_kev=edges))
        # the true amplitudes with the recovery's amplitude noise: the reference of the
        # sum-peak excess without the resolution difference at the window edges
        noise_rng = np.random.default_rng(1000 + rec)
        per[smeared].append(G.energy_spectrum(
            tr.amplitudes + noise_rng.normal(0.0, amp_sd, tr.n_events), calibration=cal,
            bin_edges_kev=edges))
        raw = G.energy_spectrum(ev.amplitudes, calibration=cal, bin_edges_kev=edges)
        per["NN-LASSO"].append(raw)
        act = G.activity_from_events(ev, resolving_time_s=G.default_resolving_samples(p) / FS)
        rates.append(act.rate_hz)
        rate_sds.append(act.rate_uncertainty_hz)
        per[pooled].append(G.correct_unresolved_pileup(raw, rate_hz=act.rate_hz,
                                                       resolving_time_s=d_m))
        per[by_e].append(G.correct_unresolved_pileup(raw, rate_hz=act.rate_hz,
                                                     resolving_time_s=d_by_energy))
        print(f"  spectrum record {rec + 1}/{n_records} done", flush=True)
        del tr, ev
    T = n_records * duration
    n_hat = float(np.mean(rates))
    n_hat_sd = float(np.sqrt(np.sum(np.square(rate_sds)))) / n_records
    spectra = {k: _sum_spectra(per[k]) for k in names[:5]}
    spectra[pooled] = G.correct_unresolved_pileup(
        spectra["NN-LASSO"], rate_hz=n_hat, resolving_time_s=d_m, rate_uncertainty_hz=n_hat_sd,
        resolving_time_uncertainty_s=sd_m)
    corr = spectra[by_e] = G.correct_unresolved_pileup(
        spectra["NN-LASSO"], rate_hz=n_hat, resolving_time_s=d_by_energy,
        rate_uncertainty_hz=n_hat_sd, resolving_time_uncertainty_s=sd_by_energy)
    fits = {k: G.fit_photopeak(s, window_kev=(K40_KEV - 25, K40_KEV + 25))
            for k, s in spectra.items()}
    # peak-area factors: the analyzer's own dead-time correction (recorded -> true rate, what
    # a live-time clock does); for the raw NN-LASSO every K-40 event with a neighbour closer
    # than the amplitude-resolving time d_amp (of the K-40 class) has left the peak:
    # x exp(2 n d_amp); after the pile-up correction the merged pairs are back and the
    # resolved-but-corrupted ones are not: x exp(2 n (d_amp - d_K)), d_K the merging time of
    # a K-40 event with a neighbour drawn from the spectrum
    f_corr = np.clip(corr.counts, 0, None) / np.clip(corr.counts, 0, None).sum()
    d_k40 = float(f_corr @ d_by_energy(K40_KEV, corr.bin_centers_kev))
    m = float(np.mean(n_thr_m))
    n_thr = G.true_rate(m, dead_time_s=tau, model="nonparalyzable")
    factor = {"true": 1.0, smeared: 1.0, "threshold, W = L + 4": n_thr / m,
              "threshold, W = 3 L": n_thr / m,
              "NN-LASSO": float(np.exp(2 * n_hat * d_a)),
              pooled: float(np.exp(2 * n_hat * (d_a - d_m))),
              by_e: float(np.exp(2 * n_hat * (d_a - d_k40)))}
    windows = {k: window_net_counts(s) for k, s in spectra.items()}
    sum_lo, sum_hi = 2 * K40_KEV - 15, 2 * K40_KEV + 15
    # sum-peak excess over the true spectrum, per record: sum and spread over the records
    exc = {k: np.array([_counts(s, sum_lo, sum_hi) - _counts(t, sum_lo, sum_hi)
                        for s, t in zip(per[k], per["true"])]) for k in names}
    exc_s = {k: np.array([_counts(s, sum_lo, sum_hi) - _counts(t, sum_lo, sum_hi)
                          for s, t in zip(per[k], per[smeared])]) for k in names}
    print(f"\n### 2. Spectrum with {100 * np.mean(near_frac):.1f} % of the pulses piled up "
          f"(rate x pulse length = {rl:.3f}, {n_events} events in {n_records} records of "
          f"{duration:g} s, deconvolution {t_est:.1f} s in all)\n")
    print(f"Resolving times of the NN-LASSO, measured on a separate simulated record ({n_cal} "
          f"events, {calib_duration:g} s, seed 99, same rate; `measure_pair_resolution`, "
          f"half-sample bins up to L): merging d = {d_m * FS:.3f} +- {sd_m * FS:.3f} samples "
          f"({d_m * 1e9:.2f} ns; isolated true pairs recovered as exactly one event, integrated "
          f"over the separation, all pairs pooled); amplitude d_amp = "
          f"{res.amplitude_resolving_time_s * FS:.3f} +- "
          f"{res.amplitude_resolving_time_uncertainty_s * FS:.3f} samples for all events, "
          f"{d_a * FS:.3f} +- {sd_a * FS:.3f} for events above "
          f"{CLASS_EDGES_KEV[k40_cls]:g} keV (the K-40 class) (recovered amplitude off by more "
          f"than 3 sigma_amp = {3 * sigma_amp:.2f} ADC = {3 * sigma_amp / gain:.1f} keV, "
          f"against the nearest true neighbour's distance, minus the isolated-event baseline "
          f"{100 * res.corrupted_baseline:.2f} %).  Amplitude noise of isolated recovered "
          f"events (robust sd of recovered - true): {amp_sd:.3f} ADC = {amp_sd / gain:.2f} keV "
          f"(ideal noise / norm(pulse): {sigma_amp:.3f} ADC).\n")
    print("| smaller energy of the pair (keV) | isolated pairs closer than L | merging d "
          "(samples) |")
    print("|---|---|---|")
    for lo_e, hi_e, nn, dd, ss in zip(CLASS_EDGES_KEV[:-1], CLASS_EDGES_KEV[1:],
                                      res.n_pairs_by_class, d_cls, sd_cls):
        print(f"| {lo_e:g}-{hi_e:g} | {nn} | {dd * FS:.3f} +- {ss * FS:.3f} |")
    print("\nMerge probability against separation, all pairs (samples: probability): "
          + ", ".join(f"{lo * FS:.1f}: {v:.2f}" for lo, v in
                      zip(res.separation_edges_s, res.merge_probability) if lo * FS < 4))
    print("\n| spectrum | K-40 position (keV) | FWHM (keV) | Gaussian area | vs true | "
          "peak-corrected vs true | net counts +-20 keV | vs true | peak-corrected vs true | "
          f"counts {sum_lo:.0f}-{sum_hi:.0f} keV (sum peak) | excess over true, all records "
          "(+- sd) | excess over true at the NN-LASSO resolution (+- sd) | per record (over "
          "true at the NN-LASSO resolution) |")
    print("|---" * 13 + "|")
    for k in names:
        f = fits[k]
        ga = relerr(f.area, fits["true"].area)
        gc = relerr(f.area * factor[k], fits["true"].area)
        wa = relerr(windows[k], windows["true"])
        wc = relerr(windows[k] * factor[k], windows["true"])
        e, es = exc[k], exc_s[k]
        e_sd = float(e.std(ddof=1) * np.sqrt(e.size)) if e.size > 1 else np.nan
        es_sd = float(es.std(ddof=1) * np.sqrt(es.size)) if es.size > 1 else np.nan
        print(f"| {k} | {f.position_kev:.2f} | {f.fwhm_kev:.2f} | {f.area:.0f} +- "
              f"{f.area_uncertainty:.0f} | {100 * ga:+.2f} % | {100 * gc:+.2f} % | "
              f"{windows[k]:.0f} | {100 * wa:+.2f} % | {100 * wc:+.2f} % | "
              f"{_counts(spectra[k], sum_lo, sum_hi):.0f} | {e.sum():+.0f} +- {e_sd:.0f} | "
              f"{es.sum():+.0f} +- {es_sd:.0f} | " + ", ".join(f"{x:+.0f}" for x in es) + " |")
    in_sum = (corr.bin_centers_kev >= sum_lo) & (corr.bin_centers_kev < sum_hi)
    print(f"\nPeak-area factors: threshold x n/m = {n_thr / m:.4f} (true over recorded rate, "
          f"non-paralyzable dead time {tau * 1e9:.0f} ns: what a live-time clock corrects); "
          f"NN-LASSO x exp(2 n d_amp) = {factor['NN-LASSO']:.4f}; pooled-d correction x "
          f"exp(2 n (d_amp - d)) = {factor[pooled]:.4f}; d-by-energy correction x "
          f"exp(2 n (d_amp - d_K)) = {factor[by_e]:.4f} (d_K = {d_k40 * FS:.3f} samples: "
          f"merging time of a K-40 event with a neighbour from the corrected spectrum); n = "
          f"{n_hat / 1e6:.4f} +- {n_hat_sd / 1e6:.4f} MHz (`estimate_activity`, mean of the "
          f"records; true {n_events / T / 1e6:.4f} MHz).  On the summed NN-LASSO spectrum the "
          f"d-by-energy correction gives {corr.counts_between(sum_lo, sum_hi):.1f} +- "
          f"{corr.counts_between_uncertainty(sum_lo, sum_hi):.1f} counts in the sum-peak window "
          f"(sd around its expectation: Poisson propagation, plus n and d moved by their sd; "
          f"true {_counts(spectra['true'], sum_lo, sum_hi):.0f}), of which the estimated "
          f"pile-up removed {corr.pileup_counts[in_sum].sum():.1f}.  "
          "Gaussian fit on a linear background in 1435.8-1485.8 keV (corrected spectra "
          "weighted by their propagated bin variances); net counts: 1440.8-1480.8 keV minus the "
          "side bands 1420.8-1435.8 and 1485.8-1500.8 keV.  Excess +- sd: sum of the per-record "
          "excesses; sd = their spread x sqrt(records).  The per-record corrections use each "
          "record's estimated rate.")
    for ref, ex in (("true", exc), ("true at the NN-LASSO resolution", exc_s)):
        for name, k in itertools.product(("threshold, W = L + 4", "threshold, W = 3 L"),
                                         ("NN-LASSO", pooled, by_e)):
            ex_t = ex[name].sum()
            e_k = ex[k]
            sd_k = float(e_k.std(ddof=1) * np.sqrt(e_k.size)) if e_k.size > 1 else np.nan
            bound = abs(e_k.sum()) + 2 * sd_k
            red = f"{ex_t / abs(e_k.sum()):.1f}x" if e_k.sum() != 0 else "inf"
            low = f"{ex_t / bound:.1f}x" if bound > 0 else "n/a"
            print(f"\nSum-peak excess over {ref}, {k} against {name}: {e_k.sum():+.0f} +- "
                  f"{sd_k:.0f} vs {ex_t:+.0f}; reduction {red} (at least {low} with |excess| "
                  f"+ 2 sd = {bound:.0f}).")
    plot_spectra(spectra, fits, out / "gamma_pileup_spectrum.png", rl, float(np.mean(near_frac)))
    return fits, exc


def _counts(spec, lo, hi):
    return float(spec.counts_between(lo, hi))


def window_net_counts(spec, half=20.0, side=15.0, gap=5.0):
    """Counts within +-half keV of K-40 minus the mean side-band level (15 keV bands)."""
    c = spec.bin_centers_kev
    w = np.diff(spec.bin_edges_kev)
    inner = np.abs(c - K40_KEV) < half
    band = (np.abs(c - K40_KEV) >= half + gap) & (np.abs(c - K40_KEV) < half + gap + side)
    level = spec.counts[band].sum() / w[band].sum()
    return float(spec.counts[inner].sum() - level * w[inner].sum())


def timing_study(inp, rls, duration, check_kkt, compare_cd=True, repeat=1):
    """Seconds per second of signal; with ``compare_cd`` the coordinate-descent path too.

    Both paths run on the same record in the same process, alternately
    (``segment_solver="active_set"``, the default, then ``"cd"``, the pieces
    solved by ``sparse_events.deconvolve``), ``repeat`` times each; the fastest
    run of each path is reported (the machine is shared) and their events are
    compared.
    """
    p, noise, sampler = inp["pulse"], inp["noise"], inp["sampler"]
    tau = p.size / FS
    print(f"\n### 3. Processing time per second of 250 MS/s signal ({duration:g} s records, "
          f"float32, one process, after a warm-up call; `estimate_events`, "
          f"check_kkt={check_kkt}; fastest of {repeat} run(s) per path)\n")
    head = ("| rate x pulse length | rate (kHz) | events | screening (s) | solve (s) | "
            "KKT check (s) | total (s) | CPU time (s) | seconds per second of signal | "
            "active fraction | components (largest; runs to CD) | KKT violation / alpha | "
            "threshold counter on the same record (s) | total / threshold counter |")
    sep = "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    if compare_cd:
        head += (" old path `segment_solver=\"cd\"`: total (s) | its CPU time (s) | "
                 "its KKT violation / alpha | old / new (total) | same events | "
                 "max amplitude difference (ADC) |")
        sep += "---|---|---|---|---|---|"
    print(head)
    print(sep)
    res = []
    for rl in rls:
        tr = G.simulate_pulse_train(rate_hz=rl / tau, duration_s=duration, sampling_rate=FS,
                                    pulse=p, amplitudes=sampler, noise_std=noise,
                                    random_state=7, dtype=np.float32)
        # warm-up (numba compilation / cache loading) on a short slice, not timed
        for eng in ("active_set", "cd") if compare_cd else ("active_set",):
            G.estimate_events(tr.signal[: 1 << 18], sampling_rate=FS, pulse=p,
                              noise_std=noise, check_kkt=check_kkt, segment_solver=eng)
        ev = old = None
        cpu = {"active_set": np.inf, "cd": np.inf}
        for _ in range(repeat):
            for eng in ("active_set", "cd") if compare_cd else ("active_set",):
                c0 = time.process_time()
                e = G.estimate_events(tr.signal, sampling_rate=FS, pulse=p, noise_std=noise,
                                      check_kkt=check_kkt, segment_solver=eng)
                cpu[eng] = min(cpu[eng], time.process_time() - c0)
                best = ev if eng == "active_set" else old
                if best is None or e.timings_s["total"] < best.timings_s["total"]:
                    if eng == "active_set":
                        ev = e
                    else:
                        old = e
        t = ev.timings_s
        # reference pass on the same record: the threshold counter (one compiled pass)
        G.threshold_counter(tr.signal[: 1 << 16], sampling_rate=FS, threshold=5 * noise)
        t_thr = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            G.threshold_counter(tr.signal, sampling_rate=FS, threshold=5 * noise,
                                dead_time_s=tau)
            t_thr = min(t_thr, time.perf_counter() - t0)
        st = ev.segment_stats
        row = (f"| {rl:g} | {rl / tau / 1e3:.4g} | {tr.n_events} | {t['screening']:.2f} | "
               f"{t['solve']:.2f} | {t.get('kkt_check', 0.0):.2f} | {t['total']:.2f} | "
               f"{cpu['active_set']:.2f} | {t['total'] / tr.duration_s:.2f} | {ev.active_fraction:.3f} | "
               f"{st.get('components', 0)} ({st.get('largest_component', 0)}; "
               f"{st.get('runs_to_cd', 0)} runs to CD) | {ev.kkt_violation:.1e} | "
               f"{t_thr:.2f} | {t['total'] / t_thr:.1f} |")
        if compare_cd:
            same = old.n_events == ev.n_events
            diff = (f"{np.max(np.abs(old.amplitudes - ev.amplitudes), initial=0.0):.2g}"
                    if same else "n/a")
            if same:
                same = bool(np.all(np.abs(old.arrival_samples - ev.arrival_samples) < 0.5))
            row += (f" {old.timings_s['total']:.2f} | {cpu['cd']:.2f} | "
                    f"{old.kkt_violation:.1e} | "
                    f"{old.timings_s['total'] / t['total']:.1f} | "
                    f"{'yes' if same else f'no ({old.n_events} vs {ev.n_events})'} | "
                    f"{diff} |")
        print(row, flush=True)
        res.append((rl, t["total"] / tr.duration_s))
        del tr
    return res


def live_time_table(data):
    print("\n### 4. Measured spectra: live/real-time dead time and classical corrections\n")
    print("Counts are the recorded (live) counts of the whole spectrum.  The live-time "
          "correction n = counts / live equals the non-paralyzable correction with the dead "
          "time per recorded count tau = (real - live) / counts; the paralyzable model with "
          "the same tau gives the last column.\n")
    print("| file | detector | counts | live (s) | real (s) | dead-time fraction | "
          "m = counts/real (1/s) | tau per count (us) | n live-time (1/s) | "
          "n non-paralyzable (1/s) | n paralyzable (1/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    det = {"01122014": "HPGe Falcon 5000", "1110C NAA cave background": "HPGe PopTop",
           "1110C NAA cave pottery": "HPGe PopTop", "Alcatraz14": "HPGe Trans-SPEC",
           "Mendocino": "HPGe PopTop", "SGM102432": "CsI D3S",
           "digibase": "NaI digiBASE", "nai_detector": "NaI"}
    folder = data / "spectra/becquerel"
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() not in (".spe", ".cnf", ".spc"):
            continue
        try:
            sp = G.read_spectrum(f)
        except (ValueError, ImportError) as exc:
            print(f"| {f.name} | unreadable: {exc} |")
            continue
        counts = int(sp.counts.sum())
        c = G.live_time_correction(counts, live_time_s=sp.live_time_s,
                                   real_time_s=sp.real_time_s)
        tau = c.dead_time_per_count_s
        n_np = G.true_rate(c.measured_rate_hz, dead_time_s=tau, model="nonparalyzable")
        try:
            n_p = f"{G.true_rate(c.measured_rate_hz, dead_time_s=tau, model='paralyzable'):.2f}"
        except ValueError:
            n_p = "above max"
        name = next((v for k, v in det.items() if f.name.startswith(k)), "")
        print(f"| {f.name[:40]} | {name} | {counts} | {sp.live_time_s:g} | {sp.real_time_s:g} | "
              f"{100 * c.dead_time_fraction:.3f} % | {c.measured_rate_hz:.2f} | {1e6 * tau:.3g} | "
              f"{c.true_rate_hz:.2f} | {n_np:.2f} | {n_p} |")


def plot_pulse(inp, out):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    wd = inp["waveforms"]
    t = np.arange(wd.n_samples) / FS * 1e6
    for w in wd.waveforms:
        ax[0].plot(t, w, lw=0.6)
    ax[0].set(xlabel="time (us)", ylabel="ADC", title="HPGe preamplifier traces (DT5720)")
    p = inp["pulse"]
    ax[1].plot(np.arange(p.size) / FS * 1e9, p, "o-", ms=3)
    ax[1].set(xlabel="time (ns)", ylabel="relative amplitude",
              title=f"current pulse (first difference), {p.size} samples")
    fig.tight_layout()
    fig.savefig(out / "gamma_hpge_pulse.png", dpi=90)
    plt.close(fig)


def plot_sweep(rows, out):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = [r["rL"] for r in rows]
    for k, st in [("threshold", "s-"), ("threshold + non-paralyzable", "^-"),
                  ("threshold + paralyzable", "v-"), ("NN-LASSO", "o-")]:
        ax.plot(x, [100 * r[k][0] for r in rows], st, label=k, ms=4)
    cp = [(r["rL"], 100 * r["CP-LASSO"][0]) for r in rows if "CP-LASSO" in r]
    if cp:
        ax.plot(*zip(*cp), "D", label="CP-LASSO", ms=5)
    ax.axhspan(-1, 1, color="0.85", label="+-1 %")
    ax.set(xscale="log", xlabel="true rate x pulse length", ylabel="rate error (%)",
           ylim=(-100, 60))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "gamma_rate_error.png", dpi=90)
    plt.close(fig)


def plot_spectra(spectra, fits, path, rl, piled):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    for k, s in spectra.items():
        c = s.bin_centers_kev
        ax[0].step(c, np.maximum(s.counts, 0.5), where="mid", lw=0.7, label=k)
        sel = (c > K40_KEV - 30) & (c < K40_KEV + 30)
        ax[1].step(c[sel], s.counts[sel], where="mid", lw=0.9, label=k)
        sel = (c > 2 * K40_KEV - 60) & (c < 2 * K40_KEV + 60)
        ax[2].step(c[sel], s.counts[sel], where="mid", lw=0.9, label=k)
    ax[0].set(yscale="log", xlabel="energy (keV)", ylabel="counts / keV",
              title=f"{100 * piled:.0f} % piled up (rate x L = {rl:.2f})")
    ax[1].set(xlabel="energy (keV)", title="K-40 photopeak")
    ax[2].set(xlabel="energy (keV)", title="sum peak 2 x 1460.8 keV")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def environment():
    import numba
    import scipy

    import sparse_events

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
            f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
            f"sparse_events {sparse_events.__version__}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder shared/data/gamma (env SPARSE_EVENTS_GAMMA_DATA, else "
                         "$SPARSE_EVENTS_DATA/gamma)")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--duration-s", type=float, default=2e-3, help="record per sweep point")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cp-duration-s", type=float, default=2e-4)
    ap.add_argument("--cp-dead-samples", type=int, default=3)
    ap.add_argument("--spectrum-duration-s", type=float, default=0.4)
    ap.add_argument("--spectrum-records", type=int, default=6,
                    help="spectrum: independent records (seeds 100, 101, ...)")
    ap.add_argument("--calibration-duration-s", type=float, default=0.2,
                    help="spectrum: record (seed 99) on which the resolving times are measured")
    ap.add_argument("--timing-duration-s", type=float, default=1.0)
    ap.add_argument("--timing-rl", type=float, nargs="*", default=[0.0003, 0.001, 0.003])
    ap.add_argument("--no-kkt", action="store_true", help="skip the KKT check in the timing")
    ap.add_argument("--timing-repeat", type=int, default=1,
                    help="timing: runs per path (the fastest is reported)")
    ap.add_argument("--timing-no-cd", action="store_true",
                    help="timing: skip the coordinate-descent path (segment_solver='cd')")
    ap.add_argument("--skip", nargs="*", default=[], choices=["sweep", "spectrum", "timing",
                                                              "livetime"])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration_s, args.seeds, args.cp_duration_s = 2e-4, 2, 5e-5
        args.spectrum_duration_s, args.timing_duration_s = 2e-3, 2e-3
        args.spectrum_records, args.calibration_duration_s = 2, 2e-3
    args.out.mkdir(parents=True, exist_ok=True)
    print("## Gamma pile-up / dead-time benchmark\n")
    print(environment())
    inp = measured_inputs(args.data)
    p = inp["pulse"]
    print(f"\nMeasured HPGe pulse: {inp['waveforms'].n_events} traces, step "
          f"{np.mean(inp['step_amplitudes']):.1f} ADC, 10-90 % rise "
          f"{1e9 * G.rise_time_10_90_s(inp['step'], sampling_rate=FS):.1f} ns; current pulse "
          f"{p.size} samples = {1e9 * p.size / FS:.0f} ns (the pulse length L); noise of the "
          f"differenced baseline {inp['noise']:.3f} ADC; gain {inp['gain']:.4f} ADC/keV "
          f"(pulse peak; K-40 -> {K40_KEV * inp['gain']:.0f} ADC); recovered events below "
          f"{inp['lld']:.2f} ADC ({LLD_FRACTION * LOW_CUT_KEV:g} keV) dropped.")
    sipm_summary(args.data)
    plot_pulse(inp, args.out)
    if "sweep" not in args.skip:
        rls = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0]
        cp_rls = [0.01, 0.1, 0.3, 1.0]
        if args.quick:
            rls, cp_rls = [0.1, 1.0], [1.0]
        d_list = [2, 3, 4, 6]
        rows = rate_sweep(inp, rls, args.duration_s, args.seeds, args.cp_duration_s, cp_rls,
                          args.cp_dead_samples, d_list)
        print_sweep(rows, args.seeds, args.duration_s, args.cp_duration_s,
                    args.cp_dead_samples, d_list)
        plot_sweep(rows, args.out)
    if "spectrum" not in args.skip:
        spectrum_study(inp, args.spectrum_duration_s, args.out,
                       n_records=args.spectrum_records,
                       calib_duration=args.calibration_duration_s)
    if "timing" not in args.skip:
        timing_study(inp, args.timing_rl, args.timing_duration_s, not args.no_kkt,
                     compare_cd=not args.timing_no_cd, repeat=args.timing_repeat)
    if "livetime" not in args.skip:
        live_time_table(args.data)
    print(f"\nFigures: {args.out}")


if __name__ == "__main__":
    main()
