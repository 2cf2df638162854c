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
    _check_cross_products_claim(namespace)


def _check_cross_products_claim(namespace):
    """The comment of the cross-products example: no two events closer than the window
    (31 samples for ``refractory_window(30)``), every event on a true one (the generator's
    events are at least 31 apart), and the plain LASSO with the same beta leaves close
    pairs (so the claim is the cross-products term's doing)."""
    import sparse_events as se

    cp, data, g = namespace["cp"], namespace["data"], namespace["g"]
    window = len(g)  # lags 0..L_g: pairs 1..L_g apart are penalised
    truth = np.flatnonzero(data.coef)
    assert se.metrics.min_distance_violations(data.coef, window) == 0
    assert se.metrics.min_distance_violations(cp.coef, window) == 0
    found = np.flatnonzero(cp.coef)
    assert found.size >= 0.8 * truth.size
    assert np.all(np.isin(found, truth))  # every event on a true one
    lasso = se.deconvolve(data.signal, data.kernel, 1.0 / (2.0 * _beta_of_readme()))
    assert se.metrics.min_distance_violations(lasso.coef, window) > 0


def _beta_of_readme():
    match = re.search(r"cross_products_deconvolve\([^)]*beta=([0-9.eE+-]+)", _first_python_block())
    assert match, "the README's cross-products call has no beta="
    return float(match.group(1))


def test_readme_command_lines_name_existing_records():
    """The README's command-line examples use ../shared/data records that exist (in a
    clone beside ../shared; skipped elsewhere)."""
    root = README.parent
    if not (root.parent / "shared" / "data").is_dir():
        pytest.skip("no ../shared/data beside the repository")
    text = README.read_text(encoding="utf-8")
    paths = re.findall(r"(\.\./shared/data/\S+)", "".join(
        re.findall(r"```bash\n(.*?)```", text, flags=re.S)))
    assert paths, "no ../shared/data example in the README's command lines"
    for p in paths:
        target = (root / p).resolve()
        assert target.exists() or target.with_name(target.name + ".hea").is_file(), (
            f"README command line names {p}, which is not in ../shared/data")
