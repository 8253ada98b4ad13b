"""`DataLoader` (PyTorch's `torch.utils.data.DataLoader`): batches out of a dataset, epoch by epoch.

    loader = DataLoader(dataset, batch_size=64, shuffle=True, generator=mg.Generator().manual_seed(0))
    for x, y in loader: ...

The fast path: with the default collate and a dataset that has `get_batch(indices)` (TensorDataset,
Subset of one, MNIST, ...), each batch is one fancy index into the dataset's arrays, and the
epoch's order is one permutation array sliced into batches. Anything else goes sample by sample
through `dataset[i]` and `collate_fn`, exactly like torch.
"""
from __future__ import annotations

from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` (torch's arguments and defaults).

    `shuffle=True` draws a new permutation every epoch from `generator` (a macrograd.Generator)
    or from the global RNG (seeded by mg.manual_seed). `num_workers` is accepted for
    compatibility but loading always runs in this process: array batches cost microseconds.
    """

    def __init__(
        self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
        collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
        generator=None, *, prefetch_factor=None, persistent_workers=False,
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."
            )
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._auto_collation = collate_fn is None or collate_fn is default_collate

        if isinstance(dataset, IterableDataset):
            if shuffle:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and batch_sampler options")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )

        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not isinstance(dataset, IterableDataset):
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_batching else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_batching(self) -> bool:
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None
        )

    def __iter__(self):
        dataset, collate = self.dataset, self.collate_fn
        if isinstance(dataset, IterableDataset):
            yield from self._iter_stream()
        elif self.batch_sampler is None:  # batch_size=None: one converted sample at a time
            for index in self.sampler:
                yield collate(dataset[index])
        elif (
            self._auto_collation and getattr(dataset, "get_batch", None) is not None
            and hasattr(self.batch_sampler, "index_batches")
        ):
            get_batch = dataset.get_batch
            for indices in self.batch_sampler.index_batches():
                yield default_convert(get_batch(indices))
        else:
            for indices in self.batch_sampler:
                yield collate([dataset[i] for i in indices])

    def _iter_stream(self):
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # TypeError if the stream has no length, as in torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)
