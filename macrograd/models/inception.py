"""GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015),
sized for 28/32-pixel images.

The idea: let the network choose its filter size. An Inception module runs 1x1, 3x3 and 5x5
convolutions and a max-pool side by side on the same input and concatenates the results along
channels; 1x1 "bottleneck" convolutions in front of the big filters (and after the pool) cut
the channels first, so a 22-layer net costs fewer operations than AlexNet. Global average
pooling replaces the big fully connected classifier.

    model = googlenet(num_classes=10, in_channels=3)
    model = googlenet(factorize_5x5=True)        # the 5x5 branch as two 3x3 convs (Inception v2)

Sized for small images: the stem is stride 1 (3x3, 1x1, 3x3 convs) with no first pool, the
auxiliary classifiers are left out (batch norm in every conv, as in torchvision, makes them
unnecessary), and width_mult scales every width. Names follow torchvision (conv1..conv3,
inception3a..5b, each with branch1..branch4 of BasicConv2d(conv, bn)).
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family, library

# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each module, from the paper's table 1.
INCEPTION_CFG = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


@family
def classes(nn):
    """GoogLeNet on the namespace `nn` (macrograd.nn or torch.nn)."""
    cat = library(nn).cat

    class BasicConv2d(nn.Module):
        """conv (no bias: BN has one) -> BN -> ReLU."""

        def __init__(self, in_channels, out_channels, kernel_size, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
            self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    class Inception(nn.Module):
        """Four parallel branches, concatenated on channels:
        1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 (or 3x3 -> 3x3) | 3x3 max-pool -> 1x1."""

        def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                     factorize_5x5=False):
            super().__init__()
            self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
            self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1),
                                         BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
            if factorize_5x5:  # two stacked 3x3 see 5x5 with 18/25 of the weights
                self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1),
                                             BasicConv2d(ch5x5red, ch5x5, 3, padding=1),
                                             BasicConv2d(ch5x5, ch5x5, 3, padding=1))
            else:
                self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1),
                                             BasicConv2d(ch5x5red, ch5x5, 5, padding=2))
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         BasicConv2d(in_channels, pool_proj, 1))
            self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

        def forward(self, x):
            return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    class GoogLeNet(nn.Module):
        """stem (3x3, 1x1, 3x3 convs), pool, 3a 3b, pool, 4a-4e, pool, 5a 5b, global average
        pool, dropout, fc. Maps: 32 -> 16 -> 8 -> 4 (28 -> 14 -> 7 -> 4)."""

        def __init__(self, num_classes=10, in_channels=3, width_mult=1.0, factorize_5x5=False, dropout=0.2):
            super().__init__()

            def w(c):
                return max(1, int(round(c * width_mult)))

            self.conv1 = BasicConv2d(in_channels, w(64), 3, padding=1)
            self.conv2 = BasicConv2d(w(64), w(64), 1)
            self.conv3 = BasicConv2d(w(64), w(192), 3, padding=1)
            self.maxpool2 = nn.MaxPool2d(3, stride=2, padding=1)
            channels = w(192)
            for name in INCEPTION_CFG:
                module = Inception(channels, *(w(c) for c in INCEPTION_CFG[name]), factorize_5x5=factorize_5x5)
                setattr(self, "inception" + name, module)
                channels = module.out_channels
                if name == "3b":
                    self.maxpool3 = nn.MaxPool2d(3, stride=2, padding=1)
                elif name == "4e":
                    self.maxpool4 = nn.MaxPool2d(3, stride=2, padding=1)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(channels, num_classes)

        def forward(self, x):
            x = self.maxpool2(self.conv3(self.conv2(self.conv1(x))))
            x = self.maxpool3(self.inception3b(self.inception3a(x)))
            for name in ("4a", "4b", "4c", "4d", "4e"):
                x = getattr(self, "inception" + name)(x)
            x = self.inception5b(self.inception5a(self.maxpool4(x)))
            return self.fc(self.dropout(self.avgpool(x).flatten(1)))

    return SimpleNamespace(BasicConv2d=BasicConv2d, Inception=Inception, GoogLeNet=GoogLeNet)


def googlenet(num_classes=10, in_channels=3, width_mult=1.0, factorize_5x5=False, dropout=0.2, nn=None):
    """GoogLeNet (Inception v1) for small images (about 6.0M parameters at width 1, 10 classes)."""
    return classes(nn).GoogLeNet(num_classes, in_channels, width_mult, factorize_5x5, dropout)


_mg = classes()
BasicConv2d, Inception, GoogLeNet = _mg.BasicConv2d, _mg.Inception, _mg.GoogLeNet
