"""A grid of images with a caption under each, e.g. misclassified digits: "7→1" (grey images,
each scaled to its own range) or labelled photos (RGB images in [0, 1], drawn as they are).

The images are tiled into one array and drawn with a single imshow (one axes, not one per
image), which keeps a 32-image grid fast to draw."""
from __future__ import annotations

import math

import numpy as np

from ._figure import pyplot, save


def tile(images, columns: int, pad: int = 2, caption_room: int = 0) -> np.ndarray:
    """(N, H, W) images -> one (rows*(H+caption_room+pad), columns*(W+pad)) mosaic on a zero
    background, each image scaled to [0, 1]. (N, H, W, 3) colour images keep their values
    (clipped to [0, 1]) and lie on a white background."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / columns)
    colour = images.ndim == 4
    if colour:  # rescaling each picture on its own would change its colours
        scaled, background = np.clip(images, 0, 1), 1.0
    else:
        low = images.min(axis=(1, 2), keepdims=True)
        high = images.max(axis=(1, 2), keepdims=True)
        scaled, background = (images - low) / np.maximum(high - low, 1e-12), 0.0
    cell_h, cell_w = h + caption_room + pad, w + pad
    canvas = np.full((rows * cell_h, columns * cell_w) + images.shape[3:], background, dtype=np.float32)
    for i, image in enumerate(scaled):  # one copy per image (at most a few dozen)
        r, c = divmod(i, columns)
        canvas[r * cell_h: r * cell_h + h, c * cell_w: c * cell_w + w] = image
    return canvas


def plot_image_grid(images, captions, path, columns: int = 8, title: str = ""):
    """images: (N, H, W) or (N, H*W) square grey images, or (N, 3, H, W) RGB images in [0, 1];
    captions: N strings."""
    plt = pyplot()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[1] == 3:  # channels last, as imshow wants them
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 2:  # flattened rows back to squares
        side = int(round(math.sqrt(images.shape[1])))
        images = images.reshape(len(images), side, side)
    if len(images) == 0:
        images = np.zeros((1, 28, 28), dtype=np.float32)
        captions = ["(none)"]
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    h, w = images.shape[1:3]
    fig, ax = plt.subplots(figsize=(1.3 * columns, 1.6 * rows + 0.5))
    room = h // 3  # space under each image for its caption
    ax.imshow(tile(images, columns, pad=3, caption_room=room), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for i, caption in enumerate(captions):
        r, c = divmod(i, columns)
        ax.text(c * (w + 3) + w / 2, r * (h + room + 3) + h + 0.5, caption, ha="center", va="top", fontsize=7)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save(fig, path)
