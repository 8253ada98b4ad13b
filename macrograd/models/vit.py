"""Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
Image Recognition at Scale", ICLR 2021).

The idea: cut the image into patches, treat each patch as a word, and run a plain Transformer
encoder over them; a learned [class] token collects what the head needs. No convolution
hierarchy, no built-in translation equivariance: with enough data (or augmentation) attention
learns where to look on its own.

    z_0 = [x_cls; E p_1; ...; E p_N] + E_pos        (patch embedding E: a p x p conv, stride p)
    z_l = z + MSA(LN(z)),  then + MLP(LN(z))        (pre-LN encoder, GELU, `depth` times)
    y   = head(LN(z_L)[0])                          (the class token; or the mean with pool="mean")

    model = vit(num_classes=10, in_channels=1, image_size=28)        # 7x7 patches of 4x4 pixels
    model = vit(in_channels=3, image_size=32, patch_size=4, dim=128, depth=6)

A conv with kernel = stride = patch size is exactly "flatten each patch and apply one Linear":
it is one GEMM over non-overlapping windows.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family, library


@family
def classes(nn):
    """ViT on the namespace `nn` (macrograd.nn or torch.nn)."""
    lib = library(nn)

    class ViT(nn.Module):
        """patch_embed (conv p x p, stride p) -> [cls] + patches + pos_embedding -> dropout ->
        TransformerEncoder (norm_first, GELU, final LayerNorm) -> head on the class token."""

        def __init__(self, num_classes=10, in_channels=3, image_size=32, patch_size=4, dim=64, depth=6,
                     heads=4, mlp_dim=128, dropout=0.0, emb_dropout=0.0, pool="cls"):
            super().__init__()
            if image_size % patch_size:
                raise ValueError(f"ViT: image_size {image_size} is not divisible by patch_size {patch_size}")
            if dim % heads:
                raise ValueError(f"ViT: dim {dim} is not divisible by heads {heads}")
            if pool not in ("cls", "mean"):
                raise ValueError(f"ViT: pool must be 'cls' or 'mean', got {pool!r}")
            self.image_size, self.patch_size, self.pool = image_size, patch_size, pool
            num_patches = (image_size // patch_size) ** 2
            self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
            self.cls_token = nn.Parameter(lib.zeros(1, 1, dim))
            self.pos_embedding = nn.Parameter(lib.zeros(1, num_patches + 1, dim))
            self.dropout = nn.Dropout(emb_dropout)
            layer = nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim),
                                                 enable_nested_tensor=False)
            self.head = nn.Linear(dim, num_classes)
            # ViT's init for the learned tokens: normal, std 0.02, truncated at 2 std (the bounds
            # a, b of trunc_normal_ are absolute: its default +-2 would cut nothing here)
            nn.init.trunc_normal_(self.pos_embedding, std=0.02, a=-0.04, b=0.04)
            nn.init.trunc_normal_(self.cls_token, std=0.02, a=-0.04, b=0.04)

        def forward(self, x):
            if x.ndim != 4 or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
                raise ValueError(f"ViT: expected images (N, C, {self.image_size}, {self.image_size}), "
                                 f"got shape {tuple(x.shape)}")
            x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, patches, dim)
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = self.dropout(lib.cat([cls, x], dim=1) + self.pos_embedding)
            x = self.encoder(x)
            x = x[:, 0] if self.pool == "cls" else x.mean(dim=1)
            return self.head(x)

    return SimpleNamespace(ViT=ViT)


ViT = classes().ViT


def vit(num_classes=10, in_channels=3, image_size=32, patch_size=4, dim=64, depth=6, heads=4,
        mlp_dim=128, dropout=0.0, emb_dropout=0.0, pool="cls", nn=None):
    """A small ViT for 28- and 32-pixel images (4x4 patches: 49 or 64 tokens + the class token)."""
    return classes(nn).ViT(num_classes, in_channels, image_size, patch_size, dim, depth, heads, mlp_dim,
                       dropout, emb_dropout, pool)
