"""AlexNet (Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012), scaled to 28/32-pixel images.

The idea: LeNet's recipe made big (five conv layers, two wide fully connected layers) trained
on a GPU, made to work by ReLU (non-saturating, so deep stacks train fast), dropout in the
classifier (which holds most of the weights) and overlapping max-pooling (3x3 windows, stride 2).
The paper's local response normalisation is left out, as in torchvision: it barely matters and
batch norm has replaced it.

    model = alexnet(num_classes=10, in_channels=3)

Scaling to small images: the 11x11 stride-4 first conv (for 224 pixels) becomes 5x5 stride 1,
and the pools get padding 1, so 28 and 32 both reach 4x4 maps after the three pools.
Attribute names follow torchvision: features, avgpool, classifier.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family


@family
def classes(nn):
    """AlexNet on the namespace `nn` (macrograd.nn or torch.nn)."""

    class AlexNet(nn.Module):
        """features: conv5x5-relu-pool, conv3x3-relu-pool, 3 x conv3x3-relu, pool; avgpool to
        4x4; classifier: dropout-linear-relu, dropout-linear-relu, linear.
        channels: the five conv widths; hidden: the width of the two hidden linear layers."""

        def __init__(self, num_classes=10, in_channels=3, channels=(64, 192, 384, 256, 256), hidden=1024,
                     dropout=0.5):
            super().__init__()
            if len(channels) != 5:
                raise ValueError(f"AlexNet: channels must list 5 conv widths, got {channels}")
            c1, c2, c3, c4, c5 = channels
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, c1, 5, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
                nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
                nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            # 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4: the adaptive pool is the identity on both
            # and lets other sizes through to the same classifier.
            self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
            self.classifier = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(c5 * 4 * 4, hidden), nn.ReLU(inplace=True),
                nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, num_classes),
            )

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return SimpleNamespace(AlexNet=AlexNet)


def alexnet(num_classes=10, in_channels=3, channels=(64, 192, 384, 256, 256), hidden=1024, dropout=0.5,
            nn=None):
    """AlexNet for small images (about 7.5M parameters with the default widths, 10 classes)."""
    return classes(nn).AlexNet(num_classes, in_channels, channels, hidden, dropout)


AlexNet = classes().AlexNet
