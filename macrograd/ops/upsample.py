"""Resizing: interpolate (F.interpolate / nn.Upsample) in modes 'nearest', 'linear', 'bilinear'.

Both modes are separable: resize along W, then along H. Along one axis every output position o
reads input position i0[o] (nearest) or the two neighbours i0[o], i1[o] with weights
w0 = 1 - lambda, w1 = lambda (linear), so forward is a gather and backward a scatter-add of the
same weights. The index arrays never decrease, so the scatter is a segmented sum
(`add.reduceat` over runs of equal index), not a slow `add.at`.

Index arithmetic follows PyTorch's kernels to the bit (float32 for float32 input), because a
source position that lands on .5 or an integer in one precision and not the other picks a
different neighbour:
    nearest:  i0 = min(floor(o * scale), in - 1),  scale = 1 / scale_factor or in / out
    linear:   src = o * (in - 1) / (out - 1)                       (align_corners=True)
              src = max((o + 0.5) * scale - 0.5, 0)                (align_corners=False)
              i0 = floor(src), i1 = min(i0 + 1, in - 1), lambda = src - i0
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backend import xp
from .dtypes import to_tensor

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def _nearest_index(size, out, scale, dtype):
    if out == size:
        return np.arange(out)
    if out == 2 * size:
        return np.arange(out) >> 1
    step = dtype.type(1.0 / scale) if scale is not None and scale > 0 else dtype.type(size) / dtype.type(out)
    index = np.floor(np.arange(out, dtype=dtype) * step).astype(np.int64)
    return np.minimum(index, size - 1)


def _linear_index(size, out, scale, align_corners, dtype):
    """(i0, i1, w0, w1) along one axis, as PyTorch's compute_indices_weights_linear."""
    o = np.arange(out, dtype=dtype)
    if align_corners:
        step = dtype.type(size - 1) / dtype.type(out - 1) if out > 1 else dtype.type(0)
        src = o * step
    else:
        step = dtype.type(1.0 / scale) if scale is not None and scale > 0 else dtype.type(size) / dtype.type(out)
        src = np.maximum(step * (o + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    lam = np.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    i1 = i0 + (i0 < size - 1)
    return i0, i1, (1 - lam).astype(dtype), lam


def _scatter(grad, index, size, axis):
    """out[..., k, ...] = sum of grad[..., j, ...] over the j with index[j] == k (index sorted)."""
    positions, starts = np.unique(index, return_index=True)
    sums = xp.add.reduceat(grad, xp.asarray(starts), axis=axis)
    if len(positions) == size:  # every input position was read (upsampling): no gaps to fill
        return sums
    shape = list(grad.shape)
    shape[axis] = size
    out = xp.zeros(shape, dtype=grad.dtype)
    where = [slice(None)] * grad.ndim
    where[axis] = xp.asarray(positions)
    out[tuple(where)] = sums
    return out


def _weights(w, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return xp.asarray(w).reshape(shape)


class Interpolate(Function):
    """nearest: y[o] = x[i0[o]];  dx[i] = sum_{o: i0[o] = i} dy[o]
    linear:  y[o] = w0[o] x[i0[o]] + w1[o] x[i1[o]];  dx[i] = sum_o dy[o] (w0[o] [i0[o] = i] + w1[o] [i1[o] = i])
    (applied along W, then along H)"""

    def forward(ctx, x, plans):
        ctx.plans, ctx.sizes = plans, (x.shape[2], x.shape[3])
        y = x
        for axis, plan in ((3, plans[1]), (2, plans[0])):
            i0, i1, w0, w1 = plan
            if i1 is None:
                y = xp.take(y, xp.asarray(i0), axis=axis)
            else:
                y = xp.take(y, xp.asarray(i0), axis=axis) * _weights(w0, axis, 4) \
                    + xp.take(y, xp.asarray(i1), axis=axis) * _weights(w1, axis, 4)
        return y

    def backward(ctx, dy):
        grad = dy
        for axis, plan, size in ((2, ctx.plans[0], ctx.sizes[0]), (3, ctx.plans[1], ctx.sizes[1])):
            i0, i1, w0, w1 = plan
            if i1 is None:
                grad = _scatter(grad, i0, size, axis)
            else:
                grad = _scatter(grad * _weights(w0, axis, 4), i0, size, axis) \
                    + _scatter(grad * _weights(w1, axis, 4), i1, size, axis)
        return grad


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W) input to `size` or by `scale_factor`
    (mode 'nearest' for 3-D and 4-D input, 'linear' for 3-D, 'bilinear' for 4-D)."""
    op = "interpolate"
    input = to_tensor(input)
    if mode not in _MODES:
        raise NotImplementedError(f"{op}: unknown mode {mode!r}; expected one of {_MODES}")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"{op}: mode {mode!r} is not implemented in macrograd "
                                  f"(nearest, linear and bilinear are)")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not implemented")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    expected = {"linear": (3,), "bilinear": (4,), "nearest": (3, 4)}[mode]
    if input.ndim not in expected:
        raise NotImplementedError(
            f"{op}: got {input.ndim}D input of shape {tuple(input.shape)}, but mode {mode!r} expects "
            f"{' or '.join(f'{d}D' for d in expected)} input (N, C, {'L' if input.ndim == 3 else 'H, W'})")
    if input.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    spatial = input.ndim - 2
    in_sizes = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        if len(sizes) != spatial:
            raise ValueError(f"{op}: input and output must have the same number of spatial dimensions, "
                             f"but got input with spatial dimensions of {list(in_sizes)} and output size "
                             f"of {list(sizes)}")
        scales = (None,) * spatial
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * spatial
        if len(scales) != spatial:
            raise ValueError(f"{op}: input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of {list(in_sizes)} and "
                             f"scale_factor of shape {list(scales)}")
        sizes = tuple(math.floor(float(n) * float(s)) for n, s in zip(in_sizes, scales))
        if recompute_scale_factor:
            scales = (None,) * spatial
    if any(s <= 0 for s in sizes) or any(n <= 0 for n in in_sizes):
        raise RuntimeError(f"{op}: input {tuple(input.shape)} and output size {sizes} should be greater "
                           f"than 0")
    x = input.unsqueeze(2) if spatial == 1 else input  # 1-D: a height-1 image
    if spatial == 1:
        sizes, scales, in_sizes = (1,) + sizes, (None,) + scales, (1,) + in_sizes
    dtype = np.dtype(input.dtype)
    if mode == "nearest":
        plans = tuple((_nearest_index(n, o, s, dtype), None, None, None)
                      for n, o, s in zip(in_sizes, sizes, scales))
    else:
        plans = tuple(_linear_index(n, o, s, bool(align_corners), dtype)
                      for n, o, s in zip(in_sizes, sizes, scales))
    y = Interpolate.apply(x, plans=plans)
    return y.squeeze(2) if spatial == 1 else y


TENSOR_METHODS = ()
