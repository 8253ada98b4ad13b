"""Functions that make tensors: from data (`tensor`), filled (`zeros`, `full`, `eye`, ...),
ranges (`arange`, `linspace`) and random draws (`rand`, `randn`, `randint`), with PyTorch's
signatures: sizes as varargs or one tuple, `dtype=`, `requires_grad=`."""
from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor, array_from_data


def _size(size):
    """Accept zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"sizes must be integers, got {tuple(size)}")
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(size)}")
    return tuple(int(n) for n in size)


def _float_dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _make(array, requires_grad):
    return Tensor(backend.to_device_array(array), requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, NumPy arrays, tensors)."""
    return Tensor(array_from_data(data, dtype), requires_grad=requires_grad)


def as_tensor(data, dtype=None) -> Tensor:
    """`data` itself if it is already a tensor of that dtype, else a new tensor."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (its dtype is kept)."""
    return Tensor(backend.to_device_array(array))


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(_size(size), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.ones(_size(size), _float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.empty(_size(size), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = _scalar_dtype(fill_value)
    return _make(np.full(_size((size,)), fill_value, np.dtype(dtype)), requires_grad)


def _scalar_dtype(value):
    if isinstance(value, bool):
        return backend.bool_
    if isinstance(value, (int, np.integer)):
        return backend.int64
    return backend.get_default_dtype()


def _like_dtype(input, dtype):
    return input.dtype if dtype is None else np.dtype(dtype)


def zeros_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(input.shape, _like_dtype(input, dtype)), requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.ones(input.shape, _like_dtype(input, dtype)), requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(input, dtype=dtype, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.full(input.shape, fill_value, _like_dtype(input, dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers start, start+step, ... < end (int64 unless any bound is a float)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = backend.int64 if is_int else backend.get_default_dtype()
    # Compute in float64 and cast, as PyTorch does, so the length is the exact ceil((end-start)/step).
    count = max(int(np.ceil((end - start) / step)), 0)
    return _make((start + step * np.arange(count, dtype=np.float64)).astype(dtype), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.linspace(start, end, int(steps)).astype(_float_dtype(dtype)), requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.logspace(start, end, int(steps), base=base).astype(_float_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def _random_float_dtype(dtype, op):
    dtype = _float_dtype(dtype)
    if dtype.kind != "f":  # a uniform or normal draw rounded to integers is never what is meant
        raise RuntimeError(f"{op}: random floats need a floating point dtype, got {dtype}")
    return dtype


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform on [0, 1)."""
    dtype = _random_float_dtype(dtype, "rand")
    array = backend.rng_of(generator).random(_size(size), dtype=np.float64)
    return _make(array.astype(dtype), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal N(0, 1)."""
    dtype = _random_float_dtype(dtype, "randn")
    array = backend.rng_of(generator).standard_normal(_size(size))
    return _make(array.astype(dtype), requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size)."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() needs a size, e.g. randint(0, 10, (3,))")
    array = backend.rng_of(generator).integers(low, high, _size((size,)))
    return _make(array.astype(backend.int64 if dtype is None else np.dtype(dtype)), requires_grad)


def randperm(n, generator=None, dtype=None, device=None) -> Tensor:
    array = backend.rng_of(generator).permutation(int(n))
    return _make(array.astype(backend.int64 if dtype is None else np.dtype(dtype)), False)


def rand_like(input, dtype=None, generator=None, requires_grad=False) -> Tensor:
    return rand(*input.shape, generator=generator, dtype=_like_dtype(input, dtype), requires_grad=requires_grad)


def randn_like(input, dtype=None, generator=None, requires_grad=False) -> Tensor:
    return randn(*input.shape, generator=generator, dtype=_like_dtype(input, dtype), requires_grad=requires_grad)


def randint_like(input, low, high=None, dtype=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=_like_dtype(input, dtype))
