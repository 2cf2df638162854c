"""Overlapping chunks for processing long recordings with bounded memory.

A recording of ``n`` samples is cut into *cores* ``[core_start, core_stop)``
that tile ``[0, n)`` exactly (no gap, no overlap), each extended by a
``margin`` on both sides (clipped to the recording) into the segment that is
actually processed.  Results are kept only when they fall in the core of the
chunk that produced them, so an event near a core boundary is seen with at
least ``margin`` samples of context on both sides and is reported by exactly
one chunk: never lost, never doubled.

Core boundaries (and segment starts) are multiples of ``align`` samples so
that decimation grids and block statistics computed per segment coincide with
those of the whole signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int

__all__ = ["Chunk", "plan_chunks"]


@dataclass(frozen=True)
class Chunk:
    """One chunk: the processed segment ``[start, stop)`` and its core ``[core_start, core_stop)``."""

    start: int
    stop: int
    core_start: int
    core_stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def owns(self, index) -> np.ndarray:
        """Whether absolute sample index(es) fall in this chunk's core."""
        index = np.asarray(index)
        return (index >= self.core_start) & (index < self.core_stop)


def plan_chunks(n_samples, chunk_samples=None, margin_samples=0, *, align=1):
    """Cut ``[0, n_samples)`` into cores of about ``chunk_samples`` with margins.

    Parameters
    ----------
    n_samples : int
        Length of the recording (>= 1).
    chunk_samples : int or None
        Core length (rounded up to a multiple of ``align``); None or a value
        ``>= n_samples`` gives a single chunk covering everything.
    margin_samples : int
        Context added on each side of a core (rounded up to a multiple of
        ``align``), clipped to the recording.
    align : int
        Core boundaries and segment starts are multiples of ``align``.

    Returns
    -------
    list of Chunk
        Cores tile ``[0, n_samples)`` in order.
    """
    n = check_int(n_samples, "n_samples", low=1)
    align = check_int(align, "align", low=1)
    margin = check_int(margin_samples, "margin_samples", low=0)
    margin = -(-margin // align) * align
    if chunk_samples is None:
        return [Chunk(0, n, 0, n)]
    size = check_int(chunk_samples, "chunk_samples", low=1)
    size = -(-size // align) * align
    if size >= n:
        return [Chunk(0, n, 0, n)]
    chunks = []
    core_start = 0
    while core_start < n:
        core_stop = min(core_start + size, n)
        if n - core_stop < size // 4:  # avoid a tiny last core: merge it
            core_stop = n
        chunks.append(Chunk(max(0, core_start - margin), min(n, core_stop + margin),
                            core_start, core_stop))
        core_start = core_stop
    return chunks
