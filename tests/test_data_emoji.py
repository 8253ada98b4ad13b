"""The emoji loader: the real file's counts, compositing, masks, and a split that keeps skin-tone
variants of one picture together."""
import os

import numpy as np
import pytest

from macrograd.data import DatasetNotFoundError, load_emoji
from macrograd.data.emoji import base_key

SHARED = "/work/shared/data"


@pytest.fixture(autouse=True)
def _data_env(monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", os.environ.get("MACROGRAD_DATA") or SHARED)


@pytest.fixture(scope="module")
def emoji():
    os.environ.setdefault("MACROGRAD_DATA", SHARED)
    return load_emoji()


def test_counts_and_categories(emoji):
    assert len(emoji) == 3786 and emoji.images.shape == (3786, 64, 64, 4) and emoji.images.dtype == np.uint8
    assert len(emoji.category_names) == 10 and "Food & Drink" in emoji.category_names
    counts = np.bincount(emoji.labels, minlength=10)
    assert counts[emoji.category_names.index("People & Body")] == 2261
    assert counts[emoji.category_names.index("Food & Drink")] == 131
    hot_dog = emoji.names.index("hot dog")
    assert emoji.categories[hot_dog] == "Food & Drink"


def test_rgb_composites_on_white_and_shrinks_by_block_average(emoji):
    full = emoji.rgb(64)
    assert full.shape == (3786, 3, 64, 64) and full.dtype == np.float32
    transparent = emoji.images[..., 3] == 0
    assert np.all(full.transpose(0, 2, 3, 1)[transparent] == 1.0)  # background shows where alpha is 0
    small = emoji.rgb(16)
    np.testing.assert_allclose(small, full.reshape(3786, 3, 16, 4, 16, 4).mean(axis=(3, 5)), atol=1e-6)
    with pytest.raises(ValueError, match="size must divide 64"):
        emoji.rgb(48)


def test_mask_is_the_alpha_channel(emoji):
    mask = emoji.mask()
    np.testing.assert_array_equal(mask[:, 0], emoji.images[..., 3] / np.float32(255))
    binary = emoji.mask(32, threshold=0.5)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    assert 0.2 < binary.mean() < 0.8  # emoji fill a good part of their square


def test_split_keeps_skin_tone_variants_together(emoji):
    train, test = emoji.split(test_fraction=0.15, seed=0)
    assert len(train) + len(test) == len(emoji) and not set(train) & set(test)
    assert {emoji.groups[i] for i in train}.isdisjoint({emoji.groups[i] for i in test})
    assert 0.08 < len(test) / len(emoji) < 0.25
    again, _ = emoji.split(test_fraction=0.15, seed=0)
    other, _ = emoji.split(test_fraction=0.15, seed=1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    santa = [i for i, n in enumerate(emoji.names) if n == "father christmas"]
    assert len(santa) == 6 and len({emoji.groups[i] for i in santa}) == 1


def test_base_key_drops_skin_tone_modifiers():
    assert base_key("1f385-1f3fb.png") == base_key("1f385.png") == "1f385"
    assert base_key("1f9d1-1f3fd-200d-1f91d-200d-1f9d1-1f3ff.png") == "1f9d1-200d-1f91d-200d-1f9d1"


def test_missing_files_name_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path))
    monkeypatch.setenv("MACROGRAD_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match="emoji64.npz"):
        load_emoji()
