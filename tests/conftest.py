import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Hypothesis profiles: "ci" (default, quick) and "long" (10,000 examples per
# property; run with HYPOTHESIS_PROFILE=long pytest tests/test_properties.py).
# "ci" draws the same examples in every run (derandomize): a CI run is reproducible,
# and a random draw cannot fail or stall one run and not the next; "medium" and "long"
# explore new random examples (tests/run_long_properties.sh)
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("long", max_examples=10_000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("medium", max_examples=1000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
