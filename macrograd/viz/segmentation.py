"""Segmentation results drawn: one column per example with four rows - the input image, the true
label map, the predicted label map, and the errors (the image dimmed to grey, red where the
prediction is wrong) - and a legend of the class colours."""
from __future__ import annotations

import numpy as np

from ._figure import pyplot, save


def class_colours(num_classes: int) -> np.ndarray:
    """(num_classes, 3) RGB in [0, 1]: black for class 0 (background), then tab10 (tab20 past 10)."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if num_classes <= 11 else "tab20")
    colours = [(0.0, 0.0, 0.0)] + [cmap(i % cmap.N)[:3] for i in range(num_classes - 1)]
    return np.array(colours, dtype=np.float32)


def _as_rgb(images) -> np.ndarray:
    """(N, 1 or 3, H, W) in [0, 1] -> (N, H, W, 3)."""
    images = np.asarray(images, dtype=np.float32)
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return np.clip(images.transpose(0, 2, 3, 1), 0.0, 1.0)


def plot_segmentation(images, true_masks, pred_masks, path, class_names, captions=None, title: str = ""):
    """images (N, 1 or 3, H, W) in [0, 1]; true_masks and pred_masks (N, H, W) class indices;
    class_names[0] is the background. Writes one PNG with N columns and four rows."""
    plt = pyplot()
    true_masks, pred_masks = np.asarray(true_masks), np.asarray(pred_masks)
    colours = class_colours(len(class_names))
    rgb = _as_rgb(images)
    grey = rgb.mean(axis=-1, keepdims=True) * 0.5 + 0.25  # dimmed, so the red errors stand out
    wrong = (true_masks != pred_masks)[..., None]
    errors = np.where(wrong, np.array([1.0, 0.1, 0.1], dtype=np.float32), grey)
    rows = {"image": rgb, "true": colours[true_masks], "predicted": colours[pred_masks], "errors": errors}

    n = len(rgb)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.25 * n + 0.9, 1.3 * len(rows) + 0.9), squeeze=False)
    for r, (name, pictures) in enumerate(rows.items()):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(pictures[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name)
            if r == 0 and captions is not None:
                ax.set_title(captions[i], fontsize=8)
    present = np.union1d(np.unique(true_masks), np.unique(pred_masks))
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[c], label=class_names[c]) for c in present]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 11), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save(fig, path, tight=False)
