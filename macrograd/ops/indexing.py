"""Indexing: `x[...]` with basic slices, integer arrays and boolean masks.

Backward scatters the gradient into a zero array at the indexed places; `np.add.at` adds, so
an element picked twice (x[[0, 0]]) gets both gradients.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor


def _is_basic(index) -> bool:
    """True when the index uses only ints, slices, None and Ellipsis (a view, no copy)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def unwrap_index(index):
    """Tensors inside an index become arrays (int64 or bool)."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(unwrap_index(i) for i in index)
    if isinstance(index, list):
        return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
    return index


class GetItem(Function):
    """y = x[index];  dx = zeros with dy added at the indexed places"""

    def forward(ctx, x, index):
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as error:
            raise IndexError(f"index {_describe(index)} is invalid for a tensor of shape {tuple(x.shape)}: {error}") from None

    def backward(ctx, dy):
        dx = xp.zeros(ctx.shape, dtype=dy.dtype)
        if _is_basic(ctx.index):
            dx[ctx.index] = dy  # basic indexing never repeats an element
        else:
            xp.add.at(dx, ctx.index, dy)
        return dx


def _describe(index):
    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(f"array{tuple(p.shape)}" if hasattr(p, "shape") else repr(p) for p in parts) + "]"


def getitem(input, index):
    return GetItem.apply(input, index=unwrap_index(index))


def setitem(input, index, value):
    """x[index] = value, in place, for tensors outside autograd."""
    from ..autograd import is_grad_enabled

    if input.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"__setitem__: cannot assign into a tensor that requires grad (shape {tuple(input.shape)}); "
            f"build the result with where/masked_fill/cat instead, or assign inside mg.no_grad()"
        )
    array = value._data if isinstance(value, Tensor) else value
    input._data[unwrap_index(index)] = array
    input._bump_version()


TENSOR_METHODS = ()
