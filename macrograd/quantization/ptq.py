"""Post-training quantization: calibrate, then swap every Linear and Conv2d for its int8 version.

    qmodel = quantize_model(model, calibration_batches)   # held-out data, a few hundred examples

Calibration runs the float model on the held-out batches with a forward pre-hook on each Linear
and Conv2d that keeps the largest |input| seen; that maximum, over 127, is the layer's input
scale. The float model is left as it was: the quantized one is a deep copy.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..creation import tensor
from ..tensor import Tensor
from .int8 import activation_scale
from .modules import QuantizedConv2d, QuantizedLinear

QUANTIZABLE = {nn.Linear: QuantizedLinear, nn.Conv2d: QuantizedConv2d}


def calibrate(model, batches) -> dict:
    """{module name: max |input|} of every Linear and Conv2d over the batches (eval mode)."""
    amax, handles = {}, []
    for name, module in model.named_modules():
        if type(module) in QUANTIZABLE:
            def keep(module, args, name=name):
                amax[name] = max(amax.get(name, 0.0), float(np.abs(args[0]._data).max()))
            handles.append(module.register_forward_pre_hook(keep))
    if not handles:
        raise ValueError(f"quantize: {type(model).__name__} has no Linear or Conv2d layer to quantize")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            seen = 0
            for batch in batches:
                model(batch if isinstance(batch, Tensor) else tensor(np.asarray(batch, dtype=np.float32)))
                seen += 1
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not seen:
        raise ValueError("quantize: no calibration batches were given")
    return amax


def quantize_model(model, calibration_batches):
    """An int8 copy of `model` (in eval mode): Linear -> QuantizedLinear, Conv2d -> QuantizedConv2d,
    with per-channel weight scales and per-tensor input scales calibrated on the batches."""
    amax = calibrate(model, calibration_batches)
    qmodel = copy.deepcopy(model).eval()
    for name, module in list(qmodel.named_modules()):
        if name in amax:
            parent_name, _, child = name.rpartition(".")
            parent = qmodel.get_submodule(parent_name) if parent_name else qmodel
            setattr(parent, child, QUANTIZABLE[type(module)](module, activation_scale(amax[name])))
    return qmodel
