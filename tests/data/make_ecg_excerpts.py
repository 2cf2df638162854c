"""Regenerate the ECG test excerpts from the MIT-BIH files in shared/data/mitdb.

Run from the repository root:  python tests/data/make_ecg_excerpts.py
(not needed by the tests; kept so the excerpts are reproducible).
"""

from pathlib import Path

import numpy as np
import wfdb

HERE = Path(__file__).resolve().parent
MITDB = HERE.parents[2] / "shared" / "data" / "mitdb"


def signal_excerpt(record: str, sampfrom: int, sampto: int, out: str) -> None:
    """Channel 0 as ADC counts (int16) + gain/baseline, and the annotations inside."""
    rec = wfdb.rdrecord(str(MITDB / record), channels=[0], sampfrom=sampfrom, sampto=sampto,
                        physical=False)
    ann = wfdb.rdann(str(MITDB / record), "atr", sampfrom=sampfrom, sampto=sampto)
    np.savez_compressed(
        HERE / out, adc=rec.d_signal[:, 0].astype(np.int16), adc_gain=rec.adc_gain[0],
        baseline=rec.baseline[0], sampling_rate=rec.fs, record=record, channel=rec.sig_name[0],
        sampfrom=sampfrom, ann_sample=(ann.sample - sampfrom).astype(np.int64),
        ann_symbol=np.asarray(ann.symbol), ann_subtype=ann.subtype.astype(np.int64))


def annotations_only(record: str, out: str) -> None:
    ann = wfdb.rdann(str(MITDB / record), "atr")
    hdr = wfdb.rdheader(str(MITDB / record))
    np.savez_compressed(HERE / out, sampling_rate=ann.fs, record=record, sig_len=hdr.sig_len,
                        ann_sample=ann.sample.astype(np.int64), ann_symbol=np.asarray(ann.symbol),
                        ann_subtype=ann.subtype.astype(np.int64))


if __name__ == "__main__":
    signal_excerpt("119", 0, 3 * 60 * 360, "mitdb_119_0-3min.npz")
    annotations_only("207", "mitdb_207_atr.npz")
