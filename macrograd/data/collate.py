"""Turning a list of samples into one batch: `default_collate` (stack) and `default_convert`.

    default_collate([(x0, 0), (x1, 1)]) == [Tensor(stack([x0, x1])), Tensor([0, 1])]

NumPy arrays, NumPy scalars, numbers and Tensors are stacked into one Tensor along a new dim 0;
tuples, lists, dicts and namedtuples are collated field by field (tuples come back as lists,
as in torch); strings stay lists. Python ints become int64 and Python floats the default float
dtype (float32; torch gives float64 here, which would upcast every later op), arrays keep theirs.
"""
from __future__ import annotations

import collections.abc

import numpy as np

from .. import backend
from ..tensor import Tensor, array_from_data


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _stack(arrays, what: str) -> Tensor:
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        first = tuple(arrays[0].shape)
        at = next(i for i, a in enumerate(arrays) if tuple(a.shape) != first)
        raise RuntimeError(
            f"default_collate: stack expects each {what} to be equal size, but got {list(first)} "
            f"at entry 0 and {list(arrays[at].shape)} at entry {at}"
        )
    return Tensor(backend.xp.stack(arrays))


def default_collate(batch):
    """Stack a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([t._data for t in batch], "tensor")
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(f"default_collate: cannot collate NumPy arrays of dtype {elem.dtype}")
        return _stack([backend.to_device_array(a) for a in batch], "array")
    if isinstance(elem, np.generic):
        return Tensor(backend.to_device_array(np.array(batch, dtype=elem.dtype)))
    if isinstance(elem, bool):
        return Tensor(backend.to_device_array(np.array(batch, dtype=np.bool_)))
    if isinstance(elem, int):
        return Tensor(array_from_data(batch))  # int64, or float if some samples are floats
    if isinstance(elem, float):
        return Tensor(backend.to_device_array(np.array(batch, dtype=backend.get_default_dtype())))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:  # a Mapping type that cannot be built from a dict
            return collated
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def default_convert(data):
    """Arrays to Tensors (no stacking), recursing like default_collate: for unbatched samples and
    for batches that a dataset's `get_batch` already gathered as arrays."""
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "USO" else Tensor(backend.to_device_array(data))
    if backend.xp is not np and isinstance(data, backend.xp.ndarray):  # pragma: no cover - GPU only
        return Tensor(data)
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return [default_convert(d) for d in data]
    return data
