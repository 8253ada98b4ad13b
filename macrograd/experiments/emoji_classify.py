"""emoji-classify: which of 10 categories (Smileys & Emotion, People & Body, Flags, Food & Drink,
...) a colour emoji belongs to, with a small ResNet trained from scratch, with and without
augmentation (random crop with padding, horizontal flip, small colour jitter).

What it shows:
- accuracy alone flatters an imbalanced task: People & Body is 60% of the images, so always
  answering it scores ~59% on the test set; the balanced (mean per-class) accuracy
  (1/K) sum_k TP_k / N_k is what tells a classifier from the majority vote;
- what augmentation buys on ~2,800 training images (each setting trains from scratch on the
  same split, for the same number of steps);
- an honest split: `Emoji.split` keeps every skin-tone variant of an emoji on one side (half the
  set are recoloured twins), for the test set and for the validation set taken out of training.

    macrograd run emoji-classify                                    # both settings (12 min on a shared core)
    macrograd run emoji-classify --set augment=crop+flip+jitter     # only the augmented model
    macrograd run emoji-classify --set size=64 --set augment=none   # full resolution (3x slower)

Input size: 32 pixels by default. Measured on one core (batch 64, forward + backward + Adam), the
ResNet-20 at widths 8-16-32 takes 0.24 s a step at 32 pixels and 0.76 s at 64, i.e. ~10 s versus
~32 s per epoch of 2,772 images: at 64 pixels one model for 15 epochs would use the whole
10-minute budget, at 32 both settings fit. The images are shrunk by averaging 2x2 blocks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder
from .common import ImageData, loaders, make_optimizer, make_schedule, train_classifier

DESCRIPTION = ("emoji category (10 classes, imbalanced) with a small ResNet, with vs without augmentation: "
               "accuracy and balanced accuracy, confusion matrix, labelled test grid")
AUGMENTS = ("none", "flip", "crop+flip", "crop+flip+jitter")
NETS = ("resnet20", "efficientnet_small", "lenet5")
SIZES = (16, 32, 64)  # divisors of 64 (the images are shrunk by block averaging)


@dataclass
class Config:
    size: int = 32  # input side: 16, 32 or 64 (see the module docstring for why 32)
    # each setting trains a model from scratch on the same split; the first is the headline
    augment: tuple[str, ...] = ("crop+flip+jitter", "none")
    net: str = "resnet20"  # "resnet20" (CIFAR ResNet, widths w-2w-4w), "efficientnet_small", "lenet5" (size <= 32)
    width: int = 8  # resnet20's first-stage width (16 is the paper's); efficientnet_small: width_mult = width / 32
    epochs: int = 15
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 2e-3  # the one-cycle peak
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    test_fraction: float = 0.15  # of the emoji groups (skin-tone variants stay together)
    val_fraction: float = 0.15  # of the training groups, for choosing the best epoch
    jitter: float = 0.1  # ColorJitter brightness, contrast and saturation range (1 +- jitter)
    max_images: int = 0  # > 0: a seeded random subset of the set (smoke tests)
    grid_per_class: int = 4  # test images per category in the labelled grid
    log_every: int = 10
    seed: int = 0


SMOKE = {"size": 16, "width": 4, "epochs": 1, "max_images": 400, "batch_size": 32, "log_every": 1,
         "grid_per_class": 2}


def check(config: Config) -> None:
    """Fail at once, naming the option, on a value the run cannot use."""
    if not config.augment:
        raise ValueError("emoji-classify: augment must name at least one setting")
    for name in config.augment:
        if name not in AUGMENTS:
            raise ValueError(f"emoji-classify: augment must be among {AUGMENTS}, got {name!r}")
    if len(set(config.augment)) != len(config.augment):
        raise ValueError(f"emoji-classify: augment lists a setting twice: {config.augment}")
    if config.size not in SIZES:
        raise ValueError(f"emoji-classify: size must be one of {SIZES}, got {config.size}")
    if config.net not in NETS:
        raise ValueError(f"emoji-classify: net must be one of {NETS}, got {config.net!r}")
    if config.net == "lenet5" and config.size > 32:
        raise ValueError(f"emoji-classify: net lenet5 takes size <= 32, got size {config.size}")
    for option in ("test_fraction", "val_fraction"):
        if not 0.0 < getattr(config, option) < 1.0:
            raise ValueError(f"emoji-classify: {option} must be in (0, 1), got {getattr(config, option)}")
    if config.width < 1 or config.epochs < 1 or config.batch_size < 1:
        raise ValueError("emoji-classify: width, epochs and batch_size must be positive, got "
                         f"{config.width}, {config.epochs}, {config.batch_size}")


def build(config: Config, num_classes: int):
    from .. import models

    if config.net == "resnet20":
        w = config.width
        return models.resnet20(num_classes, in_channels=3, widths=(w, 2 * w, 4 * w))
    if config.net == "efficientnet_small":
        return models.efficientnet_small(num_classes, in_channels=3, width_mult=config.width / 32)
    return models.lenet5(num_classes, in_channels=3, image_size=config.size, activation="relu")


# -- data -----------------------------------------------------------------------------------------
@dataclass
class EmojiData:
    """The three splits as float32 (N, 3, size, size) images in [0, 1] (not yet normalised) with
    int64 category labels, the indices into the set, and the per-channel statistics of the
    training images that Normalize uses."""

    images: ImageData
    test_index: np.ndarray  # into the (possibly subsampled) set, for pictures and names
    category_names: list[str]
    mean: tuple
    std: tuple


def load_splits(config: Config) -> EmojiData:
    """Train / validation / test by emoji group: test_fraction of the groups held out for the
    test, then val_fraction of the remaining groups for choosing the best epoch."""
    from ..data import load_emoji

    emoji = load_emoji()
    if config.max_images and config.max_images < len(emoji):
        pick = np.random.default_rng(config.seed).choice(len(emoji), config.max_images, replace=False)
        emoji = emoji.subset(np.sort(pick))
    rgb = emoji.rgb(config.size)
    train_index, test_index = emoji.split(config.test_fraction, config.seed)
    # the validation split is a split of the training emoji by the same rule (indices into them)
    fit_part, val_part = emoji.subset(train_index).split(config.val_fraction, config.seed + 1)
    fit_index, val_index = train_index[fit_part], train_index[val_part]
    x_fit = rgb[fit_index]
    mean = tuple(float(m) for m in x_fit.mean(axis=(0, 2, 3)))
    std = tuple(float(s) for s in x_fit.std(axis=(0, 2, 3)))
    images = ImageData(x_fit, emoji.labels[fit_index], rgb[val_index], emoji.labels[val_index],
                       rgb[test_index], emoji.labels[test_index],
                       source=f"Noto emoji at {config.size}x{config.size}, split by emoji group")
    return EmojiData(images, test_index, emoji.category_names, mean, std)


def train_transform(augment: str, size: int, jitter: float, normalize):
    """The batch pipeline for the training images (in [0, 1]): the augmentation of `augment`,
    then `normalize`. The crop pads with white (1.0), the emoji's own background, so a shifted
    emoji looks like a real one; the padding is size / 8 pixels (4 at 32)."""
    from ..data import augment as A, transforms as T

    if augment not in AUGMENTS:
        raise ValueError(f"emoji-classify: augment must be among {AUGMENTS}, got {augment!r}")
    steps = []
    if "crop" in augment:
        steps.append(T.RandomCrop(size, padding=max(size // 8, 1), fill=1.0))
    if "flip" in augment:
        steps.append(T.RandomHorizontalFlip())
    if "jitter" in augment:
        steps.append(A.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    return T.Compose(steps + [normalize])


# -- metrics --------------------------------------------------------------------------------------
def per_class_recall(matrix) -> np.ndarray:
    """TP_k / N_k for each true class k (the row of confusion matrix C); NaN where N_k = 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def balanced_accuracy(matrix) -> float:
    """Mean per-class recall over the classes present in the targets: (1/K) sum_k TP_k / N_k.
    A constant prediction scores 1/K however imbalanced the classes are."""
    recall = per_class_recall(matrix)
    return float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan")


def grid_indices(labels, per_class: int, seed: int) -> np.ndarray:
    """Up to `per_class` test positions of each class (a seeded draw), grouped by class."""
    rng = np.random.default_rng(seed)
    picked = []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        picked.extend(rng.permutation(members)[:per_class])
    return np.array(picked, dtype=np.int64)


def short_name(category: str) -> str:
    """'Smileys & Emotion' -> 'Smileys': room for two names under a 32-pixel picture."""
    return category.split(" ")[0]


# -- one model ------------------------------------------------------------------------------------
def run_one(augment: str, config: Config, data: EmojiData, out, resume: bool) -> dict:
    """Train one model with the augmentation `augment`, then test it: result.json, curves,
    confusion matrix and labelled test grid in `out`. A finished setting is read back on resume."""
    from ..data import transforms as T
    from ..data.augment import AugmentedLoader
    from ..io import load
    from ..models import count_parameters
    from ..nn import CrossEntropyLoss
    from ..train import evaluate, predict, read_jsonl
    from ..train.metrics import confusion_matrix
    from ..viz import plot_confusion_matrix, plot_image_grid, plot_training_curves

    folder = RunFolder(out)
    if resume and folder.file("result.json").exists():
        return folder.read_json("result.json")
    backend.manual_seed(config.seed)
    images, names = data.images, data.category_names
    normalize = T.Normalize(data.mean, data.std)
    # val and test are normalised once; the training batches go through the pipeline each step
    held_out = ImageData(images.x_train, images.y_train, normalize.apply_batch(images.x_val), images.y_val,
                         normalize.apply_batch(images.x_test), images.y_test, images.source)
    train_loader, val_loader, test_loader = loaders(held_out, config.batch_size, config.seed, eval_batch_size=256)
    train_loader = AugmentedLoader(train_loader, train_transform(augment, config.size, config.jitter, normalize))

    model = build(config, len(names))
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler, interval = make_schedule(config.schedule, optimizer, config.epochs, len(train_loader))
    resume = resume and folder.checkpoint_path.exists()
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader,
                                        epochs=config.epochs, run=folder, resume=resume, log_every=config.log_every)
    model.load_state_dict(load(folder.best_path))  # the best-validation epoch
    best = max(history, key=lambda h: h["val_acc"])

    test = evaluate(model, test_loader, CrossEntropyLoss())
    logits, targets = predict(model, test_loader)
    predictions = logits.argmax(axis=1)
    matrix = confusion_matrix(predictions, targets, len(names))
    recall = per_class_recall(matrix)
    balanced = balanced_accuracy(matrix)
    title = f"augment={augment}"
    plot_training_curves(read_jsonl(folder.metrics_path), folder.file("curves.png"), title=f"emoji, {title}")
    plot_confusion_matrix(matrix, folder.file("confusion_matrix.png"), names,
                          title=f"{title}: accuracy {test['acc']:.3f}, balanced {balanced:.3f}")
    shown = grid_indices(targets, config.grid_per_class, config.seed)
    captions = [short_name(names[targets[i]]) if predictions[i] == targets[i]
                else f"{short_name(names[targets[i]])}→{short_name(names[predictions[i]])}" for i in shown]
    plot_image_grid(images.x_test[shown], captions, folder.file("test_grid.png"),
                    columns=2 * config.grid_per_class,
                    title=f"test emoji by true category ({title}): one name = right, true→predicted = wrong")
    result = {
        "augment": augment,
        "params": count_parameters(model),
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "final_train_acc": history[-1]["train_acc"],
        "test_loss": test["loss"],
        "test_acc": test["acc"],
        "test_balanced_acc": balanced,
        "per_class_recall": {name: (None if np.isnan(r) else float(r)) for name, r in zip(names, recall)},
        "confusion_matrix": matrix.tolist(),
        "train_seconds": round(seconds, 1),
    }
    folder.write_json("result.json", result)
    return result


def table(results, data: EmojiData, config: Config, majority: dict) -> str:
    """Markdown: one row per augmentation setting, and per-class recall side by side."""
    images = data.images
    lines = [
        f"Emoji categories at {config.size}x{config.size}: {len(images.x_train):,} train, {len(images.x_val):,} val, "
        f"{len(images.x_test):,} test images (split by emoji group); {config.net} width {config.width}, "
        f"{config.epochs} epochs, {config.optimizer} lr {config.lr} ({config.schedule}).",
        "",
        "| augment | test acc | balanced acc | best val acc (epoch) | train acc (last epoch) | train s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| (always the majority class, {majority['class']}) | {100 * majority['test_acc']:.1f}% | "
        f"{100 * majority['balanced_acc']:.1f}% | | | |",
    ]
    for r in results:
        lines.append(f"| {r['augment']} | {100 * r['test_acc']:.1f}% | {100 * r['test_balanced_acc']:.1f}% | "
                     f"{100 * r['best_val_acc']:.1f}% ({r['best_epoch']}) | {100 * r['final_train_acc']:.1f}% | "
                     f"{r['train_seconds']:.0f} |")
    counts = np.bincount(images.y_test, minlength=len(data.category_names))
    lines += ["", "Per-class recall on the test set:", "",
              "| category | test images | " + " | ".join(r["augment"] for r in results) + " |",
              "| --- | ---: |" + " ---: |" * len(results)]
    for k, name in enumerate(data.category_names):
        cells = [r["per_class_recall"][name] for r in results]
        lines.append(f"| {name} | {counts[k]} | " + " | ".join("-" if c is None else f"{100 * c:.0f}%" for c in cells)
                     + " |")
    return "\n".join(lines) + "\n"


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import read_jsonl
    from ..train.metrics import confusion_matrix
    from ..viz import plot_overlaid_curves

    check(config)
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    start = time.perf_counter()
    data = load_splits(config)
    print(data.images.describe(), flush=True)

    # the baseline every number must beat: always answer the most frequent training category
    names, y_test = data.category_names, data.images.y_test
    top = int(np.bincount(data.images.y_train, minlength=len(names)).argmax())
    constant = confusion_matrix(np.full_like(y_test, top), y_test, len(names))
    majority = {"class": names[top], "test_acc": float(np.mean(y_test == top)),
                "balanced_acc": balanced_accuracy(constant)}

    results = []
    for augment in config.augment:
        print(f"== augment={augment}", flush=True)
        results.append(run_one(augment, config, data, run_folder.file(f"augment-{augment}"), resume))
        run_folder.write_text("results.md", table(results, data, config, majority))
    if len(results) > 1:
        runs = {f"augment={a}": [r for r in read_jsonl(run_folder.file(f"augment-{a}") / "metrics.jsonl")
                                 if r.get("kind") == "epoch"] for a in config.augment}
        plot_overlaid_curves(runs, run_folder.file("augment_curves.png"), keys=("train_loss", "train_acc", "val_acc"),
                             title="emoji categories: with and without augmentation")
    headline = results[0]
    summary = {
        "test_acc": headline["test_acc"],
        "test_balanced_acc": headline["test_balanced_acc"],
        "augment": headline["augment"],
        "majority_baseline": majority,
        "results": results,
        "size": config.size,
        "train_images": len(data.images.x_train),
        "val_images": len(data.images.x_val),
        "test_images": len(y_test),
        "seconds": round(time.perf_counter() - start, 1),
        "data": data.images.source,
    }
    run_folder.write_json("summary.json", summary)
    return summary
