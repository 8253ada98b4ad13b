"""Comparisons and selection: ==, <, ... (no gradient), maximum, minimum and where (gradient
flows to the chosen element)."""
from __future__ import annotations

from ..autograd import Function, sum_to
from ..backend import xp
from ..tensor import Tensor
from .dtypes import binary_operands, to_tensor


def _compare(ufunc):
    def compare(input, other):
        a, b = binary_operands(input, other)
        return Tensor(ufunc(a._data, b._data))

    compare.__name__ = ufunc.__name__
    return compare


eq = _compare(xp.equal)
ne = _compare(xp.not_equal)
lt = _compare(xp.less)
le = _compare(xp.less_equal)
gt = _compare(xp.greater)
ge = _compare(xp.greater_equal)


def logical_and(input, other):
    return Tensor(xp.logical_and(to_tensor(input)._data, to_tensor(other)._data))


def logical_or(input, other):
    return Tensor(xp.logical_or(to_tensor(input)._data, to_tensor(other)._data))


def logical_xor(input, other):
    return Tensor(xp.logical_xor(to_tensor(input)._data, to_tensor(other)._data))


def logical_not(input):
    return Tensor(xp.logical_not(to_tensor(input)._data))


def isnan(input):
    return Tensor(xp.isnan(input._data))


def isinf(input):
    return Tensor(xp.isinf(input._data))


def isfinite(input):
    return Tensor(xp.isfinite(input._data))


def equal(input, other) -> bool:
    """True if both tensors have the same shape and elements."""
    return input.shape == other.shape and bool(xp.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(xp.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return Tensor(xp.isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


class Where(Function):
    """y = a where cond else b;  da = dy * cond,  db = dy * (1 - cond)"""

    def forward(ctx, cond, a, b):
        ctx.save(cond)
        ctx.shapes = a.shape, b.shape
        return xp.where(cond, a, b)

    def backward(ctx, dy):
        (cond,) = ctx.saved
        sa, sb = ctx.shapes
        zero = xp.zeros((), dy.dtype)
        return (
            None,
            sum_to(xp.where(cond, dy, zero), sa) if ctx.needs_input_grad[1] else None,
            sum_to(xp.where(cond, zero, dy), sb) if ctx.needs_input_grad[2] else None,
        )


def where(condition, input=None, other=None):
    """Elementwise choice: input where condition holds, else other. `where(cond)` alone gives
    the indices of the true elements, like `nonzero(as_tuple=True)`."""
    condition = to_tensor(condition)
    if input is None and other is None:
        return tuple(Tensor(i.astype(xp.int64)) for i in xp.nonzero(condition._data))
    if condition._data.dtype != bool:
        raise TypeError(f"where: condition must be a bool tensor, got {condition.dtype}")
    a, b = binary_operands(input, other)
    return Where.apply(condition, a, b)


def maximum(input, other):
    """Elementwise max (NaN propagates); at ties the gradient is split evenly, as in PyTorch."""
    return Extreme.apply(*binary_operands(input, other), largest=True)


def minimum(input, other):
    """Elementwise min (NaN propagates); at ties the gradient is split evenly, as in PyTorch."""
    return Extreme.apply(*binary_operands(input, other), largest=False)


class Extreme(Function):
    """y = max(a, b) (or min);  da = dy where a wins, db = dy where b wins, dy / 2 each at a tie"""

    def forward(ctx, a, b, largest):
        ctx.shapes = a.shape, b.shape
        wins = a > b if largest else a < b
        ties = a == b
        ctx.save(wins, ties)
        return xp.maximum(a, b) if largest else xp.minimum(a, b)

    def backward(ctx, dy):
        wins, ties = ctx.saved
        sa, sb = ctx.shapes
        share_a = wins + 0.5 * ties
        da = sum_to(dy * share_a.astype(dy.dtype), sa) if ctx.needs_input_grad[0] else None
        db = sum_to(dy * (1 - share_a).astype(dy.dtype), sb) if ctx.needs_input_grad[1] else None
        return da, db


def nonzero(input, as_tuple=False):
    indices = xp.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor(i.astype(xp.int64)) for i in indices)
    return Tensor(xp.stack(indices, axis=1).astype(xp.int64))


TENSOR_METHODS = (
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isfinite", "equal", "allclose", "isclose", "maximum", "minimum", "nonzero",
)
