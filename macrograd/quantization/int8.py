"""Symmetric int8 quantization: q = clip(round(x / s), -128, 127), x ~ q s.

Weights get one scale per output channel, s_c = max|w_c| / 127 (a channel of small weights keeps
its resolution instead of sharing the largest channel's); activations one scale per tensor,
s = max|x| / 127 over calibration data. Zero points are 0 (symmetric), so the integer product
sum_k q_x q_w times s_x s_w is the float product up to rounding.
"""
from __future__ import annotations

import numpy as np

QMIN, QMAX = -128, 127


def quantize(x, scale, axis: int | None = None):
    """int8 q = clip(round(x / scale), -128, 127); scale per tensor, or per slice along `axis`."""
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    if axis is not None:
        scale = scale.reshape([-1 if d == axis else 1 for d in range(x.ndim)])
    return np.clip(np.round(x / scale), QMIN, QMAX).astype(np.int8)


def per_channel_weight(w, axis: int = 0):
    """(int8 weights, float32 scales of shape (w.shape[axis],)): s_c = max|w_c| / 127."""
    w = np.asarray(w, dtype=np.float32)
    other = tuple(d for d in range(w.ndim) if d != axis)
    amax = np.abs(w).max(axis=other)
    scale = np.where(amax > 0, amax / QMAX, 1.0).astype(np.float32)  # an all-zero channel: any scale
    return quantize(w, scale, axis), scale


def activation_scale(amax: float) -> np.float32:
    """The per-tensor scale for activations whose largest magnitude seen in calibration is amax."""
    return np.float32(amax / QMAX if amax > 0 else 1.0)
