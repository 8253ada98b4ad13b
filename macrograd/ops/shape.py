"""Ops that move elements around without changing them: reshape, permute, expand, squeeze, ...

Their backward does the inverse move (reshape back, inverse permutation, sum over expanded dims).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..autograd import Function, sum_to
from ..backend import xp
from ..tensor import Tensor
from .dtypes import cast, result_type
from .indexing import GetItem
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


@functools.lru_cache(maxsize=256)
def _inverse_permutation(dims):
    """The permutation that undoes `dims` (np.argsort, but cached: it runs on every transpose)."""
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return tuple(inverse)


class Permute(Function):
    """y = x with dims reordered;  dx = dy with the inverse order"""

    def forward(ctx, x, dims):
        ctx.inverse = _inverse_permutation(dims)
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
    shape = input.shape
    ndim = len(shape)
    if ndim == 0:
        return reshape(input, 1)
    start, end = start_dim % ndim, end_dim % ndim
    if start > end:
        raise RuntimeError(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    # The merged size itself rather than -1, which a zero-size dim would make ambiguous.
    new = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]
    return input if new == shape else Reshape.apply(input, shape=new)


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
    ndim = input._data.ndim
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but it has {ndim}")
    return Permute.apply(input, dims=(1, 0)) if ndim == 2 else input  # (the transpose(0, 1))


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



def _dim(dim, ndim, op):
    """One dim (negatives allowed) as a non-negative axis, with PyTorch's range error."""
    return normalize_dims(dim, ndim, op)[0] if ndim else 0


def view_as(input, other):
    return reshape(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def movedim(input, source, destination):
    """Move dims `source` to positions `destination`, the others keeping their order."""
    source = (source,) if isinstance(source, int) else tuple(source)
    destination = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(source) != len(destination):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(source)} dims) should "
            f"contain the same number of dims as destination ({list(destination)} dims)"
        )
    source = [_dim(d, input.ndim, "movedim") for d in source]
    destination = [_dim(d, input.ndim, "movedim") for d in destination]
    if len(set(source)) != len(source) or len(set(destination)) != len(destination):
        raise RuntimeError(f"movedim: repeated dim in source {source} or destination {destination}")
    order = [d for d in range(input.ndim) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return permute(input, tuple(order))


moveaxis = movedim


class Contiguous(Function):
    """y = a C-contiguous copy of x;  dx = dy"""

    def forward(ctx, x):
        return xp.ascontiguousarray(x)

    def backward(ctx, dy):
        return dy


def contiguous(input, memory_format=None):
    """`input` itself when its array is already C-contiguous, else a contiguous copy (which
    makes later reshapes free and GEMMs faster after a permute)."""
    if input._data.flags.c_contiguous:
        return input
    return Contiguous.apply(input)


# -- joining ------------------------------------------------------------------------------------
def _common_dtype(tensors, op):
    if not tensors:
        raise RuntimeError(f"{op}: expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of Tensors, got an element of type {type(t).__name__}")
    # Promote like a chain of binary ops (int64 with float32 gives float32, as in PyTorch).
    widest = tensors[0]
    for t in tensors[1:]:
        if t.dtype != widest.dtype:
            widest = Tensor(xp.empty((1,) * t.ndim, result_type(widest, t)))
    return [cast(t, widest.dtype) for t in tensors]


def _shapes(tensors):
    return ", ".join(str(tuple(t.shape)) for t in tensors)


class Cat(Function):
    """y = [x_1, x_2, ...] joined along dim;  dx_i = the slice of dy where x_i sits"""

    def forward(ctx, *xs, dim):
        ctx.dim, ctx.sizes = dim, [x.shape[dim] for x in xs]
        return xp.concatenate(xs, axis=dim)

    def backward(ctx, dy):
        bounds = np.cumsum(ctx.sizes)[:-1]
        pieces = xp.split(dy, bounds, axis=ctx.dim)
        return tuple(p if need else None for p, need in zip(pieces, ctx.needs_input_grad))


def cat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = _common_dtype(list(tensors), "cat")
    # PyTorch lets a 1-D empty tensor (shape (0,)) join anything: it is skipped.
    tensors = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    first = tensors[0]
    if first.ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensor cannot be concatenated")
    d = _dim(dim, first.ndim, "cat")
    for t in tensors:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != d):
            raise RuntimeError(
                f"cat: Sizes of tensors must match except in dimension {d}; got shapes {_shapes(tensors)}"
            )
    return Cat.apply(*tensors, dim=d)  # a new tensor even for one input, as in PyTorch


concat = concatenate = cat


class Stack(Function):
    """y = [x_1, x_2, ...] stacked along a new dim;  dx_i = dy taken at index i of that dim"""

    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return xp.stack(xs, axis=dim)

    def backward(ctx, dy):
        return tuple(
            xp.take(dy, i, axis=ctx.dim) if need else None for i, need in enumerate(ctx.needs_input_grad)
        )


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = _common_dtype(list(tensors), "stack")
    for t in tensors:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got shapes {_shapes(tensors)}")
    d = _dim(dim, tensors[0].ndim + 1, "stack")
    return Stack.apply(*tensors, dim=d)


def hstack(tensors):
    return cat(tensors, dim=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t if t.ndim > 1 else reshape(t, 1, -1) for t in tensors], dim=0)


# -- taking apart: each piece is a basic-indexing view with its own GetItem node -----------------
def _slice_along(input, dim, index):
    """input[:, ..., index] with `index` (an int or a slice) at position `dim`."""
    return GetItem.apply(input, index=(slice(None),) * dim + (index,))


def narrow(input, dim, start, length):
    """The slice start:start+length of dim (a view)."""
    d = _dim(dim, input.ndim, "narrow")
    size = input.shape[d]
    start = int(start)
    if start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise RuntimeError(
            f"narrow: start ({start}) + length ({length}) exceeds dimension size ({size}) "
            f"of dim {d} (shape {tuple(input.shape)})"
        )
    return _slice_along(input, d, slice(start, start + length))


def select(input, dim, index):
    """input indexed by `index` at dim, which is removed."""
    d = _dim(dim, input.ndim, "select")
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {tuple(input.shape)} at dimension {d}"
        )
    return _slice_along(input, d, int(index) % size)


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes."""
    d = _dim(dim, tensor.ndim, "split")
    size = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and size > 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, size - s) for s in range(0, size, step)] if size else [0]
    else:
        sizes = [int(n) for n in split_size_or_sections]
        if sum(sizes) != size or any(n < 0 for n in sizes):
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size "
                f"at dimension {d}), but got split_sizes={sizes}"
            )
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(_slice_along(tensor, d, slice(int(s), int(s) + n)) for s, n in zip(starts, sizes))


def chunk(input, chunks, dim=0):
    """At most `chunks` pieces of equal size ceil(n / chunks) along dim (the last may be smaller)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[_dim(dim, input.ndim, "chunk")]
    return split(input, max(-(-size // chunks), 1), dim)


def tensor_split(input, indices_or_sections, dim=0):
    """`sections` pieces whose sizes differ by at most one, or pieces cut at the given indices."""
    d = _dim(dim, input.ndim, "tensor_split")
    size = input.shape[d]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
    else:
        cuts = [0] + [min(max(int(i), 0), size) for i in indices_or_sections] + [size]
        sizes = [max(b - a, 0) for a, b in zip(cuts[:-1], cuts[1:])]
        starts = cuts[:-1]
        return tuple(_slice_along(input, d, slice(s, s + n)) for s, n in zip(starts, sizes))
    return split(input, sizes, d)


def unbind(input, dim=0):
    """The slices along dim, each with that dim removed."""
    d = _dim(dim, input.ndim, "unbind")
    return tuple(_slice_along(input, d, i) for i in range(input.shape[d]))


# -- rearranging --------------------------------------------------------------------------------
class Flip(Function):
    """y = x reversed along dims;  dx = dy reversed along the same dims"""

    def forward(ctx, x, dims):
        ctx.dims = dims
        # A copy, as in PyTorch: np.flip's view would let y.add_(1) change x as well.
        return xp.ascontiguousarray(xp.flip(x, axis=dims))

    def backward(ctx, dy):
        return xp.flip(dy, axis=ctx.dims)


def flip(input, dims):
    dims = normalize_dims(dims, input.ndim, "flip")
    return Flip.apply(input, dims=dims) if dims else input


def fliplr(input):
    return flip(input, 1)


def flipud(input):
    return flip(input, 0)


class Roll(Function):
    """y = x shifted cyclically by `shifts` along dims;  dx = dy shifted back"""

    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return xp.roll(x, shifts, axis=dims)

    def backward(ctx, dy):
        return xp.roll(dy, tuple(-s for s in ctx.shifts), axis=ctx.dims)


def roll(input, shifts, dims=None):
    """Shift elements cyclically; with dims=None the flattened tensor is rolled."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: with dims=None only one shift is allowed, got {shifts}")
        return reshape(Roll.apply(flatten(input), shifts=shifts, dims=(0,)), input.shape)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
    dims = tuple(_dim(d, input.ndim, "roll") for d in dims)
    return Roll.apply(input, shifts=tuple(int(s) for s in shifts), dims=dims)


class Tile(Function):
    """y = x repeated reps[i] times along each dim (np.tile);  dx = dy summed over the copies"""

    def forward(ctx, x, reps):
        ctx.shape, ctx.reps = x.shape, reps
        return xp.tile(x, reps)

    def backward(ctx, dy):
        # View dy as (r0, n0, r1, n1, ...) and sum over the r axes.
        padded = (1,) * (len(ctx.reps) - len(ctx.shape)) + ctx.shape
        split_shape = [n for pair in zip(ctx.reps, padded) for n in pair]
        copies = dy.reshape(split_shape)
        axes = tuple(range(0, 2 * len(ctx.reps), 2))
        if copies.dtype.kind == "f" and copies.dtype.itemsize < 8:
            # Accumulated in float64, as sum_to does: a float32 sum over many copies (36 of a
            # (1, 3, 2, 2) tensor, hypothesis found) drifts 5e-5 relative from PyTorch's.
            dx = copies.sum(axis=axes, dtype=np.float64).astype(copies.dtype)
        else:
            dx = copies.sum(axis=axes)
        return dx.reshape(ctx.shape)


def repeat(input, *sizes):
    """PyTorch's repeat (numpy's tile): the whole tensor copied sizes[i] times along dim i;
    extra leading sizes add new dims."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"repeat: Number of dimensions of repeat dims ({len(sizes)}) can not be smaller than "
            f"number of dimensions of tensor ({input.ndim}, shape {tuple(input.shape)})"
        )
    if any(n < 0 for n in sizes):
        raise RuntimeError(f"repeat: negative repeat counts {list(sizes)}")
    return Tile.apply(input, reps=tuple(int(n) for n in sizes))


def tile(input, dims):
    """Like repeat, but fewer reps than dims are padded with leading ones."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    return Tile.apply(input, reps=(1,) * (input.ndim - len(dims)) + tuple(int(n) for n in dims))


def repeat_interleave(input, repeats, dim=None):
    """Each element repeated `repeats` times (numpy's repeat); dim=None flattens first."""
    if dim is None:
        input, dim = flatten(input), 0
    d = _dim(dim, input.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor):
        repeats = repeats._data
    index = xp.repeat(xp.arange(input.shape[d]), repeats)
    from .indexing import index_select

    return index_select(input, d, Tensor(index))


class Triangle(Function):
    """y = x with the elements above (tril) or below (triu) the diagonal zeroed;  dx = dy masked the same way"""

    def forward(ctx, x, upper, diagonal):
        ctx.upper, ctx.diagonal = upper, diagonal
        return (xp.triu if upper else xp.tril)(x, diagonal)

    def backward(ctx, dy):
        return (xp.triu if ctx.upper else xp.tril)(dy, ctx.diagonal)


def _triangle(input, diagonal, upper):
    if input.ndim < 2:
        name = "triu" if upper else "tril"
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")
    return Triangle.apply(input, upper=upper, diagonal=int(diagonal))


def tril(input, diagonal=0):
    """The lower triangle (j - i <= diagonal) of the last two dims; the rest zeroed."""
    return _triangle(input, diagonal, upper=False)


def triu(input, diagonal=0):
    """The upper triangle (j - i >= diagonal) of the last two dims; the rest zeroed."""
    return _triangle(input, diagonal, upper=True)


# -- padding ------------------------------------------------------------------------------------
class ConstantPad(Function):
    """y = x surrounded by `value` (negative pads crop);  dx = the middle of dy where x sits"""

    def forward(ctx, x, pads, value):
        # pads: one (before, after) pair per dim of x, first dim first.
        shape = tuple(n + a + b for n, (a, b) in zip(x.shape, pads))
        if any(n < 0 for n in shape):
            raise RuntimeError(f"pad: padding {pads} would make a negative size for input shape {tuple(x.shape)}")
        ctx.shape = x.shape
        ctx.inner = tuple(slice(max(a, 0), max(a, 0) + n + min(a, 0) + min(b, 0)) for n, (a, b) in zip(x.shape, pads))
        ctx.source = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pads))
        y = xp.full(shape, value, dtype=x.dtype)
        y[ctx.inner] = x[ctx.source]
        return y

    def backward(ctx, dy):
        dx = xp.zeros(ctx.shape, dy.dtype)
        dx[ctx.source] = dy[ctx.inner]
        return dx


class IndexPad(Function):
    """y = x gathered along each padded dim through an index map (reflect, replicate, circular);
    dx = dy scatter-added back through the same maps"""

    def forward(ctx, x, maps):
        # maps: {dim: int array of source positions, one per output position}
        ctx.shape, ctx.maps = x.shape, maps
        for d, index in maps.items():
            x = xp.take(x, index, axis=d)
        return x

    def backward(ctx, dy):
        shape = list(dy.shape)
        for d, index in reversed(list(ctx.maps.items())):
            shape[d] = ctx.shape[d]
            dx = xp.zeros(shape, dy.dtype)
            # Several output positions can read one input position: add.at sums them all.
            xp.add.at(xp.moveaxis(dx, d, 0), index, xp.moveaxis(dy, d, 0))
            dy = dx
        return dy


def _pad_map(n, before, after, mode):
    """Where each output position along a dim of size n reads from (before/after may crop)."""
    positions = np.arange(-before, n + after)
    if mode == "reflect":
        period = 2 * (n - 1)
        positions = np.abs(positions) % period if period else positions * 0
        return np.where(positions >= n, period - positions, positions)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    return positions % n  # circular


def pad(input, pad, mode="constant", value=None):
    """F.pad: `pad` lists (left, right) amounts for the last dim, then the one before, ...
    Modes: 'constant' (with `value`, default 0), 'reflect', 'replicate', 'circular'."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(
            f"pad: padding length must be even and at most 2 * ndim; got {len(pad)} values for "
            f"input shape {tuple(input.shape)}"
        )
    pads = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pads[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        return ConstantPad.apply(input, pads=tuple(pads), value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (constant, reflect, replicate, circular)")
    if value:
        raise RuntimeError(f"pad: padding mode {mode!r} doesn't take in value argument")
    maps = {}
    for d, (before, after) in enumerate(pads):
        if before == after == 0:
            continue
        n = input.shape[d]
        if mode == "reflect" and (before >= n or after >= n):
            raise RuntimeError(
                f"pad: padding size should be less than the corresponding input dimension, but got: "
                f"padding ({before}, {after}) at dimension {d} of input shape {tuple(input.shape)}"
            )
        if mode != "reflect" and n == 0:
            raise RuntimeError(f"pad: {mode} padding of an empty dimension {d} (shape {tuple(input.shape)})")
        if mode == "circular" and (before > n or after > n):
            raise RuntimeError(
                f"pad: padding value causes wrapping around more than once: ({before}, {after}) at "
                f"dimension {d} of input shape {tuple(input.shape)}"
            )
        maps[d] = xp.asarray(_pad_map(n, before, after, mode))
    return IndexPad.apply(input, maps=maps) if maps else input


TENSOR_METHODS = (
    "reshape", "view", "flatten", "unflatten", "permute", "transpose", "swapaxes", "t", "expand",
    "expand_as", "broadcast_to", "squeeze", "unsqueeze", "view_as", "reshape_as", "movedim",
    "moveaxis", "contiguous", "narrow", "select", "split", "chunk", "tensor_split", "unbind",
    "flip", "fliplr", "flipud", "roll", "repeat", "tile", "repeat_interleave", "tril", "triu",
)
