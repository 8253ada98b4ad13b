"""Image transforms on NumPy arrays (torchvision.transforms without PIL).

Images are (C, H, W) float32 arrays, or (H, W) / (H, W, C) uint8 arrays before `ToTensor`.
Each transform is called on one sample, `t(image)`, and also has `t.apply_batch(images)` that
transforms a whole (N, C, H, W) batch at once, vectorised, with independent randomness per
image (a random crop is one strided gather, a flip one masked copy). Random transforms draw
from macrograd's global RNG, so `mg.manual_seed` makes a run repeatable.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend


class Compose:
    """Apply `transforms` one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    @property
    def batchable(self) -> bool:
        return all(getattr(t, "batchable", False) for t in self.transforms)

    def apply_batch(self, x):
        for t in self.transforms:
            if not getattr(t, "batchable", False):
                raise TypeError(f"Compose.apply_batch: {type(t).__name__} has no batched form")
            x = t.apply_batch(x)
        return x

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Transform:
    """Base class: `__call__` for one image, `apply_batch` for a batch (dim 0 = images)."""

    batchable = True

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class ToTensor(Transform):
    """uint8 (H, W) or (H, W, C) in [0, 255] -> float32 (C, H, W) in [0, 1]:  x / 255.

    Other dtypes are only moved to channels-first, not rescaled (as torchvision). The result is
    a NumPy array; the DataLoader turns batches into Tensors."""

    def __call__(self, pic):
        pic = np.asarray(pic)
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2 or 3 dimensional (H, W[, C]), got shape {pic.shape}")
        chw = pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1)
        return _to_unit_float(chw)

    def apply_batch(self, pics):
        pics = np.asarray(pics)
        if pics.ndim not in (3, 4):
            raise ValueError(f"ToTensor.apply_batch: pics should be (N, H, W[, C]), got shape {pics.shape}")
        nchw = pics[:, None] if pics.ndim == 3 else pics.transpose(0, 3, 1, 2)
        return _to_unit_float(nchw)


def _to_unit_float(x):
    if x.dtype == np.uint8:
        return np.divide(x, np.float32(255), dtype=np.float32)  # x / 255, bit for bit as torch
    return np.ascontiguousarray(x)


class Normalize(Transform):
    """Per channel c:  y[c] = (x[c] - mean[c]) / std[c]  on float (C, H, W) images."""

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(np.atleast_1d(np.asarray(mean, dtype=np.float64)).tolist())
        self.std = tuple(np.atleast_1d(np.asarray(std, dtype=np.float64)).tolist())
        self.inplace = inplace
        if any(s == 0 for s in self.std):
            raise ValueError(
                f"Normalize: std evaluated to zero ({self.std}), leading to division by zero"
            )

    def __call__(self, x):
        return self._normalize(x, channel_axis=0)

    def apply_batch(self, x):
        return self._normalize(x, channel_axis=1)

    def _normalize(self, x, channel_axis):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: input should be a float array (use ToTensor first), got {x.dtype}")
        if x.ndim < channel_axis + 3:
            raise ValueError(
                f"Normalize: expected images with {channel_axis + 3} dims ({'N, ' * channel_axis}C, H, W), "
                f"got shape {x.shape}"
            )
        channels = x.shape[channel_axis]
        if len(self.mean) not in (1, channels) or len(self.std) not in (1, channels):
            raise ValueError(
                f"Normalize: mean ({len(self.mean)} values) and std ({len(self.std)} values) must "
                f"have 1 or C={channels} values for input of shape {x.shape}"
            )
        shape = (-1,) + (1,) * (x.ndim - channel_axis - 1)  # (C, 1, 1): broadcast over H, W
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(shape)
        std = np.asarray(self.std, dtype=x.dtype).reshape(shape)
        if self.inplace:
            x -= mean
            x /= std
            return x
        return (x - mean) / std


def _pad_amounts(padding):
    """torchvision's padding forms: p, (left/right, top/bottom), (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return (padding[0], padding[1], padding[0], padding[1])
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int or a 1, 2 or 4 element tuple, got {padding}")


def _pad(x, left, top, right, bottom, fill, padding_mode):
    """Pad the last two dims (H, W) of x."""
    if not any((left, top, right, bottom)):
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=fill)
    return np.pad(x, width, mode=padding_mode)


class RandomCrop(Transform):
    """Pad (optionally), then cut a random size[0] x size[1] window out of the last two dims."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode should be constant, edge, reflect or symmetric, got {padding_mode!r}")
        self.padding_mode = padding_mode

    def _padded(self, x):
        if self.padding is not None:
            x = _pad(x, *_pad_amounts(self.padding), self.fill, self.padding_mode)
        th, tw = self.size
        h, w = x.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dw, dh = max(tw - w, 0), max(th - h, 0)
            x = _pad(x, dw, dh, dw, dh, self.fill, self.padding_mode)
        h, w = x.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {self.size} is larger than input image size {(h, w)}")
        return x

    def __call__(self, x):
        x = self._padded(np.asarray(x))
        th, tw = self.size
        h, w = x.shape[-2:]
        rng = backend.rng()
        top = int(rng.integers(0, h - th + 1))
        left = int(rng.integers(0, w - tw + 1))
        return x[..., top : top + th, left : left + tw]

    def apply_batch(self, x):
        x = self._padded(np.asarray(x))
        th, tw = self.size
        n, h, w = x.shape[0], *x.shape[-2:]
        rng = backend.rng()
        tops = rng.integers(0, h - th + 1, size=n)
        lefts = rng.integers(0, w - tw + 1, size=n)
        # Every th x tw window as a strided view (no copy), then one gather picks image i's window.
        windows = np.lib.stride_tricks.sliding_window_view(x, (th, tw), axis=(-2, -1))
        picked = windows[(np.arange(n),) + (slice(None),) * (x.ndim - 3) + (tops, lefts)]
        # Advanced indices split by slices put the indexed dim first: (N, ..., th, tw) already.
        return picked


class RandomHorizontalFlip(Transform):
    """Mirror left-right (the last dim) with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x):
        x = np.asarray(x)
        return x[..., ::-1] if backend.rng().random() < self.p else x

    def apply_batch(self, x):
        x = np.asarray(x)
        flip = backend.rng().random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out


class RandomVerticalFlip(Transform):
    """Mirror top-bottom (dim -2) with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x):
        x = np.asarray(x)
        return x[..., ::-1, :] if backend.rng().random() < self.p else x

    def apply_batch(self, x):
        x = np.asarray(x)
        flip = backend.rng().random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1, :]
        return out


class Lambda(Transform):
    """Apply a user function. `batched=True` says it also works on whole batches as is."""

    def __init__(self, lambd, batched=False):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd
        self.batchable = batched

    def __call__(self, x):
        return self.lambd(x)

    def apply_batch(self, x):
        if not self.batchable:
            raise TypeError("Lambda.apply_batch: made without batched=True")
        return self.lambd(x)
