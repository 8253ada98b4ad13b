"""Metrics computed from whole batches of predictions: accuracy, confusion matrix, running means.

Everything here works on raw NumPy arrays (or Tensors, which are unwrapped), in one vectorised
call per batch: a metric must never cost a Python loop over samples.
"""
from __future__ import annotations

import math

import numpy as np


def as_numpy(value) -> np.ndarray:
    """A Tensor's (or array's) values as a NumPy array, outside autograd."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


def correct_count(logits, targets) -> int:
    """How many rows' argmax equals the target class:  sum_i [argmax_k z_ik == y_i]."""
    return int((as_numpy(logits).argmax(axis=-1) == as_numpy(targets)).sum())


def accuracy(logits, targets) -> float:
    """The fraction of rows whose argmax equals the target class."""
    targets = as_numpy(targets)
    return correct_count(logits, targets) / max(len(targets), 1)


def confusion_matrix(predictions, targets, num_classes: int) -> np.ndarray:
    """C[i, j] = how many samples of true class i were predicted as class j (one bincount)."""
    predictions = as_numpy(predictions).astype(np.int64).ravel()
    targets = as_numpy(targets).astype(np.int64).ravel()
    flat = np.bincount(targets * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


class RunningMean:
    """A mean over batches weighted by batch size, so the last, smaller batch counts fairly."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += float(value) * n
        self.count += n

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else math.nan


def is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
