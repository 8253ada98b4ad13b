"""Datasets (PyTorch's `torch.utils.data.Dataset` family): things you index to get one sample.

A map-style dataset has `__getitem__(i)` and `__len__()`. A dataset whose samples live in whole
arrays may also define `get_batch(indices)`: it returns the collated batch for an integer array of
indices as NumPy arrays (one fancy index per array), and the DataLoader then skips the Python loop
over samples. (`get_batch` may be None: the dataset cannot batch right now, e.g. MNIST with a
transform that has no batched form.) TensorDataset, Subset and MNIST do; a batch of 64 MNIST images costs one gather.
"""
from __future__ import annotations

import bisect
import math
import warnings

import numpy as np

from .. import backend
from ..tensor import Tensor


class Dataset:
    """A map-style dataset: subclass it and define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclass it and define `__iter__()` yielding samples."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset: + (ConcatDataset) works on map-style datasets only")


def _array(x):
    """The backend array inside a Tensor, or the NumPy array itself."""
    return x._data if isinstance(x, Tensor) else x


class TensorDataset(Dataset):
    """Sample i is `(t[i] for t in tensors)`; every tensor (or NumPy array) shares dim 0."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        sizes = [len(t) for t in tensors]
        if any(size != sizes[0] for size in sizes):
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(
                f"TensorDataset: size mismatch between tensors: dim 0 must match, got shapes {shapes}"
            )
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def get_batch(self, indices: np.ndarray):
        """The batch for `indices`, one fancy index per tensor (no per-sample loop)."""
        return tuple(_array(t)[indices] for t in self.tensors)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._index_array = np.asarray(indices, dtype=np.int64)
        if self._index_array.ndim != 1:
            raise ValueError(f"Subset: indices must be 1-D, got shape {self._index_array.shape}")

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name):
        # Offer get_batch only when the wrapped dataset has a usable one (see DataLoader).
        if name == "get_batch" and getattr(self.dataset, "get_batch", None) is not None:
            return lambda indices: self.dataset.get_batch(self._index_array[indices])
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class ConcatDataset(Dataset):
    """Several datasets one after the other: index i runs through the first, then the second, ..."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    `lengths` are sample counts summing to len(dataset), or fractions summing to 1: each part gets
    floor(fraction * n) and the remainder is dealt out one by one from the first part (as torch).
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this split is empty")
        lengths = counts
    if any(int(length) != length or length < 0 for length in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length of the "
            f"input dataset ({n})"
        )
    permutation = backend.rng_of(generator).permutation(n)
    offsets = np.cumsum([0] + [int(length) for length in lengths])
    return [Subset(dataset, permutation[a:b].tolist()) for a, b in zip(offsets[:-1], offsets[1:])]
