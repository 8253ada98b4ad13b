"""LeNet-5 (LeCun, Bottou, Bengio, Haffner, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 1998).

The idea: convolution shares one small filter across every position (few weights, translation
equivariance) and pooling trades resolution for invariance; alternating the two builds local
features into global ones. Conv 5x5 -> pool -> conv 5x5 -> pool -> three fully connected layers
(400-120-84-10) is the template every later CNN elaborates.

    model = lenet5()                                       # 1x28x28 MNIST, tanh as in 1998
    model = lenet5(in_channels=3, image_size=32, activation="relu")

LeNet-5 was designed for 32x32 inputs; 28x28 MNIST digits get 2 pixels of zero padding in the
first conv (the paper padded the digits the same way), so conv2 always sees 14x14 and the
flattened features are 16 x 5 x 5 = 400.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family


@family
def classes(nn):
    """LeNet-5 on the namespace `nn` (macrograd.nn or torch.nn)."""

    class LeNet5(nn.Module):
        """conv1 (C->6, 5x5) act pool, conv2 (6->16, 5x5) act pool, fc1 400->120, fc2 120->84,
        fc3 84->num_classes. activation "tanh" (the paper's, a scaled tanh there) or "relu";
        pool "max" or "avg" (the paper's subsampling was a trainable average)."""

        def __init__(self, num_classes=10, in_channels=1, image_size=28, activation="tanh", pool="max"):
            super().__init__()
            if activation not in ("tanh", "relu"):
                raise ValueError(f"LeNet5: activation must be 'tanh' or 'relu', got {activation!r}")
            if pool not in ("max", "avg"):
                raise ValueError(f"LeNet5: pool must be 'max' or 'avg', got {pool!r}")
            if image_size > 32 or image_size % 2:
                raise ValueError(f"LeNet5: image_size must be even and at most 32, got {image_size}")
            act = nn.Tanh if activation == "tanh" else nn.ReLU
            pool_layer = (lambda: nn.MaxPool2d(2)) if pool == "max" else (lambda: nn.AvgPool2d(2))
            self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=(32 - image_size) // 2)
            self.act1, self.pool1 = act(), pool_layer()
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.act2, self.pool2 = act(), pool_layer()
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.act3 = act()
            self.fc2 = nn.Linear(120, 84)
            self.act4 = act()
            self.fc3 = nn.Linear(84, num_classes)

        def forward(self, x):
            x = self.pool1(self.act1(self.conv1(x)))     # (N, 6, 14, 14)
            x = self.pool2(self.act2(self.conv2(x)))     # (N, 16, 5, 5)
            x = self.act3(self.fc1(x.flatten(1)))        # (N, 120)
            x = self.act4(self.fc2(x))                   # (N, 84)
            return self.fc3(x)

    return SimpleNamespace(LeNet5=LeNet5)


def lenet5(num_classes=10, in_channels=1, image_size=28, activation="tanh", pool="max", nn=None):
    """LeNet-5 for in_channels x image_size x image_size images (61,706 parameters on MNIST)."""
    return classes(nn).LeNet5(num_classes, in_channels, image_size, activation, pool)


LeNet5 = classes().LeNet5
