"""Built-in simulated data sets."""

from ._random_shapes import SpikeTrain, make_random_spike_train

__all__ = ["SpikeTrain", "make_random_spike_train"]
