"""Grad mode: whether ops record the graph. `no_grad` for evaluation and in-place updates."""
from __future__ import annotations

import functools

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


class _GradModeContext:
    """Sets grad mode for a `with` block, or for every call of a decorated function:
    `@mg.no_grad()` and, as in PyTorch, `@mg.no_grad` without parentheses."""

    mode = True

    def __new__(cls, function=None):
        self = super().__new__(cls)
        if callable(function) and cls is not set_grad_enabled:  # @no_grad without ()
            return self(function)
        return self

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
        """Use as a decorator: the function runs with the mode set, whatever the caller's mode."""
        mode = self.mode

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with _Fixed(mode):
                return function(*args, **kwargs)

        return wrapper


class _Fixed(_GradModeContext):
    def __init__(self, mode):
        self.mode = mode


class no_grad(_GradModeContext):
    """Inside `with mg.no_grad():` ops record no graph: for evaluation and weight updates."""

    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a `no_grad` block."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """Turn graph recording on or off. As a plain call, `set_grad_enabled(False)` switches the
    mode at once; as a context manager or decorator it restores the previous mode afterwards."""

    def __new__(cls, mode):
        return super().__new__(cls)

    def __init__(self, mode: bool):
        global _enabled
        self.mode = bool(mode)
        self.previous = _enabled
        _enabled = self.mode  # takes effect immediately, as in PyTorch

    def __enter__(self):
        return self

    def __call__(self, function):
        global _enabled
        _enabled = self.previous  # decorating must not change the mode of the decorating code
        return super().__call__(function)
