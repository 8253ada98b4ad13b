"""vit: a small Vision Transformer on MNIST and Fashion-MNIST, to set beside the CNNs.

The model (models/vit.py): 4x4-pixel patches (7 x 7 = 49 tokens) embedded by a strided conv, a
class token, learned positions, a pre-LN Transformer encoder (`depth` layers, GELU), a Linear on
the class token. Trained like the CNN experiments (common.train_classifier): AdamW, one-cycle
schedule, the best-validation epoch kept, test accuracy at the end. With no convolutional prior a
ViT needs more data or epochs than a CNN to reach the same accuracy; on 55,000 small images and
a few epochs it lands a little below LeNet-5, which is the point of the comparison.

The run also draws the attention of every head of the first and last layers for one test
image (viz.attention).

    OPENBLAS_NUM_THREADS=1 macrograd run vit
    macrograd run vit --set datasets=fashion-mnist --set epochs=10 --set depth=6
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend

DESCRIPTION = "small ViT (4x4 patches, 4 layers, 64 wide) on MNIST and Fashion-MNIST, beside the CNNs"


@dataclass
class Config:
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist")
    patch_size: int = 4
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 128
    dropout: float = 0.0
    epochs: int = 3
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3  # the one-cycle peak
    weight_decay: float = 0.05
    schedule: str = "onecycle"
    val_size: int = 5000
    train_subset: int = 0  # 0 = all the remaining training images
    test_subset: int = 0
    log_every: int = 10
    seed: int = 0


SMOKE = {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32, "epochs": 1, "train_subset": 256, "val_size": 128,
         "test_subset": 128, "log_every": 1, "batch_size": 64}


def run(config: Config, out, resume: bool = False) -> dict:
    from ..models.vit import vit
    from ..train import RunFolder
    from .common import FASHION_CLASSES, MNIST_CLASSES, load_images, loaders, make_optimizer, make_schedule, train_classifier
    from .mnist_lenet import image_data
    from .mnist_mlp import finish

    bad = [d for d in config.datasets if d not in ("mnist", "fashion-mnist")]
    if bad:
        raise ValueError(f"vit: datasets must be 'mnist' and/or 'fashion-mnist', got {bad}")
    top = RunFolder(out)
    top.write_json("config.json", config)
    summary = {}
    for name in config.datasets:
        run_folder = RunFolder(top.file(name))
        backend.manual_seed(config.seed)
        images = image_data(load_images(name, config.train_subset, config.val_size, config.test_subset, config.seed))
        print(f"{name}: {images.describe()}")
        train_loader, val_loader, test_loader = loaders(images, config.batch_size, config.seed)
        model = vit(num_classes=10, in_channels=1, image_size=28, patch_size=config.patch_size, dim=config.dim,
                    depth=config.depth, heads=config.heads, mlp_dim=config.mlp_dim, dropout=config.dropout)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"ViT: {n_params:,} parameters, {(28 // config.patch_size) ** 2} patches")
        optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
        scheduler, interval = make_schedule(config.schedule, optimizer, config.epochs, len(train_loader))
        history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader,
                                            epochs=config.epochs, run=run_folder, resume=resume,
                                            log_every=config.log_every)
        classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
        result = finish(run_folder, model, test_loader, history, seconds, images.source, classes, f"{name} ViT")
        result.pop("confusion_matrix")
        result.update(parameters=n_params, seconds_per_epoch=round(seconds / max(len(history), 1), 1))
        result["attention_map"] = _plot_attention(model, images.x_test[:1], run_folder.file("attention.png"), name)
        run_folder.write_json("summary.json", result)
        summary[name] = result
        print(f"{name}: test accuracy {result['test_acc']:.4f}")
    top.write_json("summary.json", summary)
    return summary


def _plot_attention(model, image, path, name) -> str:
    """Every head of the first and last encoder layers for one test image (token 0 = [class])."""
    from ..creation import tensor
    from ..viz.attention import plot_attention_grid, record_attention

    model.eval()
    with record_attention(model) as maps:
        model(tensor(np.ascontiguousarray(image)))
    labels = ["cls"] + [str(i) for i in range(maps[0].shape[-1] - 1)]
    plot_attention_grid(maps, path, layers=sorted({0, len(maps) - 1}), x_labels=labels, y_labels=labels,
                        title=f"ViT self-attention on a {name} test image (token 0: class, 1..: patches row by row)")
    return path.name


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run"]
