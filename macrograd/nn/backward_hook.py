"""Module backward hooks, as in PyTorch: `hook(module, grad_input, grad_output)` runs once the
gradients with respect to a module's positional tensor inputs are known, and
`pre_hook(module, grad_output)` once those with respect to its outputs are.

How they reach the gradients: a module that has such hooks routes its tensor inputs, and then
its outputs, through a *gate* (only then: `Module.__call__` skips all of this otherwise). A gate
over tensors t_1..t_n is one `GateGather(t_1..t_n)` node with an empty placeholder output, and
one `GatePass_k(placeholder)` per tensor that gives t_k's values back unchanged:

    t_1 ─┐                 ┌─ GatePass_1 ─> t_1 (same values, now behind the gate)
    t_2 ─┼─ GateGather ─ ▫ ─┼─ GatePass_2 ─> t_2
    t_n ─┘                 └─ GatePass_n ─> t_n

In backward the engine runs every GatePass before their common parent GateGather (topological
order), so GateGather.backward sees the gradients of all n tensors at once: that is where the
hooks run, and what they return is what flows on to t_1..t_n.
"""
from __future__ import annotations

from ..autograd import Function, is_grad_enabled
from ..backend import xp
from ..tensor import Tensor


class _Gate:
    """The gradients a gate's GatePass nodes collected in this backward pass, by position."""

    def __init__(self, size, on_backward):
        self.grads = [None] * size
        self.on_backward = on_backward  # list of gradient arrays -> the ones to pass on

    def take(self):
        grads, self.grads = self.grads, [None] * len(self.grads)
        return grads


class GateGather(Function):
    """placeholder = empty;  dt_k = on_backward(the dt_k the GatePass nodes collected)"""

    def forward(ctx, *arrays, gate):
        ctx.gate = gate
        return xp.empty((0,), dtype=xp.float32)

    def backward(ctx, _dplaceholder):
        return tuple(ctx.gate.on_backward(ctx.gate.take()))


class GatePass(Function):
    """y = t_k;  dt_k is handed to the gate, and an empty gradient to the placeholder (so that
    GateGather runs, after every GatePass)"""

    def forward(ctx, placeholder, array, gate, index):
        ctx.gate, ctx.index = gate, index
        return array

    def backward(ctx, dy):
        ctx.gate.grads[ctx.index] = dy
        return xp.empty((0,), dtype=xp.float32)

    def source(self):
        """The (node, leaf) pair of the tensor this one stands for (graph drawing looks through gates)."""
        gather = self.parents[0][0]
        return gather.parents[self.index]


def _through_gate(tensors, on_backward):
    """The tensors again, each now behind one gate whose backward calls on_backward."""
    gate = _Gate(len(tensors), on_backward)
    placeholder = GateGather.apply(*tensors, gate=gate)
    passed = []
    for index, tensor in enumerate(tensors):
        out = GatePass.apply(placeholder, array=tensor._data, gate=gate, index=index)
        out._version = tensor._version  # same memory: an in-place change through either is seen by both
        passed.append(out)
    return passed


def _as_array(grad):
    if grad is None:
        return None
    return grad._data if isinstance(grad, Tensor) else xp.asarray(grad)


def _as_tensor(grad):
    return None if grad is None else Tensor(grad)


class BackwardHook:
    """One call of a module with backward hooks: gates its inputs and outputs, then runs the hooks
    (PyTorch's torch.utils.hooks.BackwardHook, on macrograd's graph)."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks  # lists taken at call time, as in PyTorch
        self.pre_hooks = pre_hooks
        self.grad_outputs = None  # set when the gradient passes the output gate
        self.n_inputs = 0
        self.input_positions = None  # positions of the gated inputs; None when none needs a gradient
        self.input_constants = {}  # position -> (shape, dtype) of the tensor inputs that need none
        self.n_outputs = 0
        self.output_positions = None

    @staticmethod
    def _gradient_positions(values):
        if not is_grad_enabled():
            return None
        positions = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        return positions or None

    def setup_inputs(self, args: tuple) -> tuple:
        """args, with the tensors that need a gradient behind the input gate. In the hooks'
        grad_input, a non-tensor argument gets None and a tensor that needs no gradient zeros."""
        self.n_inputs = len(args)
        self.input_positions = self._gradient_positions(args)
        if self.input_positions is None:
            return args
        self.input_constants = {
            i: (a.shape, a.dtype) for i, a in enumerate(args)
            if isinstance(a, Tensor) and i not in self.input_positions
        }
        passed = _through_gate([args[i] for i in self.input_positions], self._input_backward)
        args = list(args)
        for i, tensor in zip(self.input_positions, passed):
            args[i] = tensor
        return tuple(args)

    def setup_outputs(self, output):
        """output (a Tensor or a tuple), with its tensors that carry a gradient behind the output gate."""
        is_tuple = isinstance(output, tuple)
        values = output if is_tuple else (output,)
        self.n_outputs = len(values)
        self.output_positions = self._gradient_positions(values)
        if self.output_positions is None:
            return output
        passed = _through_gate([values[i] for i in self.output_positions], self._output_backward)
        values = list(values)
        for i, tensor in zip(self.output_positions, passed):
            values[i] = tensor
        return tuple(values) if is_tuple else values[0]

    def _packed(self, positions, grads, size):
        packed = [None] * size
        for i, grad in zip(positions, grads):
            packed[i] = _as_tensor(grad)
        return tuple(packed)

    def _output_backward(self, grads):
        """The gradients w.r.t. the outputs are known: run the pre-hooks (which may replace them)."""
        grad_outputs = self._packed(self.output_positions, grads, self.n_outputs)
        for pre_hook in self.pre_hooks:
            result = pre_hook(self.module, grad_outputs)
            if result is None:
                continue
            result = _checked_tuple(result, "Backward pre hook", "grad_output", len(grad_outputs))
            grad_outputs = result
        self.grad_outputs = grad_outputs
        if self.input_positions is None:
            # No input needs a gradient, so no input gate will run: call the hooks now, with
            # grad_input all None (PyTorch does the same).
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should always return "
                        "None or None for all gradients."
                    )
            self.grad_outputs = None
        return [_as_array(grad_outputs[i]) for i in self.output_positions]

    def _input_backward(self, grads):
        """The gradients w.r.t. the inputs are known: run the hooks (which may replace them)."""
        if self.grad_outputs is None:
            # The gradient reached the inputs without passing through the outputs: no hook call.
            return grads
        grad_inputs = list(self._packed(self.input_positions, grads, self.n_inputs))
        for i, (shape, dtype) in self.input_constants.items():
            # PyTorch hands zeros for a tensor input that needs no gradient (next to one that does).
            grad_inputs[i] = Tensor(xp.zeros(shape, dtype=dtype))
        grad_inputs = tuple(grad_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            grad_inputs = _checked_tuple(result, "Backward hook", "grad_input", len(grad_inputs))
        self.grad_outputs = None
        return [_as_array(grad_inputs[i]) for i in self.input_positions]


def _checked_tuple(result, who, what, expected):
    if not isinstance(result, (tuple, list)):
        raise TypeError(f"{who} must return None or a tuple of {what} (one Tensor or None each), "
                        f"got {type(result).__name__}")
    if len(result) != expected:
        raise RuntimeError(f"{who} returned an invalid number of {what}, got {len(result)}, but expected {expected}")
    return tuple(result)
