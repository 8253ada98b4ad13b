"""Samplers (PyTorch's `torch.utils.data.Sampler` family): the order in which indices are visited.

Every sampler here also offers `index_array()`, the whole epoch's order as one int64 array, so the
DataLoader can slice batches out of it instead of building Python lists index by index.
"""
from __future__ import annotations

import numpy as np

from .. import backend


class Sampler:
    """Iterates over dataset indices; subclass it and define `__iter__` (and `__len__`)."""

    def __iter__(self):
        raise NotImplementedError

    def index_array(self) -> np.ndarray:
        return np.fromiter(iter(self), dtype=np.int64)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random permutation each epoch (or `num_samples` draws with replacement), taken from
    `generator` (a macrograd.Generator) or the global RNG seeded by mg.manual_seed."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got {num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def index_array(self) -> np.ndarray:
        n, rng = len(self.data_source), backend.rng_of(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        # More samples than the dataset holds: whole permutations back to back, as torch does.
        reps = -(-self.num_samples // n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(reps)]) if reps else np.empty(0, np.int64)
        return order[: self.num_samples].astype(np.int64, copy=False)

    def __iter__(self):
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def index_array(self) -> np.ndarray:
        indices = np.asarray(self.indices, dtype=np.int64)
        return indices[backend.rng_of(self.generator).permutation(len(indices))]

    def __iter__(self):
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size` (the last one shorter unless
    `drop_last`)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def index_batches(self):
        """The batches as int64 arrays sliced out of one epoch-long index array."""
        if hasattr(self.sampler, "index_array"):
            order = self.sampler.index_array()
        else:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]

    def __iter__(self):
        for batch in self.index_batches():
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
