"""M2NIST-style canvases for semantic segmentation: a few MNIST digits placed on a larger black
canvas, with a per-pixel label map (0 = background, 1 + d = digit d, so 11 classes).

    canvases = digit_canvases(images, labels, count=5000, height=64, width=64, seed=0)
    canvases.images    # float32 (5000, 1, 64, 64) in [0, 1]
    canvases.masks     # int64 (5000, 64, 64) in 0..10

Each canvas holds between `digits[0]` and `digits[1]` digits. A digit's labelled pixels are
those with intensity > `threshold`; their bounding box (the "ink box") is what must not touch
another digit's: every placement is drawn uniformly so that the ink lies inside the canvas
(the 28x28 patch itself may hang over the edge), and is redrawn (up to `tries` times) while
its ink box comes closer than `gap` pixels to an ink box already on the canvas. A digit that
finds no free spot is left out, so crowded canvases can hold fewer digits than were drawn;
`sources` and `labels` record exactly what was placed. Overlapping faint strokes (below the
threshold) combine by maximum, as ink on paper would.

The digits come only from the arrays passed in: build training canvases from the MNIST
training split and test canvases from the test split, and no test digit is ever seen in training.
Everything is vectorised over canvases; the only loops are over the (at most a few) digit slots
and the placement retries.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANVAS_CLASSES = ["background"] + [str(d) for d in range(10)]


@dataclass
class Canvases:
    """Canvases, their label maps, and what was placed where (slot j of canvas i)."""

    images: np.ndarray  # float32 (N, 1, H, W) in [0, 1]
    masks: np.ndarray  # int64 (N, H, W): 0 background, 1 + d where digit d's intensity > threshold
    sources: np.ndarray  # int64 (N, slots): index of the placed digit in the source arrays, -1 for none
    labels: np.ndarray  # int64 (N, slots): the placed digit's class, -1 for none
    positions: np.ndarray  # int64 (N, slots, 2): (top, left) of its patch on the canvas (may be < 0)

    def __len__(self) -> int:
        return len(self.images)


def ink_boxes(digits: np.ndarray, threshold: float) -> np.ndarray:
    """int64 (..., 4): (top, left, bottom, right) of the pixels > threshold in each (h, w) image,
    bottom and right exclusive; an image with no such pixel gets the empty box (0, 0, 0, 0)."""
    ink = digits > threshold
    rows, cols = ink.any(axis=-1), ink.any(axis=-2)
    h, w = digits.shape[-2:]
    top, left = rows.argmax(axis=-1), cols.argmax(axis=-1)
    bottom, right = h - rows[..., ::-1].argmax(axis=-1), w - cols[..., ::-1].argmax(axis=-1)
    box = np.stack([top, left, bottom, right], axis=-1)
    return np.where(rows.any(axis=-1)[..., None], box, 0).astype(np.int64)


def _too_close(box, others, gap: int) -> np.ndarray:
    """(n, k) bool: does box (n, 4) come within `gap` pixels of each of others (n, k, 4)?
    Two boxes keep a gap of g when one ends at least g pixels before the other starts, in rows or in columns."""
    box = box[:, None, :]
    apart_rows = (box[..., 0] >= others[..., 2] + gap) | (others[..., 0] >= box[..., 2] + gap)
    apart_cols = (box[..., 1] >= others[..., 3] + gap) | (others[..., 1] >= box[..., 3] + gap)
    return ~(apart_rows | apart_cols)


def digit_canvases(images, labels, count: int, height: int = 64, width: int = 64, digits=(1, 3),
                   threshold: float = 0.5, gap: int = 1, tries: int = 30, seed=0) -> Canvases:
    """`count` canvases of `height` x `width` built from `images` ((M, h, w), uint8 0-255 or
    float in [0, 1]) with their `labels` ((M,) in 0..9); see the module docstring for the rules.
    `seed` (an int or a sequence of ints) fixes the digits drawn, their number and their places."""
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    low, high = digits
    if images.ndim != 3 or len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"digit_canvases: expected images (M, h, w) and labels (M,), got {images.shape} and {labels.shape}")
    if not 1 <= low <= high:
        raise ValueError(f"digit_canvases: digits must be (min, max) with 1 <= min <= max, got {digits}")
    if count < 0 or gap < 0 or tries < 1:
        raise ValueError(f"digit_canvases: count and gap must be >= 0 and tries >= 1, got {count}, {gap}, {tries}")
    h, w = images.shape[1:]
    if height < h or width < w:
        raise ValueError(f"digit_canvases: a {height}x{width} canvas cannot hold {h}x{w} digits")
    rng = np.random.default_rng(seed)
    scale = 255.0 if images.dtype == np.uint8 else 1.0

    number = rng.integers(low, high + 1, size=count)  # digits wanted on each canvas
    picks = rng.choice(len(images), size=(count, high), replace=count * high > len(images))
    patches = images[picks].astype(np.float32) / scale  # (count, slots, h, w)
    ink = ink_boxes(patches, threshold)  # in patch coordinates

    # Place slot by slot; within a slot, every canvas still looking for a spot draws again.
    placed = np.zeros((count, high), dtype=bool)
    positions = np.zeros((count, high, 2), dtype=np.int64)
    for slot in range(high):
        waiting = np.flatnonzero(number > slot)
        for _ in range(tries):
            if not len(waiting):
                break
            box = ink[waiting, slot]
            # the ink must land inside the canvas: top in [-ink top, height - ink bottom]
            top = -box[:, 0] + (rng.random(len(waiting)) * (height - box[:, 2] + box[:, 0] + 1)).astype(np.int64)
            left = -box[:, 1] + (rng.random(len(waiting)) * (width - box[:, 3] + box[:, 1] + 1)).astype(np.int64)
            on_canvas = box + np.stack([top, left, top, left], axis=1)
            previous = ink[waiting, :slot] + np.concatenate([positions[waiting, :slot]] * 2, axis=2)
            clash = (_too_close(on_canvas, previous, gap) & placed[waiting, :slot]).any(axis=1)
            done = waiting[~clash]
            positions[done, slot] = np.stack([top, left], axis=1)[~clash]
            placed[done, slot] = True
            waiting = waiting[clash]

    # Paste onto a canvas padded by one patch on every side (patches may hang over the edge).
    canvas = np.zeros((count, height + 2 * h, width + 2 * w), dtype=np.float32)
    mask = np.zeros(canvas.shape, dtype=np.int64)
    rows, cols = np.arange(h), np.arange(w)
    for slot in range(high):
        on = np.flatnonzero(placed[:, slot])
        r = (positions[on, slot, 0] + h)[:, None, None] + rows[None, :, None]
        c = (positions[on, slot, 1] + w)[:, None, None] + cols[None, None, :]
        n = on[:, None, None]
        patch = patches[on, slot]
        canvas[n, r, c] = np.maximum(canvas[n, r, c], patch)
        mask[n, r, c] = np.where(patch > threshold, 1 + labels[picks[on, slot]][:, None, None], mask[n, r, c])
    crop = (slice(None), slice(h, h + height), slice(w, w + width))
    sources = np.where(placed, picks, -1)
    return Canvases(np.ascontiguousarray(canvas[crop][:, None]), np.ascontiguousarray(mask[crop]), sources,
                    np.where(placed, labels[picks], -1), np.where(placed[..., None], positions, 0))
