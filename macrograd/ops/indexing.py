"""Indexing: `x[...]` with basic slices, integer arrays and boolean masks, and the indexing ops
gather, scatter, scatter_add, index_select, index_add, masked_fill, masked_select, take_along_dim.

Backward scatters the gradient into a zero array at the indexed places; `np.add.at` adds, so
an element picked twice (x[[0, 0]]) gets both gradients.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, sum_to
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
            y = x[index]
            if ctx.needs_input_grad[0] and _is_basic(index):
                ctx.grad_index = index  # the engine adds dy into dx at index (no zero array)
            return y
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

    if is_grad_enabled() and (input.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        which = "a tensor that requires grad" if input.requires_grad else "a value that requires grad"
        raise RuntimeError(
            f"__setitem__: cannot assign {which} (shape {tuple(input.shape)}) while autograd is "
            f"recording; build the result with where/masked_fill/cat/scatter instead, or assign "
            f"inside mg.no_grad()"
        )
    array = value._data if isinstance(value, Tensor) else value
    try:
        input._data[unwrap_index(index)] = array
    except (ValueError, IndexError) as error:
        shape = tuple(array.shape) if hasattr(array, "shape") else ()
        raise type(error)(
            f"__setitem__: cannot assign a value of shape {shape} at index {_describe(unwrap_index(index))} "
            f"of a tensor of shape {tuple(input.shape)}: {error}"
        ) from None
    input._bump_version()




# -- helpers ------------------------------------------------------------------------------------
def _dim(dim, ndim, op):
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"{op}: dimension {dim} is out of range (expected to be in range of [{-rank}, {rank - 1}])"
        )
    return dim % rank


def _index_tensor(index, op):
    if not isinstance(index, Tensor):
        index = Tensor(xp.asarray(index))
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    return index


def _float_like(value, like, op):
    """A number or 0-d tensor as a 0-d tensor of like's dtype (keeping its graph)."""
    from .dtypes import cast

    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"{op} only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)"
            )
        return cast(value, like.dtype)
    return Tensor(xp.asarray(value, dtype=like.dtype))


def _grid(index, dim):
    """The full advanced index of gather/scatter: position i of `index` stands for
    x[i_0, ..., index[i], ..., i_last] (open grids elsewhere, broadcasting to index.shape)."""
    grids = list(xp.ogrid[tuple(slice(n) for n in index.shape)]) if index.ndim else []
    grids[dim] = index
    return tuple(grids)


def _check_gather_shapes(op, dim, input_shape, index_shape, src_shape=None):
    if len(index_shape) != len(input_shape) and not (len(index_shape) <= 1 and len(input_shape) <= 1):
        raise RuntimeError(
            f"{op}: Index tensor must have the same number of dimensions as input tensor "
            f"(index shape {tuple(index_shape)}, input shape {tuple(input_shape)})"
        )
    for d, n in enumerate(index_shape):
        if (d != dim and n > input_shape[d]) or (src_shape is not None and n > src_shape[d]):
            raise RuntimeError(
                f"{op}: Size does not match at dimension {d}: index shape {tuple(index_shape)}, "
                f"input shape {tuple(input_shape)}"
                + (f", src shape {tuple(src_shape)}" if src_shape is not None else "")
            )


def _check_bounds(op, index, size, dim):
    if index.size and (index.min() < -size or index.max() >= size):
        bad = index.max() if index.max() >= size else index.min()
        raise IndexError(f"{op}: index {int(bad)} is out of bounds for dimension {dim} with size {size}")


def _region(index_shape):
    return tuple(slice(n) for n in index_shape)


# -- gather / scatter -----------------------------------------------------------------------------
class Gather(Function):
    """y[i][j] = x[i][index[i][j]] (for dim=1);  dx = zeros with dy added at those places"""

    def forward(ctx, x, index, dim):
        ctx.shape, ctx.grid = x.shape, _grid(index, dim)
        return x[ctx.grid]

    def backward(ctx, dy):
        dx = xp.zeros(ctx.shape, dy.dtype)
        xp.add.at(dx, ctx.grid, dy)
        return dx


def gather(input, dim, index, sparse_grad=False):
    """Pick along dim: out[i][j][k] = input[index[i][j][k]][j][k] for dim=0 (and so on)."""
    index = _index_tensor(index, "gather")
    d = _dim(dim, input.ndim, "gather")
    _check_gather_shapes("gather", d, input.shape, index.shape)
    if input.ndim:
        _check_bounds("gather", index._data, input.shape[d], d)
    return Gather.apply(input, index=index._data.astype(xp.intp, copy=False), dim=d)


class Scatter(Function):
    """y = x with y[..., index[i], ...] = src[i] (at dim);  dx = dy zeroed at the written places,
    dsrc = dy gathered at them"""

    def forward(ctx, x, src, index, dim):
        ctx.grid, ctx.src_shape = _grid(index, dim), src.shape
        y = x.copy()
        y[ctx.grid] = src[_region(index.shape)]
        return y

    def backward(ctx, dy):
        dx = dsrc = None
        if ctx.needs_input_grad[0]:
            dx = dy.copy()
            dx[ctx.grid] = 0
        if ctx.needs_input_grad[1]:
            dsrc = _place(dy[ctx.grid], ctx.src_shape)
        return dx, dsrc


class ScatterAdd(Function):
    """y = x with src[i] added at y[..., index[i], ...] (at dim);  dx = dy,  dsrc = dy gathered"""

    def forward(ctx, x, src, index, dim):
        ctx.grid, ctx.src_shape = _grid(index, dim), src.shape
        y = x.copy()
        xp.add.at(y, ctx.grid, src[_region(index.shape)])
        return y

    def backward(ctx, dy):
        dsrc = _place(dy[ctx.grid], ctx.src_shape) if ctx.needs_input_grad[1] else None
        return dy, dsrc


def _place(values, shape):
    """`values` in the leading corner of a zero array of `shape` (src may be larger than index)."""
    if values.shape == shape:
        return values
    out = xp.zeros(shape, values.dtype)
    out[_region(values.shape)] = values
    return out


def _scatter_operands(op, input, dim, index, src, value):
    index = _index_tensor(index, op)
    d = _dim(dim, input.ndim, op)
    if src is None:
        if value is None:
            raise TypeError(f"{op}() needs either src (a tensor) or value (a number)")
        src = Tensor(xp.full(index.shape, value, dtype=input.dtype))
    elif not isinstance(src, Tensor):
        src = Tensor(xp.full(index.shape, src, dtype=input.dtype))  # scatter(input, dim, index, 1.5)
    if src.dtype != input.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype ({input.dtype} vs {src.dtype})")
    _check_gather_shapes(op, d, input.shape, index.shape, src.shape if src.ndim else None)
    if input.ndim:
        _check_bounds(op, index._data, input.shape[d], d)
    if src.ndim == 0:
        src = Tensor(xp.broadcast_to(src._data, index.shape))
    return src, index._data.astype(xp.intp, copy=False), d


def scatter(input, dim, index, src=None, value=None, reduce=None):
    """A copy of input with src (or value) written at the places index names along dim.
    Where index repeats a place, which write wins is unspecified (as in PyTorch)."""
    if reduce is not None:
        if reduce == "add":
            return scatter_add(input, dim, index, src if src is not None else value)
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (use scatter_add)")
    src, index, d = _scatter_operands("scatter", input, dim, index, src, value)
    return Scatter.apply(input, src, index=index, dim=d)


def scatter_add(input, dim, index, src):
    """A copy of input with src added at the places index names along dim (repeats add up)."""
    src, index, d = _scatter_operands("scatter_add", input, dim, index, src, None)
    return ScatterAdd.apply(input, src, index=index, dim=d)


# -- index_select / index_add ---------------------------------------------------------------------
class IndexSelect(Function):
    """y = x taken at `index` along dim;  dx = zeros with dy added back at those positions"""

    def forward(ctx, x, index, dim):
        ctx.shape, ctx.index, ctx.dim = x.shape, index, dim
        return xp.take(x, index, axis=dim)

    def backward(ctx, dy):
        dx = xp.zeros(ctx.shape, dy.dtype)
        xp.add.at(xp.moveaxis(dx, ctx.dim, 0), ctx.index, xp.moveaxis(dy, ctx.dim, 0))
        return dx


def _vector_index(op, index, input, d):
    index = _index_tensor(index, op)
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, got shape {tuple(index.shape)}")
    array = index._data.reshape(-1).astype(xp.intp, copy=False)
    size = input.shape[d] if input.ndim else 1
    _check_bounds(op, array, size, d)
    return array


def index_select(input, dim, index):
    d = _dim(dim, input.ndim, "index_select")
    array = _vector_index("index_select", index, input, d)
    if input.ndim == 0:
        raise RuntimeError("index_select(): a 0-d input has no dim to select from; reshape it to (1,) first")
    return IndexSelect.apply(input, index=array, dim=d)


class IndexAdd(Function):
    """y = x with alpha * source[i] added at x[index[i]] along dim;  dx = dy,  dsource = alpha * dy[index]"""

    def forward(ctx, x, source, index, dim, alpha):
        ctx.index, ctx.dim, ctx.alpha = index, dim, alpha
        y = x.copy()
        xp.add.at(xp.moveaxis(y, dim, 0), index, xp.moveaxis(source * alpha if alpha != 1 else source, dim, 0))
        return y

    def backward(ctx, dy):
        dsource = None
        if ctx.needs_input_grad[1]:
            dsource = xp.take(dy, ctx.index, axis=ctx.dim)
            if ctx.alpha != 1:
                dsource = dsource * ctx.alpha
        return dy, dsource


def index_add(input, dim, index, source, alpha=1):
    """A copy of input with alpha * source added at rows `index` of dim (repeats add up)."""
    d = _dim(dim, input.ndim, "index_add")
    array = _vector_index("index_add", index, input, d)
    expected = input.shape[:d] + (array.size,) + input.shape[d + 1 :]
    if tuple(source.shape) != expected:
        raise RuntimeError(
            f"index_add(): source shape {tuple(source.shape)} must be {expected} (input shape "
            f"{tuple(input.shape)} with dim {d} of the index's length {array.size})"
        )
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_add(): self ({input.dtype}) and source ({source.dtype}) must have the same dtype")
    return IndexAdd.apply(input, source, index=array, dim=d, alpha=alpha)


# -- masks ----------------------------------------------------------------------------------------
def _mask_array(mask, op):
    mask = mask._data if isinstance(mask, Tensor) else xp.asarray(mask)
    if mask.dtype != bool:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {mask.dtype}")
    return mask


class MaskedFill(Function):
    """y = value where mask else x;  dx = dy where not mask,  dvalue = sum of dy where mask"""

    def forward(ctx, x, value, mask):
        ctx.mask, ctx.shape = mask, x.shape
        return xp.where(mask, value, x)

    def backward(ctx, dy):
        dx = dvalue = None
        if ctx.needs_input_grad[0]:
            dx = sum_to(xp.where(ctx.mask, xp.zeros((), dy.dtype), dy), ctx.shape)
        if ctx.needs_input_grad[1]:
            dvalue = xp.asarray(xp.sum(dy, where=xp.broadcast_to(ctx.mask, dy.shape)))
        return dx, dvalue


def masked_fill(input, mask, value):
    """A copy of input with `value` (a number or a 0-d tensor) where mask is True."""
    mask = _mask_array(mask, "masked_fill")
    try:
        xp.broadcast_shapes(mask.shape, input.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill: the mask of shape {tuple(mask.shape)} must be broadcastable with the "
            f"input of shape {tuple(input.shape)}"
        ) from None
    return MaskedFill.apply(input, _float_like(value, input, "masked_fill"), mask=mask)


def masked_select(input, mask):
    """The elements of input where mask is True (the two broadcast together), as a 1-D tensor."""
    mask = _mask_array(mask, "masked_select")
    try:
        shape = xp.broadcast_shapes(mask.shape, input.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_select: the mask of shape {tuple(mask.shape)} must be broadcastable with the "
            f"input of shape {tuple(input.shape)}"
        ) from None
    if shape != input.shape:
        from .shape import expand

        input = expand(input, shape)
    return GetItem.apply(input, index=xp.broadcast_to(mask, shape))


class TakeAlongDim(Function):
    """y = x picked along dim at `indices` (both broadcast on the other dims);
    dx = zeros with dy added at the picked places, summed back over broadcasting"""

    def forward(ctx, x, indices, dim, shape):
        ctx.shape = x.shape
        ctx.full = shape[:dim] + (x.shape[dim],) + shape[dim + 1 :]
        ctx.grid = _grid(xp.broadcast_to(indices, shape), dim)
        return xp.broadcast_to(x, ctx.full)[ctx.grid]

    def backward(ctx, dy):
        dx = xp.zeros(ctx.full, dy.dtype)
        xp.add.at(dx, ctx.grid, dy)
        return sum_to(dx, ctx.shape)


def take_along_dim(input, indices, dim=None):
    """Pick values along dim with an index array (as np.take_along_axis); dim=None works on
    the flattened input. The other dims of input and indices broadcast."""
    indices = _index_tensor(indices, "take_along_dim")
    if dim is None:
        from .shape import flatten

        input, indices, d = flatten(input), Tensor(indices._data.reshape(-1)), 0
    else:
        d = _dim(dim, input.ndim, "take_along_dim")
        if indices.ndim != input.ndim:
            raise RuntimeError(
                f"take_along_dim: input and indices should have the same number of dimensions, "
                f"but got {input.ndim} dimensions for input (shape {tuple(input.shape)}), and "
                f"{indices.ndim} dimensions for indices (shape {tuple(indices.shape)})"
            )
    _check_bounds("take_along_dim", indices._data, input.shape[d], d)
    try:
        rest = xp.broadcast_shapes(
            tuple(1 if i == d else n for i, n in enumerate(input.shape)),
            tuple(1 if i == d else n for i, n in enumerate(indices.shape)),
        )
    except ValueError:
        raise RuntimeError(
            f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
            f"{tuple(indices.shape)} do not broadcast outside dim {d}"
        ) from None
    shape = rest[:d] + (indices.shape[d],) + rest[d + 1 :]
    return TakeAlongDim.apply(input, indices=indices._data.astype(xp.intp, copy=False), dim=d, shape=shape)


def take(input, index):
    """input treated as 1-D, picked at `index` (the result has index's shape)."""
    from .shape import flatten

    index = _index_tensor(index, "take")
    _check_bounds("take", index._data, input.numel(), 0)
    return GetItem.apply(flatten(input), index=index._data)


TENSOR_METHODS = (
    "gather", "scatter", "scatter_add", "index_select", "index_add", "masked_fill", "masked_select",
    "take_along_dim", "take",
)
