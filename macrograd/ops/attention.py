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


def _safe_softmax_keys_(st):
    """softmax over the keys of transposed scores S^T (..., S, L), i.e. along axis -2, in place;
    a query whose keys are all -inf gets zeros.

    Why transposed: NumPy reduces along a short last axis (64 keys) with one tiny inner loop per
    row, ~7x slower for max than reducing along axis -2, where each step is one elementwise
    maximum over a whole contiguous row of queries (bench W5: 0.49 ms -> 0.07 ms per call)."""
    top = st.max(axis=-2, keepdims=True)
    top[top == -np.inf] = 0  # a fully masked query: exp(-inf - 0) = 0 everywhere instead of NaN
    st -= top
    xp.exp(st, out=st)
    # The sum as einsum: 28 us against sum(axis=-2)'s 80 on (12, 4, 64, 64) float32 (W5).
    total = xp.einsum("...sl->...l", st)[..., None, :]
    total[total == 0] = 1  # 0 / 1 = 0 for the fully masked queries
    st /= total
    return st


_CAUSAL_BIAS_T = {}


def _causal_bias_t(L, S, dtype):
    """The causal mask as an additive (S, L) bias on S^T: -inf where key j comes after query i.
    Adding it is one broadcast pass, against a masked copyto that costs 2x and a fresh mask."""
    key = (L, S, dtype)
    if key not in _CAUSAL_BIAS_T:
        bias = xp.zeros((S, L), dtype=dtype)
        bias[~xp.tri(L, S, dtype=bool).T] = -np.inf  # query i sees keys 0..i (top-left aligned)
        _CAUSAL_BIAS_T[key] = bias
    return _CAUSAL_BIAS_T[key]


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
    dS = P * (dP - rowsum(dP * P)),  dQ = s dS K,  dK = s dS^T Q,  dM = dS

    Internally the scores are kept transposed, S^T = K Q^T (..., S, L), so that the softmax
    reduces along axis -2 (see _safe_softmax_keys_); every product with S^T or P^T is still one
    batched GEMM (a transposed operand is a BLAS flag, not a copy). Q, K and V are made
    contiguous first: slices of a fused qkv projection have a row stride of 3 x width, and
    NumPy's batched matmul on them was 2.5x slower than the copy plus the contiguous product."""

    def forward(ctx, q, k, v, *mask, scale, dropout_p, is_causal, groups):
        ctx.shapes = (q.shape, k.shape, v.shape) + tuple(m.shape for m in mask)
        # Q s in one pass, which is also Q's contiguous copy: the scale costs nothing on the
        # (..., L, E) side instead of a pass over the (..., S, L) scores, and backward's
        # dK = s dS^T Q is dS^T (Q s) as saved (W5: 2 x 196k-element passes less per layer).
        q = xp.multiply(q, q.dtype.type(scale))
        k = xp.ascontiguousarray(_expand_heads(k, groups))
        v = xp.ascontiguousarray(_expand_heads(v, groups))
        st = xp.matmul(k, xp.swapaxes(q, -1, -2))  # S^T (..., S, L), our own buffer from here on
        if mask:
            (m,) = mask
            if m.dtype == np.bool_:
                xp.copyto(st, st.dtype.type(-np.inf), where=~xp.swapaxes(m, -1, -2))  # True = take part
            else:
                st += xp.swapaxes(m, -1, -2)
        if is_causal:
            st += _causal_bias_t(q.shape[-2], k.shape[-2], st.dtype)
        pt = _safe_softmax_keys_(st)  # P^T
        keep = None
        if dropout_p > 0:
            # The same draw as ops.dropout.Dropout (in P's (..., L, S) order), so a seeded run
            # can be reproduced by hand.
            shape = pt.shape[:-2] + pt.shape[-1:] + pt.shape[-2:-1]
            keep = backend.to_device_array(backend.rng().random(shape, dtype="float32") >= dropout_p)
            keep = xp.swapaxes(keep, -1, -2)  # as P^T
            ctx.drop_scale = 1.0 / (1.0 - dropout_p) if dropout_p < 1 else 0.0
            pt_used = pt * keep
            pt_used *= pt.dtype.type(ctx.drop_scale)
        else:
            pt_used = pt
        ctx.scale, ctx.groups = scale, groups
        ctx.save(q, k, v, pt, keep)  # q as Q s
        return xp.matmul(xp.swapaxes(pt_used, -1, -2), v)

    def backward(ctx, do):
        q, k, v, pt, keep = ctx.saved
        need = ctx.needs_input_grad
        grads = [None] * len(need)
        scale = pt.dtype.type(ctx.scale)
        if keep is not None:
            pt_used = pt * keep
            pt_used *= pt.dtype.type(ctx.drop_scale)
        else:
            pt_used = pt
        if need[2]:  # dV = P'^T dO
            dv = xp.matmul(pt_used, do)
            grads[2] = sum_to(_reduce_heads(dv, ctx.groups), ctx.shapes[2])
        if need[0] or need[1] or (len(need) > 3 and need[3]):
            dpt = xp.matmul(v, xp.swapaxes(do, -1, -2))  # dP'^T = V dO^T
            if keep is not None:
                dpt *= keep
                dpt *= pt.dtype.type(ctx.drop_scale)
            # softmax backward, in place on dP^T: dS = P * (dP - rowsum(dP * P)), the row sums
            # (over keys) along axis -2 here
            # (einsum: no (..., S, L) temporary, 45 us against 127 for (dpt * pt).sum in W5)
            dpt -= xp.einsum("...sl,...sl->...l", dpt, pt)[..., None, :]
            dpt *= pt
            dst = dpt  # dS^T
            if len(need) > 3 and need[3]:
                grads[3] = xp.ascontiguousarray(sum_to(xp.swapaxes(dst, -1, -2), ctx.shapes[3]))
            if need[0]:
                dq = xp.matmul(xp.swapaxes(dst, -1, -2), k)
                dq *= scale
                grads[0] = sum_to(dq, ctx.shapes[0])
            if need[1]:
                dk = xp.matmul(dst, q)  # q is saved as Q s: this is s dS^T Q
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
