"""VGG (Simonyan, Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015), scaled to 28/32-pixel images.

The idea: depth from one uniform brick. Only 3x3 convolutions (two stacked see 5x5, three see
7x7, with fewer weights and more nonlinearities than one big filter) and 2x2 max-pools that
halve the resolution while the width doubles (64 -> 128 -> 256 -> 512). Configurations A, B, D,
E are 11, 13, 16 and 19 weight layers; batch_norm=True adds BN after each conv (the "_bn"
models of torchvision, which made VGG trainable without the paper's staged initialisation).

    model = vgg16(num_classes=10, in_channels=3, batch_norm=True, width_mult=0.5)

Scaling to small images: the last max-pool is dropped (a 28-pixel image would reach 0x0) and
the 7x7x512 -> 4096 classifier becomes global average pooling -> 512 -> 512 -> classes; widths
scale by width_mult. Attribute names follow torchvision: features, avgpool, classifier.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family

# torchvision's configurations: numbers are conv widths, "M" a 2x2 max-pool.
CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


@family
def classes(nn):
    """VGG on the namespace `nn` (macrograd.nn or torch.nn)."""

    def make_features(cfg, in_channels, batch_norm, width_mult):
        layers = []
        # Small images: no final pool (four halvings take 32 -> 2 and 28 -> 1).
        cfg = cfg[:-1] if cfg and cfg[-1] == "M" else cfg
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
                continue
            width = max(1, int(round(v * width_mult)))
            layers.append(nn.Conv2d(in_channels, width, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            in_channels = width
        return nn.Sequential(*layers), in_channels

    class VGG(nn.Module):
        """features (3x3 conv [BN] ReLU blocks and max-pools, per cfg), global average pool,
        classifier linear-relu-dropout, linear-relu-dropout, linear."""

        def __init__(self, cfg="D", num_classes=10, in_channels=3, batch_norm=False, width_mult=1.0,
                     hidden=512, dropout=0.5):
            super().__init__()
            if isinstance(cfg, str):
                if cfg not in CFGS:
                    raise ValueError(f"VGG: cfg must be one of {sorted(CFGS)} or a list, got {cfg!r}")
                cfg = CFGS[cfg]
            self.features, channels = make_features(cfg, in_channels, batch_norm, width_mult)
            hidden = max(1, int(round(hidden * width_mult)))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Sequential(
                nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
            for m in self.modules():  # torchvision's init
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return SimpleNamespace(VGG=VGG)


def _builder(cfg, depth):
    def build(num_classes=10, in_channels=3, batch_norm=False, width_mult=1.0, nn=None, **kwargs):
        return classes(nn).VGG(cfg, num_classes, in_channels, batch_norm, width_mult, **kwargs)
    build.__name__ = build.__qualname__ = f"vgg{depth}"
    build.__doc__ = f"VGG-{depth} (configuration {cfg}) for small images."
    return build


vgg11, vgg13, vgg16, vgg19 = (_builder(c, d) for c, d in (("A", 11), ("B", 13), ("D", 16), ("E", 19)))
VGG = classes().VGG
