"""Text corpora for the sequence experiments: Shakespeare as characters and German-English pairs.

Both are read from `$MACROGRAD_DATA` (then the user cache), as every dataset here is:

    shakespeare/shakespeare.txt.gz   Shakespeare's works, plain ASCII (5,057,321 characters)
    de-en/eng-deu.tsv.gz             17,309 pairs, one a line: English<TAB>German

Shakespeare (the char-rnn / nanoGPT recipe):
    text, tokenizer, train_ids, val_ids = load_shakespeare()     # first 90% train, last 10% val
    batches = CharBatches(train_ids, block_size=64, batch_size=32, seed=0)
    x, y = batches.next()                                       # (32, 64) int64 each, y = x shifted by one

German-English (`load_de_en_splits`): one fixed, seeded split of all pairs into train / valid /
test, shared by every translation experiment (the recurrent seq2seq and the Transformer report
BLEU on the same test pairs).
"""
from __future__ import annotations

import gzip
from typing import NamedTuple

import numpy as np

from .download import DatasetNotFoundError, find_file, search_dirs


def _find(name: str, filename: str):
    """The path of `name/filename` in the dataset folders, or a clear error listing where we looked."""
    folders = search_dirs(name)
    for folder in folders:
        path = find_file(folder, filename)
        if path is not None:
            return path
    raise DatasetNotFoundError(
        f"{name}/{filename} not found; looked in: {', '.join(str(f) for f in folders)}. "
        f"Set MACROGRAD_DATA to a folder holding {name}/{filename} (e.g. ../shared/data).")


def _read_text(path) -> str:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read()


# -- Shakespeare, character level -------------------------------------------------------------------
def load_shakespeare(train_fraction: float = 0.9, max_chars: int = 0):
    """(text, CharTokenizer, train_ids, val_ids): the whole text as int64 character ids, split
    by position, the first `train_fraction` for training and the rest for validation (a split by
    position, not at random, so no validation block overlaps a training block).
    max_chars > 0 keeps only the first max_chars characters (for smoke runs)."""
    from ..text import CharTokenizer

    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"load_shakespeare: train_fraction must be in (0, 1), got {train_fraction}")
    text = _read_text(_find("shakespeare", "shakespeare.txt.gz"))
    if max_chars:
        text = text[:max_chars]
    tokenizer = CharTokenizer.from_text(text)
    ids = encode_chars(text, tokenizer)
    n_train = int(len(ids) * train_fraction)
    return text, tokenizer, ids[:n_train], ids[n_train:]


def encode_chars(text: str, tokenizer) -> np.ndarray:
    """tokenizer.encode(text) as an int64 array, through a code-point lookup table (one NumPy
    gather instead of five million dictionary lookups)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.full(int(codes.max()) + 1 if len(codes) else 1, -1, dtype=np.int64)
    for char, i in tokenizer.stoi.items():
        if len(char) == 1 and ord(char) < len(table):
            table[ord(char)] = i
    ids = table[codes]
    if (ids < 0).any():
        bad = sorted({chr(c) for c in codes[ids < 0]})[:10]
        raise ValueError(f"encode_chars: characters outside the tokenizer's vocabulary: {bad}")
    return ids


class CharBatches:
    """Random contiguous blocks of a token stream (char-rnn / nanoGPT's get_batch):
    x[b] = ids[s_b : s_b + T], y[b] = ids[s_b + 1 : s_b + T + 1], with the starts s_b drawn
    uniformly from a seeded generator, so a run (and its PyTorch twin) sees the same batches in
    the same order. `state_dict` / `load_state_dict` carry the generator's position for resuming."""

    def __init__(self, ids, block_size: int, batch_size: int, seed: int = 0):
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or len(ids) < block_size + 2:
            raise ValueError(f"CharBatches: need a 1-D stream longer than block_size + 1 = {block_size + 1}, "
                             f"got shape {ids.shape}")
        self.ids, self.block_size, self.batch_size = ids, int(block_size), int(batch_size)
        self.rng = np.random.default_rng(seed)
        # offsets 0..T-1 added to each start: one fancy index builds the whole batch
        self._offsets = np.arange(self.block_size + 1)

    def next(self):
        """(x, y): int64 arrays (batch_size, block_size)."""
        starts = self.rng.integers(0, len(self.ids) - self.block_size - 1, size=self.batch_size)
        blocks = self.ids[starts[:, None] + self._offsets]
        return blocks[:, :-1], blocks[:, 1:]

    def take(self, n: int) -> list:
        """The next n batches as a list (e.g. a fixed validation set)."""
        return [self.next() for _ in range(n)]

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


# -- German-English sentence pairs ------------------------------------------------------------------
class Pair(NamedTuple):
    """One sentence pair; unpacks as `de, en = pair`."""

    de: str  # source
    en: str  # target


def load_de_en_pairs() -> list:
    """All 17,309 pairs of de-en/eng-deu.tsv.gz as Pair(de, en), in file order."""
    pairs = []
    for number, line in enumerate(_read_text(_find("de-en", "eng-deu.tsv.gz")).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(f"load_de_en_pairs: line {number} has {len(fields)} tab-separated fields, expected 2")
        pairs.append(Pair(de=fields[1].strip(), en=fields[0].strip()))
    return pairs


def load_de_en_splits(seed: int = 0, valid_size: int = 1000, test_size: int = 1000) -> dict:
    """{"train", "valid", "test"}: lists of Pair(de, en), a fixed split of ALL pairs.

    The pairs are permuted by np.random.default_rng(seed); the first `test_size` are the test
    split, the next `valid_size` the validation split, the rest training. With the defaults
    (seed=0, 1000, 1000) this is THE held-out test set of macrograd's translation experiments:
    `translate-seq2seq` and the Transformer translation both report BLEU on `splits["test"]`
    (each may drop long pairs from training, and says so; the test pairs are the same)."""
    pairs = load_de_en_pairs()
    if valid_size < 0 or test_size < 0 or valid_size + test_size >= len(pairs):
        raise ValueError(f"load_de_en_splits: valid_size={valid_size} and test_size={test_size} must be >= 0 "
                         f"and leave training pairs out of {len(pairs)}")
    order = np.random.default_rng(seed).permutation(len(pairs))
    test = [pairs[i] for i in order[:test_size]]
    valid = [pairs[i] for i in order[test_size:test_size + valid_size]]
    train = [pairs[i] for i in order[test_size + valid_size:]]
    return {"train": train, "valid": valid, "test": test}


__all__ = ["CharBatches", "Pair", "encode_chars", "load_de_en_pairs", "load_de_en_splits", "load_shakespeare"]
