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


def _mosaic(images, columns: int, pad: int = 1, fill=np.nan):
    """(N, H, W) -> one (rows*(H+pad), columns*(W+pad)) canvas (NaN gaps draw as background),
    so a whole grid is a single imshow: one axes instead of N is what keeps these plots fast."""
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + pad), columns * (w + pad)), fill, dtype=np.float32)
    for i, image in enumerate(images):  # one copy per panel (a few dozen at most)
        r, c = divmod(i, columns)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = image
    return canvas


def _unit(images):
    """Scale each (H, W) image of a stack to [0, 1] on its own."""
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-12)


# -- filters --------------------------------------------------------------------------------------
def plot_filters(weight, path, title: str = "first-layer filters", columns: int = 8):
    """Each output channel's kernel (weight of shape (out, in, kh, kw)) as a small image on a
    blue-white-red scale shared by all filters (white = 0); with several input channels, their
    mean (a first layer on RGB shows its colour-blind part)."""
    plt = pyplot()
    w = _numpy(weight).astype(np.float32)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a conv weight (out, in, kh, kw), got shape {w.shape}")
    kernels = w.mean(axis=1) if w.shape[1] > 1 else w[:, 0]
    columns = min(columns, len(kernels))
    limit = float(np.abs(kernels).max()) or 1.0
    canvas = _mosaic(kernels, columns)
    fig, ax = plt.subplots(figsize=(1.0 + 1.1 * columns, 0.8 + 1.1 * math.ceil(len(kernels) / columns)))
    # the gaps between filters grey, so a white (zero) weight stays visible
    cmap = plt.get_cmap("bwr").with_extremes(bad="0.75")
    image = ax.imshow(canvas, cmap=cmap, vmin=-limit, vmax=limit)
    ax.axis("off")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title + ("" if w.shape[1] == 1 else " (mean over input channels)"), fontsize=10)
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
    """The input image, then one mosaic per layer with up to max_channels of its (C, H, W) maps
    (each map on its own scale, so weak channels stay visible)."""
    plt = pyplot()
    image = _numpy(image)
    image = image[0] if image.ndim == 3 else image
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.2 + 3.6 * len(maps), 3.0),
                             gridspec_kw={"width_ratios": [1] + [2] * len(maps)})
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    for ax, (name, m) in zip(axes[1:], maps.items()):
        m = _numpy(m)
        if m.ndim != 3:
            raise ValueError(f"plot_feature_maps: {name}: expected (C, H, W) maps of one image, got shape {m.shape}")
        m = m[:max_channels]
        columns = math.ceil(math.sqrt(len(m) * 2))  # about twice as wide as tall
        ax.imshow(_mosaic(_unit(m), columns), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{name}: {len(m)} of {m.shape[0]} channels, {m.shape[1]}x{m.shape[2]}", fontsize=9)
    for ax in axes:
        ax.axis("off")
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
    """Each grey image (N, H, W) with its heat map (N, H, W in [0, 1]) laid over it in 'jet',
    captions under the images; one mosaic, one axes."""
    plt = pyplot()
    images, cams = _numpy(images), _numpy(cams)
    if images.ndim == 4:
        images = images[:, 0]
    if images.shape != cams.shape:
        raise ValueError(f"plot_grad_cam: images {images.shape} and cams {cams.shape} must have the same shape")
    n, h, w = images.shape
    columns = max(min(columns, n), 1)
    rows = math.ceil(n / columns)
    pad = 8 if captions is not None else 1  # room for a caption under each image
    fig, ax = plt.subplots(figsize=(1.2 * columns, 1.35 * rows + 0.5))
    ax.imshow(_mosaic(_unit(images), columns, pad, fill=0.0), cmap="gray")
    ax.imshow(_mosaic(cams, columns, pad), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    if captions is not None:
        for i, caption in enumerate(captions):
            r, c = divmod(i, columns)
            ax.text(c * (w + pad) + w / 2, r * (h + pad) + h + pad / 2, caption, ha="center", va="center",
                    fontsize=7, color="white")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return save(fig, path)
