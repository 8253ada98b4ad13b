"""A grid of images with a caption under each, e.g. misclassified digits: "7 → 1"."""
from __future__ import annotations

import math

import numpy as np

from ._figure import pyplot, save


def plot_image_grid(images, captions, path, columns: int = 8, title: str = ""):
    """images: (N, H, W) or (N, H*W) square grey images; captions: N strings."""
    plt = pyplot()
    images = np.asarray(images)
    if images.ndim == 2:  # flattened rows back to squares
        side = int(round(math.sqrt(images.shape[1])))
        images = images.reshape(len(images), side, side)
    n = max(len(images), 1)
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, caption in zip(axes.ravel(), images, captions):
        ax.imshow(image, cmap="gray")
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, path)
