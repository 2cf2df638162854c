"""Gamma spectroscopy: pile-up and dead time handled by sparse deconvolution.

Pulse shapes (analytic and learned from measured waveforms), readers for CAEN
WaveDump traces and measured spectra, a pulse-train simulator with dead-time
ground truth, the classical dead-time corrections, event and activity
estimation by non-negative (cross-products) LASSO deconvolution, threshold
counting, energy spectra of recovered amplitudes and the statistical correction
of the pile-up that deconvolution leaves unresolved.
"""

from ._counting import ThresholdCounts, threshold_counter
from ._dead_time import (
    DEAD_TIME_MODELS,
    LiveTimeCorrection,
    dead_time_counter,
    live_time_correction,
    max_measured_rate,
    measured_rate,
    recorded_count_variance,
    true_rate,
    true_rate_uncertainty,
)
from ._estimate import (
    ActivityEstimate,
    activity_from_events,
    EstimatedEvents,
    cluster_events,
    default_resolving_samples,
    estimate_activity,
    estimate_events,
    estimate_noise_std,
)
from ._pileup_correction import (
    PairResolution,
    PileupCorrectedSpectrum,
    correct_unresolved_pileup,
    measure_pair_resolution,
)
from ._pulses import (
    LearnedPulse,
    biexponential_pulse,
    learn_pulse_shape,
    pole_zero_filter,
    pulse_duration_s,
    rise_time_10_90_s,
    trim_pulse,
)
from ._simulate import PulseTrain, SpectrumSampler, simulate_pulse_train
from ._spectra import MeasuredSpectrum, read_spe, read_spectrum
from ._spectrum import EnergySpectrum, PhotopeakFit, energy_spectrum, fit_photopeak
from ._wavedump import WaveDumpData, read_wavedump, read_wavedump_config

__all__ = [
    "DEAD_TIME_MODELS",
    "ActivityEstimate",
    "EnergySpectrum",
    "EstimatedEvents",
    "LearnedPulse",
    "LiveTimeCorrection",
    "MeasuredSpectrum",
    "PairResolution",
    "PhotopeakFit",
    "PileupCorrectedSpectrum",
    "PulseTrain",
    "SpectrumSampler",
    "ThresholdCounts",
    "WaveDumpData",
    "activity_from_events",
    "biexponential_pulse",
    "cluster_events",
    "correct_unresolved_pileup",
    "dead_time_counter",
    "default_resolving_samples",
    "energy_spectrum",
    "estimate_activity",
    "estimate_events",
    "estimate_noise_std",
    "fit_photopeak",
    "learn_pulse_shape",
    "live_time_correction",
    "max_measured_rate",
    "measure_pair_resolution",
    "measured_rate",
    "pole_zero_filter",
    "pulse_duration_s",
    "read_spe",
    "read_spectrum",
    "read_wavedump",
    "read_wavedump_config",
    "recorded_count_variance",
    "rise_time_10_90_s",
    "simulate_pulse_train",
    "threshold_counter",
    "true_rate",
    "trim_pulse",
    "true_rate_uncertainty",
]
