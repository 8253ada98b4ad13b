"""macrograd.data against torch.utils.data: datasets, samplers, DataLoader, collate, transforms."""
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from hypothesis import given, strategies as st

import macrograd as mg
from macrograd.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler, Subset,
    TensorDataset, default_collate, random_split, transforms as T,
)


class Squares(Dataset):
    """A dataset without get_batch: the DataLoader must go sample by sample."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i, dtype=np.float32), i * i


def _np(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


# -- datasets ------------------------------------------------------------------------------------
def test_tensor_dataset_indexing_and_size_check():
    x, y = mg.randn(10, 3), mg.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), x.numpy()[4])
    assert yi.item() == 4
    with pytest.raises(ValueError, match=r"size mismatch.*\(10, 3\), \(9,\)"):
        TensorDataset(x, mg.arange(9))


def test_subset_concat_and_add():
    a, b = Squares(3), Squares(4)
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 7
    assert [both[i][1] for i in range(7)] == [0, 1, 4, 0, 1, 4, 9]
    assert both[-1][1] == 9 and both.cumulative_sizes == [3, 7]
    with pytest.raises(IndexError, match="out of range"):
        both[7]
    sub = Subset(b, [3, 1])
    assert len(sub) == 2 and sub[0][1] == 9 and sub[1][1] == 1
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_subset_of_tensor_dataset_keeps_fast_path():
    ds = TensorDataset(np.arange(20) * 10)
    sub = Subset(ds, [5, 2, 7])
    assert hasattr(sub, "get_batch") and not hasattr(Subset(Squares(3), [0]), "get_batch")
    (batch,) = next(iter(DataLoader(sub, batch_size=3)))
    assert batch.tolist() == [50, 20, 70]


@pytest.mark.filterwarnings("ignore:.*split at index:UserWarning")
@given(n=st.integers(1, 60), fractions=st.sampled_from([[0.5, 0.5], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [1.0]]))
def test_random_split_fraction_sizes_match_torch(n, fractions):
    ours = [len(s) for s in random_split(Squares(n), fractions, generator=mg.Generator().manual_seed(0))]
    theirs = [len(s) for s in tud.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))]
    assert ours == theirs


def test_random_split_disjoint_complete_and_seeded():
    parts = random_split(Squares(50), [30, 15, 5], generator=mg.Generator().manual_seed(3))
    indices = [i for p in parts for i in p.indices]
    assert [len(p) for p in parts] == [30, 15, 5] and sorted(indices) == list(range(50))
    again = random_split(Squares(50), [30, 15, 5], generator=mg.Generator().manual_seed(3))
    assert [p.indices for p in parts] == [p.indices for p in again]
    assert parts[0].indices != list(range(30))  # really shuffled
    with pytest.raises(ValueError, match=r"sum of input lengths \(49\) does not equal.*\(50\)"):
        random_split(Squares(50), [30, 19])


# -- collate -------------------------------------------------------------------------------------
def test_default_collate_matches_torch_on_arrays_ints_dicts_tuples():
    rng = np.random.default_rng(0)
    samples = [
        {"x": rng.standard_normal((2, 3)).astype(np.float32), "y": i, "m": np.int32(i), "name": f"s{i}",
         "pair": (rng.integers(0, 5, 4), True)}
        for i in range(5)
    ]
    ours, theirs = default_collate(samples), tud.default_collate(samples)
    assert set(ours) == set(theirs)
    for key in ("x", "y", "m"):
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
        assert ours[key].numpy().dtype == theirs[key].numpy().dtype
    assert ours["name"] == theirs["name"]
    assert isinstance(ours["pair"], list)  # tuples come back as lists, as in torch
    np.testing.assert_array_equal(ours["pair"][0].numpy(), theirs["pair"][0].numpy())
    assert ours["pair"][1].dtype == mg.bool and ours["pair"][1].tolist() == theirs["pair"][1].tolist()


def test_default_collate_floats_tensors_namedtuples_and_errors():
    assert default_collate([0.5, 1.5]).dtype == mg.float32  # the default dtype (torch: float64)
    stacked = default_collate([mg.ones(2), mg.zeros(2)])
    assert stacked.shape == (2, 2) and stacked.tolist() == [[1, 1], [0, 0]]
    Point = namedtuple("Point", "x y")
    point = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(point, Point) and point.x.tolist() == [1, 3] and point.y.dtype == mg.float32
    with pytest.raises(RuntimeError, match=r"equal size, but got \[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


# -- DataLoader ----------------------------------------------------------------------------------
@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), drop_last=st.booleans())
def test_dataloader_len_and_batch_sizes_match_torch(n, batch_size, drop_last):
    ours = DataLoader(TensorDataset(np.arange(n)), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(tud.TensorDataset(torch.arange(n)), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert [len(b[0]) for b in ours] == [len(b[0]) for b in theirs]


@pytest.mark.parametrize("make", [lambda: TensorDataset(np.arange(23) * 2, np.arange(23) % 3), lambda: Squares(23)])
def test_dataloader_sequential_batches_fast_and_slow_paths(make):
    ds = make()
    batches = list(DataLoader(ds, batch_size=5))
    assert len(batches) == 5 and isinstance(batches[0], list)
    first = np.concatenate([_np(b[0]) for b in batches])
    expected = np.stack([np.asarray(ds[i][0]) for i in range(23)])
    np.testing.assert_array_equal(first, expected)
    assert all(isinstance(t, mg.Tensor) for b in batches for t in b)
    assert batches[-1][1].dtype == mg.int64


def test_dataloader_shuffle_is_reproducible_with_generator_and_changes_each_epoch():
    ds = TensorDataset(np.arange(100))
    loader = DataLoader(ds, batch_size=10, shuffle=True, generator=mg.Generator().manual_seed(7))
    epoch1 = np.concatenate([b[0].numpy() for b in loader])
    epoch2 = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(epoch1) == list(range(100)) and sorted(epoch2) == list(range(100))
    assert not np.array_equal(epoch1, epoch2) and not np.array_equal(epoch1, np.arange(100))
    again = DataLoader(ds, batch_size=10, shuffle=True, generator=mg.Generator().manual_seed(7))
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in again]), epoch1)
    # Without a generator the global RNG decides, so mg.manual_seed repeats the order.
    mg.manual_seed(1)
    a = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=10, shuffle=True)])
    mg.manual_seed(1)
    b = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=10, shuffle=True)])
    np.testing.assert_array_equal(a, b)


def test_dataloader_shuffle_same_order_on_fast_and_slow_paths():
    fast = DataLoader(TensorDataset(np.arange(30)), batch_size=4, shuffle=True,
                      generator=mg.Generator().manual_seed(5), drop_last=True)
    slow = DataLoader(Squares(30), batch_size=4, shuffle=True, generator=mg.Generator().manual_seed(5), drop_last=True)
    order_fast = np.concatenate([b[0].numpy() for b in fast])
    order_slow = np.concatenate([b[1].numpy() for b in slow])
    np.testing.assert_array_equal(order_fast ** 2, order_slow)
    assert len(order_fast) == 28


def test_dataloader_dicts_custom_collate_sampler_and_no_batching():
    class Dicts(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return {"x": np.float32(i), "tag": str(i)}

    batch = next(iter(DataLoader(Dicts(), batch_size=4)))
    assert batch["x"].tolist() == [0, 1, 2, 3] and batch["tag"] == ["0", "1", "2", "3"]
    sizes = [len(b) for b in DataLoader(TensorDataset(np.arange(7)), batch_size=3, collate_fn=lambda b: b)]
    assert sizes == [3, 3, 1]  # the custom collate gets the list of samples
    loader = DataLoader(Squares(5), sampler=[4, 0, 2], batch_size=2)
    assert [b[1].tolist() for b in loader] == [[16, 0], [4]] and len(loader) == 2
    single = list(DataLoader(TensorDataset(np.arange(3)), batch_size=None))
    assert len(single) == 3 and single[2][0].item() == 2
    batches = list(DataLoader(Squares(5), batch_sampler=BatchSampler(RandomSampler(Squares(5)), 2, True)))
    assert len(batches) == 2


def test_dataloader_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_dataloader_argument_errors():
    ds = Squares(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(ds, batch_size=0)


def test_dataloader_fast_path_is_fast():
    import time

    ds = TensorDataset(np.zeros((60000, 1, 28, 28), np.float32), np.zeros(60000, np.int64))
    start = time.perf_counter()
    count = sum(len(y) for _, y in DataLoader(ds, batch_size=64, shuffle=True))
    assert count == 60000 and time.perf_counter() - start < 1.0


# -- transforms ----------------------------------------------------------------------------------
def test_to_tensor_matches_torch_formula():
    image = np.random.default_rng(0).integers(0, 256, (5, 6), dtype=np.uint8)
    out = T.ToTensor()(image)
    assert out.shape == (1, 5, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out, torch.from_numpy(image).float().div(255).numpy()[None])
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToTensor()(rgb), rgb.transpose(2, 0, 1) / np.float32(255))
    batch = T.ToTensor().apply_batch(np.stack([image, image]))
    assert batch.shape == (2, 1, 5, 6)
    np.testing.assert_array_equal(batch[1], out)


def test_normalize_matches_manual_formula_and_torch():
    x = np.random.default_rng(0).random((3, 4, 5), dtype=np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(x)
    manual = (torch.from_numpy(x) - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    np.testing.assert_allclose(out, manual.numpy(), rtol=1e-6)
    assert out.dtype == np.float32
    batch = T.Normalize(mean, std).apply_batch(np.stack([x, x]))
    np.testing.assert_array_equal(batch[1], out)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize(0.5, 0.0)
    with pytest.raises(TypeError, match="float array"):
        T.Normalize(0.5, 0.5)(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"C=3 values for input of shape \(3, 4, 5\)"):
        T.Normalize((0.1, 0.2), (1, 1))(x)


def _windows(image, size):
    h, w = image.shape[-2:]
    return [image[..., i:i + size, j:j + size] for i in range(h - size + 1) for j in range(w - size + 1)]


def test_random_crop_is_a_window_of_the_padded_image_and_seeded():
    image = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    crop = T.RandomCrop(4, padding=1)
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))
    mg.manual_seed(0)
    outs = [crop(image) for _ in range(30)]
    assert all(o.shape == (2, 4, 4) for o in outs)
    assert all(any(np.array_equal(o, w) for w in _windows(padded, 4)) for o in outs)
    assert len({o.tobytes() for o in outs}) > 5  # really random
    mg.manual_seed(0)
    assert all(np.array_equal(a, crop(image)) for a in outs)
    # The batched form: every image gets its own window of its own padded image.
    batch = np.stack([image, image + 1000, image + 2000])
    mg.manual_seed(1)
    out = crop.apply_batch(batch)
    assert out.shape == (3, 2, 4, 4)
    for k in range(3):
        assert any(np.array_equal(out[k], w) for w in _windows(np.pad(batch[k], ((0, 0), (1, 1), (1, 1))), 4))
    mg.manual_seed(1)
    np.testing.assert_array_equal(crop.apply_batch(batch), out)
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(8)(image)


def test_random_crop_uint8_hw_and_pad_if_needed():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    out = T.RandomCrop((3, 2))(image)
    assert out.shape == (3, 2) and out.dtype == np.uint8
    assert T.RandomCrop(6, pad_if_needed=True)(image).shape == (6, 6)
    assert T.RandomCrop(4, padding=(1, 2), padding_mode="reflect")(image).shape == (4, 4)


def test_random_flips():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(image), image)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(image), image[..., ::-1, :])
    batch = np.stack([image + 100 * i for i in range(40)])
    mg.manual_seed(2)
    out = T.RandomHorizontalFlip().apply_batch(batch)
    flipped = [np.array_equal(out[i], batch[i][..., ::-1]) for i in range(40)]
    kept = [np.array_equal(out[i], batch[i]) for i in range(40)]
    assert all(f != k for f, k in zip(flipped, kept)) and 5 < sum(flipped) < 35
    mg.manual_seed(2)
    np.testing.assert_array_equal(T.RandomHorizontalFlip().apply_batch(batch), out)


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.Lambda(lambda x: x * 2, batched=True)])
    image = np.full((2, 2), 255, np.uint8)
    np.testing.assert_allclose(pipeline(image), np.full((1, 2, 2), 2.0))
    assert pipeline.batchable and pipeline.apply_batch(np.stack([image] * 3)).shape == (3, 1, 2, 2)
    plain = T.Compose([T.Lambda(lambda x: x + 1)])
    assert not plain.batchable and plain(1) == 2
    with pytest.raises(TypeError, match="no batched form"):
        plain.apply_batch(np.zeros(2))
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)
