"""Where the tests find the real recordings of ``shared/data`` (not in the repository).

``$SPARSE_EVENTS_DATA`` when set (the data-folder variable of the notebooks and the
benchmark scripts), else ``../shared/data`` beside the repository.  Tests that need
these recordings skip when the folder is absent; the committed excerpts under
``tests/data`` are used everywhere else.
"""
from __future__ import annotations

import os
from pathlib import Path

_BESIDE_REPOSITORY = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_dir() -> Path:
    """The ``shared/data`` folder: ``$SPARSE_EVENTS_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("SPARSE_EVENTS_DATA", _BESIDE_REPOSITORY))
