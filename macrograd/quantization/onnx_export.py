"""The int8 model as ONNX in QDQ form: QuantizeLinear/DequantizeLinear pairs around float ops,
which onnxruntime fuses into int8 kernels.

    export_qdq(qmodel, example_input, "model-int8.onnx")

Each Int8Linear becomes   x -> QuantizeLinear(s_x) -> DequantizeLinear(s_x) -> MatMul -> Add(b)
with the weight stored as int8 and DequantizeLinear'd per output channel (axis=1 of W^T);
each Int8Conv2d the same with Conv (weights DequantizeLinear'd along axis 0). Zero points are 0.
"""
from __future__ import annotations

import numpy as np

from ..onnx import export
from ..onnx.ops import converts


def _quantized_input(g, call):
    scale = g.scalar(call.options["x_scale"])
    zero = g.const(np.zeros((), np.int8), "zero_point")
    q = g.node("QuantizeLinear", [g.name(call.inputs[0]), scale, zero], hint="x_int8")
    return g.node("DequantizeLinear", [q, scale, zero], hint="x_dq")


def _weight(g, call, weight_q, axis):
    o = call.options
    zeros = g.const(np.zeros(len(o["weight_scale"]), np.int8), "weight_zero_point")
    return g.node("DequantizeLinear", [g.const(weight_q, "weight_int8"), g.const(o["weight_scale"], "weight_scale"), zeros],
                  hint="w_dq", axis=axis)


@converts("Int8Linear")
def int8_linear(g, call):
    """QDQ(x) @ DQ(W_q^T) + b"""
    w = _weight(g, call, np.ascontiguousarray(call.options["weight_q"].T), axis=1)
    y = g.node("MatMul", [_quantized_input(g, call), w])
    bias = call.options["bias"]
    return y if bias is None else g.node("Add", [y, g.const(bias, "bias")])


@converts("Int8Conv2d")
def int8_conv(g, call):
    """Conv(QDQ(x), DQ(W_q), b)"""
    o = call.options
    p = o["pads"]
    inputs = [_quantized_input(g, call), _weight(g, call, o["weight_q"], axis=0)]
    if o["bias"] is not None:
        inputs.append(g.const(o["bias"], "bias"))
    return g.node("Conv", inputs, strides=list(o["stride"]), pads=[p[0], p[2], p[1], p[3]],
                  dilations=list(o["dilation"]), group=int(o["groups"]))


def export_qdq(qmodel, example_input, path=None, **options):
    """mg.onnx.export of a quantize_model result (the int8 layers as QDQ nodes)."""
    return export(qmodel, example_input, path, **options)
