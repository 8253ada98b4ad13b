"""segmentation: a U-Net labels every pixel, on two real-data tasks, scored by mean IoU.

1. emoji: foreground masks of the Noto emoji (32x32). The alpha channel is an exact mask
   (alpha > 0.5 = foreground), so the labels are free and right. Shown on white, as emoji
   usually are, the task is harder than it looks: a white eye, cloud or page is the colour of
   the background, and "foreground = not white" fails exactly there. So training composites
   every image on a fresh random plain colour each time it is seen (uniform in RGB, drawn from
   the seeded global RNG): no single colour means "background", and the net has to use shape
   and context (the background is what surrounds the figure, whatever its colour). The test
   emoji (a split that keeps skin-tone variants on one side) are scored twice: on white (the
   hard, usual look; also the validation set for picking the best epoch) and on seeded random
   colours. `--set emoji_background=white` trains on white only, for comparison.
2. digits: M2NIST-style 64x64 canvases with 1-3 MNIST digits each (macrograd/data/canvases.py)
   and 11 classes per pixel: background, or the digit 0-9 whose intensity there is > 0.5. A
   pixel's class needs both "is this ink" (local) and "which digit is this stroke part of" (a
   whole-digit view): the U-Net's bottleneck sees the digit, its skips put the answer back on
   the right pixels. Training canvases are built from MNIST training digits (5,000 of them held
   out for the validation canvases), test canvases only from the 10,000 MNIST test digits.

Loss: per-pixel cross-entropy, `F.cross_entropy` on (N, C, H, W) logits and (N, H, W) targets
(averaged over every pixel). Metrics on held-out data: pixel accuracy and mean IoU, from the
confusion matrix summed over the whole test set (IoU_c = TP / (TP + FP + FN); a class absent
from both truth and prediction is left out of the mean: `macrograd.train.metrics.mean_iou`).
Pixel accuracy flatters segmentation (95% of a digit canvas is background: all-background
scores 0.95) and mIoU does not (all-background scores 0.95 / 11 = 0.09), which is why mIoU is
the number to read. The best epoch by validation mIoU is kept and scored once on the test set.
The output layer's bias starts at the log class frequencies (`init_output_bias`): with 95%
background pixels, an unbiased start spends most of a CPU budget just learning the prior.

    macrograd run segmentation                             # both tasks (~10 min on one core)
    macrograd run segmentation --set tasks=digits          # one task
    macrograd run segmentation --set emoji_background=white --set tasks=emoji
    macrograd run segmentation --smoke                     # seconds

The U-Net is macrograd.models.unet with base width 8 and depth 3 (121k parameters): the
paper's base width 64 costs about 64 times the multiply-adds (widths enter squared), so one
epoch of digit canvases would take well over an hour on a CPU core. The default run (one core,
10.3 min on the shared machine) reaches test mIoU 0.926 on emoji on white (0.938 on random
colours) and 0.919 on the digit canvases; the table is in docs/vision.md.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from ..train import Callback, RunFolder
from .common import make_optimizer, make_schedule

DESCRIPTION = "U-Net segmentation: emoji foreground masks and MNIST digit canvases (11 classes); mean IoU"
TASKS = ("emoji", "digits")
BACKGROUNDS = ("random", "white")
EMOJI_CLASSES = ["background", "emoji"]


@dataclass
class Config:
    tasks: tuple[str, ...] = TASKS
    base_channels: int = 8  # U-Net width of the first level (doubled at each of `depth` levels)
    depth: int = 3
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3  # the one-cycle peak
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    # emoji foreground masks
    emoji_size: int = 32  # 64, 32, 16 or 8 (block-averaged from 64x64)
    emoji_background: str = "random"  # training backgrounds: "random" plain colours, or "white"
    emoji_epochs: int = 10
    emoji_test_fraction: float = 0.15  # of the emoji (split by picture, skin tones together)
    emoji_val_fraction: float = 0.1  # of the remaining training emoji, for picking the best epoch
    emoji_subset: int = 0  # > 0: at most that many emoji in each split (smoke tests)
    # digit canvases
    canvas_height: int = 64
    canvas_width: int = 64
    max_digits: int = 3  # 1 to max_digits digits per canvas
    digit_threshold: float = 0.5  # a pixel is a digit's where its intensity (in [0, 1]) exceeds this
    train_canvases: int = 4000
    val_canvases: int = 500
    test_canvases: int = 1000
    digits_epochs: int = 4
    examples: int = 8  # test examples drawn in each overlay figure
    log_every: int = 10
    seed: int = 0


SMOKE = {"base_channels": 4, "depth": 2, "emoji_epochs": 1, "emoji_subset": 48, "digits_epochs": 1,
         "train_canvases": 48, "val_canvases": 16, "test_canvases": 32, "examples": 4, "log_every": 1}


def check(config: Config) -> None:
    """A clear ValueError naming the option for every value the run cannot use."""
    def fail(option, must, value):
        raise ValueError(f"segmentation: {option} must be {must}, got {value!r}")

    tasks = tuple(config.tasks)
    if not tasks or any(t not in TASKS for t in tasks) or len(set(tasks)) != len(tasks):
        fail("tasks", f"one or more distinct names of {TASKS}", config.tasks)
    if config.emoji_background not in BACKGROUNDS:
        fail("emoji_background", f"one of {BACKGROUNDS}", config.emoji_background)
    if config.emoji_size not in (8, 16, 32, 64):
        fail("emoji_size", "64, 32, 16 or 8", config.emoji_size)
    for option in ("emoji_test_fraction", "emoji_val_fraction"):
        if not 0.0 < getattr(config, option) < 1.0:
            fail(option, "in (0, 1)", getattr(config, option))
    if not 0.0 <= config.digit_threshold < 1.0:
        fail("digit_threshold", "in [0, 1)", config.digit_threshold)
    for option in ("canvas_height", "canvas_width"):
        if getattr(config, option) < 28:
            fail(option, "at least 28 (an MNIST digit)", getattr(config, option))
    for option in ("base_channels", "depth", "batch_size", "emoji_epochs", "max_digits", "train_canvases",
                   "val_canvases", "test_canvases", "digits_epochs", "log_every"):
        if getattr(config, option) < 1:
            fail(option, "at least 1", getattr(config, option))
    for option in ("emoji_subset", "examples"):
        if getattr(config, option) < 0:
            fail(option, ">= 0", getattr(config, option))


# -- the data of each task ------------------------------------------------------------------------
@dataclass
class TaskData:
    """What one task trains and is scored on; inputs are float32 (N, C, H, W), masks int64 (N, H, W)."""

    classes: list[str]
    train: tuple  # (inputs, masks); emoji inputs are RGBA (premultiplied), composited per batch
    val: tuple  # (images, masks), as the model sees them
    tests: dict  # test-set name -> (images, masks)
    epochs: int
    source: str
    transform: object = None  # applied to every training batch (AugmentedLoader)
    notes: dict = field(default_factory=dict)


def composite(rgba: np.ndarray, colour) -> np.ndarray:
    """Premultiplied colour + alpha (N, 4, H, W) on a plain background: x = c_premult + b (1 - alpha),
    b an RGB colour per image (N, 3, 1, 1) or one for all. Compositing is linear, so on block-averaged
    (shrunk) arrays it equals compositing at full size and then shrinking: Emoji.rgb(background=b)."""
    return (rgba[:, :3] + np.asarray(colour, dtype=np.float32) * (1.0 - rgba[:, 3:])).astype(np.float32)


class Background:
    """The emoji training transform: composite every image on white, or on a uniform random RGB
    colour drawn per image from the global RNG (so mg.manual_seed repeats it and a resumed run
    continues it)."""

    batchable = True  # AugmentedLoader calls apply_batch once per batch

    def __init__(self, kind: str):
        self.kind = kind

    def apply_batch(self, rgba: np.ndarray) -> np.ndarray:
        if self.kind == "white":
            return composite(rgba, 1.0)
        return composite(rgba, backend.rng().random((len(rgba), 3, 1, 1), dtype=np.float32))


def emoji_data(config: Config) -> TaskData:
    """Emoji split by picture into train / val / test, as premultiplied RGBA at emoji_size, with
    alpha > 0.5 as the foreground mask. Val: on white; test: on white and on seeded random colours."""
    from ..data import load_emoji

    emoji = load_emoji()
    train, test = emoji.split(config.emoji_test_fraction, config.seed)
    fit_part, val_part = emoji.subset(train).split(config.emoji_val_fraction, config.seed + 1)
    splits = {"train": train[fit_part], "val": train[val_part], "test": test}
    if config.emoji_subset:
        rng = np.random.default_rng(config.seed)
        splits = {k: np.sort(rng.permutation(v)[:config.emoji_subset]) for k, v in splits.items()}

    def arrays(indices):
        part = emoji.subset(indices)
        alpha = part.mask(config.emoji_size)
        rgba = np.concatenate([part.rgb(config.emoji_size, background=0.0), alpha], axis=1)
        return rgba, (alpha[:, 0] > 0.5).astype(np.int64)

    (train_rgba, train_masks), (val_rgba, val_masks), (test_rgba, test_masks) = map(arrays, splits.values())
    colours = np.random.default_rng([config.seed, 1]).random((len(test_rgba), 3, 1, 1), dtype=np.float32)
    tests = {"white": (composite(test_rgba, 1.0), test_masks), "colour": (composite(test_rgba, colours), test_masks)}
    return TaskData(EMOJI_CLASSES, (train_rgba, train_masks), (composite(val_rgba, 1.0), val_masks), tests,
                    config.emoji_epochs, f"Noto emoji at {config.emoji_size}x{config.emoji_size}",
                    Background(config.emoji_background),
                    {"train_background": config.emoji_background, "size": config.emoji_size})


def digit_data(config: Config) -> TaskData:
    """Canvases from MNIST: train from the training digits less 5,000 held out for the validation
    canvases; test from the MNIST test digits only."""
    from ..data.canvases import CANVAS_CLASSES, digit_canvases
    from .common import read_images

    x, y, x_test, y_test, source = read_images("mnist")
    order = np.random.default_rng(config.seed).permutation(len(x))
    held, rest = order[:len(x) // 12], order[len(x) // 12:]  # 5,000 of the 60,000
    options = {"height": config.canvas_height, "width": config.canvas_width, "digits": (1, config.max_digits),
               "threshold": config.digit_threshold}
    made = [digit_canvases(images, labels, count, seed=[config.seed, k], **options) for k, (images, labels, count)
            in enumerate([(x[rest], y[rest], config.train_canvases), (x[held], y[held], config.val_canvases),
                          (x_test, y_test, config.test_canvases)])]
    train, val, test = [(c.images, c.masks) for c in made]
    return TaskData(CANVAS_CLASSES, train, val, {"": test}, config.digits_epochs,
                    f"{config.canvas_height}x{config.canvas_width} canvases of {source} digits",
                    notes={"digits_per_canvas": round(float((made[0].sources >= 0).sum(1).mean()), 3)})


TASK_DATA = {"emoji": emoji_data, "digits": digit_data}


# -- predicting and scoring -----------------------------------------------------------------------
def predict_masks(model, images: np.ndarray, masks: np.ndarray | None = None, batch_size: int = 128):
    """(predicted class per pixel, int64 (N, H, W); mean per-pixel cross-entropy or None) in eval
    mode without a graph, one batch at a time."""
    from .. import no_grad, tensor
    from ..nn import functional as F

    was_training = model.training
    model.eval()
    predictions, loss_sum = [], 0.0
    with no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(tensor(images[start:start + batch_size]))
            predictions.append(logits.numpy().argmax(axis=1))
            if masks is not None:
                target = tensor(masks[start:start + batch_size])
                loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
    model.train(was_training)
    loss = loss_sum / masks.size if masks is not None else None
    return np.concatenate(predictions), loss


def scores(predictions, masks, classes) -> dict:
    """Pixel accuracy, mean IoU and IoU per class (None for a class absent from truth and prediction)."""
    from ..train.metrics import confusion_matrix, iou_per_class, mean_iou

    matrix = confusion_matrix(predictions, masks, len(classes))
    iou = iou_per_class(matrix)
    return {"miou": mean_iou(matrix), "pixel_acc": float(np.trace(matrix) / max(matrix.sum(), 1)),
            "iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(classes, iou)}}


class SegmentationValidation(Callback):
    """At the end of each epoch: val_loss, val_acc (pixel accuracy) and val_miou on a fixed
    validation set, into the epoch's logs (so the bar, the metrics file and Checkpoint see them)."""

    order = 40  # after Timer (time_s is training time), before MetricsLogger, ProgressBar, Checkpoint

    def __init__(self, images, masks, classes, batch_size: int = 128):
        self.images, self.masks, self.classes, self.batch_size = images, masks, classes, batch_size

    def on_epoch_end(self, trainer, logs):
        predictions, loss = predict_masks(trainer.model, self.images, self.masks, self.batch_size)
        result = scores(predictions, self.masks, self.classes)
        logs.update(val_loss=loss, val_acc=result["pixel_acc"], val_miou=result["miou"])


# -- one task -------------------------------------------------------------------------------------
def init_output_bias(model, masks: np.ndarray, num_classes: int) -> None:
    """Start the final 1x1 conv's bias at the log class frequencies of the training pixels,
    b_c = log p_c, so that the untrained net already predicts the prior (initial loss = the
    prior's entropy, about 0.3 nats for digit canvases, instead of about ln 11 = 2.4). Why it
    matters: Adam moves a parameter by about lr per step, so learning the background's offset of
    log(0.95 / 0.005) = 5 nats through the bias alone takes over a thousand steps at lr 3e-3, more
    than the whole budget; in a probe on digit canvases (constant lr 3e-3, batch 32) the mean loss
    over steps 51-60 was 1.49 without it and 0.12 with it."""
    from .. import no_grad, tensor

    frequency = np.bincount(masks.ravel(), minlength=num_classes) / masks.size
    with no_grad():  # a class absent from the training masks gets a very low, finite prior
        model.outc.bias.copy_(tensor(np.log(np.maximum(frequency, 1e-6)).astype(np.float32)))


def train_task(model, data: TaskData, config: Config, folder: RunFolder, resume: bool):
    """`fit` with per-pixel cross-entropy (no per-sample accuracy: the validation callback scores
    pixels), a progress bar, JSON-lines metrics, and checkpoints keeping the best val_miou weights."""
    from .. import data as mgdata
    from ..creation import tensor
    from ..data.augment import AugmentedLoader
    from ..nn import CrossEntropyLoss
    from ..train import Checkpoint, MetricsLogger, ProgressBar, Timer, fit

    inputs, masks = data.train
    loader = mgdata.DataLoader(mgdata.TensorDataset(tensor(inputs), tensor(masks)), batch_size=config.batch_size,
                               shuffle=True, generator=backend.Generator().manual_seed(config.seed))
    if data.transform is not None:
        loader = AugmentedLoader(loader, data.transform)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler, interval = make_schedule(config.schedule, optimizer, data.epochs, len(loader))
    callbacks = [ProgressBar(), Timer(), SegmentationValidation(*data.val, data.classes),
                 MetricsLogger(folder.metrics_path, every=config.log_every),
                 Checkpoint(folder.checkpoint_path, folder.best_path, monitor="val_miou", mode="max")]
    start = time.perf_counter()
    history = fit(model, optimizer, CrossEntropyLoss(), loader, epochs=data.epochs, scheduler=scheduler,
                  scheduler_interval=interval, callbacks=callbacks, track_accuracy=False,
                  resume_from=folder.checkpoint_path if resume and folder.checkpoint_path.exists() else None)
    return history, time.perf_counter() - start


def run_task(task: str, config: Config, out: Path, resume: bool) -> dict:
    """Train the U-Net on `task`, score the best-val_miou weights on its test set(s), draw the
    overlays; the result (also out/<task>/result.json) is what the summary holds for the task."""
    from ..io import load
    from ..models import count_parameters, unet
    from ..viz.segmentation import plot_segmentation

    folder = RunFolder(out / task)
    if resume and folder.file("result.json").exists():
        return folder.read_json("result.json")
    backend.manual_seed(config.seed)
    data = TASK_DATA[task](config)
    model = unet(num_classes=len(data.classes), in_channels=data.val[0].shape[1], base_channels=config.base_channels,
                 depth=config.depth)
    shape = data.val[0].shape[1:]
    init_output_bias(model, data.train[1], len(data.classes))
    print(f"{task}: {data.source}: {len(data.train[0]):,} train, {len(data.val[0]):,} val, "
          f"{len(next(iter(data.tests.values()))[0]):,} test images of {shape}; "
          f"U-Net {count_parameters(model):,} parameters")
    history, seconds = train_task(model, data, config, folder, resume)
    model.load_state_dict(load(folder.best_path))

    result = {"task": task, "data": data.source, "classes": data.classes, "params": count_parameters(model),
              "train_images": len(data.train[0]), "val_images": len(data.val[0]), "epochs": len(history),
              "best_epoch": max(history, key=lambda h: h["val_miou"])["epoch"],
              "best_val_miou": max(h["val_miou"] for h in history), "train_seconds": round(seconds, 1),
              "final_train_loss": history[-1]["train_loss"], **data.notes, "test": {}}
    for name, (images, masks) in data.tests.items():
        predictions, loss = predict_masks(model, images, masks)
        result["test"][name] = {"images": len(images), "loss": loss, **scores(predictions, masks, data.classes)}
        if name == next(iter(data.tests)):  # the first test set is the one drawn
            shown = np.linspace(0, len(images) - 1, min(config.examples, len(images))).round().astype(int)
            captions = [f"IoU {scores(predictions[i], masks[i], data.classes)['miou']:.2f}" for i in shown]
            plot_segmentation(images[shown], masks[shown], predictions[shown], out / f"{task}_overlays.png",
                              data.classes, captions,
                              title=f"{task}: test examples (mIoU of the test set {result['test'][name]['miou']:.3f})")
    folder.write_json("result.json", result)
    return result


# -- the report -----------------------------------------------------------------------------------
def table(results: dict) -> str:
    """Markdown: one row per (task, test set), then the digits' IoU per class."""
    lines = ["| task | test set | images | mIoU | pixel accuracy | IoU per class | best epoch / epochs | train s |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for task, r in results.items():
        for name, t in r["test"].items():
            per_class = (", ".join(f"{k} {v:.3f}" for k, v in t["iou"].items() if v is not None)
                         if len(t["iou"]) <= 2 else "below")
            lines.append(f"| {task} | {name or 'test'} | {t['images']:,} | **{t['miou']:.3f}** | {t['pixel_acc']:.4f} | "
                         f"{per_class} | {r['best_epoch']} / {r['epochs']} | {r['train_seconds']:.0f} |")
    for task, r in results.items():
        for name, t in r["test"].items():
            if len(t["iou"]) > 2:
                names = list(t["iou"])
                lines += ["", f"{task} IoU per class ({name or 'test'}):", "",
                          "| " + " | ".join(names) + " |", "|" + " ---: |" * len(names),
                          "| " + " | ".join("-" if v is None else f"{v:.3f}" for v in t["iou"].values()) + " |"]
    return "\n".join(lines) + "\n"


def run(config: Config, out, resume: bool = False) -> dict:
    from ..viz import plot_curve_grid
    from ..train import read_jsonl

    check(config)
    out = Path(out)
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    start = time.perf_counter()
    results = {task: run_task(task, config, out, resume) for task in config.tasks}
    plot_curve_grid({task: {"U-Net": read_jsonl(out / task / "metrics.jsonl")} for task in results},
                    run_folder.file("curves.png"), keys=("train_loss", "val_loss", "val_miou"),
                    title="segmentation: training loss, validation loss and mIoU per epoch")
    run_folder.write_text("results.md", table(results))
    summary = {"tasks": list(results), "seconds": round(time.perf_counter() - start, 1)}
    for task, r in results.items():  # flat numbers first (the CLI prints these), then the details
        for name, t in r["test"].items():
            prefix = f"{task}_{name}_" if name else f"{task}_"
            summary[prefix + "miou"] = round(t["miou"], 4)
            summary[prefix + "pixel_acc"] = round(t["pixel_acc"], 4)
    summary.update(results)
    run_folder.write_json("summary.json", summary)
    print(table(results))
    return summary
