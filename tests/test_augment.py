"""Augmentation (macrograd.data.augment): RandomResizedCrop's resampling equals torch's bilinear
interpolate on the same box, its boxes obey scale and ratio, ColorJitter equals torchvision's
formulas written in torch, everything repeats under mg.manual_seed, and AugmentedLoader
augments every batch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

import macrograd as mg
from macrograd.data import DataLoader, TensorDataset, transforms as T
from macrograd.data.augment import AugmentedLoader, ColorJitter, RandomResizedCrop, resized_crop


def images(n=4, c=1, h=28, w=28, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


@given(st.integers(1, 3), st.integers(6, 20), st.integers(6, 20), st.integers(3, 24), st.integers(3, 24),
       st.integers(0, 1000))
def test_resized_crop_equals_torch_interpolate_of_the_box(c, h, w, out_h, out_w, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((3, c, h, w), dtype=np.float32)
    bh, bw = rng.integers(1, h + 1, 3), rng.integers(1, w + 1, 3)
    top, left = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
    got = resized_crop(x, top, left, bh, bw, (out_h, out_w))
    assert got.shape == (3, c, out_h, out_w) and got.dtype == np.float32
    for i in range(3):
        box = torch.from_numpy(x[i:i + 1, :, top[i]:top[i] + bh[i], left[i]:left[i] + bw[i]].copy())
        want = F.interpolate(box, size=(out_h, out_w), mode="bilinear", align_corners=False)[0].numpy()
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_random_resized_crop_boxes_respect_scale_and_ratio():
    t = RandomResizedCrop(16, scale=(0.3, 0.8), ratio=(0.5, 2.0))
    top, left, h, w = t.get_params(28, 28, 2000)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all()
    area = h * w / (28 * 28)
    # rounding the side lengths moves the area and ratio a little past the drawn bounds
    assert area.min() > 0.3 - 0.06 and area.max() < 0.8 + 0.06
    ratio = w / h
    assert ratio.min() > 0.5 * 0.8 and ratio.max() < 2.0 * 1.25
    assert len(set(zip(top.tolist(), left.tolist(), h.tolist(), w.tolist()))) > 500  # really random per image


def test_random_resized_crop_falls_back_to_the_centre_when_no_box_fits():
    # the ratio range excludes every box a 4x40 image could hold at this scale: centred fallback
    t = RandomResizedCrop(8, scale=(0.99, 1.0), ratio=(5.0, 6.0))
    top, left, h, w = t.get_params(4, 40, 5)
    assert (h == 4).all() and (w == 24).all() and (top == 0).all() and (left == 8).all()  # w = h * max ratio


def test_random_resized_crop_whole_image_is_plain_resize_and_single_image_form():
    x = images(2, 3, 12, 12)
    t = RandomResizedCrop((6, 9), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    want = F.interpolate(torch.from_numpy(x), size=(6, 9), mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(t.apply_batch(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t(x[0]), want[0], rtol=1e-5, atol=1e-6)


def test_random_resized_crop_is_seeded():
    x, t = images(8), RandomResizedCrop(20)
    mg.manual_seed(3)
    a = t.apply_batch(x)
    mg.manual_seed(3)
    b = t.apply_batch(x)
    c = t.apply_batch(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_random_resized_crop_errors():
    with pytest.raises(ValueError, match=r"RandomResizedCrop: expected a \(C, H, W\) image, got shape \(28, 28\)"):
        RandomResizedCrop(8)(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match=r"RandomResizedCrop.apply_batch: expected \(N, C, H, W\)"):
        RandomResizedCrop(8).apply_batch(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(TypeError, match="RandomResizedCrop: input should be a float array.*uint8"):
        RandomResizedCrop(8).apply_batch(np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"scale and ratio should be \(min, max\)"):
        RandomResizedCrop(8, scale=(0.9, 0.1))
    with pytest.raises(ValueError, match="RandomResizedCrop: size should be an int or a"):
        RandomResizedCrop((8, 8, 8))


# -- ColorJitter: fixed factors against torchvision's formulas, written in torch ---------------------
def torch_gray(x):
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def torch_jitter(x, b, c, s):
    """torchvision.transforms.functional: adjust_brightness, adjust_contrast, adjust_saturation."""
    x = (x * b).clamp(0, 1)
    gray = x if x.shape[-3] == 1 else torch_gray(x)
    mean = gray.mean(dim=(-3, -2, -1), keepdim=True)
    x = (c * x + (1 - c) * mean).clamp(0, 1)
    if x.shape[-3] == 3:
        x = (s * x + (1 - s) * torch_gray(x)).clamp(0, 1)
    return x


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("factors", [(1.1, 0.9, 1.2), (0.8, 1.2, 0.7), (1.0, 1.0, 0.0)])
def test_color_jitter_fixed_factors_match_torchvision_formulas(channels, factors):
    b, c, s = factors
    x = images(5, channels, 9, 7)
    jitter = ColorJitter(brightness=(b, b), contrast=(c, c), saturation=(s, s))
    want = torch_jitter(torch.from_numpy(x), b, c, s).numpy()
    np.testing.assert_allclose(jitter.apply_batch(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jitter(x[0]), want[0], rtol=1e-5, atol=1e-6)


def test_color_jitter_draws_factors_per_image_in_range():
    x = np.full((400, 1, 4, 4), 0.5, dtype=np.float32)
    out = ColorJitter(brightness=0.2).apply_batch(x)
    factors = out[:, 0, 0, 0] / 0.5
    assert factors.min() >= 0.8 - 1e-6 and factors.max() <= 1.2 + 1e-6
    assert factors.std() > 0.05  # each image its own factor
    assert (out == out[:, :, :1, :1]).all()  # one factor per image, not per pixel
    assert out.dtype == np.float32


def test_color_jitter_off_is_identity_and_saturation_leaves_grey_alone():
    x = images(3, 1)
    np.testing.assert_array_equal(ColorJitter().apply_batch(x), x)
    np.testing.assert_array_equal(ColorJitter(saturation=0.5).apply_batch(x), x)
    assert ColorJitter(brightness=0).brightness is None


def test_color_jitter_errors():
    with pytest.raises(ValueError, match="ColorJitter: brightness should be non-negative, got -0.1"):
        ColorJitter(brightness=-0.1)
    with pytest.raises(ValueError, match="ColorJitter: contrast values should be between"):
        ColorJitter(contrast=(1.5, 0.5))
    with pytest.raises(ValueError, match=r"ColorJitter.apply_batch: expected \(N, 1 or 3, H, W\) images, got shape \(2, 2, 4, 4\)"):
        ColorJitter(brightness=0.1).apply_batch(np.zeros((2, 2, 4, 4), np.float32))
    with pytest.raises(TypeError, match="ColorJitter: input should be a float array"):
        ColorJitter(brightness=0.1).apply_batch(np.zeros((2, 1, 4, 4), np.uint8))


def test_composed_pipeline_is_seeded_and_batched():
    pipeline = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), RandomResizedCrop(24, scale=(0.5, 1)),
                          ColorJitter(brightness=0.1, contrast=0.1), T.Normalize(0.5, 0.25)])
    assert pipeline.batchable
    x = images(6)
    mg.manual_seed(7)
    a = pipeline.apply_batch(x)
    mg.manual_seed(7)
    b = pipeline.apply_batch(x)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 1, 24, 24) and a.dtype == np.float32


def test_augmented_loader_transforms_every_batch_and_keeps_the_loader_api():
    x = images(10)
    y = np.arange(10)
    base = DataLoader(TensorDataset(mg.tensor(x.reshape(10, -1)), mg.tensor(y)), batch_size=4, shuffle=True,
                      generator=mg.Generator().manual_seed(0))
    flip = T.RandomHorizontalFlip(p=1.0)
    loader = AugmentedLoader(base, flip, image_shape=(1, 28, 28))
    assert len(loader) == 3 and loader.batch_size == 4 and loader.generator is base.generator
    seen = []
    for inputs, targets in loader:
        assert isinstance(inputs, mg.Tensor) and inputs.shape[1:] == (1, 28, 28)
        np.testing.assert_array_equal(inputs.numpy(), x[targets.numpy()][..., ::-1])
        seen += targets.tolist()
    assert sorted(seen) == list(range(10))
    with pytest.raises(TypeError, match="AugmentedLoader: Lambda has no batched form"):
        AugmentedLoader(base, T.Lambda(lambda v: v))
