"""Normalization layers: LayerNorm (per sample, over the trailing dims), BatchNorm (per
channel, over the batch, with running statistics for evaluation), InstanceNorm (per channel of
each sample) and GroupNorm (per group of channels of each sample)."""
from __future__ import annotations

import numbers

from .. import autograd, creation
from ..backend import int64
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _register_affine(module, shape, affine: bool, bias: bool, dtype) -> None:
    """The learnable scale (`weight`, init 1) and shift (`bias`, init 0) of a norm layer, or None."""
    module.register_parameter("weight", Parameter(creation.empty(*shape, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(creation.empty(*shape, dtype=dtype)) if affine and bias else None)
    _reset_affine(module)


def _reset_affine(module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class LayerNorm(Module):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, the statistics taken over the last
    len(normalized_shape) dims of each sample (biased variance)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        n = len(self.normalized_shape)
        if input.ndim < n or tuple(input.shape[input.ndim - n:]) != self.normalized_shape:
            expected = ", ".join(str(d) for d in self.normalized_shape)
            raise RuntimeError(
                f"LayerNorm({self.normalized_shape}): expected input with shape (*, {expected}), "
                f"got shape {tuple(input.shape)}"
            )
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class _NormBase(Module):
    """What BatchNorm and InstanceNorm share: per-channel weight and bias, and (optionally) the
    running_mean / running_var / num_batches_tracked buffers."""

    _expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(creation.empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with autograd.no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1).

    Training: mean and var of the batch (over every dim but 1); the running estimates are
    updated as running = (1 - momentum) * running + momentum * batch_stat (unbiased var), or as
    a cumulative average when momentum is None. Eval: the running estimates are used."""

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._expected_dims or input.shape[1] != self.num_features:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected {dims} input with {self.num_features} "
                f"channels in dim 1, got shape {tuple(input.shape)}"
            )

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with autograd.no_grad():
                self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # Batch statistics in training, or in eval when no running statistics are kept.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # The buffers are passed when they are to be updated (training and tracked) or used (eval).
        pass_buffers = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if pass_buffers else None,
            self.running_var if pass_buffers else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs."""

    _expected_dims = (4,)


class BatchNorm3d(_BatchNorm):
    """BatchNorm over (N, C, D, H, W) inputs."""

    _expected_dims = (5,)


class _InstanceNorm(_NormBase):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, the statistics of each channel of each
    sample taken over its spatial dims. By default no affine parameters and no running stats;
    with track_running_stats, eval mode uses the running averages instead."""

    _no_batch_dims: int = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input):
        batched = self._no_batch_dims + 1
        if input.ndim not in (self._no_batch_dims, batched):
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected {self._no_batch_dims}D or {batched}D input, "
                f"got shape {tuple(input.shape)}"
            )
        channel_dim = input.ndim - self._no_batch_dims
        if input.shape[channel_dim] != self.num_features and self.affine:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected {self.num_features} channels in dim "
                f"{channel_dim}, got shape {tuple(input.shape)}"
            )
        unbatched = input.ndim == self._no_batch_dims
        if unbatched:
            input = input.unsqueeze(0)
        output = F.instance_norm(
            input, self.running_mean, self.running_var, self.weight, self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0, self.eps,
        )
        return output.squeeze(0) if unbatched else output


class InstanceNorm1d(_InstanceNorm):
    """InstanceNorm over (N, C, L) or (C, L) inputs."""

    _no_batch_dims = 2


class InstanceNorm2d(_InstanceNorm):
    """InstanceNorm over (N, C, H, W) or (C, H, W) inputs."""

    _no_batch_dims = 3


class InstanceNorm3d(_InstanceNorm):
    """InstanceNorm over (N, C, D, H, W) or (C, D, H, W) inputs."""

    _no_batch_dims = 4


class GroupNorm(Module):
    """Split the C channels into num_groups groups; normalise each group of each sample over its
    channels and spatial dims, then scale and shift per channel (weight, bias of shape (C,))."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                f"(N, {self.num_channels}, *), got shape {tuple(input.shape)}"
            )
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
