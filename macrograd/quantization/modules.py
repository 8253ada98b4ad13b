"""Int8 stand-ins for Linear and Conv2d: int8 weights with per-channel scales (buffers, so that
state_dict and the size report see int8), the input's calibrated scale, a float32 bias."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..creation import tensor
from .functions import Int8Conv2d, Int8Linear
from .int8 import per_channel_weight


class _Int8Layer(nn.Module):
    def __init__(self, float_layer, input_scale):
        super().__init__()
        weight_q, weight_scale = per_channel_weight(float_layer.weight.detach().numpy(), axis=0)
        self.register_buffer("weight_q", tensor(weight_q))
        self.register_buffer("weight_scale", tensor(weight_scale))
        self.register_buffer("input_scale", tensor(np.float32(input_scale)))
        bias = float_layer.bias
        self.register_buffer("bias", None if bias is None else tensor(bias.detach().numpy().copy()))

    def _arrays(self):
        bias = None if self.bias is None else self.bias._data
        return (float(self.input_scale.item()), self.weight_q._data, self.weight_scale._data, bias)


class QuantizedLinear(_Int8Layer):
    """y = (q(x) @ q_w^T) s_x s_w + b"""

    def __init__(self, linear, input_scale):
        super().__init__(linear, input_scale)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x):
        x_scale, weight_q, weight_scale, bias = self._arrays()
        return Int8Linear.apply(x, x_scale=np.float32(x_scale), weight_q=weight_q, weight_scale=weight_scale, bias=bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class QuantizedConv2d(_Int8Layer):
    """y = conv(q(x), q_w) s_x s_w + b"""

    def __init__(self, conv, input_scale):
        if isinstance(conv.padding, str) or getattr(conv, "padding_mode", "zeros") != "zeros":
            raise NotImplementedError(f"quantize: Conv2d with padding={conv.padding!r}, padding_mode="
                                      f"{getattr(conv, 'padding_mode', 'zeros')!r} (only numeric zero padding)")
        super().__init__(conv, input_scale)
        self.stride, self.dilation, self.groups = tuple(conv.stride), tuple(conv.dilation), conv.groups
        self.pads = tuple(int(p) for p in conv.padding for _ in range(2))

    def forward(self, x):
        x_scale, weight_q, weight_scale, bias = self._arrays()
        return Int8Conv2d.apply(x, x_scale=np.float32(x_scale), weight_q=weight_q, weight_scale=weight_scale,
                                bias=bias, stride=self.stride, pads=self.pads, dilation=self.dilation,
                                groups=self.groups)

    def extra_repr(self):
        return f"{self.weight_q.shape[1] * self.groups}, {self.weight_q.shape[0]}, stride={self.stride}, int8"
