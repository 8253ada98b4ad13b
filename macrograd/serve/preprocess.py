"""Turning a request into the model's input: JSON arrays checked against the input shape, and
uploaded images decoded, resized and normalised the way the training images were."""
from __future__ import annotations

import io

import numpy as np


class BadInput(ValueError):
    """A request the model cannot take; the message says why (the server answers 4xx with it)."""


def batch_from_json(values, input_shape) -> np.ndarray:
    """A list of numbers shaped like one example, or a list of such examples -> (N, *input_shape)."""
    try:
        array = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadInput("inputs must be a (nested) list of numbers with a rectangular shape") from None
    shape = tuple(input_shape)
    if array.shape == shape:
        array = array[None]
    if array.shape[1:] != shape or len(array) == 0:
        raise BadInput(f"inputs of shape {list(array.shape)} do not match the model's input: expected "
                       f"{list(shape)} or [batch, {', '.join(map(str, shape))}]")
    if not np.isfinite(array).all():
        raise BadInput("inputs contain NaN or infinity")
    return array


def image_from_bytes(data: bytes, input_shape, mean: float, std: float, center_digit: bool) -> np.ndarray:
    """An encoded image (PNG, JPEG, ...) -> a (1, C, H, W) float32 batch normalised as in training."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = input_shape
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise BadInput("the uploaded file is not an image that can be decoded (PNG, JPEG, GIF, BMP, ...)") from None
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        # a drawing on a transparent canvas: the strokes are the opaque pixels
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("L" if channels == 1 else "RGB")
    if center_digit:
        pixels = center_like_mnist(np.asarray(image, dtype=np.float32))
    else:
        pixels = np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.float32)
    pixels = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    return ((pixels / 255.0 - mean) / std)[None].astype(np.float32)


def center_like_mnist(gray: np.ndarray, size: int = 28, box: int = 20) -> np.ndarray:
    """MNIST's own preprocessing: the digit's bounding box scaled to fit `box` x `box`, placed in a
    `size` x `size` frame with its centre of mass at the centre. Bright strokes on dark ground."""
    from PIL import Image

    if gray.mean() > 127:  # dark strokes on light paper: invert to MNIST's polarity
        gray = 255.0 - gray
    ys, xs = np.nonzero(gray > 30)
    if len(ys) == 0:
        return np.zeros((size, size), np.float32)
    crop = gray[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    digit = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((w, h), Image.LANCZOS), np.float32)
    frame = np.zeros((size, size), np.float32)
    total = digit.sum()
    cy, cx = ((np.indices(digit.shape) * digit).sum(axis=(1, 2)) / total) if total else (h / 2, w / 2)
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    frame[top:top + h, left:left + w] = digit
    return frame
