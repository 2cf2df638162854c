"""Exact convex ReLU model on degenerate data: linearly dependent active cone constraints.

Integer-valued features (duplicate rows) made the multiplier system of the
cone-projected block solve singular: ``np.linalg.solve`` raised ``LinAlgError``
from inside the compiled kernel, and ``check_estimator``'s dtype check failed
for ``ConvexReLURegressor(n_patterns=5)`` (found by an adversarial input audit,
2026-11-24).  Reference: the same program solved by our FISTA.
"""

import numpy as np

from sparse_events import ConvexReLURegressor


def _integer_data():
    rng = np.random.RandomState(0)
    X = np.floor(rng.uniform(size=(20, 5)) * 3)
    return X, X[:, 0].copy()


def test_integer_features_fit_and_match_fista():
    X, y = _integer_data()
    cd = ConvexReLURegressor(n_patterns=5, random_state=0, tol=1e-8).fit(X, y)
    ref = ConvexReLURegressor(n_patterns=5, random_state=0, solver="fista", tol=1e-10,
                              max_iter=200_000).fit(X, y)
    assert cd.converged_ and ref.converged_
    a = cd.solver_result_.objective_history[-1]
    b = ref.solver_result_.objective_history[-1]
    assert abs(a - b) <= 1e-8 * abs(b)
    np.testing.assert_allclose(cd.predict(X), ref.predict(X), atol=1e-4 * np.abs(y).max())

