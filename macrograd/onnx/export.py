"""`export(model, example_input, path)`: a macrograd model as an ONNX file.

    mg.onnx.export(model, mg.randn(1, 1, 28, 28), "lenet.onnx")
    # onnxruntime.InferenceSession("lenet.onnx").run(None, {"input": x})

How: the model runs once on the example input in eval mode while every op call is recorded
(trace.py); each recorded call that depends on the input becomes ONNX nodes (ops.py), every
parameter and buffer an initializer named by its state_dict key, and everything computed from
constants alone is folded into an initializer (graph.py). The batch axis (dim 0) of the inputs
and outputs is dynamic unless dynamic_batch=False.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper

from ..autograd import no_grad
from ..tensor import Tensor
from .graph import Graph
from .ops import CONVERTERS
from .trace import record_ops

OPSET = 17


def export(model, example_input, path=None, *, input_names=None, output_names=None,
           dynamic_batch: bool = True, opset_version: int = OPSET, check: bool = True):
    """Trace `model(*example_input)` and write the ONNX model to `path` (if given); returns the
    onnx.ModelProto. example_input: a Tensor or a tuple of Tensors (int64 token ids for GPT/BERT).
    input_names / output_names: default "input" ("input_0", ...) and, for a namedtuple output,
    its field names, else "output" ("output_0", ...). Outputs that are None are left out."""
    if opset_version < OPSET:
        raise ValueError(f"onnx export: opset_version must be at least {OPSET} (LayerNormalization), "
                         f"got {opset_version}")
    inputs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"onnx export: example_input[{i}] must be a Tensor, got {type(t).__name__}")
    input_names = list(input_names or (["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))]))
    if len(input_names) != len(inputs):
        raise ValueError(f"onnx export: {len(input_names)} input_names for {len(inputs)} inputs")

    was_training = model.training
    model.eval()
    try:
        with no_grad(), record_ops() as calls:
            result = model(*inputs)
    finally:
        model.train(was_training)

    batch = int(inputs[0].shape[0]) if dynamic_batch and inputs[0].ndim else None
    g = Graph(_parameter_names(model), batch)
    for name, t in zip(input_names, inputs):
        g.names[id(t)] = name
        g.array_names[id(t._data)] = name
    for call in calls:
        if not _depends_on_input(g, call):
            continue  # computed from constants only: folded (its output is an initializer when used)
        convert = CONVERTERS.get(call.cls.__name__)
        if convert is None:
            raise NotImplementedError(f"onnx export: no ONNX mapping for the op {call.cls.__name__} "
                                      f"(input shapes {[tuple(t.shape) for t in call.inputs]})")
        g.names[id(call.output)] = convert(g, call)

    outputs, default_names = _flatten_outputs(result)
    output_names = list(output_names or default_names)
    if len(output_names) != len(outputs):
        raise ValueError(f"onnx export: {len(output_names)} output_names for {len(outputs)} outputs")
    for name, t in zip(output_names, outputs):
        if not g.is_dynamic(t):
            raise RuntimeError(f"onnx export: output {name!r} does not depend on the input")
        g.nodes.append(helper.make_node("Identity", [g.names[id(t)]], [name], name=f"output_{name}"))

    used = {name for node in g.nodes for name in node.input}
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [_value_info(n, t, batch) for n, t in zip(input_names, inputs)],
        [_value_info(n, t, batch) for n, t in zip(output_names, outputs)],
        initializer=[t for t in g.initializers if t.name in used],  # folded-away constants dropped
    )
    proto = helper.make_model(graph, producer_name="macrograd",
                              opset_imports=[helper.make_opsetid("", opset_version)])
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases of the last years
    if check:
        onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def _depends_on_input(g, call) -> bool:
    if any(g.is_dynamic(t) for t in call.inputs):
        return True
    indices = call.options.get("indices") if call.cls.__name__ == "Embedding" else None
    return indices is not None and id(indices) in g.array_names


def _parameter_names(model) -> dict:
    """id(array) -> state_dict key, so that initializers carry the parameters' names."""
    names = {}
    for name, t in list(model.named_buffers()) + list(model.named_parameters()):
        names.setdefault(id(t._data), name)
    return names


def _flatten_outputs(result):
    """The output tensors (Nones left out) and their default names."""
    if isinstance(result, Tensor):
        return [result], ["output"]
    if isinstance(result, (tuple, list)):
        fields = getattr(result, "_fields", None)
        pairs = [(fields[i] if fields else None, t) for i, t in enumerate(result) if t is not None]
        for name, t in pairs:
            if not isinstance(t, Tensor):
                raise TypeError(f"onnx export: the model returned a {type(t).__name__} among its outputs")
        if len(pairs) == 1 and not fields:
            return [pairs[0][1]], ["output"]
        return [t for _, t in pairs], [n or f"output_{i}" for i, (n, _) in enumerate(pairs)]
    raise TypeError(f"onnx export: the model returned {type(result).__name__}; expected a Tensor or a tuple of Tensors")


def _value_info(name, tensor, batch):
    shape = list(tensor.shape)
    if batch is not None and shape and shape[0] == batch:
        shape[0] = "batch"
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(tensor.dtype)), shape)
