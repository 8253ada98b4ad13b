"""Data loading (PyTorch's `torch.utils.data`, plus the MNIST loaders and image transforms).

    from macrograd.data import DataLoader, TensorDataset, MNIST, transforms, augment
"""
from . import augment, transforms
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .download import CorruptFileError, DatasetNotFoundError, DownloadError
from .emoji import Emoji, load_emoji
from .mnist import MNIST, FashionMNIST, SampleDataWarning
from .sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
)

__all__ = [
    "BatchSampler", "ConcatDataset", "CorruptFileError", "DataLoader", "Dataset",
    "DatasetNotFoundError", "DownloadError", "Emoji", "FashionMNIST", "IterableDataset", "MNIST", "load_emoji",
    "RandomSampler", "SampleDataWarning", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "default_collate", "default_convert", "random_split",
    "augment", "transforms",
]
