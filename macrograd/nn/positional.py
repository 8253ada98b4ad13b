"""Position encodings: how a Transformer learns where each token is (attention itself is blind
to order). These are macrograd additions, not part of torch.nn's API:

- `SinusoidalPositionalEncoding`: fixed sines and cosines (Vaswani et al. 2017), added to x.
- `LearnedPositionalEmbedding`: one trained vector per position (BERT, GPT-2), added to x.
- `RotaryEmbedding`: rotates query and key features by position-dependent angles (Su et al.,
  RoFormer 2021), so that the score q_m . k_n depends only on the offset m - n.

The first two take x of shape (L, N, E) (or (N, L, E) with batch_first=True, or (L, E));
rotary takes per-head tensors (..., L, head_dim) as `scaled_dot_product_attention` does.
`offset` shifts the positions, for decoding one token at a time after a prefix.
"""
from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..backend import get_default_dtype, to_device_array
from ..ops.shape import cat
from ..tensor import Tensor
from . import init
from .dropout import Dropout
from .module import Module
from .parameter import Parameter


def _positions_dim(x, batch_first):
    """The dim that indexes positions: 0 for (L, E) and (L, N, E), 1 for (N, L, E)."""
    return 1 if (batch_first and x.ndim == 3) else 0


def _check_length(name, length, offset, max_len):
    if offset < 0 or offset + length > max_len:
        raise ValueError(f"{name}: positions {offset}..{offset + length - 1} are outside the table of "
                         f"max_len={max_len} (make it longer)")


def _along(table, x, dim):
    """A (L, E) table shaped to broadcast against x with positions on `dim`."""
    return table if (dim == 0 and x.ndim == 2) else (table.unsqueeze(1) if dim == 0 else table)


class SinusoidalPositionalEncoding(Module):
    """y = dropout(x + PE[pos]),  PE[pos, 2i] = sin(pos / 10000^(2i/d)),  PE[pos, 2i+1] = cos(same).

    The table is a non-persistent buffer: it is a function of (max_len, d_model), so it stays
    out of the state_dict."""

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, base=10000.0, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        position = np.arange(max_len, dtype=np.float64)[:, None]
        inv_freq = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(base) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(position * inv_freq)
        pe[:, 1::2] = np.cos(position * inv_freq[: d_model // 2])  # an odd d_model has one cos fewer
        self.register_buffer("pe", creation.tensor(pe, dtype=dtype or get_default_dtype()),
                             persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x, offset=0):
        dim = _positions_dim(x, self.batch_first)
        length = x.shape[dim]
        _check_length("SinusoidalPositionalEncoding", length, offset, self.max_len)
        return self.dropout(x + _along(self.pe[offset:offset + length], x, dim))

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(Module):
    """y = x + W[pos] with W (max_len, d_model) trained; init N(0, 1) like nn.Embedding, and
    the same state_dict key ("weight") as an nn.Embedding(max_len, d_model) used this way."""

    def __init__(self, max_len, d_model, batch_first=False, dtype=None):
        super().__init__()
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(creation.empty(max_len, d_model, dtype=dtype))
        init.normal_(self.weight)

    def forward(self, x, offset=0):
        dim = _positions_dim(x, self.batch_first)
        length = x.shape[dim]
        _check_length("LearnedPositionalEmbedding", length, offset, self.max_len)
        return x + _along(self.weight[offset:offset + length], x, dim)

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"


class RotaryEmbedding(Module):
    """Rotary position embedding (RoPE), in the "rotate half" layout of GPT-NeoX and Llama:
    feature i is paired with feature i + head_dim/2 and the pair is rotated by pos * theta_i,
    theta_i = base^(-2i / head_dim):

        rope(x)_pos = x * cos(pos theta) + rotate_half(x) * sin(pos theta),  rotate_half([a, b]) = [-b, a]

    A rotation by angle m theta on q and n theta on k leaves q . k a function of (m - n) only.
    No parameters; the cos/sin tables are cached per length and dtype."""

    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even (features are rotated in pairs), "
                             f"got {head_dim}")
        self.head_dim, self.base = head_dim, base
        self._cache = None  # (length, dtype, cos, sin), cos and sin of shape (length, head_dim)

    def _tables(self, length, dtype):
        """cos and sin of shape (>= length, head_dim), recomputed only for a longer length or a new dtype."""
        cached = self._cache
        if cached is None or cached[0] < length or cached[1] != np.dtype(dtype):
            inv_freq = self.base ** (-np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)
            angles = np.arange(length, dtype=np.float64)[:, None] * inv_freq  # (L, head_dim / 2)
            angles = np.concatenate([angles, angles], axis=1)  # the same angle for i and i + head_dim/2
            tables = tuple(Tensor(to_device_array(f(angles).astype(dtype))) for f in (np.cos, np.sin))
            self._cache = cached = (length, np.dtype(dtype), *tables)
        return cached[2], cached[3]

    def rotate(self, x, offset=0):
        """x (..., L, head_dim) rotated for positions offset .. offset + L - 1."""
        if x.ndim < 2 or x.shape[-1] != self.head_dim:
            raise RuntimeError(f"RotaryEmbedding(head_dim={self.head_dim}): expected input (..., L, "
                               f"{self.head_dim}), got shape {tuple(x.shape)}")
        length = x.shape[-2]
        cos, sin = self._tables(offset + length, x.dtype)
        cos, sin = cos[offset:offset + length], sin[offset:offset + length]
        half = self.head_dim // 2
        rotated = cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, q, k, offset=0):
        """(rope(q), rope(k)) for q (..., L, head_dim) and k (..., S, head_dim) at the same offset."""
        return self.rotate(q, offset), self.rotate(k, offset)

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base}"
