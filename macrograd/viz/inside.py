"""Looking inside a CNN: first-layer filters, feature maps for one input, and Grad-CAM heat maps.

    plot_filters(model.conv1.weight, "filters.png")
    maps = feature_maps(model, {"conv1": model.conv1, "conv2": model.conv2}, images)
    cams, classes, logits = grad_cam(model, model.conv2, images)
    plot_grad_cam(images[:, 0], cams, "gradcam.png", captions=[...])

Everything is captured with the PyTorch hook API: a module forward hook records a layer's
output, and a tensor hook on that output records the gradient flowing back into it. Works on
macrograd's modules and on torch's alike (the tests run the same code on both).
"""
from __future__ import annotations

import math

import numpy as np

from ._figure import pyplot, save


def _numpy(x):
    x = x.detach() if hasattr(x, "detach") else x
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _library(model):
    """The package of the model's parameters (macrograd or torch), for no_grad/enable_grad."""
    import importlib

    for p in model.parameters():
        return importlib.import_module(type(p).__module__.split(".")[0])
    import macrograd

    return macrograd


# -- filters --------------------------------------------------------------------------------------
def plot_filters(weight, path, title: str = "first-layer filters", columns: int = 8):
    """Each output channel's kernel (weight of shape (out, in, kh, kw)) as a small image on a
    blue-white-red scale shared by all filters (white = 0), one panel per output channel; with
    several input channels, their mean (a first layer on RGB shows its colour-blind part)."""
    plt = pyplot()
    w = _numpy(weight).astype(np.float32)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a conv weight (out, in, kh, kw), got shape {w.shape}")
    kernels = w.mean(axis=1) if w.shape[1] > 1 else w[:, 0]
    n = len(kernels)
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    limit = float(np.abs(kernels).max()) or 1.0
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(kernels[i], cmap="bwr", vmin=-limit, vmax=limit)
            ax.set_title(f"{i}", fontsize=8)
    fig.suptitle(title + ("" if w.shape[1] == 1 else " (mean over input channels)"), fontsize=10)
    return save(fig, path)


# -- feature maps ---------------------------------------------------------------------------------
def feature_maps(model, layers, x) -> dict:
    """{name: output array} of each module in `layers` (a dict name -> module) for input x,
    recorded by forward hooks in one eval-mode pass without grad (the model's mode is restored)."""
    lib = _library(model)
    captured = {}
    handles = [module.register_forward_hook(
        lambda mod, args, out, name=name: captured.__setitem__(name, _numpy(out).copy()))
        for name, module in layers.items()]
    was_training = model.training
    model.eval()
    try:
        with lib.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return captured


def plot_feature_maps(image, maps: dict, path, title: str = "feature maps", max_channels: int = 16):
    """The input image, then one row per layer with up to max_channels of its (C, H, W) maps
    (each on its own grey scale)."""
    plt = pyplot()
    image = _numpy(image)
    image = image[0] if image.ndim == 3 else image
    columns = max(min(max_channels, max(m.shape[0] for m in maps.values())), 1)
    fig, axes = plt.subplots(len(maps) + 1, columns, figsize=(1.1 * columns, 1.25 * (len(maps) + 1) + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(image, cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, m) in enumerate(maps.items(), start=1):
        m = _numpy(m)
        if m.ndim != 3:
            raise ValueError(f"plot_feature_maps: {name}: expected (C, H, W) maps of one image, got shape {m.shape}")
        for c in range(min(columns, m.shape[0])):
            axes[row, c].imshow(m[c], cmap="viridis")
            axes[row, c].set_title(f"{name}[{c}]", fontsize=6)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


# -- Grad-CAM -------------------------------------------------------------------------------------
def grad_cam(model, layer, x, target=None):
    """Grad-CAM (Selvaraju et al. 2017) at `layer`'s output A (N, K, h, w) for input x (N, C, H, W):

        alpha_k = mean_ij d score_c / d A_kij;   cam = relu(sum_k alpha_k A_k), resized to H x W

    and scaled so each image's maximum is 1. target: class per image (int or sequence), the
    predicted class if None. Returns (cams (N, H, W), classes (N,), logits (N, classes)) as
    arrays. Runs in eval mode; parameter gradients are cleared afterwards (set to None)."""
    lib = _library(model)
    store = {}

    def keep_grad(grad):
        store["grad"] = _numpy(grad).copy()

    def hook(module, args, output):
        store["act"] = output
        output.register_hook(keep_grad)

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with lib.enable_grad():
            logits = model(x)
            if "act" not in store:
                raise ValueError("grad_cam: the layer was not called by the model's forward")
            n, num_classes = logits.shape
            predicted = _numpy(logits).argmax(axis=1)
            classes = predicted if target is None else np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
            one_hot = np.zeros((n, num_classes), dtype=np.float32)
            one_hot[np.arange(n), classes] = 1.0
            # d(sum_i score_i,c_i)/dA: each image's gradient is that of its own class score
            (logits * lib.tensor(one_hot)).sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    if "grad" not in store:
        raise ValueError("grad_cam: no gradient reached the layer (is its output used by the logits?)")
    act = _numpy(store["act"])
    alpha = store["grad"].mean(axis=(2, 3), keepdims=True)
    cam = np.maximum((alpha * act).sum(axis=1), 0).astype(np.float32)  # (N, h, w)
    cam = _resize(cam, x.shape[-2:])
    peak = cam.max(axis=(1, 2), keepdims=True)
    cam = np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0).astype(np.float32)
    return cam, np.asarray(classes), _numpy(logits)


def _resize(maps, size):
    """(N, h, w) -> (N, H, W) bilinear (align_corners=False), as F.interpolate."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    from ..ops.upsample import interpolate

    return interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False).numpy()[:, 0]


def plot_grad_cam(images, cams, path, captions=None, title: str = "Grad-CAM", columns: int = 8):
    """Each grey image (N, H, W) with its heat map (N, H, W in [0, 1]) laid over it in 'jet'."""
    plt = pyplot()
    images, cams = _numpy(images), _numpy(cams)
    if images.ndim == 4:
        images = images[:, 0]
    if images.shape != cams.shape:
        raise ValueError(f"plot_grad_cam: images {images.shape} and cams {cams.shape} must have the same shape")
    n = len(images)
    columns = max(min(columns, n), 1)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.55 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray")
            ax.imshow(cams[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if captions is not None:
                ax.set_title(captions[i], fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
