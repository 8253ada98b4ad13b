"""Embedding lookup (a row gather with a scatter-add backward) and one_hot."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, no_grad
from ..backend import xp
from ..tensor import Tensor
from .dtypes import to_tensor


class Embedding(Function):
    """y[...] = W[i[...]];  dW[r] = sum of dy[...] over the positions where i[...] == r
    (0 for the padding_idx row; divided by the count of r in i if scale_grad_by_freq)"""

    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        ctx.indices, ctx.padding_idx, ctx.scale = indices, padding_idx, scale_grad_by_freq
        ctx.weight_shape = weight.shape
        return weight[indices]  # advanced indexing: a fresh (..., D) array

    def backward(ctx, dy):
        rows, dim = ctx.weight_shape
        flat = ctx.indices.reshape(-1)
        dy = dy.reshape(-1, dim)
        if ctx.scale:
            counts = xp.bincount(flat, minlength=rows)
            dy = dy / counts[flat, None].astype(dy.dtype)
        dweight = xp.zeros((rows, dim), dtype=dy.dtype)
        # add.at accumulates repeated indices (dweight[flat] += dy would keep only one of them);
        # on flat element indices it is 2-3x faster than on row indices.
        elements = (flat[:, None] * dim + xp.arange(dim)).reshape(-1)
        xp.add.at(dweight.reshape(-1), elements, dy.reshape(-1))
        if ctx.padding_idx is not None:
            dweight[ctx.padding_idx] = 0
        return dweight


def _renorm_(weight, indices, max_norm, norm_type):
    """Rescale, in place and outside autograd, the looked-up rows whose norm exceeds max_norm
    (PyTorch's embedding_renorm_: scale = max_norm / (norm + 1e-7))."""
    rows = xp.unique(indices.reshape(-1))
    data = weight._data
    norms = xp.linalg.norm(data[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    scale = (max_norm / (norms[over] + 1e-7)).astype(data.dtype)
    data[rows[over]] *= scale[:, None]
    weight._bump_version()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of weight (num_embeddings, embedding_dim) picked by the integer tensor input:
    output shape input.shape + (embedding_dim,). The padding_idx row gets no gradient."""
    op = "embedding"
    input = to_tensor(input)
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{op}: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got "
                         f"{tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__}")
    indices = input._data
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected indices of an integer dtype (int64 or int32), got {input.dtype}")
    rows = weight.shape[0]
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= rows:
            value = low if low < 0 else high
            raise IndexError(f"{op}: index {value} is out of range for a weight of "
                             f"{rows} rows (num_embeddings={rows})")
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({rows})")
        padding_idx %= rows
    if sparse:
        raise NotImplementedError(f"{op}: sparse gradients are not supported; use sparse=False")
    if max_norm is not None:
        with no_grad():
            _renorm_(weight, indices, max_norm, norm_type)
    return Embedding.apply(weight, indices=indices, padding_idx=padding_idx,
                           scale_grad_by_freq=scale_grad_by_freq)


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each class index;
    num_classes=-1 means max(tensor) + 1."""
    op = "one_hot"
    tensor = to_tensor(tensor)
    t = tensor._data
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: is only applicable to index tensors (an integer dtype), got {tensor.dtype}")
    if t.size and int(t.min()) < 0:
        raise RuntimeError(f"{op}: class values must be non-negative, got {int(t.min())}")
    if num_classes == -1:
        if not t.size:
            raise RuntimeError(f"{op}: can not infer total number of classes from an empty tensor")
        num_classes = int(t.max()) + 1
    elif t.size and int(t.max()) >= num_classes:
        raise RuntimeError(f"{op}: class values must be smaller than num_classes ({num_classes}), "
                           f"got {int(t.max())}")
    out = xp.zeros(t.shape + (num_classes,), dtype=np.int64)
    xp.put_along_axis(out, t[..., None].astype(np.int64), 1, axis=-1)
    return Tensor(out)


TENSOR_METHODS = ()
