"""Dropout: zero random units while training and scale the survivors by 1 / (1 - p)
("inverted" dropout), so that the expected value is unchanged and eval needs no rescaling.

Masks come from macrograd.backend's global generator, so `mg.manual_seed` makes them repeatable.
"""
from __future__ import annotations

import warnings

from .. import backend
from ..autograd import Function
from .dtypes import to_tensor


class Dropout(Function):
    """y = x * m, m = [u >= p] / (1 - p) with u ~ U[0, 1) (one u per mask element);  dx = dy * m"""

    def forward(ctx, x, p, mask_shape):
        keep = backend.rng().random(mask_shape, dtype="float32") >= p
        # The scaled mask in x's dtype: one multiply in forward, one in backward (p = 1 drops all).
        scale = 1.0 / (1.0 - p) if p < 1 else 0.0
        mask = backend.to_device_array(keep.astype(x.dtype)) * x.dtype.type(scale)
        ctx.save(mask)
        return x * mask

    def backward(ctx, dy):
        (mask,) = ctx.saved
        return dy * mask


def _check(op, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not
    training. (inplace is accepted for PyTorch compatibility; the result is always a new tensor.)"""
    _check("dropout", p)
    input = to_tensor(input)
    if not training or p == 0:
        return input
    return Dropout.apply(input, p=p, mask_shape=tuple(input.shape))


def _channel_dropout(op, input, p, training, batched_ndim):
    """Dropout of whole channels: one mask value per (N, C), broadcast over the spatial dims.
    An input with one dim fewer than `batched_ndim` is one unbatched sample (C, ...)."""
    _check(op, p)
    input = to_tensor(input)
    if input.ndim not in (batched_ndim - 1, batched_ndim):
        raise RuntimeError(f"{op}: expected {batched_ndim - 1}D or {batched_ndim}D input, "
                           f"got input of shape {tuple(input.shape)}")
    if op == "dropout2d" and input.ndim == 3:
        # PyTorch's current reading of 3-D input to dropout2d, with its warning.
        warnings.warn("dropout2d: received a 3D input and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L); use "
                      "dropout1d for this.", stacklevel=3)
        batched_ndim = 3
    if not training or p == 0:
        return input
    channel_dims = 2 if input.ndim == batched_ndim else 1
    mask_shape = tuple(input.shape[:channel_dims]) + (1,) * (input.ndim - channel_dims)
    return Dropout.apply(input, p=p, mask_shape=mask_shape)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p; scale by 1/(1-p)."""
    return _channel_dropout("dropout1d", input, p, training, 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability p; scale by 1/(1-p)."""
    return _channel_dropout("dropout2d", input, p, training, 4)


TENSOR_METHODS = ()
