"""`Function`: one differentiable op, its forward and backward side by side on raw arrays.

A Function instance is also a node of the computational graph (a tensor's ``grad_fn``):
it remembers the nodes of its inputs and the arrays its forward saved for backward.
"""
from __future__ import annotations

import numpy as np

from . import grad_mode

# macrograd.tensor registers its Tensor class here, so that this lower layer can wrap the
# outputs of ops without importing the layer above it.
Tensor = None


def sum_to(grad, shape):
    """Undo broadcasting: sum `grad` over the axes broadcasting added or stretched, giving `shape`.

    If y = f(x) broadcast x from `shape` to grad.shape, then dL/dx = sum of dL/dy over those axes.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if grad.dtype.itemsize < 8 and grad.dtype.kind == "f":
        # Accumulate in float64: a float32 sum over many broadcast positions (a bias over a
        # batch of images) otherwise drifts ~1e-5 relative from the true sum, 10x more than
        # PyTorch's; the extra cost is small beside the ops that produced grad.
        return grad.sum(axis=axes, keepdims=True, dtype=np.float64).astype(grad.dtype).reshape(shape)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class VersionCounter:
    """Counts in-place changes of an array; shared by a tensor, its detached copies and views."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Function:
    """Base class of every op. Subclasses write `forward(ctx, *arrays, **options)` returning an
    array and `backward(ctx, grad_output)` returning one gradient per array input (or None).

    `ctx` is the node itself: `ctx.save(...)` keeps arrays for backward, `ctx.saved` gives them
    back, and any other attribute (a shape, an axis) can simply be set on it.
    """

    # The node's state starts as these class-level defaults (immutable, so shared safely), and
    # an instance attribute appears only when an op sets one: creating a node costs nothing
    # more than the object itself, which matters for small ops (batch-1 inference).
    saved = ()
    parents = ()  # one (node, leaf tensor) pair per input; see `apply`
    needs_input_grad = ()  # one bool per input: does backward need to produce its grad?
    hooks = None  # gradient hooks registered on the output tensor
    retained_output = None  # weak reference to the output when it called retain_grad()
    freed = False
    # True where every gradient array backward returns is newly allocated, returned once and
    # kept nowhere: the engine may then make it a leaf's .grad without a copy (Linear's dW).
    fresh_grads = False
    output_shape = None  # checked against the gradient flowing in from consumers
    # A basic index (ints, slices) when the op is x[index] and backward would be "zeros shaped
    # like x, with dy at index": the engine then adds dy into x's gradient sum at index itself,
    # without that zero array (see engine._accumulate_at). GetItem sets it.
    grad_index = None
    _saved_versions = ()

    # -- what subclasses write ----------------------------------------------------------------
    def forward(self, *arrays, **options):
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def save(self, *arrays):
        self.saved = arrays

    # -- graph plumbing ------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **options):
        """Run forward on the inputs' arrays and, if a gradient is needed, link the output into
        the graph. Every positional input must be a Tensor; options are passed to forward as is."""
        ctx = cls()
        # Known before forward runs, so that forward can save only what backward will use.
        # Under no_grad nothing is asked of the inputs (the common inference case, where
        # this bookkeeping is a measurable part of a batch-1 op's time).
        if grad_mode._enabled:
            needs = tuple([t._requires_grad for t in inputs])
            record = True in needs
        else:
            record = False
        ctx.needs_input_grad = needs if record else (False,) * len(inputs)
        try:
            output = Tensor(ctx.forward(*[t._data for t in inputs], **options))
        except ValueError as error:  # NumPy's own message names neither the op nor the shapes
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            raise RuntimeError(f"{cls.__name__}: {error} (input shapes {shapes})") from None
        if record:
            # A leaf that needs a gradient is remembered itself (its .grad is filled);
            # any other input is represented by the node that made it.
            ctx.parents = tuple(
                (t.grad_fn, t if (t.grad_fn is None and t._requires_grad) else None) for t in inputs
            )
            output.requires_grad = True
            output.grad_fn = ctx
            ctx.output_shape = output._data.shape
            if ctx.saved:
                ctx._watch_saved(inputs, output)
            _share_version_with_views(output, inputs)
        elif ctx.saved:
            ctx.saved = ()
        return output

    def _watch_saved(self, inputs, output):
        """Note the version of each tensor whose array backward will read, so that an
        in-place change made before backward is caught instead of giving a wrong gradient."""
        watched = []
        for array in self.saved:
            base = getattr(array, "base", None)
            for tensor in (*inputs, output):
                data = tensor._data
                if array is data or (base is not None and (base is data or base is data.base)):
                    watched.append((tensor._version, tensor._version.value, tensor.shape))
                    break
        self._saved_versions = tuple(watched)

    def check_saved_versions(self):
        for counter, version, shape in self._saved_versions:
            if counter.value != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: a tensor of shape {tuple(shape)} used by {self.name()} "
                    f"is at version {counter.value}; expected version {version} instead. Use an "
                    f"out-of-place op (x = x + y rather than x += y) or clone() before changing it."
                )

    def release(self):
        """Free the saved arrays once backward has used them (unless retain_graph=True)."""
        if self.saved:
            self.saved = ()
            self.freed = True

    def name(self) -> str:
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"


def _share_version_with_views(output, inputs):
    """An output that is a NumPy view of an input's array shares its version counter, so that
    an in-place change through either is seen by both."""
    base = getattr(output._data, "base", None)
    if base is None:
        return
    for tensor in inputs:
        data = tensor._data
        if base is data or base is data.base:
            output._version = tensor._version
            return
