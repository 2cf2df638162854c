"""ECG applications: cleaning, R-peak detection, EC57 scoring, WFDB records.

Public names
------------
``ecg_clean(signal, *, sampling_rate, ...)``
    Zero-phase band-pass (baseline and noise removal) for QRS work.
``ecg_findpeaks(cleaned, *, sampling_rate, method="sparse")``,
``ecg_peaks(signal, *, sampling_rate, method="sparse")``
    neurokit2-style ``(signals, info)`` R peaks; methods in ``PEAK_METHODS``
    (``"sparse"``, ``"pantompkins"``), extendable with ``register_peak_method``.
``find_peaks_pantompkins(cleaned, *, sampling_rate)``, ``pantompkins_transform``
    Our Pan & Tompkins (1985) detector and its filter stages.
``evaluate(detections, reference, *, sampling_rate=None, ...)``
    Beat-by-beat ANSI/AAMI EC57 scoring of one record (``EC57Result``).
``gross_statistics(results)``, ``ec57_table(results)``
    Gross Se / +P / F1 over records; per-record table with a gross row.
``reference_beats(samples, symbols)``, ``BEAT_SYMBOLS``
    EC57 reference beats and flutter episodes from an annotation list.
``read_wfdb_record(path, *, channel=0, annotator="atr")``, ``ECGRecord``
    One channel of a WFDB record with its reference annotations.
``find_peaks_sparse(cleaned, *, sampling_rate, ...)``, ``detect_r_peaks_sparse``
    The sparse-deconvolution R-peak detector (method ``"sparse"``).
``ecgsyn_qrs_template``, ``qrs_dictionary``, ``learn_qrs_dictionary``
    QRS templates (``QRSTemplate``) and dictionaries (``QRSDictionary``):
    the paper's ECGSYN template, a generic multi-template dictionary, a
    dictionary learned from a record.
``derive_limb_leads(lead_i, lead_ii)``, ``SixLeadReconstructor``
    Six frontal leads from I and II (Einthoven, Goldberger); from one lead
    through convex ReLU models (ConvexECG).
"""

from ._clean import ecg_clean, interpolate_gaps
from ._evaluate import BEAT_SYMBOLS, EC57Result, ec57_table, evaluate, gross_statistics, reference_beats
from ._io import ECGRecord, read_wfdb_record, wfdb_record_path
from ._pantompkins import PanTompkinsStages, find_peaks_pantompkins, pantompkins_transform
from ._peaks import PEAK_METHODS, ecg_findpeaks, ecg_peaks, register_peak_method
from ._six_lead import SixLeadReconstructor, derive_limb_leads
from ._dictionary import learn_qrs_dictionary
from ._sparse_detector import SparseDetection, detect_r_peaks_sparse, find_peaks_sparse
from ._templates import QRSDictionary, QRSTemplate, ecgsyn_qrs_template, qrs_dictionary

__all__ = [
    "BEAT_SYMBOLS",
    "EC57Result",
    "ECGRecord",
    "PEAK_METHODS",
    "PanTompkinsStages",
    "QRSDictionary",
    "QRSTemplate",
    "SparseDetection",
    "SixLeadReconstructor",
    "ec57_table",
    "ecg_clean",
    "ecg_findpeaks",
    "ecg_peaks",
    "derive_limb_leads",
    "detect_r_peaks_sparse",
    "ecgsyn_qrs_template",
    "find_peaks_sparse",
    "learn_qrs_dictionary",
    "qrs_dictionary",
    "evaluate",
    "find_peaks_pantompkins",
    "gross_statistics",
    "interpolate_gaps",
    "pantompkins_transform",
    "read_wfdb_record",
    "reference_beats",
    "register_peak_method",
    "wfdb_record_path",
]
