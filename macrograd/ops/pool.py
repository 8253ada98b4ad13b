"""Pooling: max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool2d, adaptive_max_pool2d.

A pooling window of kH x kW reads, for each kernel offset (i, j), one strided slice of the
padded input: x_pad[:, :, i d : ... : s, j d : ... : s] has exactly the output's shape. So both
pools are a loop over the kH kW offsets, each step one vectorised op over (N, C, OH, OW):
a running max (remembering which offset won) or a running sum. Backward walks the same offsets
and adds the gradient back through the same slices (overlapping windows accumulate).

When windows tile the input exactly (stride == kernel, no padding, no dilation), the input
reshapes to (N, C, OH, kH, OW, kW) and backward is one broadcast assignment, no loop.
"""
from __future__ import annotations


import numpy as np

from ..autograd import Function, is_grad_enabled
from ..backend import xp
from ..tensor import Tensor
from .arg_memo import ArgMemo, plain
from .conv import _tuple
from .dtypes import to_tensor


# -- geometry ----------------------------------------------------------------------------------
def _out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape: floor (or ceil) of the window count; with ceil_mode the
    last window must still start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pad(x, pad_hw, out_hw, kernel, stride, dilation, value):
    """x (N, C, H, W) padded by p on the top/left and enough on the bottom/right for every
    window (ceil_mode can reach past the padding); returns x itself when no padding is needed."""
    n, c, h, w = x.shape
    need = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_hw, stride, dilation, kernel)]
    (ph, pw) = pad_hw
    bottom, right = max(need[0] - h - ph, 0), max(need[1] - w - pw, 0)
    if not (ph or pw or bottom or right):
        return x
    out = xp.full((n, c, h + ph + bottom, w + pw + right), value, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _offsets(kernel, stride, dilation, out_hw):
    """(k, slice pair) for every kernel offset, k = i kW + j in row-major order (PyTorch's scan)."""
    kh, kw = kernel
    (oh, ow) = out_hw
    for i in range(kh):
        rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (oh - 1) + 1, stride[0])
        for j in range(kw):
            cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (ow - 1) + 1, stride[1])
            yield i * kw + j, (Ellipsis, rows, cols)


def _tiles(shape, kernel, stride, padding, dilation, out_hw):
    """Do the windows tile the input exactly (one reshape instead of the offset loop)?"""
    return (tuple(stride) == tuple(kernel) and padding == (0, 0) and dilation == (1, 1)
            and out_hw[0] * kernel[0] == shape[2] and out_hw[1] * kernel[1] == shape[3])


def _tiled(a, kernel):
    """(N, C, OH kH, OW kW) -> (N, C, OH, kH, OW, kW) view."""
    n, c, h, w = a.shape
    return a.reshape(n, c, h // kernel[0], kernel[0], w // kernel[1], kernel[1])


def _tiled_max(x, kernel):
    """Max pooling over windows that tile x exactly, as a running max over the kH kW strided
    slices (one per kernel offset): (max, winning offset k) where the first maximum in scan
    order wins, or (None, None) when a NaN is present (PyTorch's rule for NaN, that the last
    NaN wins, is left to the general loop)."""
    slices = [x[where] for _, where in _offsets(kernel, kernel, (1, 1), (x.shape[2] // kernel[0],
                                                                         x.shape[3] // kernel[1]))]
    best = slices[0].copy()
    winner = xp.zeros(best.shape, dtype=np.int8 if len(slices) < 128 else np.int64)
    for k, window in enumerate(slices[1:], 1):
        xp.copyto(winner, k, where=window > best)  # strictly larger: earlier ties keep winning
        xp.maximum(best, window, out=best)
    if xp.isnan(best).any():
        return None, None
    return best, winner


def _tiled_max_value(x, kernel):
    """Max pooling over windows that tile x exactly, the value only (no argmax: inference):
    a running np.maximum over the kW columns of each window, then over its kH rows: k - 1
    whole-array ufuncs per axis. np.maximum propagates NaN, as PyTorch's max does."""
    n, c, h, w = x.shape
    kh, kw = kernel
    if kh == kw == 1:
        return x.copy()
    best = _running_max(x.reshape(n, c, h, w // kw, kw), kw, lambda a, j: a[..., j])  # (N, C, H, OW)
    return _running_max(best.reshape(n, c, h // kh, kh, w // kw), kh, lambda a, i: a[:, :, :, i])


def _running_max(a, k, part):
    """max over the k parts part(a, 0..k-1) of a, as k - 1 elementwise maximums."""
    if k == 1:
        return part(a, 0)
    best = xp.maximum(part(a, 0), part(a, 1))
    for j in range(2, k):
        xp.maximum(best, part(a, j), out=best)
    return best


# -- Functions ---------------------------------------------------------------------------------
class MaxPool2d(Function):
    """y = max over each window of x;  dx[argmax] += dy (the first maximum in scan order)"""

    indices_wanted = False  # set on a node made to report the argmax indices (return_indices)

    def forward(ctx, x, kernel, stride, padding, dilation, out_hw):
        ctx.geometry = (x.shape, x.shape, kernel, stride, padding, dilation, out_hw)
        tiles = _tiles(x.shape, kernel, stride, padding, dilation, out_hw)
        if tiles and not (ctx.indices_wanted or ctx.needs_input_grad[0]):
            return _tiled_max_value(x, kernel)  # no backward, no indices: the argmax is not needed
        if tiles:
            best, winner = _tiled_max(x, kernel)
            if best is not None:
                ctx.save(winner)
                return best
        xpad = _pad(x, padding, out_hw, kernel, stride, dilation, -xp.inf)
        best = None
        winner = xp.zeros((*x.shape[:2], *out_hw), dtype=np.int8 if kernel[0] * kernel[1] < 128 else np.int64)
        for k, where in _offsets(kernel, stride, dilation, out_hw):
            window = xpad[where]
            if best is None:
                best = window.copy()
                continue
            # PyTorch's rule: a strictly larger value (or a NaN, which propagates) wins
            better = (window > best) | xp.isnan(window)
            xp.copyto(best, window, where=better)
            winner[better] = k
        if xpad is not x:
            # A window whose values are all -inf ties with its padding; PyTorch then reports the
            # first window position inside the input (it never visits the padding).
            empty = best == -xp.inf
            if empty.any():
                first = [xp.maximum(0, -((xp.arange(o) * s - p) // d)) for o, s, p, d in
                         zip(out_hw, stride, padding, dilation)]
                start = first[0][:, None] * kernel[1] + first[1]
                winner[empty] = xp.broadcast_to(start, winner.shape)[empty]
        ctx.save(winner)
        ctx.geometry = (x.shape, xpad.shape, kernel, stride, padding, dilation, out_hw)
        return best

    def indices(ctx):
        """The winners as PyTorch reports them: flat indices into each input H x W plane."""
        (_, _, _, w), _, (_, kw), stride, padding, dilation, (oh, ow) = ctx.geometry
        winner = ctx.saved[0].astype(np.int64)
        rows = xp.arange(oh)[:, None] * stride[0] - padding[0] + (winner // kw) * dilation[0]
        cols = xp.arange(ow) * stride[1] - padding[1] + (winner % kw) * dilation[1]
        return rows * w + cols

    def backward(ctx, dy):
        shape, padded, kernel, stride, padding, dilation, out_hw = ctx.geometry
        (winner,) = ctx.saved
        if _tiles(shape, kernel, stride, padding, dilation, out_hw):
            # each input pixel is in exactly one window: every offset's strided slice of dx is
            # dy where that offset won, else 0 (one write of dx in all, no sums)
            dx = xp.empty(shape, dtype=dy.dtype)
            for k, where in _offsets(kernel, stride, dilation, out_hw):
                xp.multiply(dy, winner == k, out=dx[where])
            return dx
        dx = xp.zeros(padded, dtype=dy.dtype)
        for k, where in _offsets(kernel, stride, dilation, out_hw):
            dx[where] += xp.where(winner == k, dy, 0)
        return dx[:, :, padding[0]:padding[0] + shape[2], padding[1]:padding[1] + shape[3]]


class AvgPool2d(Function):
    """y = sum over each window of x / divisor;  dx += dy / divisor through every window"""

    def forward(ctx, x, kernel, stride, padding, out_hw, divisor):
        ctx.geometry, ctx.divisor = (x.shape, kernel, stride, padding, out_hw), divisor
        if _tiles(x.shape, kernel, stride, padding, (1, 1), out_hw):
            total = _tiled(x, kernel).sum(axis=(3, 5))
        else:
            xpad = _pad(x, padding, out_hw, kernel, stride, (1, 1), 0)
            ctx.padded = xpad.shape
            total = xp.zeros((*x.shape[:2], *out_hw), dtype=x.dtype)
            for _, where in _offsets(kernel, stride, (1, 1), out_hw):
                total += xpad[where]
        total /= divisor
        return total

    def backward(ctx, dy):
        shape, kernel, stride, padding, out_hw = ctx.geometry
        grad = dy / ctx.divisor
        if _tiles(shape, kernel, stride, padding, (1, 1), out_hw):
            dx = xp.empty(shape, dtype=dy.dtype)
            _tiled(dx, kernel)[...] = grad[:, :, :, None, :, None]
            return dx
        dx = xp.zeros(ctx.padded, dtype=dy.dtype)
        for _, where in _offsets(kernel, stride, (1, 1), out_hw):
            dx[where] += grad
        return dx[:, :, padding[0]:padding[0] + shape[2], padding[1]:padding[1] + shape[3]]


def _adaptive_matrix(size, out, dtype):
    """P (out, size): row i averages x[floor(i size / out) : ceil((i + 1) size / out)]."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    j = np.arange(size)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


class AdaptiveAvgPool2d(Function):
    """y = P_h x P_w^T (P rows average each adaptive window);  dx = P_h^T dy P_w
    (output 1 x 1: y = mean over H, W; dx = dy / (H W))"""

    def forward(ctx, x, out_hw):
        n, c, h, w = x.shape
        ctx.shape = x.shape
        if out_hw == (1, 1):
            ctx.matrices = None
            return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype)
        ph, pw = _adaptive_matrix(h, out_hw[0], x.dtype), _adaptive_matrix(w, out_hw[1], x.dtype)
        ctx.matrices = ph, pw
        t = xp.tensordot(x, pw, axes=([3], [1]))  # (N, C, H, OW)
        return xp.ascontiguousarray(xp.tensordot(t, ph, axes=([2], [1])).transpose(0, 1, 3, 2))

    def backward(ctx, dy):
        n, c, h, w = ctx.shape
        if ctx.matrices is None:
            return xp.broadcast_to(dy / (h * w), ctx.shape).copy()
        ph, pw = ctx.matrices
        t = xp.tensordot(dy, ph, axes=([2], [0]))  # (N, C, OW, H)
        return xp.tensordot(t, pw, axes=([2], [0]))  # (N, C, H, W)


class AdaptiveMaxPool2d(Function):
    """y[i, j] = max of the adaptive window (i, j);  dx[argmax] += dy.
    Windows differ in size, so this loops over the OH OW output positions (each step vectorised
    over N and C); when they tile the input exactly, max_pool2d's offset loop is used instead."""

    def forward(ctx, x, out_hw):
        n, c, h, w = x.shape
        ctx.shape = x.shape
        starts = [[(i * size) // out for i in range(out)] for size, out in zip((h, w), out_hw)]
        ends = [[-((-(i + 1) * size) // out) for i in range(out)] for size, out in zip((h, w), out_hw)]
        y = xp.empty((n, c, *out_hw), dtype=x.dtype)
        flat = xp.empty((n, c, *out_hw), dtype=np.int64)
        for i in range(out_hw[0]):
            for j in range(out_hw[1]):
                (h0, h1), (w0, w1) = (starts[0][i], ends[0][i]), (starts[1][j], ends[1][j])
                window = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
                # first maximum, but a NaN wins (PyTorch propagates NaN)
                k = xp.where(xp.isnan(window).any(-1), xp.isnan(window).argmax(-1), window.argmax(-1))
                y[:, :, i, j] = xp.take_along_axis(window, k[..., None], -1)[..., 0]
                flat[:, :, i, j] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)
        ctx.save(flat)
        return y

    def backward(ctx, dy):
        n, c, h, w = ctx.shape
        dx = xp.zeros((n * c, h * w), dtype=dy.dtype)
        rows = xp.arange(n * c)[:, None] * (h * w)
        (flat,) = ctx.saved
        xp.add.at(dx.reshape(-1), (rows + flat.reshape(n * c, -1)).reshape(-1), dy.reshape(-1))
        return dx.reshape(ctx.shape)


# -- argument checks ---------------------------------------------------------------------------
def _batched(input, spatial, op):
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    if input.ndim != spatial + 2:
        raise RuntimeError(f"{op}: expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, "
                           f"got input of shape {tuple(input.shape)}")
    return input, False


def _check_input(input, op):
    input = to_tensor(input)
    if input.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return input


def _window_args(op, spatial, kernel_size, stride, padding, dilation):
    kernel = _tuple(kernel_size, spatial, "kernel_size", op)
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, spatial, "stride", op)
    padding = _tuple(padding, spatial, "padding", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    for name, values, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                              ("dilation", dilation, 1), ("padding", padding, 0)):
        if any(v < low for v in values):
            raise RuntimeError(f"{op}: {name} must be {'positive' if low else 'non-negative'}, got {values}")
    if any(2 * p > k for p, k in zip(padding, kernel)):  # else a window could be all padding
        raise RuntimeError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                           f"padding={padding}, kernel_size={kernel}")
    if spatial == 1:  # 1-D pools run as 2-D pools over a height-1 image
        kernel, stride, padding, dilation = (1,) + kernel, (1,) + stride, (0,) + padding, (1,) + dilation
    return kernel, stride, padding, dilation


def _output_hw(op, x, kernel, stride, padding, dilation, ceil_mode, input):
    out_hw = tuple(_out_size(size, k, s, p, d, ceil_mode) for size, k, s, p, d in
                   zip(x.shape[2:], kernel, stride, padding, dilation))
    if any(o <= 0 for o in out_hw):
        raise RuntimeError(f"{op}: given input size {tuple(input.shape)}, the calculated output size "
                           f"{out_hw} is too small (kernel_size={kernel}, stride={stride}, padding={padding})")
    return out_hw


# -- the functions users call ------------------------------------------------------------------
# The checked geometry of recent max pools, by their arguments and input shape (see arg_memo.py).
_MAX_POOL_GEOMETRY = ArgMemo()


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial, op):
    input = _check_input(input, op)
    key = geometry = None
    if plain(kernel_size, stride, padding, dilation) and type(ceil_mode) is bool:
        key = (op, input._data.shape, kernel_size, stride, padding, dilation, ceil_mode)
        geometry = _MAX_POOL_GEOMETRY.get(key)
    if geometry is None:
        kernel, stride, padding, dilation = _window_args(op, spatial, kernel_size, stride, padding, dilation)
    x, unbatched = _batched(input, spatial, op)
    if spatial == 1:
        x = x.unsqueeze(2)
    if geometry is None:
        out_hw = _output_hw(op, x, kernel, stride, padding, dilation, ceil_mode, input)
        geometry = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation, out_hw=out_hw)
        _MAX_POOL_GEOMETRY.put(key, geometry)
    y, ctx = _with_node(MaxPool2d, x, geometry, return_indices)
    indices = Tensor(ctx.indices()) if return_indices else None
    if spatial == 1:
        y = y.squeeze(2)
        indices = None if indices is None else indices.squeeze(2)
    if unbatched:
        y = y.squeeze(0)
        indices = None if indices is None else indices.squeeze(0)
    return (y, indices) if return_indices else y


def _with_node(function, x, options, need_node):
    """function.apply(x, **options), and the node that ran it when need_node (for reading the
    argmax indices it saved); outside autograd the node is made by hand."""
    if not need_node or (is_grad_enabled() and x.requires_grad):
        y = function.apply(x, **options)
        return y, y.grad_fn
    ctx = function()
    ctx.indices_wanted = True
    return Tensor(ctx.forward(x._data, **options)), ctx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """y = max of each kH x kW window (padding counts as -inf); with return_indices, also the flat
    index of each maximum in its input H x W plane."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """y = max of each window of length k over (N, C, L) input."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def _divisor(size_hw, out_hw, kernel, stride, padding, count_include_pad, dtype):
    """PyTorch's avg-pool divisor per output pixel: the window's area inside input + padding
    (count_include_pad) or inside the input alone; a ceil_mode overhang never counts."""
    counts = []
    for size, out, k, s, p in zip(size_hw, out_hw, kernel, stride, padding):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, size) - np.maximum(start, 0))
    return xp.asarray(np.outer(counts[0], counts[1]), dtype=dtype)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial, op):
    input = _check_input(input, op)
    kernel, stride, padding, dilation = _window_args(op, spatial, kernel_size, stride, padding, 1)
    x, unbatched = _batched(input, spatial, op)
    if spatial == 1:
        x = x.unsqueeze(2)
    out_hw = _output_hw(op, x, kernel, stride, padding, dilation, ceil_mode, input)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor must be not zero")
        divisor = xp.asarray(divisor_override, dtype=x.dtype)
    else:
        divisor = _divisor(x.shape[2:], out_hw, kernel, stride, padding, count_include_pad, x.dtype)
    y = AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, out_hw=out_hw, divisor=divisor)
    if spatial == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """y = mean of each kH x kW window (zero padding counted if count_include_pad)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     2, "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """y = mean of each window of length k over (N, C, L) input."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def _adaptive_args(input, output_size, op):
    input = _check_input(input, op)
    x, unbatched = _batched(input, 2, op)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        out_hw = tuple(x.shape[2 + i] if o is None else o for i, o in enumerate(output_size))
    else:
        out_hw = (output_size, output_size)
    if any(not isinstance(o, int) or o < 0 for o in out_hw):
        raise RuntimeError(f"{op}: output_size must be non-negative ints, got {output_size!r}")
    if any(size == 0 for size in x.shape[2:]):
        raise RuntimeError(f"{op}: expected input with non-zero spatial sizes, got {tuple(input.shape)}")
    return x, unbatched, out_hw


def adaptive_avg_pool2d(input, output_size):
    """y (N, C, OH, OW): the mean over window (i, j) = [floor(i H / OH), ceil((i + 1) H / OH)) x ..."""
    x, unbatched, out_hw = _adaptive_args(input, output_size, "adaptive_avg_pool2d")
    y = AdaptiveAvgPool2d.apply(x, out_hw=out_hw)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """y (N, C, OH, OW): the max over adaptive window (i, j); with return_indices, the flat index
    of each maximum in its input H x W plane."""
    x, unbatched, out_hw = _adaptive_args(input, output_size, "adaptive_max_pool2d")
    h, w = x.shape[2:]
    if h % out_hw[0] == 0 and w % out_hw[1] == 0:  # equal windows that tile: a plain max pool
        kernel = (h // out_hw[0], w // out_hw[1])
        geometry = dict(kernel=kernel, stride=kernel, padding=(0, 0), dilation=(1, 1), out_hw=out_hw)
        y, ctx = _with_node(MaxPool2d, x, geometry, return_indices)
        indices = ctx.indices() if return_indices else None
    else:
        y, ctx = _with_node(AdaptiveMaxPool2d, x, dict(out_hw=out_hw), return_indices)
        indices = ctx.saved[0] if return_indices else None
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    indices = Tensor(indices)
    return y, (indices.squeeze(0) if unbatched else indices)


TENSOR_METHODS = ()
