"""Attach the ops to `Tensor`: Python operators (+, @, <, [], +=, ...) and method forms
(`x.exp()`, `x.sum(dim=1)`). Each ops module lists its method names in `TENSOR_METHODS`;
every such function takes the tensor as its first argument, so `x.f(...)` is `f(x, ...)`.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..tensor import Tensor
from . import (
    activation, compare, dropout, elementwise, embedding, indexing, linalg, loss, normalization,
    reduce, shape, softmax,
)


def _reflected(function):
    return lambda self, other: function(other, self)


def _inplace(function, name):
    """x op= y: compute out of place, then write the result into x's array.

    If autograd is recording, x's history moves to the new node (x must not be a leaf that
    requires grad); the version bump makes backward fail loudly if an earlier op saved x."""

    def method(self, *args, **kwargs):
        recording = autograd.is_grad_enabled() and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if recording:
            self._check_inplace_allowed(name)
            before = _stand_in(self, self._data)  # x as it was, with its history
            result = function(before, *args, **kwargs)
            if _saves(result, before):
                # The new node kept x's old array for its backward (x.mul_(w) keeps x for dw),
                # and that array is about to be overwritten: redo the op on a copy of it.
                result = function(_stand_in(self, self._data.copy()), *args, **kwargs)
        else:
            with autograd.no_grad():
                result = function(self, *args, **kwargs)
        if result.shape != self.shape:
            raise RuntimeError(
                f"{name}: output with shape {tuple(self.shape)} doesn't match the broadcast shape "
                f"{tuple(result.shape)}"
            )
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise RuntimeError(
                f"{name}: result type {result.dtype} can't be cast to the desired output type {self.dtype}"
            )
        self._data[...] = result._data
        self._bump_version()
        if recording:
            self.grad_fn, self._requires_grad = result.grad_fn, True
        return self

    method.__name__ = name
    return method


def _stand_in(tensor, array):
    """A tensor holding `array` with tensor's history, standing for it as an op's input."""
    out = Tensor(array)
    out.grad_fn, out._requires_grad = tensor.grad_fn, tensor.requires_grad
    return out


def _saves(result, tensor) -> bool:
    """Did the node that made `result` save `tensor`'s array (its version is watched)?"""
    node = result.grad_fn
    return node is not None and any(counter is tensor._version for counter, _, _ in node._saved_versions)


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _type(self, dtype=None):
    if dtype is None:
        return f"macrograd.{self.dtype}"
    return elementwise.to_dtype(self, dtype)


def install():
    for module in (elementwise, activation, compare, linalg, reduce, shape, indexing, softmax,
                   loss, normalization, dropout, embedding):
        for name in module.TENSOR_METHODS:
            setattr(Tensor, name, getattr(module, name))
    operators = {
        "__add__": elementwise.add, "__radd__": _reflected(elementwise.add),
        "__sub__": elementwise.sub, "__rsub__": _reflected(elementwise.sub),
        "__mul__": elementwise.mul, "__rmul__": _reflected(elementwise.mul),
        "__truediv__": elementwise.div, "__rtruediv__": _reflected(elementwise.div),
        "__floordiv__": elementwise.floor_divide, "__rfloordiv__": _reflected(elementwise.floor_divide),
        "__mod__": elementwise.remainder, "__rmod__": _reflected(elementwise.remainder),
        "__pow__": elementwise.pow, "__rpow__": _reflected(elementwise.pow),
        "__matmul__": linalg.matmul, "__rmatmul__": _reflected(linalg.matmul),
        "__neg__": elementwise.neg, "__pos__": lambda self: self, "__abs__": elementwise.abs,
        "__eq__": compare.eq, "__ne__": compare.ne, "__lt__": compare.lt,
        "__le__": compare.le, "__gt__": compare.gt, "__ge__": compare.ge,
        "__and__": compare.logical_and, "__or__": compare.logical_or, "__xor__": compare.logical_xor,
        "__invert__": compare.logical_not,
        "__getitem__": indexing.getitem, "__setitem__": indexing.setitem, "__iter__": _iter,
        "type": _type,
    }
    for name, function in operators.items():
        setattr(Tensor, name, function)
    Tensor.T = property(lambda self: shape.permute(self, tuple(reversed(range(self.ndim)))))
    Tensor.mT = property(lambda self: shape.transpose(self, -2, -1))
    inplace = {
        "add_": elementwise.add, "sub_": elementwise.sub, "mul_": elementwise.mul,
        "div_": elementwise.div, "pow_": elementwise.pow, "clamp_": elementwise.clamp,
        "masked_fill_": indexing.masked_fill, "scatter_": indexing.scatter,
        "scatter_add_": indexing.scatter_add, "index_add_": indexing.index_add,
    }
    for name, function in inplace.items():
        setattr(Tensor, name, _inplace(function, name))
    for operator, function in (("__iadd__", elementwise.add), ("__isub__", elementwise.sub),
                               ("__imul__", elementwise.mul), ("__itruediv__", elementwise.div),
                               ("__ipow__", elementwise.pow)):
        setattr(Tensor, operator, _inplace(function, operator))
