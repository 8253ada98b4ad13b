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


def iou_per_class(matrix) -> np.ndarray:
    """Intersection over union of each class from a confusion matrix (rows true, columns predicted):
    IoU_c = TP_c / (TP_c + FP_c + FN_c) = C[c, c] / (sum_j C[c, j] + sum_i C[i, c] - C[c, c]).
    NaN for a class absent from both the truth and the predictions (0 / 0: nothing to score)."""
    matrix = as_numpy(matrix).astype(np.float64)
    hits = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def mean_iou(matrix) -> float:
    """The mean of iou_per_class over the classes that occur in the truth or the predictions
    (classes absent from both are left out, not counted as 0 or 1); NaN when none occurs.
    Pass the confusion matrix summed over a whole data set: that is the usual (PASCAL VOC,
    Cityscapes) dataset-level mIoU, not a mean of per-image scores."""
    iou = iou_per_class(matrix)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan


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
