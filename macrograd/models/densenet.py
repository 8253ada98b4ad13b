"""DenseNet (Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017).

The idea: inside a dense block every layer receives the concatenation of the feature maps of
all the layers before it and adds only `growth_rate` new channels. Features are reused instead
of relearned, every layer has a short path to the loss, and the nets are very parameter
efficient. "BC": each layer is BN-ReLU-1x1 conv (Bottleneck, to bn_size * k channels) then
BN-ReLU-3x3 conv (to k channels), and transition layers between blocks Compress the channels
(by 0.5) with a 1x1 conv before a 2x2 average pool.

    model = densenet_bc40(num_classes=10, in_channels=3)     # DenseNet-BC, L=40, k=12 (CIFAR)
    model = densenet121(num_classes=1000)                     # torchvision's layout and keys

Names follow torchvision: features.conv0, features.denseblock1.denselayer1.norm1 ...,
features.transition1.conv, features.norm5, classifier.
"""
from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

from ._family import family, library


@family
def classes(nn):
    """DenseNet on the namespace `nn` (macrograd.nn or torch.nn)."""
    cat = library(nn).cat
    F = nn.functional

    class DenseLayer(nn.Module):
        """BN-ReLU-conv1x1 (to bn_size * growth_rate) -> BN-ReLU-conv3x3 (to growth_rate), on the
        concatenation of all earlier feature maps of the block."""

        def __init__(self, num_input_features, growth_rate, bn_size, drop_rate):
            super().__init__()
            self.norm1 = nn.BatchNorm2d(num_input_features)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
            self.drop_rate = float(drop_rate)

        def forward(self, features):
            x = cat(features, 1)
            x = self.conv1(self.relu1(self.norm1(x)))
            x = self.conv2(self.relu2(self.norm2(x)))
            if self.drop_rate > 0:
                x = F.dropout(x, p=self.drop_rate, training=self.training)
            return x

    class DenseBlock(nn.ModuleDict):
        """num_layers DenseLayers; layer i sees num_input_features + i * growth_rate channels.
        Output: all maps concatenated (num_input_features + num_layers * growth_rate)."""

        def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate):
            super().__init__()
            for i in range(num_layers):
                layer = DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
                self.add_module(f"denselayer{i + 1}", layer)

        def forward(self, init_features):
            features = [init_features]
            for layer in self.values():
                features.append(layer(features))
            return cat(features, 1)

    class Transition(nn.Sequential):
        """BN-ReLU-conv1x1 (compress channels) -> 2x2 average pool (halve the resolution)."""

        def __init__(self, num_input_features, num_output_features):
            super().__init__()
            self.norm = nn.BatchNorm2d(num_input_features)
            self.relu = nn.ReLU(inplace=True)
            self.conv = nn.Conv2d(num_input_features, num_output_features, 1, bias=False)
            self.pool = nn.AvgPool2d(2, stride=2)

    class DenseNet(nn.Module):
        """stem, dense blocks with transitions between them, BN, ReLU, global average pool,
        linear. small_input=True: the stem is one 3x3 stride-1 conv (the CIFAR DenseNets);
        otherwise torchvision's 7x7 stride-2 conv, BN, ReLU, 3x3 max-pool."""

        def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                     drop_rate=0.0, num_classes=1000, in_channels=3, compression=0.5, small_input=False):
            super().__init__()
            if not 0 < compression <= 1:
                raise ValueError(f"DenseNet: compression must be in (0, 1], got {compression}")
            if small_input:
                stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False))]
            else:
                stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
                        ("norm0", nn.BatchNorm2d(num_init_features)),
                        ("relu0", nn.ReLU(inplace=True)),
                        ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]
            self.features = nn.Sequential(OrderedDict(stem))
            channels = num_init_features
            for i, num_layers in enumerate(block_config):
                block = DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate)
                self.features.add_module(f"denseblock{i + 1}", block)
                channels += num_layers * growth_rate
                if i != len(block_config) - 1:
                    out = int(channels * compression)
                    self.features.add_module(f"transition{i + 1}", Transition(channels, out))
                    channels = out
            self.features.add_module("norm5", nn.BatchNorm2d(channels))
            self.classifier = nn.Linear(channels, num_classes)
            for m in self.modules():  # torchvision's init
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = F.relu(self.features(x))
            return self.classifier(x.mean(dim=(2, 3)))  # global average pool

    return SimpleNamespace(DenseLayer=DenseLayer, DenseBlock=DenseBlock, Transition=Transition,
                           DenseNet=DenseNet)


def densenet_bc40(num_classes=10, in_channels=3, growth_rate=12, drop_rate=0.0, nn=None):
    """DenseNet-BC for small images: L = 40 (3 blocks of 6 bottleneck layers), k = 12, a 3x3
    stem to 2k channels, compression 0.5 (about 0.18M parameters)."""
    return classes(nn).DenseNet(growth_rate, (6, 6, 6), 2 * growth_rate, 4, drop_rate, num_classes,
                                in_channels, compression=0.5, small_input=True)


def densenet121(num_classes=1000, in_channels=3, small_input=False, drop_rate=0.0, nn=None):
    """DenseNet-121 as in torchvision (k = 32, blocks 6-12-24-16; 7,978,856 parameters at 1000 classes)."""
    return classes(nn).DenseNet(32, (6, 12, 24, 16), 64, 4, drop_rate, num_classes, in_channels,
                                small_input=small_input)


_mg = classes()
DenseLayer, DenseBlock, Transition, DenseNet = _mg.DenseLayer, _mg.DenseBlock, _mg.Transition, _mg.DenseNet
