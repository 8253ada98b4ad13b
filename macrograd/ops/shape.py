"""Ops that move elements around without changing them: reshape, permute, expand, squeeze, ...

Their backward does the inverse move (reshape back, inverse permutation, sum over expanded dims).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, sum_to
from ..backend import xp
from .reduce import normalize_dims


def _shape_arg(shape):
    """Accept view(2, 3) and view((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    """y = x with a new shape (same elements in row-major order);  dx = dy reshaped back"""

    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise RuntimeError(
                f"reshape: shape {list(shape)} is invalid for input of size {x.size} "
                f"(shape {tuple(x.shape)})"
            ) from None

    def backward(ctx, dy):
        return dy.reshape(ctx.shape)


class Permute(Function):
    """y = x with dims reordered;  dx = dy with the inverse order"""

    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return xp.transpose(x, dims)

    def backward(ctx, dy):
        return xp.transpose(dy, ctx.inverse)


class Expand(Function):
    """y = x broadcast to a larger shape (no copy);  dx = dy summed over the broadcast dims"""

    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return xp.broadcast_to(x, shape)

    def backward(ctx, dy):
        return sum_to(dy, ctx.shape)


def reshape(input, *shape):
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape=shape)


def view(input, *shape):
    """Like reshape; macrograd copies where NumPy cannot make a view, so it never fails on
    non-contiguous input (PyTorch's view would, asking for reshape)."""
    return reshape(input, *shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    start, end = start_dim % input.ndim, end_dim % input.ndim
    if start > end:
        raise RuntimeError(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    shape = input.shape[:start] + (-1,) + input.shape[end + 1 :]
    if 0 in input.shape:
        shape = input.shape[:start] + (int(np.prod(input.shape[start : end + 1])),) + input.shape[end + 1 :]
    return reshape(input, shape)


def unflatten(input, dim, sizes):
    dim = dim % input.ndim
    return reshape(input, input.shape[:dim] + tuple(sizes) + input.shape[dim + 1 :])


def permute(input, *dims):
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute: number of dims {len(dims)} does not match the tensor's {input.ndim} dims "
            f"(shape {tuple(input.shape)})"
        )
    dims = tuple(d % max(input.ndim, 1) for d in dims)
    if sorted(dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of 0..{input.ndim - 1}")
    return Permute.apply(input, dims=dims)


def transpose(input, dim0, dim1):
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    d0, d1 = normalize_dims(dim0, input.ndim, "transpose")[0], normalize_dims(dim1, input.ndim, "transpose")[0]
    dims = list(range(input.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, dims=tuple(dims))


swapaxes = transpose


def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but it has {input.ndim}")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def expand(input, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes {len(sizes)} must be at least the tensor's dims {input.ndim}"
        )
    shape = tuple(input.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    for i, n in enumerate(input.shape):
        if n != 1 and n != shape[lead + i]:
            raise RuntimeError(
                f"expand: the expanded size {shape[lead + i]} must match the existing size {n} at "
                f"dimension {lead + i} (shape {tuple(input.shape)} -> {list(sizes)})"
            )
    return Expand.apply(input, shape=shape)


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def squeeze(input, dim=None):
    if dim is None:
        shape = tuple(n for n in input.shape if n != 1)
    else:
        dims = normalize_dims(dim, input.ndim, "squeeze")
        shape = tuple(n for i, n in enumerate(input.shape) if not (i in dims and n == 1))
    return reshape(input, shape)


def unsqueeze(input, dim):
    rank = input.ndim + 1
    if not -rank <= dim < rank:
        raise IndexError(
            f"unsqueeze: dimension {dim} is out of range (expected to be in range of [{-rank}, {rank - 1}])"
        )
    dim %= rank
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


TENSOR_METHODS = (
    "reshape", "view", "flatten", "unflatten", "permute", "transpose", "swapaxes", "t", "expand",
    "expand_as", "broadcast_to", "squeeze", "unsqueeze",
)
