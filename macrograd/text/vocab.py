"""Vocabulary: a two-way map between tokens (strings) and ids, with special tokens first.

    vocab = Vocabulary.build([["to", "be"], ["or", "not", "to", "be"]], min_freq=1)
    vocab.itos[:6]         # ['<pad>', '<unk>', '<bos>', '<eos>', 'be', 'to']
    vocab["to"], vocab["zebra"]   # 5, 1  (unknown -> <unk>)
"""
from collections import Counter

from ._json import as_id_list, read_json, write_json

DEFAULT_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocabulary:
    """Tokens <-> ids. The special tokens take the leading ids 0, 1, ... in the order given,
    so that e.g. <pad> is always id 0; then come the ordinary tokens.

    unk_token: the special that unknown tokens map to (None: looking one up raises KeyError).
    """

    def __init__(self, tokens=(), specials=DEFAULT_SPECIALS, unk_token="<unk>"):
        specials = list(specials)
        if unk_token is not None and unk_token not in specials:
            raise ValueError(f"Vocabulary: unk_token {unk_token!r} is not among the specials {specials}")
        self.specials = specials
        self.unk_token = unk_token
        self.itos = []
        self.stoi = {}
        self.freqs = {}  # token -> count in the training text (filled by build)
        for t in specials + list(tokens):
            if t in self.stoi:
                raise ValueError(f"Vocabulary: token {t!r} appears twice")
            self.stoi[t] = len(self.itos)
            self.itos.append(t)
        self.unk_id = None if unk_token is None else self.stoi[unk_token]

    @classmethod
    def build(cls, token_lists, min_freq=1, max_size=None, specials=DEFAULT_SPECIALS, unk_token="<unk>"):
        """Count the tokens of an iterable of token lists (or take a Counter) and keep those seen
        at least min_freq times, most frequent first (ties alphabetical, so builds are
        reproducible). max_size caps the whole vocabulary, specials included."""
        if isinstance(token_lists, Counter):
            counts = token_lists
        else:
            counts = Counter()
            for tokens in token_lists:
                if isinstance(tokens, str):
                    raise TypeError("Vocabulary.build: expected token lists, got a string "
                                    "(split it into tokens first)")
                counts.update(tokens)
        if min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be >= 1, got {min_freq}")
        specials = list(specials)
        if max_size is not None and max_size < len(specials):
            raise ValueError(f"Vocabulary.build: max_size={max_size} leaves no room for the "
                             f"{len(specials)} special tokens {specials}")
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        vocab = cls(kept, specials=specials, unk_token=unk_token)
        vocab.freqs = {t: counts[t] for t in kept}
        return vocab

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        """The id of a token; an unknown token gives unk_id (or a KeyError without an unk_token)."""
        i = self.stoi.get(token, self.unk_id)
        if i is None:
            raise KeyError(f"Vocabulary: token {token!r} is not in the vocabulary of {len(self)} "
                           f"and there is no unk_token")
        return i

    def lookup_indices(self, tokens):
        return [self[t] for t in tokens]

    def lookup_tokens(self, ids):
        ids = as_id_list(ids, "Vocabulary.lookup_tokens")
        n = len(self.itos)
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise IndexError(f"Vocabulary.lookup_tokens: ids {bad[:5]} out of range for a vocabulary of {n}")
        return [self.itos[i] for i in ids]

    def to_dict(self):
        return {"specials": self.specials, "unk_token": self.unk_token,
                "tokens": self.itos[len(self.specials):]}

    @classmethod
    def from_dict(cls, state):
        return cls(state["tokens"], specials=state["specials"], unk_token=state["unk_token"])

    def save(self, path):
        write_json(path, "Vocabulary", self.to_dict())

    @classmethod
    def load(cls, path):
        return cls.from_dict(read_json(path, "Vocabulary"))

    def __repr__(self):
        return f"Vocabulary(size={len(self)}, specials={self.specials})"
