"""`macrograd.nn.functional` (import it as F): PyTorch's `torch.nn.functional`, function by function.

The differentiable work lives in `macrograd.ops` (one Function per op, with its backward); this
module gathers the neural-net functions under PyTorch's names and adds the few that are simple
compositions of primitives (linear, bilinear, normalize).
"""
from __future__ import annotations

from .. import ops as _ops
from ..ops.activation import (  # noqa: F401
    elu, gelu, hardtanh, leaky_relu, relu, relu6, silu, softplus,
)
from ..ops.dropout import dropout, dropout1d, dropout2d  # noqa: F401
from ..ops.dtypes import to_tensor as _to_tensor
from ..ops.elementwise import sigmoid, tanh  # noqa: F401
from ..ops.embedding import embedding, one_hot  # noqa: F401
from ..ops.linalg import Linear as _Linear, matmul as _matmul
from ..ops.loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
    l1_loss, mse_loss, nll_loss, smooth_l1_loss,
)
from ..ops.normalization import (  # noqa: F401
    LpNormalize as _LpNormalize, batch_norm, group_norm, instance_norm, layer_norm,
)
from ..ops.softmax import log_softmax, softmax  # noqa: F401
from ..tensor import Tensor as _Tensor

# Ops written in other files of macrograd.ops (padding, convolution, pooling, attention, ...)
# appear here under the same name once they exist, so that F stays one import for all of them.
_FROM_OPS = (
    "pad", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "scaled_dot_product_attention", "interpolate", "unfold", "fold",
    "mish", "hardswish", "hardsigmoid", "logsigmoid", "softsign", "tanhshrink", "selu", "celu",
    "glu", "cosine_similarity", "pairwise_distance",
)
globals().update({name: getattr(_ops, name) for name in _FROM_OPS if hasattr(_ops, name)})


def linear(input, weight, bias=None):
    """y = x W^T + b, with weight (out_features, in_features) and input (*, in_features).

    A 2-D weight of the input's floating dtype (with a bias of shape (out_features,) and that
    dtype, or none) is one fused `Linear` node; anything else (a 1-D weight, a bias that
    broadcasts, mixed dtypes) is the composition x @ W^T + b, with matmul's errors."""
    if not isinstance(input, _Tensor):
        input = _to_tensor(input)
    if not isinstance(weight, _Tensor):
        weight = _to_tensor(weight)
    x, w = input._data, weight._data
    x_shape, w_shape = x.shape, w.shape
    if not x_shape or len(w_shape) not in (1, 2) or x_shape[-1] != w_shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} does not match weight of "
                           f"shape {tuple(weight.shape)} (expected input (*, in_features) and "
                           f"weight (out_features, in_features))")
    dtype = w.dtype
    if len(w_shape) == 2 and x.dtype == dtype and dtype.kind == "f":
        if bias is None:
            return _Linear.apply(input, weight)
        if isinstance(bias, _Tensor) and bias._data.dtype == dtype and bias._data.shape == w_shape[:1]:
            return _Linear.apply(input, weight, bias)
    output = _matmul(input, weight.t() if weight.ndim == 2 else weight)
    return output if bias is None else output + bias


def bilinear(input1, input2, weight, bias=None):
    """y_k = sum_ij x1_i W_kij x2_j + b_k, with weight (out, in1, in2) and inputs (*, in1), (*, in2)."""
    input1, input2, weight = _to_tensor(input1), _to_tensor(input2), _to_tensor(weight)
    out_features, in1, in2 = weight.shape
    # x1 (*, in1) @ W as (in1, out * in2) gives (*, out, in2); then contract with x2 over in2.
    left = _matmul(input1, weight.permute(1, 0, 2).reshape(in1, out_features * in2))
    left = left.reshape(tuple(input1.shape[:-1]) + (out_features, in2))
    output = (left * input2.unsqueeze(-2)).sum(-1)
    return output if bias is None else output + bias


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(||x||_p, eps) along dim: unit p-norm vectors (a zero vector stays zero)."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    input = _to_tensor(input)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"normalize: expected a floating point input, got {input.dtype}")
    rank = max(input.ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"normalize: dimension {dim} is out of range for a tensor of shape "
                         f"{tuple(input.shape)} (expected to be in range of [{-rank}, {rank - 1}])")
    p = float(p)
    if not p > 0:
        raise ValueError(f"normalize: p must be positive, got {p}")
    if input.ndim == 0:
        return _LpNormalize.apply(input.reshape(1), p=p, dim=0, eps=eps).reshape(())
    return _LpNormalize.apply(input, p=p, dim=dim % rank, eps=eps)


# Last: nn.attention imports layers that import this module.
from .attention import multi_head_attention_forward  # noqa: E402,F401  (a composition, next to its layer)
