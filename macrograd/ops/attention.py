"""Scaled dot-product attention as one fused op with a hand-derived backward.

    S = Q K^T * scale + M,   P = softmax(S) along the keys,   O = dropout(P) V

Composed from primitives this would record five nodes and keep five (..., L, S) temporaries
alive for backward; fused, it keeps Q, K, V and P (and the dropout mask) and writes the whole
backward as four batched GEMMs plus the softmax Jacobian-vector product.

Masks follow PyTorch's `scaled_dot_product_attention`: a bool mask says which positions TAKE
PART (True = attend), a float mask is added to the scores; both broadcast over the batch/head
dims. A query row whose keys are all masked gives an output row of zeros and zero gradients,
as PyTorch 2.5+ does ("safe softmax"), rather than the 0/0 = NaN of a plain softmax.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, sum_to
from ..backend import xp
from .dtypes import cast, to_tensor


def _safe_softmax_(s):
    """softmax along the last axis, in place on `s`; rows that are all -inf become zeros."""
    top = s.max(axis=-1, keepdims=True)
    top[top == -np.inf] = 0  # a fully masked row: exp(-inf - 0) = 0 everywhere instead of NaN
    s -= top
    xp.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    total[total == 0] = 1  # 0 / 1 = 0 for the fully masked rows
    s /= total
    return s


def _expand_heads(x, groups):
    """Grouped-query attention: repeat each key/value head `groups` times along dim -3."""
    return x if groups == 1 else xp.repeat(x, groups, axis=-3)


def _reduce_heads(dx, groups):
    """Undo `_expand_heads` in backward: sum the gradients of each head's copies."""
    if groups == 1:
        return dx
    shape = dx.shape
    return dx.reshape(shape[:-3] + (shape[-3] // groups, groups) + shape[-2:]).sum(axis=-3)


class ScaledDotProductAttention(Function):
    """O = dropout(P) V, P = softmax(Q K^T s + M);  dV = P'^T dO,  dP = (dO V^T) * D,
    dS = P * (dP - rowsum(dP * P)),  dQ = s dS K,  dK = s dS^T Q,  dM = dS"""

    def forward(ctx, q, k, v, *mask, scale, dropout_p, is_causal, groups):
        ctx.shapes = (q.shape, k.shape, v.shape) + tuple(m.shape for m in mask)
        k, v = _expand_heads(k, groups), _expand_heads(v, groups)
        s = xp.matmul(q, xp.swapaxes(k, -1, -2))  # (..., L, S), our own buffer from here on
        s *= s.dtype.type(scale)
        if mask:
            (m,) = mask
            if m.dtype == np.bool_:
                xp.copyto(s, s.dtype.type(-np.inf), where=~m)  # True = take part
            else:
                s += m
        if is_causal:  # query i sees keys 0..i (top-left aligned, as in PyTorch)
            L, S = s.shape[-2:]
            xp.copyto(s, s.dtype.type(-np.inf), where=~xp.tri(L, S, dtype=bool))
        p = _safe_softmax_(s)
        keep = None
        if dropout_p > 0:
            # The same draw as ops.dropout.Dropout, so a seeded run can be reproduced by hand.
            keep = backend.to_device_array(backend.rng().random(p.shape, dtype="float32") >= dropout_p)
            ctx.drop_scale = 1.0 / (1.0 - dropout_p) if dropout_p < 1 else 0.0
            p_used = p * keep
            p_used *= p.dtype.type(ctx.drop_scale)
        else:
            p_used = p
        ctx.scale, ctx.groups = scale, groups
        ctx.save(q, k, v, p, keep)
        return xp.matmul(p_used, v)

    def backward(ctx, do):
        q, k, v, p, keep = ctx.saved
        need = ctx.needs_input_grad
        grads = [None] * len(need)
        scale = p.dtype.type(ctx.scale)
        if keep is not None:
            p_used = p * keep
            p_used *= p.dtype.type(ctx.drop_scale)
        else:
            p_used = p
        if need[2]:  # dV = P'^T dO
            dv = xp.matmul(xp.swapaxes(p_used, -1, -2), do)
            grads[2] = sum_to(_reduce_heads(dv, ctx.groups), ctx.shapes[2])
        if need[0] or need[1] or (len(need) > 3 and need[3]):
            dp = xp.matmul(do, xp.swapaxes(v, -1, -2))  # dP' = dO V^T
            if keep is not None:
                dp *= keep
                dp *= p.dtype.type(ctx.drop_scale)
            # softmax backward, in place on dp: dS = P * (dP - rowsum(dP * P))
            dp -= (dp * p).sum(axis=-1, keepdims=True)
            dp *= p
            ds = dp
            if len(need) > 3 and need[3]:
                grads[3] = sum_to(ds, ctx.shapes[3])
            if need[0]:
                dq = xp.matmul(ds, k)
                dq *= scale
                grads[0] = sum_to(dq, ctx.shapes[0])
            if need[1]:
                dk = xp.matmul(xp.swapaxes(ds, -1, -2), q)
                dk *= scale
                grads[1] = sum_to(_reduce_heads(dk, ctx.groups), ctx.shapes[1])
        return tuple(grads)


def _batch_shape(op, *shapes):
    """The broadcast batch dims (all but the last two) of the shapes, or a clear error."""
    try:
        return np.broadcast_shapes(*(shape[:-2] for shape in shapes))
    except ValueError:
        shapes = ", ".join(str(shape) for shape in shapes)
        raise RuntimeError(f"{op}: the batch dims of query, key and value do not broadcast "
                           f"(shapes {shapes})") from None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(Q K^T * scale + mask) V for query (..., L, E), key (..., S, E), value (..., S, Ev);
    scale defaults to 1/sqrt(E). A bool attn_mask marks with True the positions that take part,
    a float one is added to the scores; is_causal masks keys after each query (no attn_mask then);
    dropout_p drops attention probabilities; enable_gqa lets key/value have fewer heads (dim -3)."""
    op = "scaled_dot_product_attention"
    query, key, value = to_tensor(query), to_tensor(key), to_tensor(value)
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(f"{op}: Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {query.dtype} key.dtype: {key.dtype} and value.dtype: "
                           f"{value.dtype} instead.")
    if query.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected floating point query, key and value, got {query.dtype}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(f"{op}: query, key and value need at least 2 dims (..., L, E), got shapes "
                           f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), "
                           f"got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: Explicit attn_mask should not be set when is_causal=True")

    groups = 1
    if enable_gqa and key.ndim >= 3 and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        if key.shape[-3] != value.shape[-3] or query.shape[-3] % key.shape[-3]:
            raise RuntimeError(f"{op}: with enable_gqa the number of query heads (dim -3, "
                               f"{query.shape[-3]}) must be a multiple of the key and value heads "
                               f"({key.shape[-3]}, {value.shape[-3]})")
        groups = query.shape[-3] // key.shape[-3]
    # key and value as the Function will see them after repeating their heads (for the check)
    kv_shapes = [tuple(t.shape[:-3]) + (t.shape[-3] * groups,) + tuple(t.shape[-2:]) if groups > 1
                 else tuple(t.shape) for t in (key, value)]
    batch = _batch_shape(op, tuple(query.shape), *kv_shapes)

    inputs = [query, key, value]
    if attn_mask is not None:
        attn_mask = to_tensor(attn_mask)
        if attn_mask.dtype.kind == "f":
            attn_mask = cast(attn_mask, query.dtype)  # differentiable: a learned bias gets its grad
        elif attn_mask.dtype != np.bool_:
            raise RuntimeError(f"{op}: Expected attn_mask dtype to be bool or float or to match "
                               f"query dtype, got {attn_mask.dtype}")
        scores_shape = batch + (query.shape[-2], key.shape[-2])
        try:
            if np.broadcast_shapes(tuple(attn_mask.shape), scores_shape) != scores_shape:
                raise ValueError
        except ValueError:
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast "
                               f"to the attention scores of shape {scores_shape}") from None
        inputs.append(attn_mask)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    return ScaledDotProductAttention.apply(*inputs, scale=float(scale), dropout_p=float(dropout_p),
                                           is_causal=bool(is_causal), groups=groups)


TENSOR_METHODS = ()
