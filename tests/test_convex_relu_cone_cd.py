"""Coordinate descent on the exact convex ReLU program: the cutting planes of the cones.

The Gram-space subproblem keeps, per pattern, candidate rows of the cone
constraints (cutting planes).  Their lists had a fixed capacity and a full list
replaced its row with the largest slack at the block being cut, although the
other blocks of the pattern (outputs and signs) share the list: on a problem
found by the property test ``test_convex_relu_network_attains_certified_optimum``
(seed 7681, drawn by hypothesis) two blocks of one pattern evicted each
other's active row at every cut, each cut's projection raised the objective,
and coordinate descent stayed 8e-4 (relative) above the optimum with a relative
duality gap of 0.3 whatever ``max_iter`` (and 0.5 percent and 45 percent above it on two
random problems of a sweep, 2026-11-24).  Reference: the same program solved
by our FISTA at a tight tolerance.
"""

import warnings

import numpy as np
import pytest

from sparse_events import ConvexReLURegressor
from sparse_events._exceptions import ConvergenceWarning
from sparse_events.solvers import MaskedBlockDesign
from sparse_events.solvers._group_gram import GramSubproblem


def _relu_data(seed, n, d, outputs):
    # the data of tests/test_properties_models.py::_relu_data, and a third output
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = np.c_[np.abs(X[:, 0]) - X[:, -1], np.maximum(X.sum(axis=1), 0),
              2 * np.maximum(X[:, 0], 0) - np.abs(X[:, -1])][:, :outputs]
    Y = Y + 0.05 * rng.standard_normal(Y.shape)
    return X, (Y[:, 0] if outputs == 1 else Y)


# (seed, n, d, outputs, n_patterns, alpha, fit_intercept): the property test's case and
# two of the 14 stalls of the old code among 1000 random small problems (a sweep)
STALLED = [(7681, 53, 3, 2, 4, 0.01, True),
           (520055274, 196, 3, 3, 2, 0.0039533268822735815, True),
           (1789601410, 106, 2, 2, 5, 0.001620738399407615, False)]


@pytest.mark.parametrize("case", STALLED)
def test_cone_cd_reaches_the_certified_optimum(case):
    seed, n, d, outputs, n_patterns, alpha, fit_intercept = case
    X, y = _relu_data(seed, n, d, outputs)
    kw = dict(n_patterns=n_patterns, alpha=alpha, fit_intercept=fit_intercept,
              random_state=seed)
    tol = 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # max_iter small: the old code stalled at every outer iteration (2000 passes each)
        cd = ConvexReLURegressor(solver="cd", tol=tol, max_iter=5, **kw).fit(X, y)
    ref = ConvexReLURegressor(solver="fista", tol=1e-11, max_iter=100_000, **kw).fit(X, y)
    assert ref.converged_
    assert cd.converged_
    assert cd.dual_gap_ <= tol * cd.objective_
    assert cd.objective_ == pytest.approx(ref.objective_, rel=1e-6)


def test_cut_keeps_every_candidate_and_grows_the_lists():
    rng = np.random.default_rng(0)
    n, d = 60, 3
    X = np.c_[rng.standard_normal((n, d)), np.ones(n)]
    masks = X @ rng.standard_normal((d + 1, 2)) >= 0
    design = MaskedBlockDesign(X, masks, n_outputs=3, n_signs=2)
    p, P = design.p, design.n_patterns
    cap = design._cand.shape[1]
    # pattern 0's list full of rows
    design._cand[0] = np.arange(cap)
    design._ncand[0] = cap
    before = design._cand[0].copy()
    # every block of pattern 0 (3 outputs x 2 signs) non-zero and violating rows outside
    ws = np.flatnonzero(np.arange(design.n_features // p) % P == 0)
    x = rng.standard_normal(design.n_features)
    corr = np.zeros(design.n_features)
    sub = GramSubproblem(design, ws, x, corr, np.ones(design.n_features // p), cone=True)
    C = np.where(masks[:, 0], 1.0, -1.0)[:, None] * X
    violated = [set(np.flatnonzero(C @ sub.x[a * p:(a + 1) * p] < 0)) - set(before)
                for a in range(ws.size)]
    assert all(violated)          # (the check below is not vacuous)
    added = sub.cut(max_add=2)
    cand = design._cand[0, :design._ncand[0]]
    assert added == design._ncand[0] - cap > 0
    assert design._cand.shape[1] > cap
    np.testing.assert_array_equal(cand[:cap], before)         # nothing evicted
    assert len(set(cand)) == cand.size                         # no duplicates
    # each block's most violated rows outside the list are now candidates
    for a in range(ws.size):
        viol = C @ x[ws[a] * p:(ws[a] + 1) * p] / np.linalg.norm(X, axis=1)
        outside = [i for i in np.argsort(viol) if i not in set(before) and viol[i] < 0]
        assert outside[0] in set(cand)
