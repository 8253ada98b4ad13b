"""A grid of images with a caption under each, e.g. misclassified digits: "7→1".

The images are tiled into one array and drawn with a single imshow (one axes, not one per
image), which keeps a 32-image grid fast to draw."""
from __future__ import annotations

import math

import numpy as np

from ._figure import pyplot, save


def tile(images, columns: int, pad: int = 2) -> np.ndarray:
    """(N, H, W) images -> one (rows*(H+pad), columns*(W+pad)) mosaic, each image scaled to [0, 1]."""
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    scaled = (images - low) / np.maximum(high - low, 1e-12)
    canvas = np.ones((rows * (h + pad), columns * (w + pad)), dtype=np.float32)
    for i, image in enumerate(scaled):  # one copy per image (at most a few dozen)
        r, c = divmod(i, columns)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = image
    return canvas


def plot_image_grid(images, captions, path, columns: int = 8, title: str = ""):
    """images: (N, H, W) or (N, H*W) square grey images; captions: N strings."""
    plt = pyplot()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:  # flattened rows back to squares
        side = int(round(math.sqrt(images.shape[1])))
        images = images.reshape(len(images), side, side)
    if len(images) == 0:
        images = np.zeros((1, 28, 28), dtype=np.float32)
        captions = ["(none)"]
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    h, w = images.shape[1:]
    fig, ax = plt.subplots(figsize=(1.2 * columns, 1.35 * rows + 0.5))
    ax.imshow(tile(images, columns), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for i, caption in enumerate(captions):
        r, c = divmod(i, columns)
        ax.text(c * (w + 2) + w / 2, r * (h + 2) + h + 0.3, caption, ha="center", va="top", fontsize=7, color="tab:red")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save(fig, path)
