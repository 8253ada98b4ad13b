"""The segmentation experiment: mean IoU (hand-computed cases and a direct set computation), the
M2NIST-style canvas generator (shapes, labels that match the digits placed, seeding, test
canvases built from test digits only), the emoji compositing, bad options, and the --smoke run."""
import dataclasses
import json
import math

import numpy as np
import pytest

from macrograd.data.canvases import CANVAS_CLASSES, digit_canvases, ink_boxes
from macrograd.experiments import segmentation
from macrograd.train import read_jsonl
from macrograd.train.metrics import confusion_matrix, iou_per_class, mean_iou
from experiment_helpers import DATA, data_folder  # noqa: F401 (data_folder is autouse)


def smoke(**changes):
    return dataclasses.replace(segmentation.Config(), **{**segmentation.SMOKE, **changes})


# -- mean IoU -------------------------------------------------------------------------------------
def test_iou_hand_computed():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    # class 0: TP 1, truth 2, predicted 2 -> 1 / 3; class 1: TP 2, truth 2, predicted 3 -> 2 / 3;
    # class 2: TP 1, truth 2, predicted 1 -> 1 / 2
    matrix = confusion_matrix(pred, truth, 3)
    np.testing.assert_allclose(iou_per_class(matrix), [1 / 3, 2 / 3, 1 / 2])
    assert mean_iou(matrix) == pytest.approx(0.5)
    # a fourth class in neither truth nor prediction is left out of the mean, not scored 0 or 1
    wide = confusion_matrix(pred, truth, 4)
    assert math.isnan(iou_per_class(wide)[3]) and mean_iou(wide) == pytest.approx(0.5)
    # a class only predicted (a false alarm) scores 0 and does count
    assert mean_iou(confusion_matrix([0, 3], [0, 0], 4)) == pytest.approx((1 / 2 + 0) / 2)
    assert mean_iou(confusion_matrix([1, 1, 0], [1, 1, 0], 2)) == 1.0
    assert math.isnan(mean_iou(np.zeros((3, 3), dtype=np.int64)))


def test_iou_equals_set_computation():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=(4, 16, 16))
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 6, size=truth.shape))
    iou = iou_per_class(confusion_matrix(pred, truth, 7))
    for c in range(7):
        union = ((pred == c) | (truth == c)).sum()
        direct = ((pred == c) & (truth == c)).sum() / union if union else np.nan
        np.testing.assert_allclose(iou[c], direct, equal_nan=True)
    assert math.isnan(iou[6])  # class 6 is nowhere
    np.testing.assert_allclose(mean_iou(confusion_matrix(pred, truth, 7)), np.nanmean(iou))


# -- canvases -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist():
    """The real MNIST (module-scoped fixtures run before the function-scoped data_folder)."""
    from macrograd.experiments.common import read_images

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MACROGRAD_DATA", str(DATA))
        return read_images("mnist")


def assert_canvases_match(canvases, images, labels, threshold=0.5):
    """Every labelled pixel is explained by a placed digit: re-paste each recorded digit and compare."""
    h, w = images.shape[1:]
    height, width = canvases.masks.shape[1:]
    for i in range(len(canvases)):
        expected_mask = np.zeros((height + 2 * h, width + 2 * w), dtype=np.int64)
        expected_image = np.zeros(expected_mask.shape, dtype=np.float32)
        for source, label, (top, left) in zip(canvases.sources[i], canvases.labels[i], canvases.positions[i]):
            if source < 0:
                assert label == -1
                continue
            assert label == labels[source]
            digit = images[source].astype(np.float32) / 255.0
            region = (slice(top + h, top + 2 * h), slice(left + w, left + 2 * w))
            assert not (expected_mask[region] & (digit > threshold)).any(), "ink of two digits overlaps"
            expected_mask[region] = np.where(digit > threshold, 1 + label, expected_mask[region])
            expected_image[region] = np.maximum(expected_image[region], digit)
        crop = (slice(h, h + height), slice(w, w + width))
        np.testing.assert_array_equal(canvases.masks[i], expected_mask[crop])
        np.testing.assert_allclose(canvases.images[i, 0], expected_image[crop])
        # all the ink of every placed digit lies on the canvas
        ink = sum((images[s] / 255.0 > threshold).sum() for s in canvases.sources[i] if s >= 0)
        assert (canvases.masks[i] > 0).sum() == ink


def test_canvases_shapes_labels_and_seed(mnist):
    x, y = mnist[0][:2000], mnist[1][:2000]
    c = digit_canvases(x, y, 40, height=64, width=84, digits=(1, 3), seed=3)
    assert c.images.shape == (40, 1, 64, 84) and c.images.dtype == np.float32
    assert c.masks.shape == (40, 64, 84) and c.masks.dtype == np.int64
    assert 0.0 <= c.images.min() and c.images.max() <= 1.0 and c.masks.max() < len(CANVAS_CLASSES)
    placed = (c.sources >= 0).sum(axis=1)
    assert placed.min() >= 1 and placed.max() <= 3 and len(set(placed)) > 1
    assert_canvases_match(c, x, y)
    again = digit_canvases(x, y, 40, height=64, width=84, seed=3)
    np.testing.assert_array_equal(again.images, c.images)
    np.testing.assert_array_equal(again.masks, c.masks)
    assert not np.array_equal(digit_canvases(x, y, 40, height=64, width=84, seed=4).masks, c.masks)


def test_canvases_keep_digits_apart_when_crowded(mnist):
    x, y = mnist[0][:500], mnist[1][:500]
    c = digit_canvases(x, y, 30, height=40, width=40, digits=(3, 3), gap=2, seed=0)
    assert_canvases_match(c, x, y)  # no overlapping ink, even where a third digit found no room
    assert (c.sources < 0).any() and (c.sources >= 0).sum(axis=1).min() >= 1
    for i in range(len(c)):
        on = c.sources[i] >= 0
        boxes = ink_boxes(x[c.sources[i][on]] / 255.0, 0.5) + np.tile(c.positions[i][on], 2)
        for a in range(len(boxes)):
            for b in range(a):
                apart = (boxes[a, 0] >= boxes[b, 2] + 2 or boxes[b, 0] >= boxes[a, 2] + 2
                         or boxes[a, 1] >= boxes[b, 3] + 2 or boxes[b, 1] >= boxes[a, 3] + 2)
                assert apart


def test_ink_boxes():
    image = np.zeros((2, 6, 5))
    image[0, 1:3, 2:5] = 1.0
    np.testing.assert_array_equal(ink_boxes(image, 0.5), [[1, 2, 3, 5], [0, 0, 0, 0]])


def test_digit_task_test_canvases_come_from_test_digits(mnist):
    x, y, x_test, y_test, _ = mnist
    data = segmentation.digit_data(smoke(train_canvases=20, val_canvases=10, test_canvases=20))
    test_images, test_masks = data.tests[""]
    from macrograd.data.canvases import Canvases

    # the experiment's test canvases are exactly those built from the MNIST test split with its seed
    rebuilt = digit_canvases(x_test, y_test, 20, seed=[0, 2])
    np.testing.assert_array_equal(rebuilt.images, test_images)
    np.testing.assert_array_equal(rebuilt.masks, test_masks)
    assert isinstance(rebuilt, Canvases)
    assert_canvases_match(rebuilt, x_test, y_test)
    assert data.train[0].shape == (20, 1, 64, 64) and data.val[0].shape == (10, 1, 64, 64)


def test_canvas_bad_input():
    with pytest.raises(ValueError, match="digit_canvases"):
        digit_canvases(np.zeros((3, 28, 28)), np.zeros(3), 5, height=20)
    with pytest.raises(ValueError, match="digits"):
        digit_canvases(np.zeros((3, 28, 28)), np.zeros(3), 5, digits=(2, 1))


# -- emoji ----------------------------------------------------------------------------------------
def test_emoji_composite_equals_emoji_rgb():
    from macrograd.data import load_emoji

    emoji = load_emoji().subset(np.arange(0, 3786, 400))
    rgba = np.concatenate([emoji.rgb(32, background=0.0), emoji.mask(32)], axis=1)
    for colour in (1.0, 0.3):
        np.testing.assert_allclose(segmentation.composite(rgba, colour), emoji.rgb(32, background=colour), atol=1e-6)
    white = segmentation.Background("white").apply_batch(rgba)
    np.testing.assert_allclose(white, emoji.rgb(32), atol=1e-6)
    # random backgrounds: one colour per image, where alpha is 0 the pixel is exactly that colour
    shown = segmentation.Background("random").apply_batch(rgba)
    clear = rgba[:, 3] == 0
    for i in range(len(rgba)):
        background = shown[i][:, clear[i]]  # (3, transparent pixels)
        assert np.ptp(background, axis=1).max() < 1e-6


def test_bad_options_name_the_option(tmp_path):
    for changes, option in (({"tasks": ("emoji", "cats")}, "tasks"), ({"tasks": ()}, "tasks"),
                            ({"emoji_background": "black"}, "emoji_background"), ({"emoji_size": 24}, "emoji_size"),
                            ({"train_canvases": 0}, "train_canvases"), ({"canvas_width": 20}, "canvas_width")):
        with pytest.raises(ValueError, match=f"segmentation: {option}"):
            segmentation.run(smoke(**changes), tmp_path / "bad")


# -- the smoke run --------------------------------------------------------------------------------
def test_smoke_run(tmp_path):
    out = tmp_path / "seg"
    summary = segmentation.run(smoke(), out)
    for key in ("emoji_white_miou", "emoji_white_pixel_acc", "emoji_colour_miou", "digits_miou", "digits_pixel_acc",
                "seconds", "emoji", "digits"):
        assert key in summary, key
    for name in ("config.json", "summary.json", "results.md", "curves.png", "emoji_overlays.png",
                 "digits_overlays.png", "emoji/metrics.jsonl", "digits/metrics.jsonl", "digits/best.safetensors"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "summary.json").read_text())["tasks"] == ["emoji", "digits"]
    epochs = [r for r in read_jsonl(out / "digits" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert len(epochs) == 1 and 0.0 <= epochs[0]["val_miou"] <= 1.0 and "val_loss" in epochs[0]
    digits = summary["digits"]["test"][""]
    assert set(digits["iou"]) == set(CANVAS_CLASSES) and 0.0 <= digits["miou"] <= 1.0
    assert 0.0 <= summary["emoji_white_pixel_acc"] <= 1.0

    # one task only, resumed: the finished task is read back, not retrained
    again = segmentation.run(smoke(tasks=("digits",)), out, resume=True)
    assert again["digits_miou"] == summary["digits_miou"] and "emoji" not in again
