"""ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016).

The idea: a block learns a residual F(x) and outputs relu(F(x) + x). The identity path lets the
gradient reach early layers unchanged, so a 50- or 152-layer net trains as easily as a shallow
one, and a block that is not needed can learn F = 0 instead of having to learn the identity.

    model = resnet18(num_classes=10, in_channels=3, small_input=True)   # CIFAR-sized stem
    twin = resnet18(num_classes=10, nn=torch.nn)                         # identical keys in torch

Attribute names follow torchvision exactly (conv1, bn1, relu, maxpool, layer1..layer4, avgpool,
fc; blocks with conv1/bn1/conv2/bn2(/conv3/bn3) and downsample = Sequential(conv, bn)), so
torchvision's resnet18/34/50 weights map onto these models key for key.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family


@family
def classes(nn):
    """ResNet's modules on the namespace `nn` (macrograd.nn or torch.nn)."""

    def conv3x3(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)

    def conv1x1(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    class BasicBlock(nn.Module):
        """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convs (ResNet-18/34)."""

        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class Bottleneck(nn.Module):
        """1x1 reduce -> 3x3 (carries the stride, as in torchvision's "ResNet v1.5") -> 1x1
        expand by 4, plus the shortcut: deep nets at the cost of shallow ones (ResNet-50+)."""

        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv1x1(inplanes, planes)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = conv3x3(planes, planes, stride)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = conv1x1(planes, planes * self.expansion)
            self.bn3 = nn.BatchNorm2d(planes * self.expansion)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class PadShortcut(nn.Module):
        """The paper's parameter-free shortcut "option A" for CIFAR: subsample by the stride and
        zero-pad the new channels, so ResNet-20 has exactly the paper's 0.27M parameters."""

        def __init__(self, stride, extra_channels):
            super().__init__()
            self.stride = stride
            self.extra_channels = extra_channels

        def forward(self, x):
            x = x[:, :, ::self.stride, ::self.stride]
            half = self.extra_channels // 2
            return nn.functional.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))

    def make_layer(block, inplanes, planes, blocks, stride, shortcut="B"):
        """One stage: the first block may change resolution/width (then the shortcut needs a
        downsample), the others keep it. Returns (stage, channels out)."""
        downsample = None
        out_planes = planes * block.expansion
        if stride != 1 or inplanes != out_planes:
            if shortcut == "A":
                downsample = PadShortcut(stride, out_planes - inplanes)
            else:  # "B": a projection, 1x1 conv + BN
                downsample = nn.Sequential(conv1x1(inplanes, out_planes, stride), nn.BatchNorm2d(out_planes))
        layers = [block(inplanes, planes, stride, downsample)]
        layers += [block(out_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers), out_planes

    def init_weights(model, zero_init_residual):
        """He init (fan_out) for convs, BN as identity; optionally start each residual branch at
        zero (last BN gamma = 0) so every block begins as the identity (Goyal et al. 2017)."""
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in model.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    class ResNet(nn.Module):
        """The ImageNet ResNet: stem, four stages at 64/128/256/512 base width (each halving the
        resolution after the first), global average pooling, one linear layer.

        small_input=True swaps the stem (7x7 stride-2 conv + max-pool, a 4x reduction meant for
        224-pixel images) for a 3x3 stride-1 conv and no pool, for 28/32-pixel images;
        base_width scales every width (64 is the paper's)."""

        def __init__(self, block, layers, num_classes=1000, in_channels=3, small_input=False,
                     zero_init_residual=False, base_width=64):
            super().__init__()
            w = base_width  # the stage widths are w, 2w, 4w, 8w (64 ... 512 in the paper)
            if small_input:
                self.conv1 = nn.Conv2d(in_channels, w, 3, stride=1, padding=1, bias=False)
            else:
                self.conv1 = nn.Conv2d(in_channels, w, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1, channels = make_layer(block, w, w, layers[0], 1)
            self.layer2, channels = make_layer(block, channels, 2 * w, layers[1], 2)
            self.layer3, channels = make_layer(block, channels, 4 * w, layers[2], 2)
            self.layer4, channels = make_layer(block, channels, 8 * w, layers[3], 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(channels, num_classes)
            init_weights(self, zero_init_residual)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    class CifarResNet(nn.Module):
        """The CIFAR ResNet of the paper's section 4.2: a 3x3 conv to 16 channels, three stages
        of n BasicBlocks at 16/32/64 channels on 32/16/8-pixel maps, global pool, linear:
        6n + 2 layers (ResNet-20 has n = 3). shortcut="A" (the paper's, parameter-free) or "B"
        (1x1 projection)."""

        def __init__(self, n=3, num_classes=10, in_channels=3, widths=(16, 32, 64), shortcut="A",
                     zero_init_residual=False):
            super().__init__()
            if shortcut not in ("A", "B"):
                raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.layer1, channels = make_layer(BasicBlock, widths[0], widths[0], n, 1, shortcut)
            self.layer2, channels = make_layer(BasicBlock, channels, widths[1], n, 2, shortcut)
            self.layer3, channels = make_layer(BasicBlock, channels, widths[2], n, 2, shortcut)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(channels, num_classes)
            init_weights(self, zero_init_residual)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(self.avgpool(x).flatten(1))

    return SimpleNamespace(BasicBlock=BasicBlock, Bottleneck=Bottleneck, PadShortcut=PadShortcut,
                           ResNet=ResNet, CifarResNet=CifarResNet)


def resnet18(num_classes=1000, in_channels=3, small_input=False, nn=None, **kwargs):
    """ResNet-18: BasicBlocks [2, 2, 2, 2] (11,689,512 parameters at 1000 classes, RGB)."""
    c = classes(nn)
    return c.ResNet(c.BasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input, **kwargs)


def resnet34(num_classes=1000, in_channels=3, small_input=False, nn=None, **kwargs):
    """ResNet-34: BasicBlocks [3, 4, 6, 3] (21,797,672 parameters at 1000 classes, RGB)."""
    c = classes(nn)
    return c.ResNet(c.BasicBlock, [3, 4, 6, 3], num_classes, in_channels, small_input, **kwargs)


def resnet50(num_classes=1000, in_channels=3, small_input=False, nn=None, **kwargs):
    """ResNet-50: Bottlenecks [3, 4, 6, 3] (25,557,032 parameters at 1000 classes, RGB)."""
    c = classes(nn)
    return c.ResNet(c.Bottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input, **kwargs)


def resnet20(num_classes=10, in_channels=3, shortcut="A", nn=None, **kwargs):
    """The CIFAR ResNet-20 (3 stages x 3 BasicBlocks at 16/32/64 channels, ~0.27M parameters)."""
    return classes(nn).CifarResNet(3, num_classes, in_channels, shortcut=shortcut, **kwargs)


_mg = classes()
BasicBlock, Bottleneck, PadShortcut = _mg.BasicBlock, _mg.Bottleneck, _mg.PadShortcut
ResNet, CifarResNet = _mg.ResNet, _mg.CifarResNet
