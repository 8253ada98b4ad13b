"""Word vectors: the corpus plumbing that word2vec and GloVe share, and the queries on a trained table.

    words = corpus_words(text)                       # lower-case words, apostrophes kept ("'tis")
    vocab, counts = build_vocab(words, min_count=5)  # most frequent first
    ids = encode_words(words, vocab)                 # int64, rare words dropped
    wv = WordVectors(vocab, table)                   # (len(vocab), dim) float32
    wv.most_similar("king", k=5)                     # [(word, cosine), ...]
    wv.analogy("man", "king", "woman")               # king - man + woman -> [("queen", ...), ...]
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

# a word is letters, with inner apostrophes ("o'er", "thou'rt") and a leading one ("'tis")
WORD_RE = re.compile(r"'?[a-z]+(?:'[a-z]+)*")


def corpus_words(text: str) -> list[str]:
    """The lower-cased words of text (digits and punctuation dropped)."""
    return WORD_RE.findall(text.lower())


def build_vocab(words, min_count: int = 5, max_size: int | None = None):
    """(vocab, counts): the words seen at least min_count times, most frequent first (ties
    alphabetical, so the order is reproducible), and their counts as int64."""
    if min_count < 1:
        raise ValueError(f"build_vocab: min_count must be >= 1, got {min_count}")
    counted = sorted(((w, c) for w, c in Counter(words).items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if max_size is not None:
        counted = counted[:max_size]
    if not counted:
        raise ValueError(f"build_vocab: no word occurs {min_count} or more times in {len(words)} words")
    vocab = [w for w, _ in counted]
    return vocab, np.array([c for _, c in counted], dtype=np.int64)


def encode_words(words, vocab) -> np.ndarray:
    """Ids (int64) of the words that are in vocab, in order; the others are dropped, as word2vec
    and GloVe do (a dropped word brings its neighbours closer together)."""
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index.get(w, -1) for w in words]
    ids = np.array(ids, dtype=np.int64)
    return ids[ids >= 0]


class WordVectors:
    """A table of word vectors with nearest-neighbour and analogy queries by cosine similarity.

    words: list of str (row i is words[i]); vectors: array (len(words), dim)."""

    def __init__(self, words, vectors):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(words):
            raise ValueError(f"WordVectors: expected vectors of shape ({len(words)}, dim), got {vectors.shape}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("WordVectors: the words must be distinct")
        self.vectors = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # unit rows make every cosine one dot product; a zero row stays zero (cosine 0 with all)
        self.unit = vectors / np.maximum(norms, np.float32(1e-12))

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        return self.vectors[self._id(word)]

    def _id(self, word):
        if word not in self.index:
            raise KeyError(f"WordVectors: {word!r} is not in the vocabulary of {len(self.words)} words")
        return self.index[word]

    def similarity(self, a: str, b: str) -> float:
        """cos(a, b) = a·b / (|a| |b|)"""
        return float(self.unit[self._id(a)] @ self.unit[self._id(b)])

    def nearest(self, vector, k: int = 10, exclude=()):
        """The k words whose vectors have the highest cosine with vector: [(word, cosine), ...]."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self.vectors.shape[1],):
            raise ValueError(f"WordVectors.nearest: expected a vector of shape ({self.vectors.shape[1]},), "
                             f"got {vector.shape}")
        scores = self.unit @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        for word in exclude:
            scores[self._id(word)] = -np.inf
        k = min(k, len(self.words) - len(set(exclude)))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.array([], dtype=np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top]

    def most_similar(self, word: str, k: int = 10):
        """The k nearest words to word by cosine, word itself left out."""
        return self.nearest(self[word], k, exclude=(word,))

    def analogy(self, a: str, b: str, c: str, k: int = 5):
        """a is to b as c is to ?: the words nearest to b - a + c (on unit vectors, Mikolov's
        3CosAdd), leaving out a, b and c themselves. analogy("man", "king", "woman") -> queen."""
        target = self.unit[self._id(b)] - self.unit[self._id(a)] + self.unit[self._id(c)]
        return self.nearest(target, k, exclude={a, b, c})

    def __repr__(self):
        return f"WordVectors({len(self.words)} words, dim={self.vectors.shape[1]})"
