"""The multilayer perceptron (Rumelhart, Hinton, Williams, "Learning representations by
back-propagating errors", Nature 1986).

The idea: stacked affine maps with a nonlinearity between them are universal function
approximators, and backpropagation trains every layer at once. On images an MLP sees only a
flat vector: it has no notion that neighbouring pixels are related, which is exactly what the
convolutional nets in this package add.

    model = mlp(num_classes=10, in_channels=1, image_size=28, hidden_sizes=(256, 128))
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family

_ACTIVATIONS = ("relu", "tanh", "gelu", "silu")


@family
def classes(nn):
    """The MLP on the namespace `nn` (macrograd.nn or torch.nn)."""

    class MLP(nn.Module):
        """Flatten -> [Linear -> (BatchNorm1d) -> activation -> (Dropout)] per hidden size ->
        Linear to num_classes. The input is an image batch (N, C, H, W) or already flat (N, D)."""

        def __init__(self, in_features, num_classes=10, hidden_sizes=(256, 128), activation="relu",
                     dropout=0.0, batch_norm=False):
            super().__init__()
            if activation not in _ACTIVATIONS:
                raise ValueError(f"MLP: activation must be one of {_ACTIVATIONS}, got {activation!r}")
            act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}[activation]
            self.flatten = nn.Flatten()
            layers, width = [], in_features
            for hidden in hidden_sizes:
                layers.append(nn.Linear(width, hidden))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(hidden))
                layers.append(act())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = hidden
            layers.append(nn.Linear(width, num_classes))
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            return self.layers(self.flatten(x))

    return SimpleNamespace(MLP=MLP)


def mlp(num_classes=10, in_channels=1, image_size=28, hidden_sizes=(256, 128), activation="relu",
        dropout=0.0, batch_norm=False, nn=None):
    """An MLP for in_channels x image_size x image_size images (in_features = C * H * W)."""
    return classes(nn).MLP(in_channels * image_size * image_size, num_classes, hidden_sizes,
                           activation, dropout, batch_norm)


MLP = classes().MLP
