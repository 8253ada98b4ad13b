"""Elementwise activation functions with hand-derived backward passes."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backend import xp
from .dtypes import float_operand, to_tensor
from .elementwise import _sigmoid_array

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# Numerical Recipes' erfc fit: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P of degree 9.
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
                      -1.13520398, 1.48851587, -0.82215223, 0.17087277)


# Large inputs go through _erf_array in blocks of this many elements: its ~25 passes then run
# over temporaries that stay in the L2 cache (and are reused from block to block) instead of
# streaming four fresh activation-sized arrays through memory.
_ERF_BLOCK = 1 << 15


def _erf_array(x):
    """erf(x) on an array, NumPy-only; large arrays block by block (same values, see _ERF_BLOCK)."""
    if x.size <= _ERF_BLOCK:
        return _erf_block(x)
    flat = xp.ascontiguousarray(x).reshape(-1)
    out = xp.empty_like(flat)
    for start in range(0, flat.size, _ERF_BLOCK):
        out[start:start + _ERF_BLOCK] = _erf_block(flat[start:start + _ERF_BLOCK])
    return out.reshape(x.shape)


def _erf_block(x):
    """erf(x) on an array, NumPy-only (Numerical Recipes' erfc Chebyshev fit, error < 1.2e-7),
    computed in x's own dtype: float32 needs no float64 detour for this accuracy.

    The polynomial is evaluated by Horner's rule in place on one buffer: written as one
    expression it made ~25 temporaries and took 18 ms on GPT's 393k-element MLP activations
    (bench W5), in place it takes a quarter of that."""
    # Explicit out= buffers keep 0-d inputs arrays (a plain `z * 0.5` would give a NumPy scalar).
    z = xp.abs(x, out=xp.empty_like(x))
    t = xp.multiply(z, 0.5, out=xp.empty_like(z))
    t += 1.0
    xp.reciprocal(t, out=t)
    poly = xp.multiply(t, _ERFC_COEFFICIENTS[-1], out=xp.empty_like(t))
    for c in _ERFC_COEFFICIENTS[-2:0:-1]:
        poly += c
        poly *= t
    poly += _ERFC_COEFFICIENTS[0]
    z *= z
    poly -= z  # -z^2 + P(t)
    erfc = xp.exp(poly, out=poly)
    erfc *= t
    # erf(x) = sign(x) (1 - erfc(|x|)): a product, not np.where or a masked ufunc, which are
    # 10-20x slower on a mask of random signs. (Not copysign: the fit's 1 - erfc is slightly
    # negative near 0, and its sign must survive; at x = 0 the product gives erf(0) = 0 exactly.)
    erf = xp.subtract(1.0, erfc, out=erfc)
    erf *= xp.sign(x, out=z)
    return erf.astype(x.dtype, copy=False)


class Erf(Function):
    """y = erf(x);  dx = dy * 2/sqrt(pi) * e^(-x^2)"""

    def forward(ctx, x):
        ctx.save(x)
        return _erf_array(x)

    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * (2.0 / math.sqrt(math.pi)) * xp.exp(-x * x)


class Relu(Function):
    """y = max(x, 0);  dx = dy * [x > 0]"""

    def forward(ctx, x):
        y = xp.maximum(x, 0)
        if ctx.needs_input_grad[0]:
            ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * (y > 0)


class LeakyRelu(Function):
    """y = x if x > 0 else slope * x;  dx = dy * (1 if x > 0 else slope)"""

    def forward(ctx, x, negative_slope):
        ctx.slope = negative_slope
        ctx.save(x > 0)
        return xp.where(x > 0, x, x * negative_slope)

    def backward(ctx, dy):
        (positive,) = ctx.saved
        return xp.where(positive, dy, dy * ctx.slope)


class Elu(Function):
    """y = x if x > 0 else alpha (e^x - 1);  dx = dy if x > 0 else dy * (y + alpha)"""

    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        y = xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))
        ctx.save(x > 0, y)
        return y

    def backward(ctx, dy):
        positive, y = ctx.saved
        return xp.where(positive, dy, dy * (y + ctx.alpha))


# GELU's Phi(x) through Abramowitz & Stegun 7.1.26 (error of erf < 1.5e-7, the float32 level):
#   Phi(-|x|) = 1/2 erfc(|w|) = (h1 T + h2 T^2 + ... + h5 T^5) e^(-w^2),
#   w = x / sqrt 2,  T = 1 / (1 + p |w|),  h_i = a_i / 2.
# Five coefficients against the nine of _erf_block's fit, and e^(-w^2) = e^(-x^2/2) is phi(x) up
# to a constant, so the derivative comes almost for free (see Gelu).
#
# Constants folded so that every pass is one ufunc: with K = 1/p, T = K / (K + |w|) = beta t for
# t = (K / beta) / (K + |w|) (one divide, like a reciprocal), and beta = h5^(-1/5) makes the
# polynomial in t monic: sum h_i T^i = t (t^4 + b4 t^3 + b3 t^2 + b2 t + b1), b_i = h_i beta^i.
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_AS_K = 1.0 / 0.3275911
_AS_BETA = (0.5 * _AS_A[4]) ** -0.2
_AS_T_NUM = _AS_K / _AS_BETA
_AS_B = tuple(0.5 * a * _AS_BETA ** (i + 1) for i, a in enumerate(_AS_A[:4]))  # b1 .. b4


def _gelu_block(x, y, d, z, p, e):
    """y = x Phi(x) and, when d is not None, d = Phi(x) + x phi(x) (= dy/dx), for one block,
    with z, p, e scratch buffers of the block's size. Every pass is an in-place ufunc.

    Phi(x) = 1/2 + sign(x) (1/2 - Phi(-|x|)): exact (0 or 1) where Phi(-|x|) underflows.
    The sign is applied by flipping the sign bit of (1/2 - Phi(-|x|)) with x's (an integer AND
    and XOR): np.sign and np.copysign are not vectorized, 4-5 us per 8k floats against ~1 us.
    At x = 0, y = 0 and d = Phi(0) = 1/2 up to the fit's 1e-8.

    e^(-w^2) is taken as 1 / e^(w^2) and divided by: w^2 is one np.square of w (which |w| needs
    anyway), where -x^2/2 takes two passes. Past |x| ~ 13 (float32) e^(w^2) overflows to inf
    and Phi(-|x|) = 0, x phi(x) = 0, as the underflowing e^(-w^2) gave.

    23 passes (was 25, with np.sign): 1.52 -> 1.28 ms on GPT's 12 x 64 x 512 float32 activations."""
    w = xp.multiply(x, _INV_SQRT_2, out=z)
    t = xp.abs(w, out=p)
    t += _AS_K
    xp.divide(_AS_T_NUM, t, out=t)
    gauss_inv = xp.square(w, out=z)  # w^2, then e^(w^2) = 1 / (sqrt(2 pi) phi(x))
    xp.exp(gauss_inv, out=gauss_inv)
    q = xp.add(t, _AS_B[3], out=e)  # Horner's rule on the monic polynomial
    for b in _AS_B[2::-1]:
        q *= t
        q += b
    q *= t
    q /= gauss_inv  # q = Phi(-|x|)
    if d is not None:
        xp.divide(x, gauss_inv, out=d)
        d *= _INV_SQRT_2PI  # x phi(x)
    cdf = xp.subtract(0.5, q, out=q)
    bits = xp.dtype(f"u{x.dtype.itemsize}")
    sign_bit = xp.bitwise_and(x.view(bits), bits.type(1 << (8 * x.dtype.itemsize - 1)), out=p.view(bits))
    cdf_bits = cdf.view(bits)
    xp.bitwise_xor(cdf_bits, sign_bit, out=cdf_bits)  # sign(x) (1/2 - Phi(-|x|))
    cdf += 0.5
    xp.multiply(x, cdf, out=y)
    if d is not None:
        d += cdf


class Gelu(Function):
    """y = x * Phi(x), Phi the standard normal CDF;  dx = dy * (Phi(x) + x * phi(x))"""

    # Forward computes the local derivative Phi + x phi alongside y (it shares Phi and the
    # Gaussian with it), so backward is one product. The 23 passes run block by block over
    # buffers that stay in the L2 cache (see _ERF_BLOCK): GELU runs on the widest activations
    # of a transformer (bench W5: 12 x 64 x 512), where each full-size pass is a trip to memory.
    def forward(ctx, x):
        flat = xp.ascontiguousarray(x).reshape(-1)
        y = xp.empty_like(flat)
        d = xp.empty_like(flat) if ctx.needs_input_grad[0] else None
        n = min(flat.size, _ERF_BLOCK)
        z, p, e = (xp.empty(n, dtype=flat.dtype) for _ in range(3))
        with np.errstate(over="ignore"):  # e^(x^2/2) overflows to inf past |x| ~ 13: meant
            for start in range(0, flat.size, _ERF_BLOCK):
                stop = min(start + _ERF_BLOCK, flat.size)
                m = stop - start
                _gelu_block(flat[start:stop], y[start:stop], None if d is None else d[start:stop],
                            z[:m], p[:m], e[:m])
        if d is not None:
            ctx.save(d.reshape(x.shape))
        return y.reshape(x.shape)

    def backward(ctx, dy):
        (d,) = ctx.saved
        return dy * d


class GeluTanh(Function):
    """y = x/2 (1 + tanh(u)) = x s, u = sqrt(2/pi)(x + 0.044715 x^3), s = sigmoid(2u);
    dx = dy * s (1 + 2 x (1 - s) du/dx),  du/dx = sqrt(2/pi)(1 + 3 * 0.044715 x^2)"""

    # Written with s = sigmoid(2u) = (1 + tanh u) / 2 rather than tanh: for x below about -4,
    # 1 + tanh u and 1 - tanh^2 u cancel to float32 noise (errors of 1e-6 on a true 1e-7),
    # while s keeps its tiny value exactly.

    def forward(ctx, x):
        s = _sigmoid_array(2 * _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        ctx.save(x, s)
        return x * s

    def backward(ctx, dy):
        x, s = ctx.saved
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
        return dy * s * (1.0 + 2.0 * x * (1.0 - s) * du)


class Silu(Function):
    """y = x * s, s = sigmoid(x);  dx = dy * s * (1 + x (1 - s))"""

    def forward(ctx, x):
        s = _sigmoid_array(x)  # 1 / (1 + e^-x) would overflow for very negative x
        ctx.save(x, s)
        return x * s

    def backward(ctx, dy):
        x, s = ctx.saved
        return dy * s * (1.0 + x * (1.0 - s))


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta (y = x where beta x > threshold);
    dx = dy * sigmoid(beta x) (1 above the threshold)"""

    def forward(ctx, x, beta, threshold):
        bx = beta * x
        linear = bx > threshold
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|) never overflows.
        y = xp.where(linear, x, (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta)
        ctx.save(bx, linear)
        return y.astype(x.dtype, copy=False)

    def backward(ctx, dy):
        bx, linear = ctx.saved
        return xp.where(linear, dy, dy * _sigmoid_array(bx))


class Hardtanh(Function):
    """y = clip(x, lo, hi);  dx = dy where lo < x < hi"""

    def forward(ctx, x, lo, hi):
        ctx.save((x > lo) & (x < hi))
        return xp.clip(x, lo, hi)

    def backward(ctx, dy):
        (inside,) = ctx.saved
        return dy * inside


def _float(input):
    return float_operand(to_tensor(input))


def erf(input):
    return Erf.apply(_float(input))


def relu(input, inplace=False):
    return Relu.apply(to_tensor(input))  # integers stay integers, as in PyTorch


def relu6(input, inplace=False):
    return Hardtanh.apply(_float(input), lo=0.0, hi=6.0)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return Hardtanh.apply(_float(input), lo=min_val, hi=max_val)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyRelu.apply(_float(input), negative_slope=negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return Elu.apply(_float(input), alpha=alpha)


def gelu(input, approximate="none"):
    """Gaussian error linear unit; approximate='tanh' gives the GPT-2 form."""
    if approximate == "none":
        return Gelu.apply(_float(input))
    if approximate == "tanh":
        return GeluTanh.apply(_float(input))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input, inplace=False):
    return Silu.apply(_float(input))


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(_float(input), beta=beta, threshold=threshold)


TENSOR_METHODS = ("erf", "relu")
