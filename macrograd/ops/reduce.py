"""Reductions over dimensions: sum, mean (more are added alongside: prod, max, min, var, ...).

`dim` may be None (all), an int or a tuple; `keepdim` keeps reduced dims with size 1.
Backward re-inserts the reduced dims and broadcasts the gradient back over them.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .dtypes import float_operand, to_tensor


def normalize_dims(dim, ndim: int, op: str) -> tuple:
    """dim (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    rank = max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    result = []
    for d in dims:
        if not -rank <= d < rank:
            raise IndexError(
                f"{op}: dimension {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected to be in range of [{-rank}, {rank - 1}])"
            )
        result.append(d % rank)
    if len(set(result)) != len(result):
        raise RuntimeError(f"{op}: dim {dim} appears more than once in the list of dims")
    return tuple(sorted(d for d in result if d < ndim))


def expand_reduced(grad, shape, dims, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        grad = grad.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    """y = sum_i x_i over dims;  dx = dy broadcast back over those dims"""

    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        return xp.sum(x, axis=dims, keepdims=keepdim)

    def backward(ctx, dy):
        return expand_reduced(dy, ctx.shape, ctx.dims, ctx.keepdim)


class Mean(Function):
    """y = (1/n) sum_i x_i over dims;  dx = dy / n broadcast back"""

    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        ctx.count = 1
        for d in dims:
            ctx.count *= x.shape[d]
        return xp.mean(x, axis=dims, keepdims=keepdim)

    def backward(ctx, dy):
        return expand_reduced(dy / ctx.count, ctx.shape, ctx.dims, ctx.keepdim)


def sum(input, dim=None, keepdim=False, dtype=None):
    input = to_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "bui":
        input = input.to(xp.int64)  # PyTorch sums integers and bools as int64
    return Sum.apply(input, dims=normalize_dims(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    input = to_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {input.dtype}"
        )
    return Mean.apply(input, dims=normalize_dims(dim, input.ndim, "mean"), keepdim=keepdim)


TENSOR_METHODS = ("sum", "mean")
