"""Weight initialisation, in place and outside autograd, with PyTorch's names and formulas.

Every function fills `tensor` from macrograd's global generator (`mg.manual_seed` makes it
reproducible; `generator=` picks another) and returns it. The scale rules keep the variance of
activations (fan_in) or of gradients (fan_out) about constant from layer to layer:

    xavier (Glorot):  std = gain * sqrt(2 / (fan_in + fan_out))
    kaiming (He):     std = gain / sqrt(fan)
    uniform(-b, b) has std b / sqrt(3), so the uniform variants use b = sqrt(3) * std.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import autograd, backend

_LINEAR_GAIN_1 = (
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps activation variance after the nonlinearity: 1 (linear, conv,
    sigmoid), 5/3 (tanh), sqrt(2) (relu), sqrt(2 / (1 + slope^2)) (leaky_relu), 3/4 (selu)."""
    if nonlinearity in _LINEAR_GAIN_1:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # the value PyTorch chose for self-normalising networks
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """fan_in = in_features * receptive field, fan_out = out_features * receptive field, for a
    weight shaped (out, in, *kernel) as Linear and Conv store them."""
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tuple(tensor.shape)})"
        )
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write an array of draws into the tensor's own memory (no autograd, version bumped)."""
    with autograd.no_grad():
        tensor._data[...] = backend.to_device_array(np.asarray(values))
        tensor._bump_version()
    return tensor


def _no_elements(tensor, name: str) -> bool:
    if tensor.numel() == 0:
        warnings.warn(f"Initializing zero-element tensors is a no-op ({name})")
        return True
    return False


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, backend.rng_of(generator).uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with draws from N(mean, std^2)."""
    return _fill(tensor, backend.rng_of(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Fill with N(mean, std^2) conditioned on [a, b] (a and b are absolute bounds, not stds).

    Rejection sampling: draw normals and redraw only those outside [a, b]. It is exact, and
    fast whenever [a, b] holds a fair share of the mass (PyTorch's ViT default of
    mean 0, std 0.02, [-2, 2] accepts everything at once)."""
    if a >= b:
        raise ValueError(f"trunc_normal_: a must be less than b, got a={a}, b={b}")
    rng = backend.rng_of(generator)
    values = rng.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    for _ in range(1000):
        count = int(outside.sum())
        if count == 0:
            break
        redraw = rng.normal(mean, std, count)
        values[outside] = redraw
        outside[outside] = (redraw < a) | (redraw > b)
    # Only reached when [a, b] lies far out in a tail: keep the rare leftovers inside the bounds.
    return _fill(tensor, np.clip(values, a, b))


def constant_(tensor, val: float):
    """Fill with `val`."""
    return _fill(tensor, val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a 2-D tensor, zeros elsewhere)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor, groups: int = 1):
    """Conv weights (out, in, *k) that pass each input channel through unchanged (identity conv)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("dirac_: only tensors with 3, 4, or 5 dimensions are supported")
    out_per_group = tensor.shape[0] // groups
    if tensor.shape[0] % groups != 0:
        raise ValueError("dirac_: dim 0 must be divisible by groups")
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            values[(g * out_per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan) (He et al., 2015); `a` is leaky_relu's slope."""
    if _no_elements(tensor, "kaiming_uniform_"):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if _no_elements(tensor, "kaiming_normal_"):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """A (semi-)orthogonal matrix (Saxe et al., 2013): the Q of the QR decomposition of a
    Gaussian matrix, with column signs fixed by R's diagonal so that Q is uniformly distributed.
    Dimensions after the first are flattened; W W^T = gain^2 I when rows <= cols."""
    if tensor.ndim < 2:
        raise ValueError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = backend.rng_of(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """A 2-D matrix whose columns each have ceil(sparsity * rows) zeros, the rest N(0, std^2)."""
    if tensor.ndim != 2:
        raise ValueError("sparse_: only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    rng = backend.rng_of(generator)
    values = rng.normal(0.0, std, (rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0
    return _fill(tensor, values)


# PyTorch's deprecated spellings without the trailing underscore.
uniform = uniform_
normal = normal_
constant = constant_
xavier_uniform = xavier_uniform_
xavier_normal = xavier_normal_
kaiming_uniform = kaiming_uniform_
kaiming_normal = kaiming_normal_
orthogonal = orthogonal_
