"""The int8 layers' arithmetic, as Functions (so that ONNX export traces them like any op).

Integer arithmetic done on float32 arrays holding integers: BLAS has no int8 GEMM in NumPy, and
float32 adds integers exactly while partial sums stay below 2^24, i.e. for up to 1040 terms of
127 x 127 (every layer of the demo MLP and LeNet); beyond that the rounding is ~1e-7 relative.
Inference only: there is no backward.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..ops.conv import Conv2d as FloatConv2d
from .int8 import quantize


class Int8Linear(Function):
    """y = (q(x) @ q_w^T) s_x s_w + b,  q(x) = clip(round(x / s_x)), per-output-channel s_w"""

    def forward(ctx, x, x_scale, weight_q, weight_scale, bias):
        xq = quantize(x, x_scale).astype(np.float32)
        acc = xq @ weight_q.T.astype(np.float32)  # the int32 accumulator, exactly (see above)
        y = acc * (x_scale * weight_scale)
        return y if bias is None else y + bias


class Int8Conv2d(Function):
    """y = conv(q(x), q_w) s_x s_w[c] + b[c], per-output-channel s_w"""

    def forward(ctx, x, x_scale, weight_q, weight_scale, bias, stride, pads, dilation, groups):
        xq = quantize(x, x_scale).astype(np.float32)
        conv = FloatConv2d()
        conv.needs_input_grad = (False, False)  # nothing saved for a backward
        acc = conv.forward(xq, weight_q.astype(np.float32), stride=stride, pads=pads, dilation=dilation, groups=groups)
        y = acc * (x_scale * weight_scale).reshape(1, -1, 1, 1)
        return y if bias is None else y + bias.reshape(1, -1, 1, 1)
