"""The ONNX graph under construction: nodes, initializers, and the names of traced tensors.

A traced tensor is *dynamic* when it depends on the model's input (a graph input or the
output of an emitted node); every other tensor met as an op's input (a parameter, a buffer, a
mask built in forward, an op on those) is a *constant* and becomes an initializer holding its
value. Ops whose inputs are all constant are not emitted at all: their output is folded into an
initializer (a `weight.t()` computed in forward is stored already transposed).
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper


class Graph:
    def __init__(self, param_names: dict, batch: int | None):
        self.nodes, self.initializers = [], []
        self.names = {}               # id(Tensor) -> its name in the graph (dynamic tensors)
        self.array_names = {}         # id(ndarray) -> name, for inputs that ops take as raw arrays
        self.constants = {}           # id(ndarray) -> initializer name (each array stored once)
        self.param_names = param_names  # id(parameter/buffer array) -> state_dict key
        self.batch = batch            # the example's batch size when the batch axis is dynamic
        self.keep = []                # arrays referenced by id: kept alive so that ids stay unique
        self.counter = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    # -- tensors ---------------------------------------------------------------------------------
    def is_dynamic(self, tensor) -> bool:
        return id(tensor) in self.names

    def name(self, tensor, broadcast_batch: bool = False) -> str:
        """The graph name of a traced tensor: its node output, or an initializer of its value.
        broadcast_batch: a constant of the example's batch size whose rows are all equal is
        stored with batch 1 so that it broadcasts against any batch (BERT's zero token types)."""
        if id(tensor) in self.names:
            return self.names[id(tensor)]
        array = tensor._data
        if broadcast_batch and self.batch and self.batch > 1 and array.ndim >= 1 \
                and array.shape[0] == self.batch and (array == array[:1]).all():
            array = array[:1]
        return self.const(array)

    def const(self, array, hint: str = "const") -> str:
        array = np.asarray(array)
        if id(array) in self.constants:
            return self.constants[id(array)]
        name = self.param_names.get(id(array)) or self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        self.constants[id(array)] = name
        self.keep.append(array)
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def scalar(self, value, dtype=np.float32) -> str:
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    # -- nodes -----------------------------------------------------------------------------------
    def node(self, op: str, inputs, hint: str | None = None, outputs: int = 1, **attrs):
        """Append one node; returns its output name (or names, when outputs > 1)."""
        out = [self.fresh(hint or op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), out, name=self.fresh(op), **attrs))
        return out[0] if outputs == 1 else out
