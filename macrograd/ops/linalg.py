"""Matrix products: matmul (batched, broadcast, 1-D operands) and einsum."""
from __future__ import annotations

from ..autograd import Function, sum_to
from ..backend import xp
from .dtypes import binary_operands


class MatMul(Function):
    """Y = A @ B;  dA = dY @ B^T,  dB = A^T @ dY  (batch dims broadcast, then summed back)"""

    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError("matmul: both arguments need at least 1 dimension, got a 0-d tensor")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise RuntimeError(
                f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                f"({k_a} != {k_b} in the contracted dimension)"
            )
        need_a, need_b = ctx.needs_input_grad
        ctx.save(a if need_b else None, b if need_a else None)
        ctx.shapes = a.shape, b.shape
        return xp.matmul(a, b)

    def backward(ctx, dy):
        a, b = ctx.saved
        shape_a, shape_b = ctx.shapes
        # 1-D operands are treated as a row (a) or a column (b) matrix, as matmul does.
        if len(shape_a) == 1:
            dy = xp.expand_dims(dy, -2)
        if len(shape_b) == 1:
            dy = xp.expand_dims(dy, -1)
        da = db = None
        if ctx.needs_input_grad[0]:
            b2 = b[:, None] if b.ndim == 1 else b
            da = xp.matmul(dy, xp.swapaxes(b2, -1, -2))
            da = sum_to(da, shape_a if len(shape_a) > 1 else (1,) + shape_a).reshape(shape_a)
        if ctx.needs_input_grad[1]:
            a2 = a[None, :] if a.ndim == 1 else a
            if a2.ndim > 2 and len(shape_b) == 2:
                # Batched activations times one weight matrix: fold the batch into one GEMM.
                db = a2.reshape(-1, a2.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])
            else:
                db = xp.matmul(xp.swapaxes(a2, -1, -2), dy)
                db = sum_to(db, shape_b if len(shape_b) > 1 else shape_b + (1,)).reshape(shape_b)
        return da, db


def matmul(input, other):
    return MatMul.apply(*binary_operands(input, other))


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects 2-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expects 3-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expects 1-D tensors, got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return matmul(input, other)


def outer(input, vec2):
    return matmul(input.reshape(-1, 1), vec2.reshape(1, -1))


TENSOR_METHODS = ("matmul", "mm", "bmm", "dot", "outer")
