"""Reductions over dimensions: sum, mean, prod, max/min, amax/amin, argmax/argmin, var/std,
logsumexp, norm, cumsum, all/any, count_nonzero.

`dim` may be None (all), an int or a tuple; `keepdim` keeps reduced dims with size 1.
Backward re-inserts the reduced dims and broadcasts the gradient back over them.
"""
from __future__ import annotations

import builtins
import collections
import math

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .dtypes import float_operand, to_tensor


def normalize_dims(dim, ndim: int, op: str, empty_means_all: bool = False) -> tuple:
    """dim (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes.

    Reductions pass empty_means_all=True: PyTorch reads `dim=()` there as "every dim"."""
    if dim is None or (empty_means_all and isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    rank = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    result = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -rank <= d < rank:
            raise IndexError(
                f"{op}: dimension {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected to be in range of [{-rank}, {rank - 1}])"
            )
        result.append(int(d) % rank)
    if len(set(result)) != len(result):
        raise RuntimeError(f"{op}: dim {dim} appears more than once in the list of dims")
    return tuple(sorted(d for d in result if d < ndim))


def _one_dim(dim, ndim: int, op: str) -> int:
    """A single dim as a non-negative axis (0 for a 0-d tensor, which we treat as shape (1,))."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    rank = builtins.max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"{op}: dimension {dim} is out of range for a tensor with {ndim} dimensions "
            f"(expected to be in range of [{-rank}, {rank - 1}])"
        )
    return int(dim) % rank


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def expand_reduced(grad, shape, dims, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        grad = grad.reshape(_kept_shape(shape, dims))
    return xp.broadcast_to(grad, shape)


def _count(shape, dims) -> int:
    return math.prod(shape[d] for d in dims)


def _require_float(input: Tensor, op: str, what="floating point and complex dtypes"):
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}(): only supports {what}, got a tensor of dtype {input.dtype}")


# -- sum, mean, prod ---------------------------------------------------------------------------
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
        ctx.count = _count(x.shape, dims)
        return xp.mean(x, axis=dims, keepdims=keepdim)

    def backward(ctx, dy):
        return expand_reduced(dy / ctx.count, ctx.shape, ctx.dims, ctx.keepdim)


class Prod(Function):
    """y = prod_i x_i over dims;  dx_i = dy * prod_{j != i} x_j  (exact with zeros: not y / x_i)"""

    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        y = xp.prod(x, axis=dims, keepdims=True)
        ctx.save(x, y)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    def backward(ctx, dy):
        x, y = ctx.saved
        dy = expand_reduced(dy, ctx.shape, ctx.dims, ctx.keepdim)
        is_zero = x == 0
        zeros = xp.sum(is_zero, axis=ctx.dims, keepdims=True)
        if not zeros.any():  # the common case: prod_{j != i} x_j = y / x_i
            return dy * (y / x)
        # A slice with one zero: only the zero's element has a nonzero product of the others,
        # the product of the slice's nonzero elements. Two or more zeros: every gradient is 0.
        others_at_zero = xp.prod(xp.where(is_zero, 1, x), axis=ctx.dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            nonzero_case = xp.where(zeros == 0, y / xp.where(is_zero, 1, x), 0)
        local = xp.where(is_zero, xp.where(zeros == 1, others_at_zero, 0), nonzero_case)
        return dy * local.astype(x.dtype, copy=False)


def _sum_dtype(input: Tensor, dtype):
    if dtype is not None:
        return input.to(dtype)
    if input._data.dtype.kind in "bui":
        return input.to(xp.int64)  # PyTorch sums and multiplies integers and bools as int64
    return input


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over dims (all by default)."""
    input = _sum_dtype(to_tensor(input), dtype)
    dims = normalize_dims(dim, input.ndim, "sum", empty_means_all=True)
    return Sum.apply(input, dims=dims, keepdim=keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Arithmetic mean over dims (all by default); floating point only, as in PyTorch."""
    input = to_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {input.dtype}"
        )
    dims = normalize_dims(dim, input.ndim, "mean", empty_means_all=True)
    return Mean.apply(input, dims=dims, keepdim=keepdim)


def prod(input, dim=None, keepdim=False, dtype=None):
    """Product over one dim (all by default)."""
    input = _sum_dtype(to_tensor(input), dtype)
    dims = normalize_dims(dim, input.ndim, "prod") if dim is None else (_one_dim(dim, input.ndim, "prod"),)
    dims = tuple(d for d in dims if d < input.ndim)
    return Prod.apply(input, dims=dims, keepdim=keepdim)


# -- max, min, amax, amin, argmax, argmin -------------------------------------------------------
# PyTorch's torch.return_types.max / .min: a named pair (values, indices).
max_return = collections.namedtuple("max", ["values", "indices"])
min_return = collections.namedtuple("min", ["values", "indices"])


class Extremum(Function):
    """y = max (or min) of x over dims;  dx = dy / k at each of the k elements equal to y, else 0
    (ties share the gradient evenly, as in PyTorch)"""

    def forward(ctx, x, dims, keepdim, largest):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        y = (xp.max if largest else xp.min)(x, axis=dims, keepdims=True)
        ctx.save(x, y)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    def backward(ctx, dy):
        x, y = ctx.saved
        hit = x == y
        ties = xp.sum(hit, axis=ctx.dims, keepdims=True)
        dy = dy if ctx.keepdim else dy.reshape(y.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.where(hit, dy / ties.astype(dy.dtype), xp.zeros((), dy.dtype))


class TakeAlongDim(Function):
    """y = x at one given index per slice along dim;  dx = dy put back at those indices, 0 elsewhere"""

    def forward(ctx, x, indices, dim, keepdim):
        ctx.shape, ctx.dim, ctx.keepdim, ctx.indices = x.shape, dim, keepdim, indices
        x1 = x.reshape(x.shape or (1,))  # a 0-d tensor reduces like shape (1,)
        y = xp.take_along_axis(x1, indices, axis=dim)
        return y if keepdim and x.ndim else y.squeeze(dim) if x.ndim else y.reshape(())

    def backward(ctx, dy):
        dx = xp.zeros(ctx.shape or (1,), dy.dtype)
        dy = dy.reshape(ctx.indices.shape)
        xp.put_along_axis(dx, ctx.indices, dy, axis=ctx.dim)
        return dx.reshape(ctx.shape)


def _check_nonempty(input: Tensor, dims, op: str):
    if input.numel() == 0:
        if dims is None:
            raise RuntimeError(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                f"Specify the reduction dim with the 'dim' argument."
            )
        for d in dims:
            if input.shape[d] == 0:
                raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _arg_extreme(input: Tensor, dim: int, largest: bool):
    """Indices (keepdim shape) of the first max/min along dim; NaN counts as the extreme."""
    x1 = input._data.reshape(input.shape or (1,))
    return (xp.argmax if largest else xp.argmin)(x1, axis=dim, keepdims=True)


def _max_or_min(input, dim, keepdim, largest, op):
    input = to_tensor(input)
    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        from .compare import maximum, minimum

        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        _check_nonempty(input, None, op)
        return Extremum.apply(input, dims=tuple(range(input.ndim)), keepdim=False, largest=largest)
    d = _one_dim(dim, input.ndim, op)
    if input.ndim:
        _check_nonempty(input, (d,), op)
    indices = _arg_extreme(input, d, largest)
    values = TakeAlongDim.apply(input, indices=indices, dim=d, keepdim=keepdim)
    kept = indices if keepdim and input.ndim else indices.reshape(values.shape)
    return (max_return if largest else min_return)(values, Tensor(kept.astype(np.int64, copy=False)))


def max(input, dim=None, keepdim=False):
    """max(x): the largest value (ties share the gradient); max(x, dim): (values, indices), the
    gradient going to the index returned; max(x, other): the elementwise maximum."""
    return _max_or_min(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    """The smallest value; see `max` for the three forms."""
    return _max_or_min(input, dim, keepdim, False, "min")


def amax(input, dim=(), keepdim=False):
    """Largest value over dims (all when dim=()); ties share the gradient evenly."""
    input = to_tensor(input)
    dims = normalize_dims(dim, input.ndim, "amax", empty_means_all=True)
    _check_nonempty(input, dims, "amax")
    return Extremum.apply(input, dims=dims, keepdim=keepdim, largest=True)


def amin(input, dim=(), keepdim=False):
    """Smallest value over dims (all when dim=()); ties share the gradient evenly."""
    input = to_tensor(input)
    dims = normalize_dims(dim, input.ndim, "amin", empty_means_all=True)
    _check_nonempty(input, dims, "amin")
    return Extremum.apply(input, dims=dims, keepdim=keepdim, largest=False)


def _argmax_or_argmin(input, dim, keepdim, largest, op):
    input = to_tensor(input)
    if dim is None:  # the index into the flattened tensor
        _check_nonempty(input, None, op)
        index = (xp.argmax if largest else xp.argmin)(input._data)
        shape = (1,) * input.ndim if keepdim else ()
        return Tensor(xp.asarray(index, dtype=np.int64).reshape(shape))
    d = _one_dim(dim, input.ndim, op)
    if input.ndim:
        _check_nonempty(input, (d,), op)
    indices = _arg_extreme(input, d, largest).astype(np.int64, copy=False)
    if not input.ndim:
        return Tensor(indices.reshape(()))
    return Tensor(indices if keepdim else indices.squeeze(d))


def argmax(input, dim=None, keepdim=False):
    """Index of the (first) largest value along dim, or in the flattened tensor when dim=None."""
    return _argmax_or_argmin(input, dim, keepdim, True, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the (first) smallest value along dim, or in the flattened tensor when dim=None."""
    return _argmax_or_argmin(input, dim, keepdim, False, "argmin")


# -- var, std -----------------------------------------------------------------------------------
class Var(Function):
    """y = sum (x - mean)^2 / (n - c) over dims;  dx = dy * 2 (x - mean) / (n - c)"""

    def forward(ctx, x, dims, keepdim, correction):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        ctx.divisor = builtins.max(0, _count(x.shape, dims) - correction)
        mu = xp.mean(x, axis=dims, keepdims=True)
        centred = x - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            y = xp.sum(centred * centred, axis=dims, keepdims=keepdim) / x.dtype.type(ctx.divisor)
        ctx.save(centred)
        return y

    def backward(ctx, dy):
        (centred,) = ctx.saved
        dy = expand_reduced(dy, ctx.shape, ctx.dims, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            return dy * centred * centred.dtype.type(2 / ctx.divisor if ctx.divisor else np.inf)


class Std(Function):
    """y = sqrt(var(x));  dx = dy * (x - mean) / ((n - c) y)  (0 where y = 0)"""

    def forward(ctx, x, dims, keepdim, correction):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        ctx.divisor = builtins.max(0, _count(x.shape, dims) - correction)
        centred = x - xp.mean(x, axis=dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = xp.sqrt(xp.sum(centred * centred, axis=dims, keepdims=True) / x.dtype.type(ctx.divisor))
        ctx.save(centred, y)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    def backward(ctx, dy):
        centred, y = ctx.saved
        dy = dy if ctx.keepdim else dy.reshape(y.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = dy / (y * y.dtype.type(ctx.divisor))
        # sqrt has no derivative at 0; PyTorch gives a constant slice gradient 0 there
        return centred * xp.where(y == 0, xp.zeros((), scale.dtype), scale)


def _correction(op, dim, unbiased, correction):
    """PyTorch's var/std arguments: var(x, dim, unbiased, keepdim) or var(x, dim, correction=c);
    var(x, True) means unbiased=True."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{op}(): give either unbiased or correction, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def _var_or_std(function, op, input, dim, unbiased, keepdim, correction):
    input = to_tensor(input)
    dim, correction = _correction(op, dim, unbiased, correction)
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}(): std and var only support floating point and complex dtypes, got {input.dtype}")
    dims = normalize_dims(dim, input.ndim, op, empty_means_all=True)
    return function.apply(input, dims=dims, keepdim=keepdim, correction=correction)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over dims with Bessel's correction (divide by n - correction; default 1)."""
    return _var_or_std(Var, "var", input, dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var(...)) with the same arguments."""
    return _var_or_std(Std, "std", input, dim, unbiased, keepdim, correction)


# -- logsumexp, norm ----------------------------------------------------------------------------
class LogSumExp(Function):
    """y = m + log sum_i e^(x_i - m), m = max x (never overflows);  dx = dy * e^(x - y) = dy * softmax(x)"""

    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        m = xp.max(x, axis=dims, keepdims=True) if x.size else xp.zeros(_kept_shape(x.shape, dims), x.dtype)
        m = xp.where(xp.isfinite(m), m, xp.zeros((), x.dtype))  # all -inf (or inf) slices: shift by 0
        with np.errstate(divide="ignore"):
            y = xp.log(xp.sum(xp.exp(x - m), axis=dims, keepdims=True)) + m
        ctx.save(x, y)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    def backward(ctx, dy):
        x, y = ctx.saved
        dy = dy if ctx.keepdim else dy.reshape(y.shape)
        with np.errstate(invalid="ignore"):  # an all -inf slice: nan, as in PyTorch
            return dy * xp.exp(x - y)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over dim, computed without overflow."""
    input = float_operand(to_tensor(input))
    dims = normalize_dims(dim, input.ndim, "logsumexp", empty_means_all=True)
    return LogSumExp.apply(input, dims=dims, keepdim=keepdim)


class VectorNorm(Function):
    """y = (sum |x|^p)^(1/p) over dims;  dx = dy * sign(x) |x|^(p-1) / y^(p-1)  (0 where y = 0)"""

    def forward(ctx, x, dims, keepdim, p):
        ctx.shape, ctx.dims, ctx.keepdim, ctx.p = x.shape, dims, keepdim, p
        if p == 2:  # the common case: no pow, no abs
            y = xp.sqrt(xp.sum(x * x, axis=dims, keepdims=True))
        elif p == 1:
            y = xp.sum(xp.abs(x), axis=dims, keepdims=True)
        else:
            y = xp.sum(xp.abs(x) ** p, axis=dims, keepdims=True) ** (1.0 / p)
        y = y.astype(x.dtype, copy=False)
        ctx.save(x, y)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    def backward(ctx, dy):
        x, y = ctx.saved
        p = ctx.p
        dy = dy if ctx.keepdim else dy.reshape(y.shape)
        if p == 1:
            return dy * xp.sign(x)
        safe_y = xp.where(y == 0, xp.ones((), y.dtype), y)  # the norm of a zero vector has gradient 0
        if p == 2:
            local = x / safe_y
        else:
            local = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_y ** (p - 1)
        return (dy * xp.where(y == 0, xp.zeros((), y.dtype), local)).astype(x.dtype, copy=False)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector norm over dims (all by default): p = 'fro' or 2 (Euclidean), 1, inf (max |x|),
    -inf (min |x|), 0 (count of nonzeros) or any other positive number."""
    input = to_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(f"norm(): expected a floating point tensor as input, got {input.dtype}")
    if p == "fro" and isinstance(dim, (tuple, list)) and len(dim) > 2:
        raise RuntimeError(f"norm(): p='fro' is a matrix norm over at most 2 dims, got dim={dim}; use p=2")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm(): p={p!r} is not supported; use 'fro', 0, 1, 2, inf, -inf or a number")
    dims = normalize_dims(dim, input.ndim, "norm", empty_means_all=True)
    if p == math.inf:
        return amax(_abs(input), dims or (), keepdim)
    if p == -math.inf:
        return amin(_abs(input), dims or (), keepdim)
    if p == 0:
        return sum((input != 0).to(input.dtype), dims, keepdim)
    if p < 0:
        raise ValueError(f"norm(): p must be positive for a vector norm here, got {p}")
    return VectorNorm.apply(input, dims=dims, keepdim=keepdim, p=p)


def _abs(input):
    from .elementwise import abs  # elementwise sits beside reduce; imported late to avoid a cycle

    return abs(input)


# -- cumsum --------------------------------------------------------------------------------------
class CumSum(Function):
    """y_i = sum_{j <= i} x_j along dim;  dx_j = sum_{i >= j} dy_i (a reversed cumsum)"""

    def forward(ctx, x, dim):
        ctx.dim, ctx.shape = dim, x.shape
        return xp.cumsum(x.reshape(x.shape or (1,)), axis=dim).reshape(x.shape)

    def backward(ctx, dy):
        flipped = xp.flip(dy.reshape(ctx.shape or (1,)), axis=ctx.dim)
        return xp.flip(xp.cumsum(flipped, axis=ctx.dim), axis=ctx.dim).reshape(ctx.shape)


def cumsum(input, dim, dtype=None):
    """Running sum along dim (integers and bools sum as int64)."""
    input = _sum_dtype(to_tensor(input), dtype)
    return CumSum.apply(input, dim=_one_dim(dim, input.ndim, "cumsum"))


# -- boolean reductions (no gradient) ------------------------------------------------------------
def all(input, dim=None, keepdim=False):
    """True where every element over dims is nonzero."""
    input = to_tensor(input)
    dims = normalize_dims(dim, input.ndim, "all", empty_means_all=True)
    return Tensor(xp.all(input._data, axis=dims, keepdims=keepdim))


def any(input, dim=None, keepdim=False):
    """True where some element over dims is nonzero."""
    input = to_tensor(input)
    dims = normalize_dims(dim, input.ndim, "any", empty_means_all=True)
    return Tensor(xp.any(input._data, axis=dims, keepdims=keepdim))


def count_nonzero(input, dim=None):
    """The number of nonzero elements over dims, as int64."""
    input = to_tensor(input)
    dims = normalize_dims(dim, input.ndim, "count_nonzero", empty_means_all=True)
    return Tensor(xp.asarray(xp.count_nonzero(input._data, axis=dims), dtype=np.int64))


TENSOR_METHODS = (
    "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
    "logsumexp", "norm", "cumsum", "all", "any", "count_nonzero",
)
