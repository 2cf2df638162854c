"""Write ``ludb_1_limb_v2_v5.npz`` (used by tests/test_six_lead.py) from LUDB record 1.

Run from the repository root:
``python tests/data/make_six_lead_excerpt.py [--data /work/shared/data/multilead/ludb]``.
Stores ADC counts (int16) with each channel's gain and baseline, so that
``physical_mV = (adc - baseline) / gain`` reproduces wfdb's ``p_signal``.
"""

import argparse
from pathlib import Path

import numpy as np
import wfdb

LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v2", "v5")


def main():
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multilead" / "ludb"
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    record = wfdb.rdrecord(str(args.data / "data" / "1"), physical=False)
    idx = [record.sig_name.index(lead) for lead in LEADS]
    adc = record.d_signal[:, idx].T.astype(np.int16)
    gain = np.asarray(record.adc_gain)[idx]
    baseline = np.asarray(record.baseline)[idx]
    physical = wfdb.rdrecord(str(args.data / "data" / "1")).p_signal[:, idx].T
    assert np.allclose((adc - baseline[:, None]) / gain[:, None], physical)
    out = Path(__file__).resolve().parent / "ludb_1_limb_v2_v5.npz"
    np.savez_compressed(out, adc=adc, gain=gain, baseline=baseline,
                        leads=np.array(LEADS), sampling_rate=float(record.fs))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
