"""The Noto emoji set: 3,786 colour images, 64x64 RGBA, each with a name, one of 10 categories,
a subcategory and a skin tone ($MACROGRAD_DATA/emoji/emoji64.npz + emoji64.json).

    emoji = load_emoji()                       # every image, uint8 (N, 64, 64, 4)
    rgb = emoji.rgb(size=32)                   # float32 (N, 3, 32, 32) in [0, 1], on white
    mask = emoji.mask()                        # float32 (N, 1, 64, 64): the alpha channel
    train, test = emoji.split(test_fraction=0.15, seed=0)   # index arrays

One set of pictures serves several tasks: category classification, foreground segmentation
(the alpha channel is an exact mask), captioning (the name is the caption) and generation.

The split keeps every skin-tone variant of an emoji on the same side: 1,875 images are another
skin tone of a picture in the set, and a test image whose twin was trained on measures memory,
not generalisation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import DatasetNotFoundError, search_dirs

SKIN_TONES = ("1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff")  # Fitzpatrick modifiers in file names


def emoji_folder(root=None) -> Path:
    """The folder holding emoji64.npz: `root/emoji`, `root`, $MACROGRAD_DATA/emoji or the cache."""
    for folder in search_dirs("emoji", root):
        if (folder / "emoji64.npz").is_file() and (folder / "emoji64.json").is_file():
            return folder
    looked = ", ".join(str(d) for d in search_dirs("emoji", root))
    raise DatasetNotFoundError(
        f"emoji: emoji64.npz and emoji64.json not found (looked in {looked}); "
        "set MACROGRAD_DATA to the shared data folder")


def base_key(image_file: str) -> str:
    """The emoji's file name without skin-tone modifiers: every variant of one picture shares it."""
    parts = image_file.removesuffix(".png").split("-")
    return "-".join(p for p in parts if p.lower() not in SKIN_TONES)


@dataclass
class Emoji:
    """The images (uint8 RGBA, N x 64 x 64 x 4) and their metadata, in the file's order."""

    images: np.ndarray
    names: list[str]
    categories: list[str]  # the category of each image
    category_names: list[str]  # the sorted distinct categories: labels index into this
    labels: np.ndarray  # int64 category id of each image
    groups: list[str]  # base_key of each image (skin-tone variants share one)

    def __len__(self) -> int:
        return len(self.images)

    def rgb(self, size: int = 64, background: float = 1.0) -> np.ndarray:
        """float32 (N, 3, size, size) in [0, 1]: alpha-composited on a plain background (the
        colour of transparent pixels is arbitrary), shrunk by averaging 64/size-square blocks."""
        rgba = self.images.astype(np.float32) / 255.0
        alpha = rgba[..., 3:]
        rgb = rgba[..., :3] * alpha + background * (1.0 - alpha)
        return np.ascontiguousarray(_shrink(rgb, size).transpose(0, 3, 1, 2))

    def mask(self, size: int = 64, threshold: float | None = None) -> np.ndarray:
        """float32 (N, 1, size, size): the alpha channel in [0, 1] (block-averaged when size < 64);
        with `threshold`, 1.0 where alpha > threshold and 0.0 elsewhere."""
        alpha = self.images[..., 3:].astype(np.float32) / 255.0
        alpha = _shrink(alpha, size).transpose(0, 3, 1, 2)
        if threshold is not None:
            alpha = (alpha > threshold).astype(np.float32)
        return np.ascontiguousarray(alpha)

    def split(self, test_fraction: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(train indices, test indices): a seeded split by group, so that all skin-tone variants of
        an emoji land on one side; about `test_fraction` of the images are held out."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"emoji.split: test_fraction must be in (0, 1), got {test_fraction}")
        unique = sorted(set(self.groups))
        order = np.random.default_rng(seed).permutation(len(unique))
        held = {unique[i] for i in order[:max(1, round(test_fraction * len(unique)))]}
        is_test = np.array([g in held for g in self.groups])
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)

    def subset(self, indices) -> "Emoji":
        """The emoji at `indices` (category ids keep their meaning)."""
        indices = np.asarray(indices)
        pick = lambda seq: [seq[i] for i in indices]  # noqa: E731
        return Emoji(self.images[indices], pick(self.names), pick(self.categories), self.category_names,
                     self.labels[indices], pick(self.groups))


def _shrink(images: np.ndarray, size: int) -> np.ndarray:
    """(N, 64, 64, C) -> (N, size, size, C) by averaging blocks (a box filter: no aliasing)."""
    n, h, w, c = images.shape
    if size <= 0 or h % size:
        raise ValueError(f"emoji: size must divide {h}, got {size}")
    k = h // size
    return images.reshape(n, size, k, size, k, c).mean(axis=(2, 4)) if k > 1 else images


def load_emoji(root=None) -> Emoji:
    """Every emoji with its metadata (see the module docstring for where the files are looked for)."""
    folder = emoji_folder(root)
    images = np.load(folder / "emoji64.npz")["images"]
    meta = json.loads((folder / "emoji64.json").read_text())
    if len(meta) != len(images) or images.shape[1:] != (64, 64, 4):
        raise ValueError(f"emoji: {folder} holds {len(images)} images of shape {images.shape[1:]} "
                         f"but {len(meta)} metadata rows; expected matching counts of 64x64x4")
    categories = [m["category"] for m in meta]
    category_names = sorted(set(categories))
    labels = np.array([category_names.index(c) for c in categories], dtype=np.int64)
    return Emoji(images, [m["name"] for m in meta], categories, category_names, labels,
                 [base_key(m["image"]) for m in meta])
