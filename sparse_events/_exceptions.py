"""Warnings and exceptions of sparse-events."""


class ConvergenceWarning(UserWarning):
    """A solver stopped (at its iteration limit) before meeting its tolerance."""


__all__ = ["ConvergenceWarning"]
