"""Tracing: run the model once and write down every op it calls.

Every differentiable primitive in macrograd goes through `Function.apply` (see
autograd/function.py). While tracing, `apply` is wrapped so that each call is recorded as an
`OpCall`: the Function class, the input tensors, the keyword options (axes, strides, eps, ...)
and the output tensor. That list, in call order, *is* the computation: export.py turns it into
ONNX nodes. Tracing at this level (rather than per module) means any model built from
macrograd ops is covered, whatever its module structure: a residual `x + f(x)` is simply an
`Add` call, an attention head a `ScaledDotProductAttention` call.

The usual limit of tracing holds: Python control flow is frozen at the path the example input
took, and values computed outside ops (NumPy, `.item()`) become constants.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from ..autograd.function import Function
from ..ops.dtypes import binary_operands
from ..tensor import Tensor


@dataclass
class OpCall:
    cls: type                 # the Function subclass (Add, Conv2d, LayerNorm, ...)
    inputs: tuple             # its positional input Tensors
    options: dict             # its keyword options, as passed to forward
    output: object            # the Tensor it returned
    index: int = field(default=0)


@contextmanager
def record_ops():
    """with record_ops() as calls: model(x)  ->  calls is the list of OpCall, in order."""
    calls: list[OpCall] = []
    original = Function.__dict__["apply"]  # the classmethod object, restored on exit

    def traced_apply(cls, *inputs, **options):
        output = original.__func__(cls, *inputs, **options)
        calls.append(OpCall(cls, inputs, options, output, len(calls)))
        return output

    Function.apply = classmethod(traced_apply)
    comparisons = {name: Tensor.__dict__[name] for name in COMPARISONS}
    for name, method in comparisons.items():
        setattr(Tensor, name, _recorded_comparison(name, method, calls))
    try:
        yield calls
    finally:
        Function.apply = original
        for name, method in comparisons.items():
            setattr(Tensor, name, method)


# Comparisons give boolean tensors without a Function (they have no gradient), yet a mask
# computed from an input (BERT's `attention_mask != 0`) is part of the computation: while
# tracing, the comparison operators are recorded too, as calls of these stand-in classes.
class Equal: ...
class NotEqual: ...
class Less: ...
class LessOrEqual: ...
class Greater: ...
class GreaterOrEqual: ...


COMPARISONS = {"__eq__": Equal, "__ne__": NotEqual, "__lt__": Less, "__le__": LessOrEqual,
               "__gt__": Greater, "__ge__": GreaterOrEqual}


def _recorded_comparison(name, method, calls):
    def compare(self, other):
        output = method(self, other)
        if isinstance(output, Tensor):
            a, b = binary_operands(self, other)
            calls.append(OpCall(COMPARISONS[name], (a, b), {}, output, len(calls)))
        return output
    return compare
