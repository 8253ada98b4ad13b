"""U-Net (Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

The idea: segmentation needs both *what* (deep, coarse features) and *where* (shallow, fine
ones). An encoder halves the resolution and doubles the channels `depth` times; a symmetric
decoder upsamples back, and at every level concatenates the encoder's feature map of the same
resolution (the skip connection) before convolving, so fine detail lost in the bottleneck
comes straight back. The output is one score map per class at the input's resolution.

    model = unet(in_channels=3, num_classes=2, base_channels=32, depth=4)   # (N, 2, H, W) logits
    model = unet(bilinear=True)     # upsample by interpolation + 1x1 conv instead of ConvTranspose2d

Differences from the paper, as in most modern U-Nets: 3x3 convs are padded (the output keeps
the input's size and no cropping is needed) and followed by batch norm. When a size is odd the
upsampled map is zero-padded to the skip's size, so 28 x 28 inputs work too.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family, library


@family
def classes(nn):
    """U-Net on the namespace `nn` (macrograd.nn or torch.nn)."""
    cat = library(nn).cat
    F = nn.functional

    class DoubleConv(nn.Sequential):
        """(3x3 conv -> BN -> ReLU) twice: the unit of every level."""

        def __init__(self, in_channels, out_channels, batch_norm=True):
            layers = []
            for c_in in (in_channels, out_channels):
                layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out_channels))
                layers.append(nn.ReLU(inplace=True))
            super().__init__(*layers)

    class Down(nn.Sequential):
        """2x2 max-pool (halve the resolution) -> DoubleConv (double the channels)."""

        def __init__(self, in_channels, out_channels, batch_norm=True):
            super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, batch_norm))

    class Up(nn.Module):
        """Upsample 2x halving the channels ("up-conv"), concatenate the skip, DoubleConv.
        bilinear=False: a learned 2x2 stride-2 ConvTranspose2d; True: bilinear interpolation then
        a 1x1 conv (cheaper, and free of the checkerboard artefacts of transposed convs)."""

        def __init__(self, in_channels, out_channels, bilinear=False, batch_norm=True):
            super().__init__()
            if bilinear:
                self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                        nn.Conv2d(in_channels, in_channels // 2, 1))
            else:
                self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
            self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels, batch_norm)

        def forward(self, x, skip):
            x = self.up(x)
            dh, dw = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
            if dh or dw:  # odd sizes: 7 -> 3 -> 6 must meet 7
                x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
            return self.conv(cat([skip, x], 1))

    class UNet(nn.Module):
        """inc (DoubleConv to base_channels), `depth` Downs doubling the width, `depth` Ups with
        skips, 1x1 conv to num_classes score maps."""

        def __init__(self, in_channels=1, num_classes=2, base_channels=32, depth=4, bilinear=False,
                     batch_norm=True):
            super().__init__()
            if depth < 1:
                raise ValueError(f"UNet: depth must be at least 1, got {depth}")
            widths = [base_channels * 2 ** i for i in range(depth + 1)]
            self.inc = DoubleConv(in_channels, widths[0], batch_norm)
            self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], batch_norm) for i in range(depth))
            self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], bilinear, batch_norm)
                                     for i in reversed(range(depth)))
            self.outc = nn.Conv2d(widths[0], num_classes, 1)

        def forward(self, x):
            skips = [self.inc(x)]
            for down in self.downs:
                skips.append(down(skips[-1]))
            x = skips.pop()  # the bottleneck
            for up in self.ups:
                x = up(x, skips.pop())
            return self.outc(x)

    return SimpleNamespace(DoubleConv=DoubleConv, Down=Down, Up=Up, UNet=UNet)


def unet(num_classes=2, in_channels=1, base_channels=32, depth=4, bilinear=False, batch_norm=True, nn=None):
    """U-Net with `depth` downsamplings from base_channels; output (N, num_classes, H, W)."""
    return classes(nn).UNet(in_channels, num_classes, base_channels, depth, bilinear, batch_norm)


_mg = classes()
DoubleConv, Down, Up, UNet = _mg.DoubleConv, _mg.Down, _mg.Up, _mg.UNet
