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
            # where b == 0, y = 1 is constant in a (a^(b-1) would give 0 * inf at a = 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                local = xp.where(b == 0, xp.zeros((), y.dtype), b * a ** (b - 1))
            da = sum_to(dy * local, sa)
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
        if p == 0:  # y = 1 whatever x is (and 0 * x^-1 would be nan at x = 0)
            return xp.zeros_like(dy)
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


class RoundedDiv(Function):
    """y = floor(a / b) or trunc(a / b);  da = db = 0 (a step function)"""

    def forward(ctx, a, b, rounding_mode):
        ctx.shapes = a.shape, b.shape
        if a.dtype.kind in "iu":  # exact integer division, no detour through floats
            if xp.any(b == 0):
                raise ZeroDivisionError("div: integer division by zero")
            q = xp.floor_divide(a, b)
            if rounding_mode == "trunc":  # floor rounds towards -inf: step back up where a/b < 0
                q = q + ((q < 0) & (q * b != a))
            return q
        return (xp.floor if rounding_mode == "floor" else xp.trunc)(a / b)

    def backward(ctx, dy):
        sa, sb = ctx.shapes
        return xp.zeros(sa, dy.dtype), xp.zeros(sb, dy.dtype)


class Remainder(Function):
    """y = a - floor(a / b) * b (the sign of b, Python's %);  da = dy,  db = -dy * floor(a / b)"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        ctx.save(a, b)
        return xp.remainder(a, b)

    def backward(ctx, dy):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        return (
            sum_to(dy, sa) if ctx.needs_input_grad[0] else None,
            sum_to(-dy * xp.floor(a / b), sb) if ctx.needs_input_grad[1] else None,
        )


class Fmod(Function):
    """y = a - trunc(a / b) * b (the sign of a, C's fmod);  da = dy,  db = -dy * trunc(a / b)"""

    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        ctx.save(a, b)
        return xp.fmod(a, b)

    def backward(ctx, dy):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        return (
            sum_to(dy, sa) if ctx.needs_input_grad[0] else None,
            sum_to(-dy * xp.trunc(a / b), sb) if ctx.needs_input_grad[1] else None,
        )


def div(input, other, rounding_mode=None):
    """True division (integers give floats), or 'floor'/'trunc' rounding (zero gradient)."""
    a, b = binary_operands(input, other)
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
            )
        return RoundedDiv.apply(a, b, rounding_mode=rounding_mode)
    return Div.apply(float_operand(a), float_operand(b))


def true_divide(input, other):
    return div(input, other)


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """Python's modulo (sign of the divisor); the gradient is dy for input."""
    return Remainder.apply(*binary_operands(input, other))


def fmod(input, other):
    """C's remainder (the sign of input); the gradient is dy for input."""
    return Fmod.apply(*binary_operands(input, other))


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


def _sigmoid_array(x):
    """1 / (1 + e^-x) on an array, in place on one buffer (four passes over memory, no mask).

    For x < -88, e^-x overflows float32 to inf and the result is 1 / inf = 0, where the true
    value is below 1e-38 (float32's smallest normal): the overflow is expected, so it is silenced.
    Above that, 1 + e^-x keeps full relative precision, also deep in the negative tail."""
    y = xp.array(x, copy=True)  # an array even for 0-d input, so that out= works
    xp.negative(y, out=y)
    with np.errstate(over="ignore"):
        xp.exp(y, out=y)
    y += 1
    xp.reciprocal(y, out=y)
    return y


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dx = dy * y * (1 - y)"""

    def forward(ctx, x):
        y = _sigmoid_array(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y * (1 - y)


class Clamp(Function):
    """y = min(max(x, lo), hi);  dx = dy where lo <= x <= hi, else 0"""

    def forward(ctx, x, lo, hi):
        # The mask is spelled out (not y == x) so that lo > hi, where y = hi, passes nothing.
        inside = xp.ones(x.shape, bool) if lo is None else x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.save(inside)
        return xp.clip(x, lo, hi)

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
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    input = to_tensor(input)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # PyTorch's rule: x keeps its gradient where min <= x <= max; max wins when min > max.
        from .compare import where

        out = input
        if min is not None:
            out = where(out < min, min, out)
        if max is not None:
            out = where(out > max, max, out)
        return out
    if input._data.dtype.kind in "biu" and (isinstance(min, float) or isinstance(max, float)):
        input = float_operand(input)  # int tensor clamped to float bounds gives floats
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


class Step(Function):
    """y = a piecewise constant f(x) (sign, floor, ceil, round, trunc);  dx = 0"""

    def forward(ctx, x, f):
        return f(x)

    def backward(ctx, dy):
        return xp.zeros_like(dy)


def sign(input):
    return Step.apply(to_tensor(input), f=xp.sign)


def floor(input):
    return Step.apply(to_tensor(input), f=xp.floor)


def ceil(input):
    return Step.apply(to_tensor(input), f=xp.ceil)


def round(input, decimals=0):
    return Step.apply(to_tensor(input), f=lambda x: xp.round(x, decimals))


def trunc(input):
    return Step.apply(to_tensor(input), f=xp.trunc)


# Functions that are also Tensor methods of the same name (installed by tensor_methods.py).
TENSOR_METHODS = (
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow", "square",
    "neg", "abs", "exp", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sin", "cos", "tanh",
    "sigmoid", "reciprocal", "clamp", "clip", "clone", "sign", "floor", "ceil", "round", "trunc",
)
