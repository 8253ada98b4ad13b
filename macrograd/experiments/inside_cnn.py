"""cnn-inside: looking inside a trained LeNet-5 on real MNIST digits.

It draws the first-layer filters, the feature maps of one test digit and Grad-CAM heat maps,
then measures on real test digits what convolution and pooling do with a shift:

- equivariance: conv(shift(x)) == shift(conv(x)) for a stride-1 convolution, exactly (up to
  float rounding) at every position whose receptive field sees no border in either image;
  after 2x2 max-pooling it holds for even shifts only (shift k/2), not odd ones;
- invariance: how much each representation changes, ||f(shift x) - f(x)|| / ||f(x)||, for
  shifts of 1-4 pixels: the conv maps move with the digit (large change), each pooling stage
  shrinks the change, and global averaging over positions nearly removes it; the predictions
  barely change.

    macrograd run cnn-inside                                                   # trains a LeNet (3 epochs, no shifts)
    macrograd run cnn-inside --set checkpoint=runs/mnist-lenet/best.safetensors
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder
from .common import MNIST_CLASSES, load_images

DESCRIPTION = "LeNet-5 on MNIST from inside: filters, feature maps, Grad-CAM; shift equivariance and invariance measured"


@dataclass
class Config:
    checkpoint: str = ""  # LeNet-5 (ReLU, max-pool) weights to load; "" trains one here
    train_epochs: int = 3  # when training here
    augment: str = "none"  # when training here: "none" so any invariance comes from the architecture
    train_subset: int = 0  # when training here; 0 = all
    num_images: int = 1000  # test digits measured
    max_shift: int = 4
    num_gradcam: int = 16
    seed: int = 0


SMOKE = {"train_epochs": 1, "train_subset": 512, "num_images": 64, "num_gradcam": 8}

DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def shift(x, dy: int, dx: int, fill: float = 0.0):
    """Move the content of (..., H, W) images dy rows down and dx columns right; the uncovered
    border is `fill` (content pushed past the edge is lost)."""
    h, w = x.shape[-2:]
    out = np.full_like(x, fill)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def interior(size: int, shift_by: int, margin: int) -> np.ndarray:
    """Positions i of a 'same' conv output (kernel 2 * margin + 1) whose receptive field lies
    inside the image both at i (shifted image) and at i - shift_by (original)."""
    i = np.arange(size)
    return (i >= margin) & (i < size - margin) & (i - shift_by >= margin) & (i - shift_by < size - margin)


def relative_error(a, b) -> float:
    """||a - b|| / ||b|| (0 when both are 0)."""
    norm = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / norm if norm else float(np.linalg.norm(a))


def get_model(config: Config, run_folder: RunFolder):
    from ..io import load
    from ..models import lenet5
    from . import mnist_lenet

    model = lenet5(num_classes=10, in_channels=1, activation="relu", pool="max")
    if config.checkpoint:
        model.load_state_dict(load(config.checkpoint))
        return model, {"checkpoint": config.checkpoint}
    train_config = mnist_lenet.Config(epochs=config.train_epochs, augment=config.augment,
                                      train_subset=config.train_subset, seed=config.seed,
                                      val_size=5000 if not config.train_subset else 256,
                                      test_subset=0 if not config.train_subset else 256)
    summary = mnist_lenet.run(train_config, run_folder.file("lenet"))
    model.load_state_dict(load(run_folder.file("lenet") / "best.safetensors"))
    return model, {"trained_here": True, "lenet_test_acc": summary["test_acc"]}


def representations(model, x) -> dict:
    """Every representation measured, for images x (N, 1, 28, 28): arrays keyed by name."""
    from ..creation import tensor
    from ..viz.inside import feature_maps

    layers = {"conv1": model.conv1, "act1": model.act1, "pool1": model.pool1, "act2": model.act2,
              "pool2": model.pool2, "logits": model.fc3}
    maps = feature_maps(model, layers, tensor(np.ascontiguousarray(x)))
    maps["gap1"] = maps["act1"].mean(axis=(2, 3))  # global average of the conv1 maps
    maps["gap2"] = maps["act2"].mean(axis=(2, 3))  # global average of the conv2 maps
    return maps


def equivariance(model, x, background: float, max_shift: int) -> list[dict]:
    """conv1 and conv1-relu-pool1 of shifted digits against shifted maps of the originals."""
    margin = model.conv1.kernel_size[0] // 2
    base = representations(model, x)
    rows = []
    for k in range(1, max_shift + 1):
        for direction, (uy, ux) in DIRECTIONS.items():
            dy, dx = k * uy, k * ux
            moved = representations(model, shift(x, dy, dx, background))
            expected = shift(base["conv1"], dy, dx)
            mask = interior(28, dy, margin)[:, None] & interior(28, dx, margin)[None, :]
            row = {"shift": k, "direction": direction,
                   "conv1_interior": relative_error(moved["conv1"][..., mask], expected[..., mask]),
                   "conv1_whole_map": relative_error(moved["conv1"], expected),
                   "interior_fraction": float(mask.mean())}
            # pool1 (stride 2): compare with the original maps moved by k // 2 pooled pixels;
            # a pooled pixel is comparable when both conv rows/columns under it are interior
            pmask = (mask[0::2, 0::2] & mask[1::2, 1::2] & mask[0::2, 1::2] & mask[1::2, 0::2])
            pooled_expected = shift(base["pool1"], dy // 2 if dy > 0 else -((-dy) // 2),
                                    dx // 2 if dx > 0 else -((-dx) // 2))
            row["pool1_interior"] = relative_error(moved["pool1"][..., pmask], pooled_expected[..., pmask])
            rows.append(row)
    return rows


def invariance(model, x, y, background: float, max_shift: int) -> list[dict]:
    """Relative change of each representation, prediction agreement and accuracy, per shift
    (averaged over the four directions)."""
    names = ("conv1", "pool1", "pool2", "gap1", "gap2", "logits")
    base = representations(model, x)
    base_pred = base["logits"].argmax(axis=1)
    rows = []
    for k in range(0, max_shift + 1):
        changes = {n: [] for n in names}
        agree, acc = [], []
        for uy, ux in (DIRECTIONS.values() if k else [(0, 0)]):
            moved = representations(model, shift(x, k * uy, k * ux, background))
            for n in names:
                changes[n].append(relative_error(moved[n], base[n]))
            pred = moved["logits"].argmax(axis=1)
            agree.append(float((pred == base_pred).mean()))
            acc.append(float((pred == y).mean()))
        row = {"shift": k}
        row.update({n: float(np.mean(v)) for n, v in changes.items()})
        row["same_prediction"] = float(np.mean(agree))
        row["accuracy"] = float(np.mean(acc))
        rows.append(row)
    return rows


def plot_shifts(equi_rows, inv_rows, path):
    """Left: relative change of each representation against the shift; right: the predictions."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    shifts = sorted({r["shift"] for r in equi_rows})
    for key, label in (("conv1_interior", "conv1, interior"), ("conv1_whole_map", "conv1, whole map"),
                       ("pool1_interior", "pool1 vs shift k//2, interior")):
        ax1.plot(shifts, [np.mean([r[key] for r in equi_rows if r["shift"] == s]) for s in shifts], "o-", label=label)
    ax1.set_title("equivariance: ||f(shift x) - shift f(x)|| / ||shift f(x)||", fontsize=9)
    ax1.set_xlabel("shift (pixels)")
    ax1.legend(fontsize=8)
    ax1.grid(True, alpha=0.3)
    k = [r["shift"] for r in inv_rows]
    for key, label in (("conv1", "conv1 maps"), ("pool1", "after pool1"), ("pool2", "after pool2"),
                       ("gap1", "global avg of conv1"), ("gap2", "global avg of conv2"), ("logits", "logits")):
        ax2.plot(k, [r[key] for r in inv_rows], "o-", label=label)
    ax2.set_title("invariance: ||f(shift x) - f(x)|| / ||f(x)||", fontsize=9)
    ax2.set_xlabel("shift (pixels)")
    ax2.legend(fontsize=8)
    ax2.grid(True, alpha=0.3)
    ax3.plot(k, [100 * r["same_prediction"] for r in inv_rows], "o-", label="same prediction as unshifted")
    ax3.plot(k, [100 * r["accuracy"] for r in inv_rows], "s-", label="accuracy")
    ax3.set_title("predictions of shifted digits (%)", fontsize=9)
    ax3.set_xlabel("shift (pixels)")
    ax3.legend(fontsize=8)
    ax3.grid(True, alpha=0.3)
    return save(fig, path)


def tables(equi_rows, inv_rows) -> str:
    """The two Markdown tables (equivariance averaged over the four directions)."""
    lines = ["Equivariance (mean over right/left/down/up shifts of real test digits):", "",
             "| shift (px) | conv1: interior rel. error | conv1: whole map | pool1 vs shift k//2: interior |",
             "| ---: | ---: | ---: | ---: |"]
    for s in sorted({r["shift"] for r in equi_rows}):
        rs = [r for r in equi_rows if r["shift"] == s]
        lines.append(f"| {s} | {np.mean([r['conv1_interior'] for r in rs]):.2e} | "
                     f"{np.mean([r['conv1_whole_map'] for r in rs]):.3f} | {np.mean([r['pool1_interior'] for r in rs]):.3f} |")
    lines += ["", "Invariance: relative change ||f(shift x) - f(x)|| / ||f(x)|| (mean over the four directions):", "",
              "| shift (px) | conv1 maps | after pool1 | after pool2 | global avg conv1 | global avg conv2 | logits | same prediction | accuracy |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in inv_rows:
        lines.append(f"| {r['shift']} | {r['conv1']:.3f} | {r['pool1']:.3f} | {r['pool2']:.3f} | {r['gap1']:.3f} | "
                     f"{r['gap2']:.3f} | {r['logits']:.3f} | {100 * r['same_prediction']:.1f}% | {100 * r['accuracy']:.2f}% |")
    return "\n".join(lines) + "\n"


def run(config: Config, out, resume: bool = False) -> dict:
    from ..creation import tensor
    from ..viz.inside import feature_maps, grad_cam, plot_feature_maps, plot_filters, plot_grad_cam

    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)
    model, origin = get_model(config, run_folder)
    model.eval()

    # the same split and standardisation as mnist-lenet (mean and std of its training images)
    images = load_images("mnist", val_size=5000, test_subset=config.num_images, seed=config.seed)
    x = images.x_test.reshape(-1, 1, 28, 28)
    y = images.y_test
    background = float(x.min())  # a black pixel, standardised: the fill of a shifted digit

    plot_filters(model.conv1.weight, run_folder.file("filters.png"), title="LeNet-5 conv1 filters (5x5)")
    maps = feature_maps(model, {"conv1": model.act1, "pool1": model.pool1, "conv2": model.act2}, tensor(x[:1]))
    plot_feature_maps(x[0], {k: v[0] for k, v in maps.items()}, run_folder.file("feature_maps.png"),
                      title=f"feature maps of a test digit (label {y[0]})")
    n = min(config.num_gradcam, len(x))
    cams, classes, _ = grad_cam(model, model.conv2, tensor(np.ascontiguousarray(x[:n])))
    captions = [f"{MNIST_CLASSES[t]}→{MNIST_CLASSES[p]}" for t, p in zip(y[:n], classes)]
    plot_grad_cam(x[:n, 0], cams, run_folder.file("gradcam.png"), captions,
                  title="Grad-CAM at conv2 for the predicted class (true→predicted)")

    equi = equivariance(model, x, background, config.max_shift)
    inv = invariance(model, x, y, background, config.max_shift)
    plot_shifts(equi, inv, run_folder.file("shifts.png"))
    run_folder.write_text("results.md", tables(equi, inv))
    summary = {
        **origin,
        "images": len(x),
        "conv1_interior_max_rel_error": max(r["conv1_interior"] for r in equi),
        "pool1_even_shift_max_rel_error": max(r["pool1_interior"] for r in equi if r["shift"] % 2 == 0),
        "pool1_odd_shift_min_rel_error": min((r["pool1_interior"] for r in equi if r["shift"] % 2), default=None),
        "equivariance": equi,
        "invariance": inv,
        "data": images.source,
    }
    run_folder.write_json("summary.json", summary)
    print(tables(equi, inv))
    return summary
