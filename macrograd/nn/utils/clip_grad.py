"""Gradient clipping, applied in place to `.grad` between backward() and the optimizer step."""
from __future__ import annotations

import math

from ... import autograd
from ...backend import xp
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(array, norm_type: float):
    """||x||_p over all elements of an array, as a 0-d array of its dtype."""
    if norm_type == math.inf:
        return xp.abs(array).max() if array.size else xp.zeros((), array.dtype)
    if norm_type == -math.inf:
        return xp.abs(array).min()
    flat = array.reshape(-1)
    if norm_type == 2:
        return xp.sqrt(xp.dot(flat, flat))  # one BLAS call, no |x|^2 temporary
    if norm_type == 1:
        return xp.abs(flat).sum()
    if norm_type == 0:
        return xp.asarray((flat != 0).sum(), dtype=array.dtype)
    return (xp.abs(flat) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint p-norm is at most max_norm.

    total = ||(||g_1||_p, ..., ||g_n||_p)||_p;  g <- g * min(1, max_norm / (total + 1e-6)).
    Returns the total norm before clipping (a 0-d tensor), as PyTorch does."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(xp.zeros((), dtype=xp.float32))
    norms = xp.stack([_vector_norm(g._data, norm_type) for g in grads])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`"
        )
    # Always multiply (by a coefficient <= 1), as PyTorch does: no data-dependent branch.
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)
    with autograd.no_grad():
        for g in grads:
            g._data *= coef.astype(g._data.dtype)
            g._bump_version()
    return Tensor(total)


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of clip_grad_norm_."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with autograd.no_grad():
        for g in _grads(parameters):
            xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._bump_version()
