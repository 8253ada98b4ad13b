"""Turning op arguments into tensors of the right dtype, with PyTorch's type promotion.

PyTorch and NumPy differ here: int64 tensor + float32 tensor is float32 in PyTorch but float64
in NumPy, and a Python float never upcasts a float32 tensor. Ops call `binary_operands` so that
macrograd follows PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import xp
from ..tensor import Tensor, array_from_data

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def result_type(a: Tensor, b: Tensor) -> np.dtype:
    """The dtype of a binary op on a and b: the higher category (bool < int < float) wins;
    within a category the wider dtype wins, except that a 0-d tensor does not widen a
    tensor with dimensions (PyTorch's rule)."""
    da, db = a._data.dtype, b._data.dtype
    if da == db:
        return da
    ca, cb = _CATEGORY[da.kind], _CATEGORY[db.kind]
    if ca != cb:
        return da if ca > cb else db
    if a._data.ndim == 0 and b._data.ndim > 0:
        return db
    if b._data.ndim == 0 and a._data.ndim > 0:
        return da
    return np.promote_types(da, db)


def scalar_dtype(value, like: np.dtype) -> np.dtype:
    """The dtype a Python number takes next to a tensor of dtype `like`."""
    if isinstance(value, (bool, np.bool_)):
        return like
    if isinstance(value, (int, np.integer)):
        return like if like.kind != "b" else backend.int64
    if isinstance(value, (float, np.floating)):
        return like if like.kind in "fc" else backend.get_default_dtype()
    if isinstance(value, complex):
        return np.dtype("complex64")
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def to_tensor(value, like: Tensor | None = None) -> Tensor:
    """A Tensor from a tensor, a number (typed next to `like`) or an array-like."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, bool, np.number, np.bool_)):
        return Tensor(xp.asarray(value, dtype=scalar_dtype(value, like._data.dtype)))
    return Tensor(array_from_data(value))


def cast(t: Tensor, dtype: np.dtype) -> Tensor:
    if t._data.dtype == dtype:
        return t
    from .elementwise import to_dtype  # a differentiable cast

    return to_dtype(t, dtype)


def binary_operands(a, b):
    """Both operands as tensors of one common dtype."""
    if not isinstance(a, Tensor):
        a = to_tensor(a, like=b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = to_tensor(b, like=a)
    dtype = result_type(a, b)
    return cast(a, dtype), cast(b, dtype)


def float_operand(t: Tensor) -> Tensor:
    """Ops like exp and sqrt give floats: integer inputs are first cast to the default dtype."""
    return t if t._data.dtype.kind in "fc" else cast(t, backend.get_default_dtype())
