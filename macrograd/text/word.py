"""Word-level tokenizer: a pre-tokenizer that splits text into words and punctuation, and a
Vocabulary that maps them to ids (rare words -> <unk>).

The pre-tokenizer (`pre_tokenize`) is one regular expression:
    words        runs of letters/digits/underscore, with inner apostrophes kept ("o'er", "i'll")
    punctuation  every other non-space character on its own (",", "!", "--" -> "-", "-")
    whitespace   dropped
and lower-cases first when lower=True. Decoding joins tokens with single spaces, so it gives
back the tokens, not the original spacing: tokenize(decode(encode(t))) == tokenize(t).

    tok = WordTokenizer.from_texts(lines, min_freq=2, max_size=10_000)
    tok.encode("To be, or not to be", add_special_tokens=True)
"""
import re

from ._json import as_id_list, read_json, write_json
from .vocab import DEFAULT_SPECIALS, Vocabulary

WORD_PATTERN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def pre_tokenize(text, lower=True):
    """Split text into words and single punctuation characters (see the module docstring)."""
    if lower:
        text = text.lower()
    return WORD_PATTERN.findall(text)


class WordTokenizer:
    """Text <-> ids through pre_tokenize and a Vocabulary.

    bos_token / eos_token: the specials that encode(add_special_tokens=True) puts around a text.
    """

    def __init__(self, vocab, lower=True, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"):
        self.vocab = vocab
        self.lower = lower
        self.bos_token, self.eos_token, self.pad_token = bos_token, eos_token, pad_token

    @classmethod
    def from_texts(cls, texts, min_freq=1, max_size=None, specials=DEFAULT_SPECIALS,
                   unk_token="<unk>", lower=True, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"):
        """Build the vocabulary from an iterable of texts (see Vocabulary.build for min_freq/max_size)."""
        if isinstance(texts, str):
            texts = [texts]
        vocab = Vocabulary.build((pre_tokenize(t, lower) for t in texts), min_freq=min_freq,
                                 max_size=max_size, specials=specials, unk_token=unk_token)
        return cls(vocab, lower=lower, bos_token=bos_token, eos_token=eos_token, pad_token=pad_token)

    @property
    def stoi(self):
        return self.vocab.stoi

    @property
    def itos(self):
        return self.vocab.itos

    @property
    def vocab_size(self):
        return len(self.vocab)

    def __len__(self):
        return len(self.vocab)

    def _special_id(self, token, role):
        if token is None or token not in self.vocab.stoi:
            raise KeyError(f"WordTokenizer: the {role} token {token!r} is not in the vocabulary "
                           f"(specials: {self.vocab.specials})")
        return self.vocab.stoi[token]

    @property
    def pad_id(self):
        return self._special_id(self.pad_token, "pad")

    @property
    def unk_id(self):
        return self.vocab.unk_id

    @property
    def bos_id(self):
        return self._special_id(self.bos_token, "bos")

    @property
    def eos_id(self):
        return self._special_id(self.eos_token, "eos")

    def tokenize(self, text):
        return pre_tokenize(text, self.lower)

    def encode(self, text, add_special_tokens=False):
        """Ids of the words of text (unknown -> <unk>); add_special_tokens wraps them in <bos> ... <eos>."""
        ids = self.vocab.lookup_indices(self.tokenize(text))
        if add_special_tokens:
            ids = [self.bos_id] + ids + [self.eos_id]
        return ids

    def decode(self, ids, skip_special_tokens=False):
        """The tokens of ids joined by single spaces (skip_special_tokens drops <pad>, <bos>, ...)."""
        tokens = self.vocab.lookup_tokens(as_id_list(ids, "WordTokenizer.decode"))
        if skip_special_tokens:
            specials = set(self.vocab.specials)
            tokens = [t for t in tokens if t not in specials]
        return " ".join(tokens)

    def save(self, path):
        write_json(path, "WordTokenizer", {
            "lower": self.lower, "bos_token": self.bos_token, "eos_token": self.eos_token,
            "pad_token": self.pad_token, "vocab": self.vocab.to_dict()})

    @classmethod
    def load(cls, path):
        state = read_json(path, "WordTokenizer")
        vocab = Vocabulary.from_dict(state.pop("vocab"))
        return cls(vocab, **state)

    def __repr__(self):
        return f"WordTokenizer(vocab_size={self.vocab_size}, lower={self.lower})"
