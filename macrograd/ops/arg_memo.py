"""Checked arguments of recent calls, for ops that a layer calls with the same arguments every
time (conv2d, max_pool2d): checking them anew costs as much as the op itself at batch 1 (bench W6).

Only plain arguments make a key - ints, None and tuples of ints - so that two keys are equal
exactly when the arguments are (a list is unhashable, and a bool would compare equal to 0 or 1
but be an error for the op); anything else is checked at every call.
"""
from __future__ import annotations


def plain(*values) -> bool:
    """Every value an int (not a bool), None, or a tuple of ints."""
    return all(type(v) is int or v is None or (type(v) is tuple and all(type(n) is int for n in v))
               for v in values)


class ArgMemo:
    """A bounded dict from argument keys to what checking them gave; a key of None (arguments
    that are not plain) is never stored or found."""

    def __init__(self, size: int = 256):
        self.size, self.entries = size, {}

    def get(self, key):
        return None if key is None else self.entries.get(key)

    def put(self, key, value) -> None:
        if key is None:
            return
        if len(self.entries) >= self.size:  # bounded: shapes that keep changing start it afresh
            self.entries.clear()
        self.entries[key] = value
