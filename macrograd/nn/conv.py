"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d, holding weight (and bias) Parameters
with PyTorch's shapes, init, state_dict keys and repr; the work is in `F.conv*`.

Weight shapes: Conv (out_channels, in_channels / groups, *kernel_size),
ConvTranspose (in_channels, out_channels / groups, *kernel_size).
PyTorch's default init: W ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * prod(kernel_size).
"""
from __future__ import annotations

import math

from .. import creation
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n):
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) != 1 or n == 1 else tuple(value) * n
    return (value,) * n


class _ConvNd(Module):
    """What Conv1d/Conv2d/ConvTranspose2d share: argument checks, parameters, init and repr."""

    _spatial = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._spatial
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels must be divisible by groups (got {in_channels} and {groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels must be divisible by groups (got {out_channels} and {groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.dilation = _ntuple(dilation, n)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of "
                                 f"{{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n)
        self.output_padding = _ntuple(output_padding, n)
        self.transposed = self._transposed
        self.groups, self.padding_mode = groups, padding_mode
        # F.pad's order (last dim first, before/after) for padding modes other than 'zeros'
        if padding == "valid":
            pads = (0,) * (2 * n)
        elif padding == "same":
            pads = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
        else:
            pads = [p for p in reversed(self.padding) for _ in range(2)]
        self._reversed_padding_repeated_twice = tuple(pads)
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input):
        n = self._spatial
        if input.ndim not in (n + 1, n + 2) or input.shape[-n - 1] != self.in_channels:
            dims = ("L",) if n == 1 else ("H", "W")
            raise RuntimeError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, {', '.join(dims)}) or "
                f"({self.in_channels}, {', '.join(dims)}), i.e. {n + 2}D (or {n + 1}D unbatched) with "
                f"{self.in_channels} channels, got input of shape {tuple(input.shape)}")

    def _padded(self, input):
        """Input padded by padding_mode (not 'zeros'), and the padding left for the conv itself."""
        if self.padding_mode == "zeros":
            return input, self.padding
        return F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """y = conv1d(x, W) + b over input (N, C_in, L) (or unbatched (C_in, L))."""

    _spatial = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input):
        self._check_input(input)
        input, padding = self._padded(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """y = conv2d(x, W) + b over input (N, C_in, H, W) (or unbatched (C_in, H, W))."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input):
        self._check_input(input)
        input, padding = self._padded(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """y = conv_transpose2d(x, W) + b: the adjoint of Conv2d, upsampling by stride;
    output size (H - 1) s - 2p + d (k - 1) + output_padding + 1."""

    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, dtype=dtype)

    def _output_padding(self, input, output_size):
        """output_padding, or the one that makes the output `output_size` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        output_size = list(output_size)[-2:]
        result = []
        for d in range(2):
            smallest = ((input.shape[d - 2] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(f"{self!r}: requested an output size of {output_size}, but valid sizes "
                                 f"range from {smallest} to {largest} (for an input of {tuple(input.shape)})")
            result.append(output_size[d] - smallest)
        return tuple(result)

    def forward(self, input, output_size=None):
        self._check_input(input)
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
