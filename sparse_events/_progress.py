"""Progress bars (tqdm) that stay silent when asked or when not on a terminal."""

from __future__ import annotations

import sys


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
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit,
                disable=not progress_enabled(progress), file=sys.stderr)
