"""Progress bars (tqdm) that stay silent when asked or when not on a terminal."""

from __future__ import annotations

import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _tqdm_class():
    """``tqdm.auto.tqdm`` with ipywidgets installed, else the text ``tqdm`` (resolved once:
    a failed optional import costs tens of microseconds per bar otherwise)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm


def progress_enabled(progress) -> bool:
    """Resolve a ``progress`` flag: ``None`` means "only on an interactive terminal"."""
    if progress is None:
        stream = sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())
    return bool(progress)


def progress_bar(iterable=None, *, total=None, desc=None, progress=None, unit="it"):
    """A ``tqdm`` bar over ``iterable``, disabled when ``progress`` resolves to False.

    In Jupyter with ipywidgets installed the bar is a widget (``tqdm.auto``);
    otherwise a text bar on stderr (``tqdm.auto`` without ipywidgets would warn).
    """
    return _tqdm_class()(iterable, total=total, desc=desc, unit=unit,
                disable=not progress_enabled(progress), file=sys.stderr)
