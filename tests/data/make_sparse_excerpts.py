"""Regenerate the excerpts used by the sparse R-peak detector tests.

Run from the repository root:  python tests/data/make_sparse_excerpts.py
(not needed by the tests; kept so the excerpts are reproducible).  Same format
as ``make_ecg_excerpts.py``: channel 0 as ADC counts with gain and baseline,
and the reference annotations inside the excerpt.
"""

from pathlib import Path

import numpy as np
import wfdb

HERE = Path(__file__).resolve().parent
MITDB = HERE.parents[2] / "shared" / "data" / "mitdb"


def signal_excerpt(record: str, sampfrom: int, sampto: int, out: str) -> None:
    rec = wfdb.rdrecord(str(MITDB / record), channels=[0], sampfrom=sampfrom, sampto=sampto,
                        physical=False)
    ann = wfdb.rdann(str(MITDB / record), "atr", sampfrom=sampfrom, sampto=sampto)
    np.savez_compressed(
        HERE / out, adc=rec.d_signal[:, 0].astype(np.int16), adc_gain=rec.adc_gain[0],
        baseline=rec.baseline[0], sampling_rate=rec.fs, record=record, channel=rec.sig_name[0],
        sampfrom=sampfrom, ann_sample=(ann.sample - sampfrom).astype(np.int64),
        ann_symbol=np.asarray(ann.symbol), ann_subtype=ann.subtype.astype(np.int64))


if __name__ == "__main__":
    signal_excerpt("203", 11 * 60 * 360, 14 * 60 * 360, "mitdb_203_11-14min.npz")
