"""Elementwise arithmetic and math: each op's forward and its local derivative side by side.

Broadcasting: binary ops broadcast like NumPy; backward undoes it with `sum_to`.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, sum_to
from ..backend import xp
from ..tensor import Tensor
from .dtypes import binary_operands, float_operand, to_tensor


# -- binary arithmetic -------------------------------------------------------------------------
class Add(Function):
    """y = a + b;  da = dy,  db = dy"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    def backward(ctx, dy):
        sa, sb = ctx.shapes
        return (
            sum_to(dy, sa) if ctx.needs_input_grad[0] else None,
            sum_to(dy, sb) if ctx.needs_input_grad[1] else None,
        )


class Sub(Function):
    """y = a - b;  da = dy,  db = -dy"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    def backward(ctx, dy):
        sa, sb = ctx.shapes
        return (
            sum_to(dy, sa) if ctx.needs_input_grad[0] else None,
            -sum_to(dy, sb) if ctx.needs_input_grad[1] else None,
        )


class Mul(Function):
    """y = a * b;  da = dy * b,  db = dy * a"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        need_a, need_b = ctx.needs_input_grad
        ctx.save(b if need_a else None, a if need_b else None)
        return a * b

    def backward(ctx, dy):
        b, a = ctx.saved
        sa, sb = ctx.shapes
        return (
            sum_to(dy * b, sa) if ctx.needs_input_grad[0] else None,
            sum_to(dy * a, sb) if ctx.needs_input_grad[1] else None,
        )


class Div(Function):
    """y = a / b;  da = dy / b,  db = -dy * a / b^2 = -dy * y / b"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        y = a / b
        ctx.save(b, y if ctx.needs_input_grad[1] else None)
        return y

    def backward(ctx, dy):
        b, y = ctx.saved
        sa, sb = ctx.shapes
        return (
            sum_to(dy / b, sa) if ctx.needs_input_grad[0] else None,
            sum_to(-dy * y / b, sb) if ctx.needs_input_grad[1] else None,
        )


class Pow(Function):
    """y = a ** b;  da = dy * b * a^(b-1),  db = dy * y * log(a)  (0 where a == 0)"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        y = a**b
        ctx.save(a, b, y)
        return y

    def backward(ctx, dy):
        a, b, y = ctx.saved
        sa, sb = ctx.shapes
        da = db = None
        if ctx.needs_input_grad[0]:
            da = sum_to(dy * b * a ** (b - 1), sa)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), xp.where(a == 0, 0, np.nan))
            db = sum_to(dy * y * log_a.astype(y.dtype), sb)
        return da, db


class PowScalar(Function):
    """y = x ** p for a constant p;  dx = dy * p * x^(p-1)"""

    def forward(ctx, x, exponent):
        ctx.exponent = exponent
        ctx.save(x)
        return x**exponent

    def backward(ctx, dy):
        (x,) = ctx.saved
        p = ctx.exponent
        if p == 2:
            return dy * (2 * x)
        return dy * (p * x ** (p - 1)).astype(x.dtype, copy=False)


def add(input, other, alpha=1):
    """input + alpha * other"""
    if alpha != 1:
        other = mul(other, alpha)
    return Add.apply(*binary_operands(input, other))


def sub(input, other, alpha=1):
    """input - alpha * other"""
    if alpha != 1:
        other = mul(other, alpha)
    return Sub.apply(*binary_operands(input, other))


def mul(input, other):
    return Mul.apply(*binary_operands(input, other))


def div(input, other, rounding_mode=None):
    """True division (integers give floats), or 'floor'/'trunc' rounding (no gradient)."""
    a, b = binary_operands(input, other)
    if rounding_mode is not None:
        rounder = {"floor": xp.floor, "trunc": xp.trunc}[rounding_mode]
        result = rounder(a._data / b._data)
        return Tensor(result.astype(a._data.dtype) if a._data.dtype.kind in "iu" else result)
    return Div.apply(float_operand(a), float_operand(b))


def true_divide(input, other):
    return div(input, other)


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """Python's modulo (sign of the divisor); the gradient is dy for input."""
    a, b = binary_operands(input, other)
    return sub(a, mul(div(a, b, rounding_mode="floor").detach(), b))


def fmod(input, other):
    a, b = binary_operands(input, other)
    return sub(a, mul(div(a, b, rounding_mode="trunc").detach(), b))


def pow(input, exponent):
    if isinstance(input, Tensor) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if input._data.dtype.kind in "iu" and (isinstance(exponent, float) or exponent < 0):
            input = float_operand(input)
        return PowScalar.apply(input, exponent=exponent)
    a, b = binary_operands(input, exponent)
    return Pow.apply(a, b)


def square(input):
    return PowScalar.apply(input, exponent=2)


# -- unary math --------------------------------------------------------------------------------
class Neg(Function):
    """y = -x;  dx = -dy"""

    def forward(ctx, x):
        return -x

    def backward(ctx, dy):
        return -dy


class Abs(Function):
    """y = |x|;  dx = dy * sign(x)"""

    def forward(ctx, x):
        ctx.save(x)
        return xp.abs(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * xp.sign(x)


class Exp(Function):
    """y = e^x;  dx = dy * y"""

    def forward(ctx, x):
        y = xp.exp(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y


class Log(Function):
    """y = ln x;  dx = dy / x"""

    def forward(ctx, x):
        ctx.save(x)
        return xp.log(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy / x


class Log1p(Function):
    """y = ln(1 + x);  dx = dy / (1 + x)"""

    def forward(ctx, x):
        ctx.save(x)
        return xp.log1p(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy / (1 + x)


class Sqrt(Function):
    """y = sqrt(x);  dx = dy / (2 y)"""

    def forward(ctx, x):
        y = xp.sqrt(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy / (2 * y)


class Rsqrt(Function):
    """y = 1 / sqrt(x);  dx = -dy * y^3 / 2"""

    def forward(ctx, x):
        y = 1 / xp.sqrt(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return -0.5 * dy * y * y * y


class Sin(Function):
    """y = sin x;  dx = dy * cos x"""

    def forward(ctx, x):
        ctx.save(x)
        return xp.sin(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * xp.cos(x)


class Cos(Function):
    """y = cos x;  dx = -dy * sin x"""

    def forward(ctx, x):
        ctx.save(x)
        return xp.cos(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return -dy * xp.sin(x)


class Tanh(Function):
    """y = tanh x;  dx = dy * (1 - y^2)"""

    def forward(ctx, x):
        y = xp.tanh(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dx = dy * y * (1 - y)"""

    def forward(ctx, x):
        # Two branches so that neither exp overflows: e^-x for x >= 0, e^x / (1 + e^x) below.
        z = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y * (1 - y)


class Clamp(Function):
    """y = min(max(x, lo), hi);  dx = dy where lo <= x <= hi, else 0"""

    def forward(ctx, x, lo, hi):
        y = xp.clip(x, lo, hi)
        ctx.save((y == x))
        return y

    def backward(ctx, dy):
        (inside,) = ctx.saved
        return dy * inside


class ToDtype(Function):
    """y = x cast to another dtype;  dx = dy cast back"""

    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, dy):
        return dy.astype(ctx.dtype) if ctx.dtype.kind in "fc" else None


class Clone(Function):
    """y = a copy of x;  dx = dy"""

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, dy):
        return dy


def _unary(function_class, doc):
    def op(input):
        return function_class.apply(float_operand(to_tensor(input)))

    op.__doc__ = doc
    op.__name__ = function_class.__name__.lower()
    return op


exp = _unary(Exp, "e^input")
log = _unary(Log, "natural logarithm")
log1p = _unary(Log1p, "ln(1 + input), accurate for small input")
sqrt = _unary(Sqrt, "square root")
rsqrt = _unary(Rsqrt, "1 / sqrt(input)")
sin = _unary(Sin, "sine")
cos = _unary(Cos, "cosine")
tanh = _unary(Tanh, "hyperbolic tangent")
sigmoid = _unary(Sigmoid, "logistic sigmoid 1 / (1 + e^-input)")


def neg(input):
    return Neg.apply(to_tensor(input))


def abs(input):
    return Abs.apply(to_tensor(input))


def log2(input):
    return div(log(input), float(np.log(2)))


def log10(input):
    return div(log(input), float(np.log(10)))


def reciprocal(input):
    return div(1.0, float_operand(to_tensor(input)))


def clamp(input, min=None, max=None):
    """Limit values to [min, max] (either bound may be None). The gradient passes inside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from .compare import maximum, minimum

        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(input, lo=min, hi=max)


clip = clamp


def to_dtype(input, dtype):
    dtype = np.dtype(dtype)
    if input._data.dtype == dtype:
        return input
    if dtype.kind not in "fc" or input._data.dtype.kind not in "fc":
        return Tensor(input._data.astype(dtype))  # casts to or from integers carry no gradient
    return ToDtype.apply(input, dtype=dtype)


def clone(input):
    return Clone.apply(input)


def sign(input):
    return Tensor(xp.sign(input._data))


def floor(input):
    return Tensor(xp.floor(input._data))


def ceil(input):
    return Tensor(xp.ceil(input._data))


def round(input, decimals=0):
    return Tensor(xp.round(input._data, decimals))


def trunc(input):
    return Tensor(xp.trunc(input._data))


# Functions that are also Tensor methods of the same name (installed by tensor_methods.py).
TENSOR_METHODS = (
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow", "square",
    "neg", "abs", "exp", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sin", "cos", "tanh",
    "sigmoid", "reciprocal", "clamp", "clip", "clone", "sign", "floor", "ceil", "round", "trunc",
)
