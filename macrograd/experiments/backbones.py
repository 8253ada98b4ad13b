"""backbones: the classic CNN families side by side on Fashion-MNIST - MLP, LeNet-5, AlexNet,
VGG-11, GoogLeNet (Inception), ResNet-18, DenseNet-BC and a MobileNet-style net (EfficientNet's
MBConv blocks: MobileNetV2's inverted residuals with squeeze-excitation) - each trained the same
way for the same number of epochs, then measured: parameters, multiply-accumulates per image,
training seconds per epoch, inference latency (batch 1 and 256) and test accuracy, with an
accuracy-versus-compute plot.

    macrograd run backbones                                   # the 2-core CPU study (see below)
    macrograd run backbones --set nets=resnet18,vgg11 --set epochs=15 --set train_subset=0

Widths are scaled for a 2-core CPU (every net's width is in NETS and in the table): at the
papers' widths one epoch of ResNet-18 on 55,000 images takes hours in NumPy on two cores.
The default budget (a subset of the training images, a few epochs) is what fits about an hour
on a shared 2-core machine; the full study is `--set train_subset=0 --set epochs=15`, with
random crop + flip (`augment=crop+flip`), the setting in which a small ResNet reaches ~93-94%.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder
from .common import load_images, loaders, make_optimizer, make_schedule, train_classifier

DESCRIPTION = ("MLP, LeNet, AlexNet, VGG, Inception, ResNet, DenseNet, MobileNet on Fashion-MNIST: "
               "params, MACs, time, latency, accuracy; accuracy-vs-compute plot")

# name -> (label, registry name (or a class), builder options at the width used here). All take 1x28x28.
NETS = {
    "mlp": ("MLP 784-256-128-10", "mlp", {"hidden_sizes": (256, 128)}),
    "lenet5": ("LeNet-5 (ReLU, max-pool)", "lenet5", {"activation": "relu"}),
    "alexnet": ("AlexNet (channels 16-32-48-32-32, fc 128)", "alexnet",
                {"channels": (16, 32, 48, 32, 32), "hidden": 128}),
    "vgg11": ("VGG-11-BN (width x0.125, fc 64)", "vgg11", {"batch_norm": True, "width_mult": 0.125, "hidden": 64}),
    "googlenet": ("GoogLeNet (width x0.125)", "googlenet", {"width_mult": 0.125}),
    "resnet18": ("ResNet-18 (base width 8, 3x3 stem)", "resnet18", {"small_input": True, "base_width": 8}),
    # twice as wide (4x the MACs): the full-budget candidate for the 93% goal
    "resnet18_w16": ("ResNet-18 (base width 16, 3x3 stem)", "resnet18", {"small_input": True, "base_width": 16}),
    "resnet20": ("ResNet-20 (widths 8-16-32)", "resnet20", {"widths": (8, 16, 32)}),
    "densenet_bc40": ("DenseNet-BC-40 (growth 6)", "densenet_bc40", {"growth_rate": 6}),
    # DenseNet-BC with 3 bottleneck layers per block (L = 6 * 3 + 4 = 22): the 2-core stand-in
    "densenet_bc22": ("DenseNet-BC-22 (3 blocks of 3 layers, growth 6)", "DenseNet",
                      {"growth_rate": 6, "block_config": (3, 3, 3), "num_init_features": 12, "bn_size": 4,
                       "compression": 0.5, "small_input": True}),
    "mobilenet_v2": ("MobileNetV2 (width x0.25)", "mobilenet_v2", {"width_mult": 0.25}),
    "efficientnet_small": ("EfficientNet-small (MBConv+SE, width x0.25)", "efficientnet_small", {"width_mult": 0.25}),
}
AUGMENTS = ("none", "flip", "crop+flip")


@dataclass
class Config:
    nets: tuple[str, ...] = ("mlp", "lenet5", "alexnet", "vgg11", "googlenet", "resnet18", "densenet_bc22",
                             "efficientnet_small")
    epochs: int = 3
    train_subset: int = 4000  # training images per epoch (0 = all 55,000 after the validation split)
    test_subset: int = 2000  # test images scored (0 = all 10,000)
    val_size: int = 5000  # held out of the training set (unused in training: fixed epochs, no selection)
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    augment: str = "none"  # "none", "flip" or "crop+flip" (pad 2, random 28x28 crop, horizontal flip)
    latency_repeats: int = 10  # timed forward passes at batch 1 (batch 256: a third as many, at least 1)
    log_every: int = 10
    seed: int = 0


SMOKE = {"nets": ("mlp", "lenet5"), "epochs": 1, "train_subset": 128, "test_subset": 128, "val_size": 64,
         "batch_size": 64, "augment": "crop+flip", "latency_repeats": 2, "log_every": 1}


def build(name: str):
    from .. import models

    if name not in NETS:
        raise ValueError(f"backbones: unknown net {name!r}; valid: {', '.join(NETS)}")
    _, builder, options = NETS[name]
    if builder == "DenseNet":  # a depth the registry has no builder for: the class itself
        return models.DenseNet(num_classes=10, in_channels=1, **options)
    return models.get_model(builder, num_classes=10, in_channels=1, **options)


def train_transform(augment: str, background: float):
    """The batch augmentation for `augment` on standardised images (padding with the
    standardised value of a black pixel, so a shifted image looks like a real one)."""
    from ..data import transforms as T

    if augment not in AUGMENTS:
        raise ValueError(f"backbones: augment must be one of {AUGMENTS}, got {augment!r}")
    if augment == "none":
        return None
    steps = [T.RandomHorizontalFlip()]
    if augment == "crop+flip":
        steps.insert(0, T.RandomCrop(28, padding=2, fill=background))
    return T.Compose(steps)


def latency(model, batch: int, repeats: int) -> float:
    """Median seconds of one eval-mode forward pass on a batch of `batch` images (after one warm-up)."""
    from .. import no_grad, randn

    model.eval()
    x = randn(batch, 1, 28, 28)
    times = []
    with no_grad():
        model(x)
        for _ in range(max(repeats, 1)):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_one(name: str, config: Config, images, out, resume: bool) -> dict:
    """Train net `name` for config.epochs, then measure it; results in out/<name>/result.json."""
    from .. import models
    from ..data.augment import AugmentedLoader
    from ..nn import CrossEntropyLoss
    from ..train import evaluate

    folder = RunFolder(out)
    if resume and folder.file("result.json").exists():
        return folder.read_json("result.json")
    backend.manual_seed(config.seed)
    model = build(name)
    train_loader, _, test_loader = loaders(images, config.batch_size, config.seed, eval_batch_size=500)
    transform = train_transform(config.augment, float(images.x_train.min()))
    if transform is not None:
        train_loader = AugmentedLoader(train_loader, transform)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler, interval = make_schedule(config.schedule, optimizer, config.epochs, len(train_loader))
    # no validation loader: every net trains a fixed number of epochs and the final weights are
    # scored once on the test set, so time_s per epoch is training time only
    resume = resume and folder.checkpoint_path.exists()  # a net never started begins afresh
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, None,
                                        epochs=config.epochs, run=folder, resume=resume,
                                        log_every=config.log_every)
    test = evaluate(model, test_loader, CrossEntropyLoss())
    epoch_seconds = [h["time_s"] for h in history if "time_s" in h]
    per_epoch = float(np.mean(epoch_seconds)) if epoch_seconds else seconds / max(len(history), 1)
    result = {
        "net": name,
        "label": NETS[name][0],
        "params": models.count_parameters(model),
        "macs": models.flops(model, (1, 1, 28, 28)),
        "train_images": len(images.x_train),
        "epochs": len(history),
        "train_s_per_epoch": round(per_epoch, 2),
        "train_images_per_s": round(len(images.x_train) / per_epoch, 1),
        "latency_b1_ms": round(1e3 * latency(model, 1, config.latency_repeats), 3),
        "latency_b256_ms": round(1e3 * latency(model, 256, max(config.latency_repeats // 3, 1)), 2),
        "final_train_loss": history[-1]["train_loss"],
        "final_train_acc": history[-1].get("train_acc"),
        "test_loss": test["loss"],
        "test_acc": test["acc"],
    }
    folder.write_json("result.json", result)
    return result


def as_images(images):
    """Flat (N, 784) rows -> (N, 1, 28, 28) images (views, no copy)."""
    return dataclasses.replace(images, x_train=images.x_train.reshape(-1, 1, 28, 28),
                               x_val=images.x_val.reshape(-1, 1, 28, 28),
                               x_test=images.x_test.reshape(-1, 1, 28, 28))


def table(results, config: Config) -> str:
    """The Markdown results table (one row per net, best accuracy first)."""
    lines = [
        f"Fashion-MNIST, {results[0]['train_images']:,} training images x {config.epochs} epochs, "
        f"{config.optimizer} lr {config.lr} ({config.schedule}), batch {config.batch_size}, augment {config.augment}; "
        f"test accuracy on {config.test_subset or 10000:,} test images. Widths scaled for a 2-core CPU.",
        "",
        "| net | params | MMACs / image | train s / epoch | images / s | latency b=1 (ms) | latency b=256 (ms) | test acc |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results, key=lambda r: -r["test_acc"]):
        lines.append(f"| {r['label']} | {r['params']:,} | {r['macs'] / 1e6:.2f} | {r['train_s_per_epoch']:.1f} | "
                     f"{r['train_images_per_s']:.0f} | {r['latency_b1_ms']:.2f} | {r['latency_b256_ms']:.1f} | "
                     f"{100 * r['test_acc']:.2f}% |")
    return "\n".join(lines) + "\n"


def plot_accuracy_vs_compute(results, path, title=""):
    """Test accuracy against MACs per image (log scale), one labelled point per net; the marker
    area shows the parameter count."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    macs = np.array([r["macs"] for r in results], dtype=np.float64)
    acc = np.array([100 * r["test_acc"] for r in results])
    params = np.array([r["params"] for r in results], dtype=np.float64)
    ax.scatter(macs, acc, s=20 + 200 * np.sqrt(params / params.max()), alpha=0.6)
    for r, x, y in zip(results, macs, acc):
        ax.annotate(r["net"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ticks = [t for t in (1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9)
             if macs.min() / 1.5 <= t <= macs.max() * 1.5]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:g}M"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # log-scale minor labels overlap
    ax.set_xlabel("multiply-accumulates per image")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "accuracy vs compute (marker area ~ parameters)")
    ax.grid(True, alpha=0.3)
    return save(fig, path)


def run(config: Config, out, resume: bool = False) -> dict:
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    for name in config.nets:
        if name not in NETS:
            raise ValueError(f"backbones: unknown net {name!r}; valid: {', '.join(NETS)}")
    train_transform(config.augment, 0.0)  # a bad augment name fails before any training

    images = as_images(load_images("fashion-mnist", config.train_subset, config.val_size, config.test_subset,
                                   config.seed))
    print(images.describe())
    results = []
    start = time.perf_counter()
    for name in config.nets:
        print(f"== {name}: {NETS[name][0]}", flush=True)
        result = run_one(name, config, images, run_folder.file(name), resume)
        print(json.dumps({k: result[k] for k in ("net", "params", "macs", "train_s_per_epoch", "test_acc")}),
              flush=True)
        results.append(result)
        # rewrite the table after every net, so a long study shows its progress
        run_folder.write_text("results.md", table(results, config))
    plot_accuracy_vs_compute(results, run_folder.file("accuracy_vs_compute.png"),
                             title=f"Fashion-MNIST: accuracy vs compute ({config.epochs} epochs on "
                                   f"{len(images.x_train):,} images)")
    best = max(results, key=lambda r: r["test_acc"])
    summary = {
        "best_net": best["net"],
        "best_test_acc": best["test_acc"],
        "results": results,
        "seconds": round(time.perf_counter() - start, 1),
        "data": images.source,
    }
    run_folder.write_json("summary.json", summary)
    return summary
