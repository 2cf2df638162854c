"""References computed by scipy itself, shared by the tests."""

import numpy as np
from scipy import signal as sps


def sosfiltfilt_min_length(sos):
    """Shortest input scipy's ``sosfiltfilt`` (default padlen) accepts, found by trying it."""
    n = 1
    while True:
        try:
            sps.sosfiltfilt(sos, np.zeros(n))
            return n
        except ValueError:
            n += 1
