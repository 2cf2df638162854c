"""Selection rules of benchmarks/convex_relu.py ("ours, validated" and the validated MLP row),
against a plain enumeration written out here."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "convex_relu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("_convex_relu_benchmark", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fold_errors(rng):
    configs = [(kind, scale, alpha) for kind in ("exact", "gated")
               for scale in (0.5, 1.0, 2.0) for alpha in (1e-4, 1e-3, 1e-2)]
    return {c: list(0.05 + 0.02 * rng.random(5)) for c in configs}


def _reference(errors, rule):
    means = {c: sum(v) / len(v) for c, v in errors.items()}
    best = sorted(means, key=lambda c: (means[c], c))[0]
    if rule == "min":
        return best
    v = errors[best]
    m = means[best]
    sd = (sum((e - m) ** 2 for e in v) / (len(v) - 1)) ** 0.5
    limit = m + sd / len(v) ** 0.5
    near = [c for c in means if c[0] == best[0] and means[c] <= limit]
    return sorted(near, key=lambda c: (c[2] / c[1], c[2], c))[-1]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("rule", ["min", "1se"])
def test_select_matches_enumeration(bench, seed, rule):
    errors = _fold_errors(np.random.default_rng(seed))
    pick, means, threshold = bench.select(errors, rule, lambda c: c[0],
                                          bench.ours_regularization)
    assert pick == _reference(errors, rule)
    assert (threshold is None) == (rule == "min")


def test_one_se_prefers_regularised_within_noise(bench):
    # two configurations with the same fold errors up to 1e-3, far below one standard error:
    # "min" takes the lower mean, "1se" the larger alpha / scale; a third one beyond the
    # threshold and one of the other kind are never taken by "1se"
    base = [0.04, 0.08, 0.05, 0.07, 0.06]
    errors = {("exact", 1.0, 1e-4): base,
              ("exact", 1.0, 1e-3): [e + 1e-3 for e in base],
              ("exact", 1.0, 1e-2): [e + 0.05 for e in base],
              ("gated", 0.5, 1e-2): [e + 2e-3 for e in base]}
    fam, reg = (lambda c: c[0]), bench.ours_regularization
    assert bench.select(errors, "min", fam, reg)[0] == ("exact", 1.0, 1e-4)
    pick, _, threshold = bench.select(errors, "1se", fam, reg)
    assert pick == ("exact", 1.0, 1e-3)
    # by hand: mean 0.06, fold deviations -0.02, 0.02, -0.01, 0.01, 0 -> sd (ddof 1)
    # sqrt(0.001 / 4), standard error sd / sqrt(5)
    assert threshold == pytest.approx(0.06 + (0.001 / 4) ** 0.5 / 5 ** 0.5, rel=1e-12)


def test_one_se_tie_in_alpha_over_scale_goes_to_larger_alpha(bench):
    # ("exact", 1, 1e-3) and ("exact", 2, 2e-3) penalize the slopes alike (alpha / scale =
    # 1e-3); both within one standard error: the larger alpha (biases penalized more) wins,
    # though listed second (a key on alpha / scale alone would keep the first)
    base = [0.04, 0.08, 0.05, 0.07, 0.06]
    errors = {("exact", 1.0, 1e-4): base,
              ("exact", 1.0, 1e-3): [e + 5e-4 for e in base],
              ("exact", 2.0, 2e-3): [e + 1e-3 for e in base]}
    fam, reg = (lambda c: c[0]), bench.ours_regularization
    assert bench.select(errors, "1se", fam, reg)[0] == ("exact", 2.0, 2e-3)


def test_mlp_regularization_order(bench):
    # larger alpha first, then fewer units
    configs = [(200, 1e-4), (50, 1e-4), (200, 1e-2), (50, 1e-2)]
    assert max(configs, key=bench.mlp_regularization) == (50, 1e-2)
    assert min(configs, key=bench.mlp_regularization) == (200, 1e-4)
