"""Flatten parameters into one vector and back (for second-order methods, model averaging, ...)."""
from __future__ import annotations

from ... import autograd
from ...ops import shape as shape_ops
from ...tensor import Tensor


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def parameters_to_vector(parameters) -> Tensor:
    """One 1-D tensor: every parameter flattened, concatenated in order (differentiable)."""
    return shape_ops.cat([shape_ops.reshape(p, (-1,)) for p in _as_list(parameters)])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters, in order, in place."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected a Tensor for vec, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    parameters = _as_list(parameters)
    total = sum(p.numel() for p in parameters)
    if total != vec.numel():
        raise ValueError(
            f"vector_to_parameters: vec has {vec.numel()} elements but the parameters hold {total}"
        )
    offset = 0
    with autograd.no_grad():
        for p in parameters:
            n = p.numel()
            p._data[...] = vec._data[offset:offset + n].reshape(p.shape)
            p._bump_version()
            offset += n
