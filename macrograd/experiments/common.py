"""Pieces shared by the image-classification experiments: data as whole tensors, an MLP built from
a few choices (init, activation, normalization, dropout), optimizers and schedules by name, and
`train_classifier`, which runs `fit` with the usual callbacks and writes the run folder."""
from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import Checkpoint, EarlyStopping, MetricsLogger, ProgressBar, RunFolder, Timer, evaluate, fit, predict
from ..train.metrics import confusion_matrix

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


# -- data -----------------------------------------------------------------------------------------
@dataclass
class ImageData:
    """Flattened, standardised images (float32, N x 784) and int64 labels, split three ways."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where the data came from (the full set, or the shipped sample)

    def describe(self) -> str:
        return (f"{self.source}: {len(self.x_train)} train, {len(self.x_val)} val, "
                f"{len(self.x_test)} test images")


def _raw_split(dataset_class, train: bool):
    """(images uint8 N x 28 x 28, labels int64, a line on where they came from)."""
    dataset = dataset_class(train=train)
    images = np.asarray(getattr(dataset.data, "_data", dataset.data))
    labels = np.asarray(getattr(dataset.targets, "_data", dataset.targets)).astype(np.int64)
    if getattr(dataset, "is_sample", False):
        source = (f"the small {dataset_class.__name__} sample shipped with macrograd (the full set was not "
                  f"found; set MACROGRAD_DATA to a folder holding it)")
    else:
        source = f"full {dataset_class.__name__}"
    return images, labels, source


def read_images(name: str):
    """(train images, train labels, test images, test labels, source) of "mnist" or "fashion-mnist",
    read once per process and data location (the runs of fashion-study share them)."""
    where = tuple(os.environ.get(k) for k in ("MACROGRAD_DATA", "HOME", "XDG_CACHE_HOME"))
    return _read_images(name, where)


@functools.lru_cache(maxsize=2)
def _read_images(name: str, where: tuple):
    from .. import data

    dataset_class = {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.SampleDataWarning)  # said in plain words by load_images
        x, y, source = _raw_split(dataset_class, train=True)
        x_test, y_test, _ = _raw_split(dataset_class, train=False)
    for array in (x, y, x_test, y_test):
        array.flags.writeable = False  # shared between callers: nobody may change it
    return x, y, x_test, y_test, source


def load_images(name: str, train_subset: int = 0, val_size: int = 5000, test_subset: int = 0,
                seed: int = 0) -> ImageData:
    """MNIST or Fashion-MNIST ("mnist", "fashion-mnist") as flat standardised arrays.

    The validation set is `val_size` images held out of the training set (a fixed random split
    drawn from `seed`), so the test set is touched only once, at the end. `train_subset` > 0
    keeps that many training images (after the split); `test_subset` > 0 the first that many."""
    x, y, x_test, y_test, source = read_images(name)
    if "sample" in source:
        print(f"NOTE: using {source}")
    order = np.random.default_rng(seed).permutation(len(x))
    val_size = min(val_size, len(x) // 5) if val_size else 0
    val_idx, train_idx = order[:val_size], order[val_size:]
    if train_subset:
        train_idx = train_idx[:train_subset]
    if test_subset:
        x_test, y_test = x_test[:test_subset], y_test[:test_subset]

    # Standardise with the training images' own mean and std (one number each, as is usual for
    # MNIST): inputs near zero with unit spread keep the first layer's pre-activations O(1).
    x_float = x.reshape(len(x), -1).astype(np.float32) / 255.0
    mean, std = x_float[train_idx].mean(), x_float[train_idx].std()

    def prepare(images):
        flat = images.reshape(len(images), x_float.shape[1])  # explicit width: an empty split has no -1
        return ((flat.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)

    return ImageData(prepare(x[train_idx]), y[train_idx], prepare(x[val_idx]), y[val_idx],
                     prepare(x_test), y_test, str(source))


def loaders(images: ImageData, batch_size: int, seed: int, eval_batch_size: int = 1000):
    """Train (shuffled by its own generator, so the order is reproducible and checkpointable),
    val and test DataLoaders over whole tensors: each batch is one fancy index, no per-sample loop."""
    from .. import data
    from ..creation import tensor

    generator = backend.Generator().manual_seed(seed)
    train = data.DataLoader(data.TensorDataset(tensor(images.x_train), tensor(images.y_train)),
                            batch_size=batch_size, shuffle=True, generator=generator)
    val = None
    if len(images.x_val):
        val = data.DataLoader(data.TensorDataset(tensor(images.x_val), tensor(images.y_val)), batch_size=eval_batch_size)
    test = data.DataLoader(data.TensorDataset(tensor(images.x_test), tensor(images.y_test)), batch_size=eval_batch_size)
    return train, val, test


# -- model ----------------------------------------------------------------------------------------
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
NORMS = ("none", "batchnorm", "layernorm")
INITS = ("default", "zeros", "normal0.01", "normal1", "xavier", "kaiming")


def make_mlp(sizes, activation: str = "relu", norm: str = "none", dropout: float = 0.0, init: str = "default"):
    """Linear -> [norm] -> activation -> [dropout] for each hidden layer, then a Linear to the logits.

    sizes = (784, 512, 256, 10) gives two hidden layers of 512 and 256 units."""
    from .. import nn

    if activation not in ACTIVATIONS:
        raise ValueError(f"make_mlp: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if norm not in NORMS:
        raise ValueError(f"make_mlp: norm must be one of {NORMS}, got {norm!r}")
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[activation]
    layers = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(nn.Linear(fan_in, fan_out))
        if norm == "batchnorm":
            layers.append(nn.BatchNorm1d(fan_out))
        elif norm == "layernorm":
            layers.append(nn.LayerNorm(fan_out))
        layers.append(act())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    model = nn.Sequential(*layers)
    initialize(model, init, activation)
    return model


def initialize(model, scheme: str, activation: str = "relu") -> None:
    """Re-initialise every Linear weight by `scheme` (biases to zero); "default" keeps PyTorch's."""
    from .. import nn

    if scheme not in INITS:
        raise ValueError(f"initialize: scheme must be one of {INITS}, got {scheme!r}")
    if scheme == "default":
        return
    gain = nn.init.calculate_gain("relu" if activation == "gelu" else activation)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if scheme == "zeros":
                nn.init.zeros_(module.weight)
            elif scheme == "normal0.01":
                nn.init.normal_(module.weight, 0.0, 0.01)
            elif scheme == "normal1":
                nn.init.normal_(module.weight, 0.0, 1.0)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(module.weight, gain=gain)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


# -- optimizers and schedules ---------------------------------------------------------------------
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "cosine", "step", "onecycle")


def make_optimizer(name: str, params, lr: float, weight_decay: float | None = None):
    """One of OPTIMIZERS; "momentum" and "nesterov" are SGD with momentum 0.9.
    weight_decay=None keeps each optimizer's own default (0 for all but AdamW's 0.01)."""
    from .. import optim

    params = list(params)
    if weight_decay is None:
        weight_decay = 0.01 if name == "adamw" else 0.0
    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"make_optimizer: optimizer must be one of {OPTIMIZERS}, got {name!r}")


def make_schedule(name: str, optimizer, epochs: int, steps_per_epoch: int):
    """(scheduler or None, interval): cosine decay over the run, a step decay, or one-cycle per step."""
    from ..optim import lr_scheduler

    if name == "none":
        return None, "epoch"
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.3), "epoch"
    if name == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch), "step"
    raise ValueError(f"make_schedule: schedule must be one of {SCHEDULES}, got {name!r}")


# -- one classifier run ---------------------------------------------------------------------------
# `macrograd run NAME --diagnose` turns this on: every classifier trained through
# train_classifier then records training diagnostics and draws them beside its metrics.
DIAGNOSE = False


def set_diagnose(enabled: bool) -> None:
    global DIAGNOSE
    DIAGNOSE = bool(enabled)


def train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader, *, epochs: int,
                     run: RunFolder, resume: bool = False, patience: int = 0, progress: bool = True,
                     log_every: int = 10, metrics_name: str = "metrics.jsonl", checkpoint_name: str = "checkpoint.safetensors",
                     best_name: str = "best.safetensors"):
    """`fit` with a progress bar, JSON-lines metrics, early stopping (patience > 0) and checkpoints
    (the full state each epoch, the best-val_acc weights); returns (history, seconds)."""
    from ..nn import CrossEntropyLoss

    monitor = "val_acc" if val_loader is not None else "train_acc"
    callbacks = [Timer(), MetricsLogger(run.file(metrics_name), every=log_every)]
    if progress:
        callbacks.insert(0, ProgressBar())
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=patience))
    callbacks.append(Checkpoint(run.file(checkpoint_name), run.file(best_name), monitor=monitor, mode="max"))
    diagnostics_name = metrics_name.replace("metrics", "diagnostics")
    if DIAGNOSE:
        from ..train.diagnostics import Diagnostics

        callbacks.append(Diagnostics(run.file(diagnostics_name), every=log_every))
    checkpoint = run.file(checkpoint_name)
    if resume and not checkpoint.exists():
        # interrupted before its first epoch ended: there is nothing to continue from
        print(f"resume: no {checkpoint_name} in {run.path} yet, so training starts from the beginning")
        resume = False
    start = time.perf_counter()
    history = fit(model, optimizer, CrossEntropyLoss(), train_loader, epochs=epochs, val_loader=val_loader,
                  scheduler=scheduler, scheduler_interval=interval, callbacks=callbacks,
                  resume_from=checkpoint if resume else None)
    seconds = time.perf_counter() - start
    if DIAGNOSE:
        from ..viz.diagnostics import plot_diagnostics

        plot_diagnostics(run.file(diagnostics_name), run.file(diagnostics_name.replace(".jsonl", ".png")))
    return history, seconds


def test_report(model, test_loader, run: RunFolder, class_names, image_side: int = 28, prefix: str = "",
                max_examples: int = 32) -> dict:
    """Test loss and accuracy, plus the confusion matrix and a grid of misclassified test images."""
    from ..nn import CrossEntropyLoss
    from ..viz import plot_confusion_matrix, plot_image_grid

    result = evaluate(model, test_loader, CrossEntropyLoss())
    logits, targets = predict(model, test_loader)
    predictions = logits.argmax(axis=1)
    matrix = confusion_matrix(predictions, targets, len(class_names))
    plot_confusion_matrix(matrix, run.file(f"{prefix}confusion_matrix.png"), class_names,
                          title=f"test confusion matrix (accuracy {result['acc']:.4f})")
    wrong = np.flatnonzero(predictions != targets)[:max_examples]
    images = test_loader.dataset.tensors[0].numpy()[wrong].reshape(-1, image_side, image_side)
    captions = [f"{class_names[targets[i]]}→{class_names[predictions[i]]}" for i in wrong]
    plot_image_grid(images, captions, run.file(f"{prefix}misclassified.png"),
                    title="misclassified test images (true→predicted)")
    return {"test_loss": result["loss"], "test_acc": result["acc"], "confusion_matrix": matrix.tolist()}
