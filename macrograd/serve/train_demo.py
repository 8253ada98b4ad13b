"""Train the small digit classifier that the server, the drawing page and the int8 quantization
demo use: an MLP 784-256-128-10 on MNIST (the shared data, or the sample shipped with the package),
a couple of epochs with Adam, about ten seconds on two cores; ~97% test accuracy on real MNIST.

    python -m macrograd.serve.train_demo digits.safetensors [--epochs 2] [--model mlp|lenet5]
"""
from __future__ import annotations

import argparse

import numpy as np

from .. import backend, models, nn, optim
from ..creation import tensor
from ..data import DataLoader, TensorDataset
from ..train import evaluate, fit
from .model import save_served_model


def digit_data(val_size: int = 5000, seed: int = 0):
    """(x_train, y_train, x_val, y_val, x_test, y_test, mean, std, source): images (N, 1, 28, 28)
    standardised with the training pixels' mean and std; the validation images (held out of the
    training set) are what int8 calibration uses."""
    from ..experiments.common import read_images

    x, y, x_test, y_test, source = read_images("mnist")
    order = np.random.default_rng(seed).permutation(len(x))
    val_size = min(val_size, len(x) // 5)
    val, train = order[:val_size], order[val_size:]
    pixels = x.reshape(len(x), 1, 28, 28).astype(np.float32) / 255.0
    mean, std = float(pixels[train].mean()), float(pixels[train].std())

    def prepare(images):
        return ((images.reshape(len(images), 1, 28, 28).astype(np.float32) / 255.0 - mean) / std).astype(np.float32)

    return (prepare(x[train]), y[train].astype(np.int64), prepare(x[val]), y[val].astype(np.int64),
            prepare(x_test), y_test.astype(np.int64), mean, std, str(source))


def train_digit_classifier(path, epochs: int = 2, model_name: str = "mlp", train_subset: int = 0,
                           seed: int = 0, data=None):
    """Train, evaluate on the test set and write a serving checkpoint to `path`; returns
    (model, test accuracy, data)."""
    backend.manual_seed(seed)
    data = data or digit_data(seed=seed)
    x_train, y_train, x_val, y_val, x_test, y_test, mean, std, source = data
    if train_subset:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    kwargs = {"num_classes": 10, "in_channels": 1}
    model = models.get_model(model_name, **kwargs)
    generator = backend.Generator().manual_seed(seed)
    train_loader = DataLoader(TensorDataset(tensor(x_train), tensor(y_train)), batch_size=128, shuffle=True,
                              generator=generator)
    fit(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(), train_loader, epochs=epochs)
    test = evaluate(model, DataLoader(TensorDataset(tensor(x_test), tensor(y_test)), batch_size=1000),
                    nn.CrossEntropyLoss())
    save_served_model(path, model, model_name, kwargs, [1, 28, 28], kind="image", mean=mean, std=std,
                      classes=[str(i) for i in range(10)], center_digit=True,
                      metrics={"test_acc": round(test["acc"], 4), "epochs": epochs, "data": source})
    return model, test["acc"], data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m macrograd.serve.train_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="mlp", choices=["mlp", "lenet5"])
    args = parser.parse_args(argv)
    _, accuracy, data = train_digit_classifier(args.path, args.epochs, args.model)
    print(f"wrote {args.path}: {args.model}, test accuracy {accuracy:.4f} ({data[-1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
