"""Grad mode: whether ops record the graph. `no_grad` for evaluation and in-place updates."""
from __future__ import annotations

import functools

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


class set_grad_enabled:
    """Turn graph recording on or off; usable as a call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        global _enabled
        self.previous = _enabled
        _enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.previous
        return False


class _GradModeContext:
    mode = True

    def __enter__(self):
        global _enabled
        self.previous = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.previous
        return False

    def __call__(self, function):
        """Use as a decorator: `@mg.no_grad()` runs the function with the mode set."""

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return function(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Inside `with mg.no_grad():` ops record no graph: for evaluation and weight updates."""

    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a `no_grad` block."""

    mode = True
