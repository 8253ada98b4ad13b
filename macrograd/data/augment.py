"""Data augmentation beyond transforms.py: RandomResizedCrop, ColorJitter, and a loader wrapper
that augments whole batches.

Like transforms.py, each transform works on one (C, H, W) float image, `t(image)`, and on a
whole (N, C, H, W) batch, `t.apply_batch(images)`, vectorised with independent randomness per
image. Randomness comes from macrograd's global RNG, so `mg.manual_seed(s)` repeats a run, and
transforms compose with `transforms.Compose`:

    from macrograd.data import transforms as T, augment as A
    train_tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(),
                          A.ColorJitter(brightness=0.1, contrast=0.1), T.Normalize(0.286, 0.353)])
    loader = A.AugmentedLoader(DataLoader(dataset, batch_size=128, shuffle=True), train_tf)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from .transforms import Transform


# -- RandomResizedCrop ----------------------------------------------------------------------------
def _pair(size, name):
    if isinstance(size, numbers.Integral):
        return (int(size), int(size))
    size = tuple(size)
    if len(size) == 1:
        return (int(size[0]),) * 2
    if len(size) != 2:
        raise ValueError(f"{name}: size should be an int or a (h, w) pair, got {size}")
    return tuple(int(s) for s in size)


def resized_crop(x, top, left, height, width, size):
    """Cut boxes (top, left, height, width) out of the (N, C, H, W) batch x (one box per image,
    each an int array of N) and resize each to `size` = (h, w) bilinearly, with
    F.interpolate(mode="bilinear", align_corners=False)'s sampling grid:

        src = (dst + 0.5) * crop / out - 0.5, clamped at 0;  y = lerp of the 2 x 2 neighbours
    """
    out_h, out_w = size
    n = x.shape[0]

    def grid(start, extent, out):
        # (N, out) source coordinates inside each crop, then shifted into the full image
        scale = (extent / out).astype(np.float32)[:, None]
        src = np.maximum((np.arange(out, dtype=np.float32)[None] + 0.5) * scale - 0.5, 0)
        lo = np.floor(src).astype(np.int64)
        lo = np.minimum(lo, (extent - 1)[:, None])
        hi = np.minimum(lo + 1, (extent - 1)[:, None])
        frac = (src - lo).astype(x.dtype)
        return lo + start[:, None], hi + start[:, None], frac

    y0, y1, fy = grid(np.asarray(top), np.asarray(height), out_h)
    x0, x1, fx = grid(np.asarray(left), np.asarray(width), out_w)
    rows = np.arange(n)[:, None, None]

    def pick(ys, xs):  # (N, out_h, out_w, C) by one gather per corner
        return x[rows, :, ys[:, :, None], xs[:, None, :]]

    fy, fx = fy[:, :, None, None], fx[:, None, :, None]
    top_row = pick(y0, x0) * (1 - fx) + pick(y0, x1) * fx
    bottom_row = pick(y1, x0) * (1 - fx) + pick(y1, x1) * fx
    out = top_row * (1 - fy) + bottom_row * fy
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class RandomResizedCrop(Transform):
    """Crop a random box covering `scale` of the area with aspect ratio in `ratio` (log-uniform),
    then resize it to `size` (torchvision's RandomResizedCrop, bilinear, without antialias).

    The box is found as torchvision does: up to 10 tries of (area, log-ratio) drawn at random;
    if none fits, the whole image clipped to the ratio range, centred."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
        self.size = _pair(size, "RandomResizedCrop")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"RandomResizedCrop: scale and ratio should be (min, max), got scale={scale}, ratio={ratio}")
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)

    def get_params(self, height, width, n):
        """(top, left, h, w) int arrays of n boxes inside a height x width image."""
        rng = backend.rng()
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        tries = 10
        # all tries of all images at once: (n, tries)
        target = area * rng.uniform(self.scale[0], self.scale[1], size=(n, tries))
        aspect = np.exp(rng.uniform(log_ratio[0], log_ratio[1], size=(n, tries)))
        w = np.round(np.sqrt(target * aspect)).astype(np.int64)
        h = np.round(np.sqrt(target / aspect)).astype(np.int64)
        ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
        first = ok.argmax(axis=1)  # the first try that fits (0 where none does: masked below)
        found = ok.any(axis=1)
        h, w = h[np.arange(n), first], w[np.arange(n), first]
        # fallback: the central crop of the whole image at the nearest allowed ratio
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fh, fw = height, int(round(height * self.ratio[1]))
        else:
            fw, fh = width, height
        h, w = np.where(found, h, fh), np.where(found, w, fw)
        # uniform position: floor(u * (room + 1)) is an integer in [0, room]
        top = np.floor(rng.random(n) * (height - h + 1)).astype(np.int64)
        left = np.floor(rng.random(n) * (width - w + 1)).astype(np.int64)
        top = np.where(found, top, (height - h) // 2)
        left = np.where(found, left, (width - w) // 2)
        return top, left, h, w

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"RandomResizedCrop: expected a (C, H, W) image, got shape {x.shape}")
        return self.apply_batch(x[None])[0]

    def apply_batch(self, x):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"RandomResizedCrop.apply_batch: expected (N, C, H, W) images, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"RandomResizedCrop: input should be a float array (use ToTensor first), got {x.dtype}")
        boxes = self.get_params(x.shape[-2], x.shape[-1], x.shape[0])
        return resized_crop(x, *boxes, self.size)


# -- ColorJitter ----------------------------------------------------------------------------------
def _factor_range(value, name, center=1.0, bound=(0.0, float("inf"))):
    """torchvision's forms: v -> [max(0, 1 - v), 1 + v]; (lo, hi) as given; 0 or None -> off."""
    if value is None:
        return None
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} should be non-negative, got {value}")
        value = (max(center - value, bound[0]), center + value)
    value = tuple(float(v) for v in value)
    if len(value) != 2 or not bound[0] <= value[0] <= value[1] <= bound[1]:
        raise ValueError(f"ColorJitter: {name} values should be between {bound}, got {value}")
    return None if value == (center, center) else value


def _grayscale(x):
    """ITU-R 601 luma of (N, 3, H, W) images (N, 1, H, W); grey images are their own luma."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (0.2989 * r + 0.587 * g + 0.114 * b).astype(x.dtype)  # torchvision's weights


class ColorJitter(Transform):
    """Random brightness, contrast and saturation on float images in [0, 1], each factor f drawn
    uniformly from its range per image, applied in this fixed order (torchvision shuffles the
    order; hue is not offered):

        brightness:  y = clip(f x)
        contrast:    y = clip(f x + (1 - f) mean(gray(x)))
        saturation:  y = clip(f x + (1 - f) gray(x))        (a no-op on one-channel images)
    """

    def __init__(self, brightness=0, contrast=0, saturation=0):
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"ColorJitter: expected a (C, H, W) image, got shape {x.shape}")
        return self.apply_batch(x[None])[0]

    def apply_batch(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"ColorJitter.apply_batch: expected (N, 1 or 3, H, W) images, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"ColorJitter: input should be a float array in [0, 1] (use ToTensor first), got {x.dtype}")
        rng = backend.rng()
        n = x.shape[0]

        def factors(bounds):
            return rng.uniform(bounds[0], bounds[1], size=(n, 1, 1, 1)).astype(x.dtype)

        if self.brightness is not None:
            x = np.clip(x * factors(self.brightness), 0, 1)
        if self.contrast is not None:
            mean = _grayscale(x).mean(axis=(1, 2, 3), keepdims=True)
            f = factors(self.contrast)
            x = np.clip(f * x + (1 - f) * mean, 0, 1)
        if self.saturation is not None and x.shape[1] == 3:
            f = factors(self.saturation)
            x = np.clip(f * x + (1 - f) * _grayscale(x), 0, 1)
        return x


# -- augmenting a loader --------------------------------------------------------------------------
class AugmentedLoader:
    """Wrap a DataLoader of (images, labels) Tensor batches: every batch's images go through
    `transform.apply_batch` (one vectorised call, fresh randomness per image) before the model
    sees them. Everything else (len, dataset, generator for checkpoints) is the wrapped loader's.

    `image_shape` reshapes flat rows (N, 784) to images (N, 1, 28, 28) first, for datasets kept
    flat; the augmented batch keeps the image shape."""

    def __init__(self, loader, transform, image_shape=None):
        if not getattr(transform, "batchable", False):
            raise TypeError(f"AugmentedLoader: {type(transform).__name__} has no batched form (apply_batch)")
        self.loader = loader
        self.transform = transform
        self.image_shape = tuple(image_shape) if image_shape is not None else None

    def __iter__(self):
        from ..creation import tensor

        for inputs, targets in self.loader:
            images = inputs.numpy()
            if self.image_shape is not None:
                images = images.reshape((len(images),) + self.image_shape)
            yield tensor(np.ascontiguousarray(self.transform.apply_batch(images))), targets

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):  # dataset, batch_size, generator, ...: the wrapped loader's
        return getattr(self.loader, name)
