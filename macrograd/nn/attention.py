"""Multi-head attention: `multi_head_attention_forward` and the `MultiheadAttention` layer,
with PyTorch's arguments, parameter layout, mask conventions and outputs.

    heads_i = softmax(Q W_q^i (K W_k^i)^T / sqrt(d_head) + mask) V W_v^i
    output  = concat(heads_1 .. heads_h) W_o^T + b_o

Mask conventions (PyTorch's, and the opposite of `scaled_dot_product_attention`'s!): in
`attn_mask` and `key_padding_mask` a bool True marks a position that may NOT be attended; a
float mask is added to the scores. Both become one additive float mask (-inf where masked).

With need_weights=False the heads go through the fused `scaled_dot_product_attention`; with
need_weights=True the probabilities are formed explicitly (they are returned), exactly as
PyTorch does. So, as in PyTorch, a query whose keys are all masked gives NaN with
need_weights=True (a plain softmax of all -inf) and zeros with need_weights=False.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import creation
from ..ops.attention import scaled_dot_product_attention
from ..ops.dropout import dropout
from ..ops.dtypes import to_tensor
from ..ops.linalg import matmul
from ..ops.shape import cat
from ..ops.softmax import softmax
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


def _linear(x, weight, bias):
    out = matmul(x, weight.t())
    return out if bias is None else out + bias


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask (True = masked) as an additive float mask (-inf where masked, 0 elsewhere);
    a float mask as is. PyTorch's `F._canonical_mask`, warning on mixed mask types the same way."""
    if mask is None:
        return None
    mask = to_tensor(mask)
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if mask.dtype == np.bool_:
        mask = creation.zeros(tuple(mask.shape), dtype=target_type).masked_fill(mask, float("-inf"))
    return mask


def _dtype_or_none(mask):
    return None if mask is None else to_tensor(mask).dtype


def _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads):
    """PyTorch's `_mha_shape_check`: 3-D (batched) or 2-D (unbatched) inputs and matching masks.
    Returns whether the input is batched."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D but "
                                 f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 2-D but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                                 f"3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but "
                                 f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 1-D but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, "
                                     f"2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{tuple(attn_mask.shape)}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.ndim}-D query tensor")


def _pad_last(mask):
    """A zero column appended to a float mask (for the extra key of bias_k or add_zero_attn)."""
    zeros = creation.zeros(tuple(mask.shape[:-1]) + (1,), dtype=mask.dtype)
    return cat([mask, zeros], dim=-1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, use_separate_proj_weight=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """PyTorch's `F.multi_head_attention_forward` on sequence-first input: query (L, N, E),
    key (S, N, kdim), value (S, N, vdim), or unbatched (L, E), (S, kdim), (S, vdim).
    Returns (output (L, N, E), weights (N, L, S) averaged over heads, (N, H, L, S) if not, or None)."""
    return _multi_head_attention(
        query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k,
        bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training,
        key_padding_mask, need_weights, attn_mask, use_separate_proj_weight, q_proj_weight,
        k_proj_weight, v_proj_weight, static_k, static_v, average_attn_weights, is_causal,
        batch_first=False)


def _multi_head_attention(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                          in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
                          out_proj_bias, training, key_padding_mask, need_weights, attn_mask,
                          use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight,
                          static_k, static_v, average_attn_weights, is_causal, batch_first):
    """The work of multi_head_attention_forward, done in the batch-first layout (N, L, E)
    whatever the caller's layout, so that no input is transposed twice."""
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k/static_v are not supported")
    query, key, value = to_tensor(query), to_tensor(key), to_tensor(value)
    if key_padding_mask is not None:
        key_padding_mask = to_tensor(key_padding_mask)
    if attn_mask is not None:
        attn_mask = to_tensor(attn_mask)
    is_batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:  # one sequence: a batch of one, squeezed again at the end
        query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    elif not batch_first:
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    bsz, tgt_len, embed_dim = query.shape
    src_len = key.shape[1]

    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _dtype_or_none(attn_mask),
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the fused op makes the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False  # the hint no longer describes the merged mask

    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match "
                                 f"value's {tuple(value.shape[:2])}")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if key.shape != value.shape:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    q = _linear(query, w_q, b_q)
    k = _linear(key, w_k, b_k)
    v = _linear(value, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but "
                                   f"should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but "
                               f"should be {(bsz * num_heads, tgt_len, src_len)}.")

    if bias_k is not None and bias_v is not None:  # one learned key/value appended to every sequence
        k = cat([k, bias_k.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], dim=1)
        v = cat([v, bias_v.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], dim=1)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must be given together")

    # (N, L, E) -> (N, H, L, d_head): each head attends on its own slice of the features.
    q = q.reshape(bsz, tgt_len, num_heads, head_dim).transpose(1, 2)
    k = k.reshape(bsz, k.shape[1], num_heads, head_dim).transpose(1, 2)
    v = v.reshape(bsz, v.shape[1], num_heads, head_dim).transpose(1, 2)

    if add_zero_attn:  # one all-zero key/value appended, so that a query may attend to "nothing"
        zeros = creation.zeros(bsz, num_heads, 1, head_dim, dtype=q.dtype)
        k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    src_len = k.shape[2]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"Expected key_padding_mask of shape {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        key_padding_mask = key_padding_mask.reshape(bsz, 1, 1, src_len)
    if attn_mask is not None:  # (1 or N*H, L, S) -> (1 or N, H or 1, L, S), broadcasting over the rest
        lead = (1, 1) if attn_mask.shape[0] == 1 else (bsz, num_heads)
        attn_mask = attn_mask.reshape(lead + (tgt_len, src_len))
    if key_padding_mask is not None:
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = matmul(q * math.sqrt(1.0 / head_dim), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, dim=-1)
        if dropout_p > 0:  # the returned weights are the dropped ones too, as in PyTorch
            weights = dropout(weights, p=dropout_p)
        output = matmul(weights, v)
        if average_attn_weights:
            weights = weights.mean(dim=1)
    else:
        output = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
        weights = None

    output = output.transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
    output = _linear(output, out_proj_weight, out_proj_bias)
    if not is_batched:
        output = output.squeeze(0)
        weights = None if weights is None else weights.squeeze(0)
    elif not batch_first:
        output = output.transpose(0, 1)
    return output, weights


class MultiheadAttention(Module):
    """Attention with `num_heads` heads of size embed_dim // num_heads (PyTorch's layer).

    Parameters as in PyTorch: `in_proj_weight` (3E, E) packing W_q, W_k, W_v (or separate
    `q_proj_weight` (E, E), `k_proj_weight` (E, kdim), `v_proj_weight` (E, vdim) when kdim or vdim
    differ from E), `in_proj_bias` (3E), `out_proj` a Linear(E, E), and with add_bias_kv
    `bias_k`, `bias_v` (1, 1, E). Init: xavier_uniform_ projections, zero biases."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                             f"and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        # PyTorch's out_proj is a NonDynamicallyQuantizableLinear: a Linear with the same state_dict keys.
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """query (L, N, E) (or (N, L, E) with batch_first, or (L, E) unbatched), key (S, N, kdim),
        value (S, N, vdim); masks with True = not attended. Returns (output like query,
        weights (N, L, S) averaged over heads or (N, H, L, S), or None if not need_weights)."""
        return _multi_head_attention(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
            self.out_proj.bias, self.training, key_padding_mask, need_weights, attn_mask,
            not self._qkv_same_embed_dim, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight,
            None, None, average_attn_weights, is_causal, batch_first=self.batch_first)

    def extra_repr(self) -> str:
        return ""  # PyTorch prints only the out_proj child
