"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR
2018) and an EfficientNet-B0-like small net (Tan, Le, "EfficientNet: Rethinking Model Scaling
for Convolutional Neural Networks", ICML 2019), both for 28/32-pixel images.

The ideas:
- Depthwise-separable convolution: a k x k conv per channel (groups = channels) followed by a
  1x1 conv that mixes channels costs about 1/k^2 of a full conv (MobileNet v1).
- Inverted residual with a linear bottleneck (v2): expand a thin tensor 6x with a 1x1 conv,
  filter it depthwise, project it back to thin with a 1x1 conv and *no* activation (ReLU on a
  low-dimensional tensor destroys information), and put the residual between the thin ends.
- Squeeze-and-excitation (Hu et al. 2018): a global-pooled summary of the channels goes through
  a tiny MLP whose sigmoid output rescales each channel - cheap channel attention.
- EfficientNet adds SE and SiLU (swish) to these MBConv blocks, 5x5 kernels in some stages, and
  scales width, depth and resolution together (width_mult, depth_mult here).

    model = efficientnet_small(num_classes=10, in_channels=3)
    model = mobilenet_v2(num_classes=10, width_mult=0.5)

Sized for small images: the stem conv has stride 1 and fewer stages downsample, so 32 and 28
pixel inputs both end on 4x4 maps. Stochastic depth is left out.
Layout (torchvision-like): features (stem, stages of InvertedResidual, head conv), classifier.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

from ._family import family, make_divisible

# (expand_ratio, kernel, stride, out_channels, repeats) per stage.
MOBILENET_V2_STAGES = [(1, 3, 1, 16, 1), (6, 3, 1, 24, 2), (6, 3, 2, 32, 3), (6, 3, 2, 64, 4),
                       (6, 3, 1, 96, 3), (6, 3, 2, 160, 3), (6, 3, 1, 320, 1)]
EFFICIENTNET_B0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                          (6, 5, 1, 112, 3), (6, 5, 1, 192, 4), (6, 3, 1, 320, 1)]


@family
def classes(nn):
    """The MobileNet/EfficientNet family on the namespace `nn` (macrograd.nn or torch.nn)."""
    activations = {"relu6": nn.ReLU6, "silu": nn.SiLU, "relu": nn.ReLU}

    class ConvBNAct(nn.Sequential):
        """conv (no bias) -> BN -> activation (None: a linear layer, for the projection)."""

        def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, groups=1, activation="silu"):
            layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, groups=groups, bias=False),
                      nn.BatchNorm2d(out_channels)]
            if activation is not None:
                layers.append(activations[activation]())
            super().__init__(*layers)

    class SqueezeExcitation(nn.Module):
        """x * sigmoid(fc2(act(fc1(mean_hw(x))))), the fcs as 1x1 convs on the pooled 1x1 map."""

        def __init__(self, channels, squeeze_channels, activation="silu"):
            super().__init__()
            self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
            self.activation = activations[activation]()
            self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
            self.scale_activation = nn.Sigmoid()

        def forward(self, x):
            scale = x.mean(dim=(2, 3), keepdim=True)          # squeeze: (N, C, 1, 1)
            scale = self.fc2(self.activation(self.fc1(scale)))  # excite: a per-channel gate
            return x * self.scale_activation(scale)

    class InvertedResidual(nn.Module):
        """MBConv: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 linear projection, plus x when
        the shape is unchanged (stride 1, same width)."""

        def __init__(self, in_channels, out_channels, stride, expand_ratio, kernel_size=3, se_ratio=0.0,
                     activation="silu"):
            super().__init__()
            if stride not in (1, 2):
                raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
            hidden = in_channels * expand_ratio
            self.use_res_connect = stride == 1 and in_channels == out_channels
            layers = []
            if expand_ratio != 1:
                layers.append(ConvBNAct(in_channels, hidden, 1, activation=activation))
            layers.append(ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden, activation=activation))
            if se_ratio > 0:  # EfficientNet squeezes to a fraction of the block's *input* width
                layers.append(SqueezeExcitation(hidden, max(1, int(in_channels * se_ratio)), activation))
            layers.append(ConvBNAct(hidden, out_channels, 1, activation=None))
            self.block = nn.Sequential(*layers)
            self.out_channels = out_channels

        def forward(self, x):
            out = self.block(x)
            return out + x if self.use_res_connect else out

    class MobileNet(nn.Module):
        """stem conv, stages of inverted residuals, 1x1 head conv, global average pool,
        dropout, linear. `stages` lists (expand_ratio, kernel, stride, channels, repeats);
        width_mult scales channels (rounded to multiples of 8), depth_mult the repeats."""

        def __init__(self, stages, num_classes=10, in_channels=3, width_mult=1.0, depth_mult=1.0,
                     se_ratio=0.0, activation="silu", stem_channels=32, head_channels=1280, stem_stride=1,
                     dropout=0.2):
            super().__init__()
            if activation not in activations:
                raise ValueError(f"MobileNet: activation must be one of {sorted(activations)}, got {activation!r}")
            channels = make_divisible(stem_channels * width_mult)
            features = [ConvBNAct(in_channels, channels, 3, stem_stride, activation=activation)]
            for expand_ratio, kernel, stride, out, repeats in stages:
                out = make_divisible(out * width_mult)
                blocks = []
                for i in range(int(math.ceil(repeats * depth_mult))):
                    blocks.append(InvertedResidual(channels, out, stride if i == 0 else 1, expand_ratio, kernel,
                                                   se_ratio, activation))
                    channels = out
                features.append(nn.Sequential(*blocks))
            head = make_divisible(head_channels * max(1.0, width_mult)) if head_channels else 4 * channels
            features.append(ConvBNAct(channels, head, 1, activation=activation))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))
            for m in self.modules():  # torchvision's init
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = self.features(x).mean(dim=(2, 3))  # global average pool
            return self.classifier(x)

    return SimpleNamespace(ConvBNAct=ConvBNAct, SqueezeExcitation=SqueezeExcitation,
                           InvertedResidual=InvertedResidual, MobileNet=MobileNet)


def mobilenet_v2(num_classes=10, in_channels=3, width_mult=1.0, dropout=0.2, nn=None):
    """MobileNetV2 for small images: ReLU6, no SE, expansion 6, the paper's stages with stem and
    second stage at stride 1 (about 2.2M parameters at width 1, 10 classes)."""
    return classes(nn).MobileNet(MOBILENET_V2_STAGES, num_classes, in_channels, width_mult, 1.0, 0.0,
                                 "relu6", 32, 1280, 1, dropout)


def efficientnet_small(num_classes=10, in_channels=3, width_mult=0.5, depth_mult=0.5, dropout=0.2, nn=None):
    """EfficientNet-B0's MBConv stages (SiLU, SE 0.25, 3x3/5x5 depthwise) at half width and half
    depth, downsampling 8x for small images; head = 4 x the last width."""
    return classes(nn).MobileNet(EFFICIENTNET_B0_STAGES, num_classes, in_channels, width_mult, depth_mult, 0.25,
                                 "silu", 32, None, 1, dropout)


_mg = classes()
ConvBNAct, SqueezeExcitation, InvertedResidual = _mg.ConvBNAct, _mg.SqueezeExcitation, _mg.InvertedResidual
MobileNet = _mg.MobileNet
