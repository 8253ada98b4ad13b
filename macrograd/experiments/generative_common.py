"""Pieces shared by the generative experiments (vae, gan, ddpm, generative-compare): images as
float arrays in [0, 1], the emoji as 32x32 RGB on white, a wall-clock budget, and image grids
drawn as they are (no per-image rescaling: a grey sample must look grey)."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np


# -- data -----------------------------------------------------------------------------------------
def mnist_images(name: str = "mnist", train: bool = True, subset: int = 0):
    """(images float32 (N, 1, 28, 28) in [0, 1], labels int64, source) of "mnist" or "fashion-mnist"."""
    from .common import read_images

    x, y, x_test, y_test, source = read_images(name)
    images, labels = (x, y) if train else (x_test, y_test)
    if subset:
        images, labels = images[:subset], labels[:subset]
    return (images.astype(np.float32) / 255.0)[:, None], np.asarray(labels, dtype=np.int64), source


def binarize(images, rng: np.random.Generator) -> np.ndarray:
    """Stochastic binarisation: each pixel is 1 with probability its grey value (as in the VAE
    literature's binarised MNIST); float32 of 0s and 1s."""
    return (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)


def emoji_images(size: int = 32, subset: int = 0):
    """(images float32 (N, 3, size, size) in [0, 1] on white, category ids int64, category names,
    names): the emoji of macrograd.data.emoji, shrunk by block averaging."""
    from ..data.emoji import load_emoji

    emoji = load_emoji()
    if subset:
        emoji = emoji.subset(np.arange(min(subset, len(emoji))))
    return emoji.rgb(size), emoji.labels, emoji.category_names, emoji.names


# -- time -----------------------------------------------------------------------------------------
class Deadline:
    """A wall-clock budget in minutes (0 = none): training stops at the first check past it."""

    def __init__(self, minutes: float):
        self.minutes = minutes
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def passed(self) -> bool:
        return self.minutes > 0 and self.elapsed() > 60 * self.minutes


# -- pictures -------------------------------------------------------------------------------------
def tile_images(images, columns: int, pad: int = 1, background: float = 1.0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*(H+pad)+pad, columns*(W+pad)+pad, C) mosaic."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), background, dtype=np.float32)
    for i in range(n):  # at most a few hundred small images
        r, col = divmod(i, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = \
            images[i].transpose(1, 2, 0)
    return canvas


def write_png(path, image) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 array as a PNG with zlib alone: sample grids need no
    matplotlib (importing and laying out a figure costs more than the whole smoke run)."""
    import struct
    import zlib

    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    h, w, c = image.shape
    color_type = {1: 0, 3: 2}[c]  # greyscale or RGB
    raw = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * c)], axis=1)  # filter 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))
    return path


def save_grid(images, path, columns: int = 10, zoom: int = 2, title: str = "") -> Path:
    """(N, C, H, W) images in [0, 1] as one PNG mosaic (grey on a mid-grey frame, RGB on white),
    each pixel drawn zoom x zoom. Rows and columns are described where the picture is shown
    (`title` is accepted for the record but not drawn)."""
    images = np.asarray(images, dtype=np.float32)
    canvas = tile_images(images, columns, background=0.5 if images.shape[1] == 1 else 1.0)
    canvas = canvas.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return write_png(path, np.round(canvas * 255).astype(np.uint8))


def plot_losses(records, keys, path, title: str = "", x_key: str = "step"):
    """Curves of `keys` (each a series in the JSON-lines records that carry it) against x_key."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        points = [(r[x_key], r[key]) for r in records if key in r and x_key in r]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=key, linewidth=1)
    ax.set_xlabel(x_key)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    return save(fig, path)
