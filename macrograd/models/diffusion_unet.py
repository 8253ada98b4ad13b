"""The noise-prediction network of a diffusion model: a small U-Net conditioned on the time step
and, optionally, on a class (Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", 2020;
the class embedding with a "null" class is Ho & Salimans' classifier-free guidance, 2022).

The idea: one network eps_theta(x_t, t, y) must denoise at every noise level, so it is told the
level. t is turned into a vector by sinusoidal features (as the Transformer's positions), an MLP
maps it to an embedding, and every residual block adds that embedding (projected to its channel
count) to its feature maps: a per-channel bias that says "this much noise". A class label is
one more learned embedding added to the same vector; the extra index `num_classes` is the null
class ("no label"), which training uses for a share of examples so that the same network also
predicts the unconditional noise that guidance needs.

    net = diffusion_unet(in_channels=1, base_channels=32, channel_mults=(1, 2), num_classes=10)
    eps = net(x_t, t, y)           # x_t (N, 1, 28, 28), t (N,) int64, y (N,) int64 or None

Layout (channel_mults=(1, 2), 28x28): conv_in -> [ResBlock 32 @28] -> down -> [ResBlock 64 @14]
-> middle ResBlock 64 -> [ResBlock (64+64 -> 64) @14] -> up -> [ResBlock (64+32 -> 32) @28]
-> GroupNorm, SiLU, conv_out. Each level keeps its output as the skip, as in the U-Net.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

from ._family import family, library


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 (or fewer, dividing the channel count)."""
    return math.gcd(8, channels)


@family
def classes(nn):
    """The time-conditioned U-Net on the namespace `nn` (macrograd.nn or torch.nn)."""
    lib = library(nn)
    cat = lib.cat

    class SinusoidalEmbedding(nn.Module):
        """t -> [sin(t w_k), cos(t w_k)], w_k = 10000^(-k/half), k = 0..half-1."""

        def __init__(self, dim):
            super().__init__()
            if dim % 2:
                raise ValueError(f"SinusoidalEmbedding: dim must be even, got {dim}")
            self.dim = dim

        def forward(self, t):
            half = self.dim // 2
            freqs = lib.exp(lib.arange(half, dtype=lib.float32) * (-math.log(10000.0) / half))
            args = t.float()[:, None] * freqs[None, :]
            return cat([args.sin(), args.cos()], dim=-1)

    class ResBlock(nn.Module):
        """GN -> SiLU -> conv3x3 -> (+ projected embedding) -> GN -> SiLU -> dropout -> conv3x3,
        plus the input (through a 1x1 conv when the channel count changes)."""

        def __init__(self, in_channels, out_channels, emb_dim, dropout=0.0):
            super().__init__()
            self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            self.emb = nn.Linear(emb_dim, out_channels)
            self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
            self.dropout = nn.Dropout(dropout)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
            self.act = nn.SiLU()
            self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

        def forward(self, x, emb):
            h = self.conv1(self.act(self.norm1(x)))
            h = h + self.emb(emb)[:, :, None, None]  # the noise level (and class) as a channel bias
            h = self.conv2(self.dropout(self.act(self.norm2(h))))
            return h + self.skip(x)

    class DiffusionUNet(nn.Module):
        """eps_theta(x_t, t, y): `len(channel_mults)` levels of `num_res_blocks` ResBlocks, stride-2
        conv down and nearest-upsample + conv up between levels, skips concatenated."""

        def __init__(self, in_channels=1, base_channels=32, channel_mults=(1, 2), num_res_blocks=1,
                     num_classes=0, dropout=0.0):
            super().__init__()
            if not channel_mults:
                raise ValueError("DiffusionUNet: channel_mults must name at least one level")
            self.num_classes = num_classes
            emb_dim = 4 * base_channels
            self.time_embed = nn.Sequential(SinusoidalEmbedding(base_channels), nn.Linear(base_channels, emb_dim),
                                            nn.SiLU(), nn.Linear(emb_dim, emb_dim))
            # index num_classes is the null class of classifier-free guidance
            self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
            widths = [base_channels * m for m in channel_mults]
            self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
            self.down_blocks = nn.ModuleList()
            self.downsamples = nn.ModuleList()
            skip_widths, width = [], base_channels
            for level, out in enumerate(widths):
                for _ in range(num_res_blocks):
                    self.down_blocks.append(ResBlock(width, out, emb_dim, dropout))
                    width = out
                    skip_widths.append(width)
                if level < len(widths) - 1:
                    self.downsamples.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
            self.middle = ResBlock(width, width, emb_dim, dropout)
            self.up_blocks = nn.ModuleList()
            self.upsamples = nn.ModuleList()
            for level, out in reversed(list(enumerate(widths))):
                for _ in range(num_res_blocks):
                    self.up_blocks.append(ResBlock(width + skip_widths.pop(), out, emb_dim, dropout))
                    width = out
                if level > 0:
                    self.upsamples.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                        nn.Conv2d(width, width, 3, padding=1)))
            self.norm_out = nn.GroupNorm(_groups(width), width)
            self.act = nn.SiLU()
            self.conv_out = nn.Conv2d(width, in_channels, 3, padding=1)
            self.num_res_blocks = num_res_blocks
            self.levels = len(widths)

        def forward(self, x, t, y=None):
            emb = self.time_embed(t)
            if self.class_embed is not None:
                if y is None:  # unconditional: every example gets the null class
                    y = lib.full((x.shape[0],), self.num_classes, dtype=lib.int64)
                emb = emb + self.class_embed(y)
            h = self.conv_in(x)
            skips, blocks = [], iter(self.down_blocks)
            for level in range(self.levels):
                for _ in range(self.num_res_blocks):
                    h = next(blocks)(h, emb)
                    skips.append(h)
                if level < self.levels - 1:
                    h = self.downsamples[level](h)
            h = self.middle(h, emb)
            blocks, ups = iter(self.up_blocks), iter(self.upsamples)
            for level in reversed(range(self.levels)):
                for _ in range(self.num_res_blocks):
                    skip = skips.pop()
                    if h.shape[-1] != skip.shape[-1] or h.shape[-2] != skip.shape[-2]:
                        h = h[:, :, :skip.shape[-2], :skip.shape[-1]]  # odd sizes: 7 -> 4 -> 8 meets 7
                    h = next(blocks)(cat([h, skip], 1), emb)
                if level > 0:
                    h = next(ups)(h)
            return self.conv_out(self.act(self.norm_out(h)))

    return SimpleNamespace(SinusoidalEmbedding=SinusoidalEmbedding, ResBlock=ResBlock, DiffusionUNet=DiffusionUNet)


def diffusion_unet(in_channels=1, base_channels=32, channel_mults=(1, 2), num_res_blocks=1, num_classes=0,
                   dropout=0.0, nn=None):
    """The noise-prediction U-Net; num_classes > 0 adds a class embedding with a null class."""
    return classes(nn).DiffusionUNet(in_channels, base_channels, tuple(channel_mults), num_res_blocks,
                                     num_classes, dropout)


_mg = classes()
SinusoidalEmbedding, ResBlock, DiffusionUNet = _mg.SinusoidalEmbedding, _mg.ResBlock, _mg.DiffusionUNet
