"""MNIST / Fashion-MNIST loaders: the real files, lookup order, errors, download, the shipped sample."""
import gzip
import io
import os
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from macrograd.data import (
    CorruptFileError, DataLoader, DatasetNotFoundError, FashionMNIST, MNIST, SampleDataWarning,
    transforms as T,
)
from macrograd.data import make_sample
from macrograd.data.idx import read_idx
from macrograd.data.mnist import SAMPLE_PATH

SHARED = "/work/shared/data"
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(autouse=True)
def _data_env(monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", os.environ.get("MACROGRAD_DATA") or SHARED)


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No dataset anywhere: empty MACROGRAD_DATA and cache, and a network that always fails."""
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MACROGRAD_CACHE", str(tmp_path / "cache"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


def write_idx(path, array, magic=None):
    """A tiny IDX file (gzipped if the name ends in .gz)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 + array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


# -- the real files ------------------------------------------------------------------------------
def test_mnist_train_and_test():
    train, test = MNIST(train=True), MNIST(train=False)
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert test.data.shape == (10000, 28, 28) and test.targets.dtype == np.int64
    assert np.bincount(train.targets).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(test.targets).tolist() == MNIST_TEST_COUNTS
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9] and test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    image, label = train[0]
    assert label == 5 and image.shape == (1, 28, 28) and image.dtype == np.float32
    assert 0.0 == image.min() < image.max() == 1.0
    np.testing.assert_array_equal(image[0], train.data[0] / np.float32(255))
    assert len(train.classes) == 10 and train.class_to_idx["5 - five"] == 5 and not train.is_sample


def test_fashion_mnist():
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert train.targets[:5].tolist() == [9, 0, 0, 3, 0] and test.targets[:5].tolist() == [9, 2, 1, 1, 6]
    assert train.classes[9] == "Ankle boot"


def test_dataloader_over_mnist_fast_path_matches_samples_and_is_fast():
    ds = MNIST(train=False)
    x, y = next(iter(DataLoader(ds, batch_size=8)))
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy(), np.stack([ds[i][0] for i in range(8)]))
    assert y.tolist() == [ds[i][1] for i in range(8)]
    train = MNIST(train=True)
    start = time.perf_counter()
    seen = sum(len(y) for _, y in DataLoader(train, batch_size=64, shuffle=True))
    assert seen == 60000 and time.perf_counter() - start < 1.0


def test_mnist_transforms_batched_and_per_sample():
    normalize = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = MNIST(train=False, transform=normalize)
    image, _ = ds[3]
    np.testing.assert_allclose(image, (ds.data[3][None] / np.float32(255) - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    x, _ = next(iter(DataLoader(ds, batch_size=4)))  # batched transforms: the fast path
    np.testing.assert_allclose(x.numpy()[3], image, rtol=1e-6)
    # A transform without a batched form goes sample by sample and still works.
    slow = MNIST(train=False, transform=T.Lambda(lambda im: im[None].astype(np.float32)),
                 target_transform=lambda t: t + 10)
    assert slow.get_batch is None
    x, y = next(iter(DataLoader(slow, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and y.tolist() == [17, 12, 11, 10]


# -- lookup order, errors, download --------------------------------------------------------------
def test_root_first_and_torchvision_layout(tmp_path):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte", images)  # unzipped, as torchvision
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", [3, 1, 4])
    ds = MNIST(root=tmp_path, train=False)  # found in root before $MACROGRAD_DATA
    assert len(ds) == 3 and ds.targets.tolist() == [3, 1, 4]
    np.testing.assert_array_equal(ds.data, images)


def test_missing_dataset_error_names_every_place(nowhere):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(root=nowhere / "root", sample=False)
    message = str(info.value)
    for place in ("root/mnist", "root/MNIST/raw", "data/mnist", "cache/mnist"):
        assert str(nowhere / place) in message
    assert "MACROGRAD_DATA" in message and "download=True" in message
    with pytest.raises(DatasetNotFoundError, match=r"fashion-mnist.*MACROGRAD_DATA"):
        FashionMNIST(train=False)  # no sample to fall back on
    with pytest.raises(ValueError, match="no sample"):
        FashionMNIST(sample=True)


def test_download_failure_is_clear(nowhere):
    with pytest.raises(DatasetNotFoundError, match=r"download failed.*ossci-datasets.*network is unreachable"):
        MNIST(train=False, download=True, sample=False)
    assert not any((nowhere / "cache" / "mnist").glob("*"))  # nothing half-written left behind


def test_sample_fallback_warns(nowhere):
    with pytest.warns(SampleDataWarning, match=r"full dataset not found.*sample.*MACROGRAD_DATA") as record:
        ds = MNIST(train=True, download=True)
    assert "\n" not in str(record[0].message)  # one line
    assert ds.is_sample and ds.data.shape == (6000, 28, 28) and ds.targets[0] == 5
    with pytest.warns(SampleDataWarning):
        test = MNIST(train=False)  # without download=True too: the first command always works
    assert len(test) == 1000


def test_download_verifies_checksum(nowhere, monkeypatch):
    served = []

    def fake_urlopen(url, *args, **kwargs):
        served.append(url)
        name = url.rsplit("/", 1)[1]
        return io.BytesIO(open(os.path.join(SHARED, "mnist", name), "rb").read())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    ds = MNIST(train=False, download=True, sample=False)
    assert len(ds) == 10000 and not ds.is_sample
    assert sorted(p.name for p in (nowhere / "cache" / "mnist").iterdir()) == FILES[2:]
    assert served[0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")

    monkeypatch.setenv("MACROGRAD_CACHE", str(nowhere / "cache2"))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: io.BytesIO(b"not mnist"))
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        MNIST(train=False, download=True, sample=False)
    assert not any((nowhere / "cache2" / "mnist").glob("*"))


def test_truncated_file_error_names_it(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    good = open(os.path.join(SHARED, "mnist", "t10k-images-idx3-ubyte.gz"), "rb").read()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", [1, 2])
    with pytest.raises(CorruptFileError, match=r"t10k-images-idx3-ubyte.gz: the file is truncated or corrupt"):
        MNIST(root=tmp_path, train=False)


def test_idx_header_mismatch_errors(tmp_path):
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, [1, 2])
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", [1, 2])  # labels where images belong
    with pytest.raises(CorruptFileError, match=r"t10k-images.*IDX header mismatch: magic number 2049, expected 2051"):
        MNIST(root=tmp_path, train=False)
    short = tmp_path / "short.idx"
    short.write_bytes(struct.pack(">IIII", 2051, 2, 2, 2) + b"\0" * 7)
    with pytest.raises(CorruptFileError, match=r"short.idx: IDX header mismatch.*\(2, 2, 2\) \(8 bytes.*holds 7 bytes"):
        read_idx(short)
    (tmp_path / "junk").write_bytes(b"hello")
    with pytest.raises(CorruptFileError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")


# -- the shipped sample --------------------------------------------------------------------------
def test_shipped_sample_is_a_stratified_real_subset():
    assert SAMPLE_PATH.stat().st_size < 1_000_000
    full_train, full_test = MNIST(train=True), MNIST(train=False)
    with np.load(SAMPLE_PATH) as sample:
        for split, full, per_class in (("train", full_train, 600), ("test", full_test, 100)):
            images, labels, where = (sample[f"{split}_{k}"] for k in ("images", "labels", "indices"))
            assert np.bincount(labels).tolist() == [per_class] * 10
            np.testing.assert_array_equal(images, full.data[where.astype(np.int64)])
            np.testing.assert_array_equal(labels, full.targets[where.astype(np.int64)])
    ds = MNIST(sample=True)
    assert ds.is_sample and len(ds) == 6000 and ds[0][1] == 5


def test_make_sample_builds_from_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(make_sample, "PER_CLASS", {"train": 2, "test": 1})
    labels = np.array([3, 1, 3, 3, 1, 0])
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.arange(6)[:, None, None] * np.ones((6, 2, 2)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = make_sample.build(tmp_path, tmp_path / "s.npz")
    first = out.read_bytes()
    with np.load(out) as sample:
        assert sample["train_indices"].tolist() == [0, 1, 2, 4, 5] and sample["test_indices"].tolist() == [0, 1, 5]
        assert sample["train_labels"].tolist() == [3, 1, 3, 1, 0]
        assert sample["test_images"][:, 0, 0].tolist() == [0, 1, 5]
    assert make_sample.build(tmp_path, tmp_path / "s.npz").read_bytes() == first  # reproducible
