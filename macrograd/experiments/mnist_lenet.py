"""mnist-lenet: LeNet-5 (ReLU, max-pool) on MNIST with Adam and a one-cycle learning-rate schedule,
and light augmentation (a random 28x28 crop of the digit padded by 2 pixels: shifts of up to
2 pixels). LeCun et al. (1998) report 0.95% test error for LeNet-5; this run reaches >= 99.0%
test accuracy in about 12 epochs on two CPU cores.

    macrograd run mnist-lenet                          # the full run
    macrograd run mnist-lenet --set augment=none       # without the random shifts
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import backend
from ..train import RunFolder
from .common import MNIST_CLASSES, load_images, loaders, make_optimizer, make_schedule, train_classifier
from .mnist_mlp import finish

DESCRIPTION = "LeNet-5 (ReLU, max-pool) on MNIST, Adam + one-cycle, random shifts: >= 99.0% test accuracy"
AUGMENTS = ("none", "crop")


@dataclass
class Config:
    activation: str = "relu"  # "relu" or "tanh" (the paper's)
    pool: str = "max"  # "max" or "avg" (the paper's subsampling)
    epochs: int = 12
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 2e-3  # the one-cycle peak
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    augment: str = "crop"  # "crop": pad 2, random 28x28 crop; "none"
    val_size: int = 5000  # held out of the 60,000 training images for model selection
    train_subset: int = 0  # 0 = all the remaining training images
    test_subset: int = 0  # 0 = all 10,000 test images
    patience: int = 0  # early stopping on val_acc; 0 = off
    log_every: int = 10
    seed: int = 0


SMOKE = {"epochs": 1, "train_subset": 512, "val_size": 256, "test_subset": 256, "log_every": 1}


def image_data(images):
    """Flat standardised rows -> (N, 1, 28, 28) images (views)."""
    shape = (-1, 1, 28, 28)
    return dataclasses.replace(images, x_train=images.x_train.reshape(shape), x_val=images.x_val.reshape(shape),
                               x_test=images.x_test.reshape(shape))


def run(config: Config, out, resume: bool = False) -> dict:
    from ..data import transforms as T
    from ..data.augment import AugmentedLoader
    from ..models import lenet5

    if config.augment not in AUGMENTS:
        raise ValueError(f"mnist-lenet: augment must be one of {AUGMENTS}, got {config.augment!r}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)

    images = image_data(load_images("mnist", config.train_subset, config.val_size, config.test_subset, config.seed))
    print(images.describe())
    train_loader, val_loader, test_loader = loaders(images, config.batch_size, config.seed)
    if config.augment == "crop":
        # pad with the standardised value of a black pixel, so a shifted digit looks like a real one
        background = float(images.x_train.min())
        train_loader = AugmentedLoader(train_loader, T.RandomCrop(28, padding=2, fill=background))

    model = lenet5(num_classes=10, in_channels=1, image_size=28, activation=config.activation, pool=config.pool)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler, interval = make_schedule(config.schedule, optimizer, config.epochs, len(train_loader))
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader,
                                        epochs=config.epochs, run=run_folder, resume=resume,
                                        patience=config.patience, log_every=config.log_every)
    summary = finish(run_folder, model, test_loader, history, seconds, images.source, MNIST_CLASSES, "MNIST LeNet-5")
    summary["seconds_per_epoch"] = round(seconds / max(len(history), 1), 1)
    run_folder.write_json("summary.json", summary)
    return summary
