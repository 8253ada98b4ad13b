"""Draws docs/figures/diagnostics-healthy.png and diagnostics-bad-init.png: the same MNIST MLP
(784-256-256-10, tanh) trained for one epoch on 20,000 images, once with the default init and
once with weights drawn from N(0, 1) (no 1/sqrt(fan_in) scaling: the tanh units saturate).

    MACROGRAD_DATA=/path/to/data python docs/diagnostics_figures.py
"""
from pathlib import Path

import numpy as np

import macrograd as mg
from macrograd import nn, optim
from macrograd.data import DataLoader, TensorDataset
from macrograd.serve.train_demo import digit_data
from macrograd.train import evaluate, fit
from macrograd.train.diagnostics import Diagnostics
from macrograd.viz.diagnostics import plot_diagnostics

FIGURES = Path(__file__).parent / "figures"


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 10))


def main():
    x_train, y_train, _, _, x_test, y_test, *_ = digit_data()
    x_train, y_train = x_train[:20000], y_train[:20000]
    for label, bad in (("healthy", False), ("bad-init", True)):
        mg.manual_seed(0)
        model = mlp()
        if bad:
            with mg.no_grad():
                for layer in (model[1], model[3]):
                    layer.weight.normal_(0.0, 1.0)
        loader = DataLoader(TensorDataset(mg.tensor(x_train), mg.tensor(y_train)), batch_size=128, shuffle=True,
                            generator=mg.Generator().manual_seed(0))
        diag = Diagnostics(FIGURES / f"diagnostics-{label}.jsonl", every=10)
        fit(model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(), loader, epochs=1,
            callbacks=[diag])
        test = evaluate(model, DataLoader(TensorDataset(mg.tensor(x_test), mg.tensor(y_test)), batch_size=1000),
                        nn.CrossEntropyLoss())
        title = (f"MNIST MLP 784-256-256-10 (tanh), {'default init' if not bad else 'weights ~ N(0, 1)'}: "
                 f"test accuracy {test['acc']:.2%} after one epoch on 20,000 images")
        plot_diagnostics(diag.records, FIGURES / f"diagnostics-{label}.png", title=title)
        (FIGURES / f"diagnostics-{label}.jsonl").unlink()
        first = diag.records[0]["layers"]
        print(label, f"test acc {test['acc']:.4f}",
              {k: (round(v["saturated"], 3), round(v["std"], 3)) for k, v in first.items() if v["kind"] == "Tanh"})


if __name__ == "__main__":
    main()
