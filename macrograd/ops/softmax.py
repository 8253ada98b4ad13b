"""softmax and log_softmax along one dim: fused, numerically stable, with hand-derived backward.

Both subtract the max before exponentiating (softmax(x) = softmax(x - c) for any c), so that
e^x never overflows; log_softmax never takes log of an underflowed 0 either.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Function
from ..backend import xp
from .dtypes import cast, to_tensor


def _log_softmax_array(x, axis):
    """log softmax(x) along `axis` on a raw array: (x - max) - log sum e^(x - max)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    total = xp.exp(shifted).sum(axis=axis, keepdims=True)
    shifted -= xp.log(total)  # in place: `shifted` is our own temporary
    return shifted


def _softmax_array(x, axis):
    """softmax(x) along `axis` on a raw array: e^(x - max) / sum e^(x - max)."""
    e = x - x.max(axis=axis, keepdims=True)
    xp.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


class Softmax(Function):
    """y = e^x / sum(e^x);  dx = y * (dy - sum(dy * y))"""

    def forward(ctx, x, dim):
        ctx.dim = dim
        y = _softmax_array(x, dim)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return y * (dy - (dy * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """y = x - log(sum(e^x));  dx = dy - softmax(x) * sum(dy)"""

    def forward(ctx, x, dim):
        ctx.dim = dim
        y = _log_softmax_array(x, dim)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy - xp.exp(y) * dy.sum(axis=ctx.dim, keepdims=True)


def _prepare(input, dim, dtype, op):
    """The input as a float tensor (cast to `dtype` if given) and dim as a non-negative axis."""
    input = to_tensor(input)
    if dtype is not None:
        input = cast(input, np.dtype(dtype))
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype} (pass dtype=...)")
    if dim is None:
        # PyTorch's legacy implicit choice, with its deprecation warning.
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. "
                      f"Change the call to include dim=X as an argument.", stacklevel=3)
    rank = max(input.ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor of shape "
                         f"{tuple(input.shape)} (expected to be in range of [{-rank}, {rank - 1}])")
    return input, dim % rank


def _apply(function_class, input, dim):
    if input.ndim == 0:  # a 0-d tensor is one class: view it as 1-d and back
        return function_class.apply(input.reshape(1), dim=0).reshape(())
    return function_class.apply(input, dim=dim)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(x)_i = e^x_i / sum_j e^x_j along `dim`; the entries along dim sum to 1."""
    input, dim = _prepare(input, dim, dtype, "softmax")
    return _apply(Softmax, input, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log_softmax(x)_i = x_i - log sum_j e^x_j along `dim` (stable, unlike log(softmax(x)))."""
    input, dim = _prepare(input, dim, dtype, "log_softmax")
    return _apply(LogSoftmax, input, dim)


TENSOR_METHODS = ("softmax", "log_softmax")
