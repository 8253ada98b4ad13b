"""Character-level tokenizer: one id per character (the char-rnn / nanoGPT Shakespeare recipe).

    tok = CharTokenizer.from_text(text)        # vocabulary = sorted unique characters
    ids = tok.encode("To be")                  # [32, 53, 1, 40, 43]  (ids depend on the text)
    tok.decode(ids) == "To be"
"""
from ._json import as_id_list, read_json, write_json


class CharTokenizer:
    """Maps each character to an id: itos[i] is the character with id i, stoi its inverse.

    unk_token: None (default) makes encode raise on a character outside the vocabulary;
    a string (e.g. "<unk>") reserves id 0 for it and maps every unknown character there.
    """

    def __init__(self, chars, unk_token=None):
        chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: the vocabulary must be single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: the vocabulary has repeated characters")
        if unk_token is not None and unk_token in chars:
            raise ValueError(f"CharTokenizer: unk_token {unk_token!r} is also a vocabulary character")
        self.unk_token = unk_token
        self.itos = ([unk_token] if unk_token is not None else []) + chars
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        # a multi-character unk_token ("<unk>") must not be matched as text: only characters are
        self._char_ids = {c: self.stoi[c] for c in chars}

    @classmethod
    def from_text(cls, text, unk_token=None):
        """The vocabulary of a text: its unique characters in sorted (code point) order."""
        if not isinstance(text, str):
            text = "".join(text)  # an iterable of strings, e.g. the lines of a file
        return cls(sorted(set(text)), unk_token=unk_token)

    @property
    def vocab_size(self):
        return len(self.itos)

    def __len__(self):
        return len(self.itos)

    @property
    def unk_id(self):
        return None if self.unk_token is None else 0

    def encode(self, text):
        """The ids of the characters of text (unknown ones -> unk id, or a KeyError naming them)."""
        ids = self._char_ids
        try:
            return [ids[c] for c in text]
        except KeyError:
            if self.unk_token is not None:
                return [ids.get(c, 0) for c in text]
            missing = sorted({c for c in text if c not in ids})
            pos = next(i for i, c in enumerate(text) if c not in ids)
            raise KeyError(
                f"CharTokenizer.encode: {len(missing)} character(s) not in the vocabulary of "
                f"{len(self.itos)}: {''.join(missing)[:50]!r} (first at position {pos}); "
                f"build the tokenizer with unk_token='<unk>' to map them to an unknown id"
            ) from None

    def decode(self, ids):
        """The text of a sequence of ids (list, tuple or integer NumPy array)."""
        ids = as_id_list(ids, "CharTokenizer.decode")
        n = len(self.itos)
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise IndexError(f"CharTokenizer.decode: ids {bad[:5]} out of range for a vocabulary of {n}")
        return "".join(self.itos[i] for i in ids)

    def save(self, path):
        chars = self.itos[1:] if self.unk_token is not None else self.itos
        write_json(path, "CharTokenizer", {"unk_token": self.unk_token, "chars": chars})

    @classmethod
    def load(cls, path):
        state = read_json(path, "CharTokenizer")
        return cls(state["chars"], unk_token=state["unk_token"])

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk_token={self.unk_token!r})"
