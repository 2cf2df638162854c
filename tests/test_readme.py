"""The README's Python example runs as written and its results are right."""
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_python_block():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, flags=re.S)
    assert match, "README has no python example"
    return match.group(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_readme_example_runs_and_agrees_with_references(capsys):
    namespace = {}
    exec(compile(_first_python_block(), str(README), "exec"), namespace)
    res, cp, data = namespace["res"], namespace["cp"], namespace["data"]
    assert res.converged and cp.converged
    # cross-products cost history is non-increasing (Algorithm 1's cost test)
    assert np.all(np.diff(cp.cost_history) <= 1e-9 * abs(cp.cost_history[0]))
    # the R peaks agree with neurokit2's detector on the same simulated ECG
    import neurokit2 as nk

    ours = namespace["info"]["ECG_R_Peaks"]
    _, nk_info = nk.ecg_peaks(namespace["ecg_signal"], sampling_rate=360)
    theirs = np.asarray(nk_info["ECG_R_Peaks"])
    assert len(ours) == len(theirs)
    assert np.max(np.abs(ours - theirs)) <= 0.02 * 360
    assert data.signal.shape == (20_000,)
