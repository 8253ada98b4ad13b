"""Normalization layers as fused Functions: layer_norm, batch_norm, group_norm, instance_norm,
and the p-norm rescaling behind F.normalize.

All of them compute x_hat = (x - mean) / sqrt(var + eps) over some axes, then y = x_hat w + b.
The backward through the statistics is the same for every one of them (one helper):
    dx = rstd (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)),  dx_hat = dy w,
with the means over the normalised axes. var is the biased variance, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .dtypes import cast, to_tensor


def _sum(axes, *arrays, keepdims=False):
    """sum over `axes` of the product of the arrays (one pass, no temporary for the product):
    einsum is 2-3x faster here than (a * b).sum(axis) and faster than sum for plain sums."""
    ndim = arrays[0].ndim
    letters = "abcdefghijklmnopqrstuvwxyz"[:ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axes)
    total = xp.einsum(",".join([letters] * len(arrays)) + "->" + kept, *arrays)
    if keepdims:
        total = total.reshape([1 if i in axes else n for i, n in enumerate(arrays[0].shape)])
    return total


def _count(shape, axes):
    n = 1
    for axis in axes:
        n *= shape[axis]
    return n


def _normalize_backward(dxhat, xhat, rstd, axes):
    """dL/dx of x_hat = (x - mean(x)) rstd over `axes`, given dL/dx_hat."""
    n = _count(xhat.shape, axes)
    mean_dxhat = _sum(axes, dxhat, keepdims=True) / n
    mean_dxhat_xhat = _sum(axes, dxhat, xhat, keepdims=True) / n
    dx = dxhat - mean_dxhat
    dx -= xhat * mean_dxhat_xhat
    dx *= rstd
    return dx


def _standardize(x, axes, eps):
    """x_hat and 1/sqrt(var + eps) over `axes` (biased variance), plus mean and var."""
    n = _count(x.shape, axes)
    mean = _sum(axes, x, keepdims=True) / n
    centered = x - mean
    var = _sum(axes, centered, centered, keepdims=True) / n
    rstd = 1.0 / xp.sqrt(var + eps)
    centered *= rstd  # in place: x_hat reuses the centered array
    return centered, rstd.astype(x.dtype, copy=False), mean, var


def _affine(xhat, weight, bias):
    """y = x_hat w + b with optional w and b (already shaped to broadcast)."""
    y = xhat * weight if weight is not None else xhat.copy()
    if bias is not None:
        y += bias
    return y


def _affine_backward(ctx, dy, xhat, weight, param_axes, param_shape):
    """Gradients of the affine part: (dx_hat, dw, db) for y = x_hat w + b."""
    dw = db = None
    needs = ctx.needs_input_grad[1:]
    index = 0
    if ctx.has_weight:
        if needs[index]:
            dw = _sum(param_axes, dy, xhat).reshape(param_shape)
        index += 1
    if ctx.has_bias and needs[index]:
        db = _sum(param_axes, dy).reshape(param_shape)
    dxhat = dy * weight if weight is not None else dy
    return dxhat, dw, db


def _params(ctx, params, shape):
    """Split the optional (weight, bias) arrays passed after x, each viewed with `shape`."""
    params = list(params)
    weight = params.pop(0).reshape(shape) if ctx.has_weight else None
    bias = params.pop(0).reshape(shape) if ctx.has_bias else None
    return weight, bias


def _grads(ctx, dx, dw, db):
    """The tuple backward returns: dx, then dw and db for the parameters that were given."""
    grads = [dx]
    if ctx.has_weight:
        grads.append(dw)
    if ctx.has_bias:
        grads.append(db)
    return tuple(grads)


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) w + b over the last k dims;
    dx = rstd (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)), dw = sum dy x_hat, db = sum dy

    Works on x viewed as rows (N, C), C the normalised size, with the per-row statistics as
    (N, 1) columns and fixed einsum strings: the shared helpers' generic axes cost more than
    the arithmetic on a transformer's (batch x time, width) activations (bench W5: 9 calls)."""

    def forward(ctx, x, *params, k, eps, has_weight, has_bias):
        ctx.has_weight, ctx.has_bias = has_weight, has_bias
        ctx.param_shape = shape = x.shape[x.ndim - k:]
        size = _count(shape, range(k))
        rows = x.reshape(_count(x.shape, range(x.ndim - k)), size)  # (not -1: size may be 0)
        weight, bias = _params(ctx, params, (size,))
        mean = xp.einsum("nc->n", rows)
        mean /= size
        xhat = rows - mean[:, None]
        var = xp.einsum("nc,nc->n", xhat, xhat)
        var /= size
        var += eps
        rstd = xp.sqrt(var, out=var)
        xp.reciprocal(rstd, out=rstd)
        rstd = rstd.astype(x.dtype, copy=False)[:, None]
        xhat *= rstd
        ctx.save(xhat, rstd, weight)
        return _affine(xhat, weight, bias).reshape(x.shape)

    def backward(ctx, dy):
        xhat, rstd, weight = ctx.saved
        rows, size = xhat.shape
        g = dy.reshape(rows, size)
        dw = db = None
        needs = ctx.needs_input_grad[1:]
        if ctx.has_weight and needs[0]:
            dw = xp.einsum("nc,nc->c", g, xhat).reshape(ctx.param_shape)
        if ctx.has_bias and needs[int(ctx.has_weight)]:
            db = xp.einsum("nc->c", g).reshape(ctx.param_shape)
        dx = None
        if ctx.needs_input_grad[0]:
            # dx = rstd (g - mean(g) - x_hat mean(g x_hat)), g = dy w, in one fresh buffer
            g = g * weight if weight is not None else g.copy()
            mean_g = xp.einsum("nc->n", g)[:, None]
            mean_g /= size
            mean_gx = xp.einsum("nc,nc->n", g, xhat)[:, None]
            mean_gx /= size
            g -= mean_g
            g -= xhat * mean_gx
            g *= rstd
            dx = g.reshape(dy.shape)
        return _grads(ctx, dx, dw, db)


def _rows(v, size):
    """A per-channel (1, C, 1) array repeated along the last axis as a contiguous (1, C, size)
    row. NumPy broadcasts a (1, C, 1) operand over (N, C, H W) at about half the speed of a
    contiguous one (per 8 MB activation, one thread: x - v 0.96 -> 0.58 ms, in place
    0.54 -> 0.29 ms); the row is small (C H W elements, one image's worth)."""
    return xp.ascontiguousarray(xp.broadcast_to(v, (1, v.shape[1], size)))


class BatchNorm(Function):
    """y = (x - mean_c) / sqrt(var_c + eps) w_c + b_c per channel c (stats over N and space);
    training: the batch's statistics, dx as in layer_norm over (N, space);
    eval: the running statistics (constants), dx = dy w rstd

    Training saves x itself (not x_hat) and works in few passes over the activations:
    forward y = (x - mean) (w rstd) + b in place on one buffer; backward
    dx = w rstd (dy - mean(dy) - (x - mean) rstd^2 mean(dy (x - mean))), also in one buffer.
    Both work on x viewed as (N, C, H W), with the per-channel factors as contiguous rows
    (see _rows): ResNet-8 batch 128, one thread, batch norm fwd+bwd 51 -> 43 ms a step."""

    def forward(ctx, x, *params, running_mean, running_var, training, momentum, eps,
                has_weight, has_bias):
        ctx.has_weight, ctx.has_bias, ctx.training = has_weight, has_bias, training
        channel_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        ctx.axes = (0,) + tuple(range(2, x.ndim))
        ctx.param_shape = (x.shape[1],)
        weight, bias = _params(ctx, params, channel_shape)
        if not training:
            rstd = (1.0 / xp.sqrt(running_var + eps)).astype(x.dtype, copy=False).reshape(channel_shape)
            xhat = (x - running_mean.astype(x.dtype, copy=False).reshape(channel_shape)) * rstd
            ctx.save(xhat, None, rstd, weight)
            return _affine(xhat, weight, bias)
        n = _count(x.shape, ctx.axes)
        size = n // x.shape[0] if x.shape[0] else 0  # H W (1 for (N, C) input)
        x3 = x.reshape(x.shape[0], x.shape[1], size)
        mean = _sum((0, 2), x3, keepdims=True) / n  # (1, C, 1)
        y = xp.subtract(x3, _rows(mean, size))  # the centered x, then y in place
        var = _sum((0, 2), y, y, keepdims=True) / n
        rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        if running_mean is not None:
            # The running variance is unbiased (n / (n - 1)), the normalisation biased.
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1).astype(running_mean.dtype, copy=False)
            running_var *= 1 - momentum
            running_var += (momentum * n / (n - 1)) * var.reshape(-1).astype(running_var.dtype, copy=False)
        y *= _rows(rstd * weight.reshape(rstd.shape) if weight is not None else rstd, size)
        if bias is not None:
            y += _rows(bias.reshape(rstd.shape), size)
        ctx.save(x, mean, rstd, weight)
        return y.reshape(x.shape)

    def backward(ctx, dy):
        x, mean, rstd, weight = ctx.saved
        if not ctx.training:  # x holds x_hat here
            dxhat, dw, db = _affine_backward(ctx, dy, x, weight, ctx.axes, ctx.param_shape)
            return _grads(ctx, dxhat * rstd if ctx.needs_input_grad[0] else None, dw, db)
        n = _count(x.shape, ctx.axes)
        size = n // x.shape[0] if x.shape[0] else 0
        shape = x.shape
        x, dy = x.reshape(shape[0], shape[1], size), dy.reshape(shape[0], shape[1], size)
        sum_dy = _sum((0, 2), dy, keepdims=True)  # (1, C, 1), as are mean and rstd
        centered = xp.subtract(x, _rows(mean, size))
        sum_dy_centered = _sum((0, 2), dy, centered, keepdims=True)
        needs = ctx.needs_input_grad[1:]
        dw = db = None
        if ctx.has_weight and needs[0]:
            dw = (sum_dy_centered * rstd).reshape(ctx.param_shape)  # sum dy x_hat
        if ctx.has_bias and needs[-1]:
            db = sum_dy.reshape(ctx.param_shape)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = centered
            dx *= _rows(rstd * rstd * (sum_dy_centered / n), size)
            dx += _rows(sum_dy / n, size)
            xp.subtract(dy, dx, out=dx)
            dx *= _rows(rstd * weight.reshape(rstd.shape) if weight is not None else rstd, size)
            dx = dx.reshape(shape)
        return _grads(ctx, dx, dw, db)


class GroupNorm(Function):
    """x (N, C, ...) viewed as (N, G, C/G * ...): y = x_hat w_c + b_c with x_hat standardised
    within each group; dx as in layer_norm over each group"""

    def forward(ctx, x, *params, num_groups, eps, has_weight, has_bias):
        ctx.has_weight, ctx.has_bias = has_weight, has_bias
        channel_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        ctx.param_axes = (0,) + tuple(range(2, x.ndim))
        ctx.param_shape = (x.shape[1],)
        weight, bias = _params(ctx, params, channel_shape)
        grouped = x.reshape(x.shape[0], num_groups, -1)
        xhat, rstd, _, _ = _standardize(grouped, (2,), eps)
        ctx.save(xhat, rstd, weight)
        return _affine(xhat.reshape(x.shape), weight, bias)

    def backward(ctx, dy):
        xhat, rstd, weight = ctx.saved
        dxhat, dw, db = _affine_backward(ctx, dy, xhat.reshape(dy.shape), weight,
                                         ctx.param_axes, ctx.param_shape)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = _normalize_backward(dxhat.reshape(xhat.shape), xhat, rstd, (2,)).reshape(dy.shape)
        return _grads(ctx, dx, dw, db)


class LpNormalize(Function):
    """y = x / max(||x||_p, eps) along dim;
    dx = dy / d - [n >= eps] sum(dy x) / d^2 * dn/dx, with dn/dx = sign(x) |x|^(p-1) / n^(p-1)"""

    def forward(ctx, x, p, dim, eps):
        ctx.p, ctx.dim, ctx.eps = p, dim, eps
        a = xp.abs(x)
        if p == np.inf:
            norm = a.max(axis=dim, keepdims=True)
        elif p == 2:
            norm = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        else:
            norm = (a**p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        denominator = xp.maximum(norm, eps)
        ctx.save(x, norm, denominator)
        return x / denominator

    def backward(ctx, dy):
        x, norm, denominator = ctx.saved
        p, dim = ctx.p, ctx.dim
        dx = dy / denominator
        # Where the norm is clamped to eps the denominator is a constant: no second term.
        coefficient = (dy * x).sum(axis=dim, keepdims=True) / (denominator * denominator)
        coefficient = coefficient * (norm >= ctx.eps)
        safe_norm = xp.where(norm > 0, norm, 1)
        if p == np.inf:
            at_max = xp.abs(x) == norm  # torch shares the gradient evenly between ties
            dnorm = xp.sign(x) * at_max / at_max.sum(axis=dim, keepdims=True)
        elif p == 2:
            dnorm = x / safe_norm
        else:
            dnorm = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_norm ** (p - 1)
        return dx - coefficient * dnorm


# -- the functions users call ----------------------------------------------------------------------
def _float_input(op, input):
    input = to_tensor(input)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return input


def _optional_params(op, input, weight, bias, shape):
    """The given (weight, bias) tensors, cast to the input's dtype and checked against `shape`."""
    params = []
    for name, value in (("weight", weight), ("bias", bias)):
        if value is None:
            continue
        value = cast(to_tensor(value), input._data.dtype)
        if tuple(value.shape) != tuple(shape):
            raise RuntimeError(f"{op}: expected {name} of shape {tuple(shape)} for input of shape "
                               f"{tuple(input.shape)}, got {name} of shape {tuple(value.shape)}")
        params.append(value)
    return params


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims, then scale by weight and add bias."""
    op = "layer_norm"
    input = _float_input(op, input)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise RuntimeError(f"{op}: given normalized_shape={list(normalized_shape)}, expected input "
                           f"with shape [*, {', '.join(map(str, normalized_shape))}], but got input "
                           f"of size {list(input.shape)}")
    params = _optional_params(op, input, weight, bias, normalized_shape)
    return LayerNorm.apply(input, *params, k=k, eps=eps, has_weight=weight is not None,
                           has_bias=bias is not None)


def _channel_stat(op, name, value, channels):
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor (it is updated in place), got {type(value).__name__}")
    if tuple(value.shape) != (channels,):
        raise RuntimeError(f"{op}: {name} should contain {channels} elements not {value.numel()}")
    return value


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel of (N, C), (N, C, L) or (N, C, H, W) input. training: with the
    batch's statistics, updating running_mean/var in place; else with the running statistics."""
    op = "batch_norm"
    input = _float_input(op, input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...) with at least 2 dims, "
                         f"got {tuple(input.shape)}")
    channels = input.shape[1]
    running_mean = _channel_stat(op, "running_mean", running_mean, channels)
    running_var = _channel_stat(op, "running_var", running_var, channels)
    if (running_mean is None) != (running_var is None):
        raise RuntimeError(f"{op}: running_mean and running_var must both be given or both be None")
    if training:
        if input.numel() // channels <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input size {list(input.shape)}")
    elif running_mean is None:
        raise RuntimeError(f"{op}: running_mean and running_var must be defined in evaluation mode")
    params = _optional_params(op, input, weight, bias, (channels,))
    output = BatchNorm.apply(
        input, *params,
        running_mean=None if running_mean is None else running_mean._data,
        running_var=None if running_var is None else running_var._data,
        training=training, momentum=momentum, eps=eps,
        has_weight=weight is not None, has_bias=bias is not None,
    )
    if training and running_mean is not None:
        running_mean._bump_version()
        running_var._bump_version()
    return output


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels of (N, C, ...) into num_groups groups and normalise each group of
    each sample; then scale and shift per channel."""
    op = "group_norm"
    input = _float_input(op, input)
    if input.ndim < 2:
        raise RuntimeError(f"{op}: expected input of shape (N, C, ...), got {tuple(input.shape)}")
    channels = input.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise RuntimeError(f"{op}: expected number of channels in input ({channels}) to be "
                           f"divisible by num_groups ({num_groups})")
    params = _optional_params(op, input, weight, bias, (channels,))
    return GroupNorm.apply(input, *params, num_groups=num_groups, eps=eps,
                           has_weight=weight is not None, has_bias=bias is not None)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims (group_norm with C groups);
    with use_input_stats=False, use the running statistics like batch_norm in eval mode."""
    op = "instance_norm"
    input = _float_input(op, input)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, L, ...) with spatial dims, "
                         f"got {tuple(input.shape)}")
    channels = input.shape[1]
    running_mean = _channel_stat(op, "running_mean", running_mean, channels)
    running_var = _channel_stat(op, "running_var", running_var, channels)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = input.numel() // max(input.shape[0] * channels, 1)
    if spatial <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input "
                         f"size {list(input.shape)}")
    if running_mean is not None:
        # Running statistics: the batch average of each instance's mean and unbiased variance.
        x = input._data
        axes = tuple(range(2, x.ndim))
        mean = x.mean(axis=axes).mean(axis=0)
        var = x.var(axis=axes, ddof=1).mean(axis=0)
        for stat, value in ((running_mean, mean), (running_var, var)):
            stat._data *= 1 - momentum
            stat._data += momentum * value.astype(stat.dtype, copy=False)
            stat._bump_version()
    params = _optional_params(op, input, weight, bias, (channels,))
    return GroupNorm.apply(input, *params, num_groups=channels, eps=eps,
                           has_weight=weight is not None, has_bias=bias is not None)


TENSOR_METHODS = ()
