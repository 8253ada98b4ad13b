"""WordPiece tokenizer of BERT, reading a BERT vocab.txt (e.g. all-MiniLM-L6-v2, bert-base-uncased).

Two stages, as in BERT's tokenization.py (and Hugging Face's BertNormalizer + BertPreTokenizer
+ WordPiece, which the tests compare against id for id):
1. basic tokenization: drop control characters and U+FFFD, turn every whitespace into " ",
   put spaces around CJK ideographs, lower-case and strip accents (NFD, drop the combining
   marks) when do_lower_case, then split on whitespace and around each punctuation character;
2. WordPiece: each word is cut greedily into the longest vocabulary pieces, left to right,
   pieces after the first marked "##" ("unaffable" -> "un", "##aff", "##able"); a word with
   no cut, or longer than max_input_chars_per_word characters, becomes [UNK].

    tok = WordPieceTokenizer.from_pretrained("shared/models/all-MiniLM-L6-v2")
    tok.encode("Hello, world!")        # [101, 7592, 1010, 2088, 999, 102]
    tok.batch_encode(["a b", "c"])      # dict of int64 arrays, padded to the longest
"""
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from ._json import as_id_list

# Unicode's White_Space (what Rust's char::is_whitespace and Hugging Face use): the Zs spaces
# plus tab, line feed, vertical tab, form feed, carriage return, NEL and the line/paragraph separators.
_EXTRA_WHITESPACE = frozenset("\t\n\x0b\x0c\r\x85\u2028\u2029")

# CJK Unified Ideographs and their extensions and compatibility blocks (BERT's _is_chinese_char):
# these are written without spaces, so each one becomes a word of its own.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_whitespace(ch):
    return ch in _EXTRA_WHITESPACE or unicodedata.category(ch) == "Zs"


def is_control(ch):
    """Control, format, private-use and unassigned characters (Unicode category C*), except
    tab/newline/carriage return, which count as whitespace."""
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    """BERT's punctuation: all ASCII non-alphanumeric printables ("$", "^", "`" are symbols in
    Unicode but split like punctuation) and every Unicode category P* character."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def load_vocab(path):
    """vocab.txt: one token per line, the line number is its id."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if tokens and tokens[-1] == "":
        tokens.pop()  # a trailing newline, not an empty token
    return {t: i for i, t in enumerate(tokens)}


class _CharMap(dict):
    """What a per-character rule makes of each character, remembered: text is mapped by one
    dict lookup per character instead of a few unicodedata calls."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def __missing__(self, ch):
        out = self[ch] = self.rule(ch)
        return out

    def apply(self, text):
        return "".join(map(self.__getitem__, text))


def _clean(ch, split_cjk):
    if ch == "\x00" or ch == "\ufffd" or is_control(ch):
        return ""
    if is_whitespace(ch):
        return " "
    if split_cjk and is_cjk(ch):
        return f" {ch} "
    return ch


_CLEAN = {True: _CharMap(lambda ch: _clean(ch, True)), False: _CharMap(lambda ch: _clean(ch, False))}
_DROP_NONSPACING_MARKS = _CharMap(lambda ch: "" if unicodedata.category(ch) == "Mn" else ch)
_SPACE_PUNCTUATION = _CharMap(lambda ch: f" {ch} " if is_punctuation(ch) else ch)


class BasicTokenizer:
    """BERT's pre-tokenization: clean, split CJK, lower-case + strip accents, split punctuation."""

    def __init__(self, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True):
        self.do_lower_case = do_lower_case
        # strip_accents=None follows do_lower_case (BERT's uncased models strip them)
        self.strip_accents = do_lower_case if strip_accents is None else strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars

    def normalize(self, text):
        """Drop control characters, every whitespace -> " ", space out CJK ideographs, then
        strip accents (NFD, drop the combining marks) and lower-case, as configured."""
        text = _CLEAN[bool(self.tokenize_chinese_chars)].apply(text)
        if self.strip_accents and not text.isascii():  # ASCII has nothing to strip
            text = _DROP_NONSPACING_MARKS.apply(unicodedata.normalize("NFD", text))
        if self.do_lower_case:
            # character by character, as Hugging Face does: str.lower() alone would apply
            # Greek's final-sigma rule ("ΣΑΣ" -> "σας"), which BERT's vocabularies never saw
            text = text.lower() if "\u03a3" not in text else "".join(c.lower() for c in text)
        return text

    def tokenize(self, text):
        """Words and punctuation: normalize, put spaces around each punctuation character, and
        split on the spaces (after normalize, " " is the only whitespace left)."""
        return _SPACE_PUNCTUATION.apply(self.normalize(text)).split()


class WordPieceTokenizer:
    """BERT's tokenizer: BasicTokenizer, then greedy longest-match-first WordPiece.

    vocab: dict token -> id (see load_vocab). The special tokens must be in it; typed in a
    text ("[MASK]"), they are kept whole, as Hugging Face's tokenizers do.
    """

    def __init__(self, vocab, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                 mask_token="[MASK]", max_input_chars_per_word=100, model_max_length=None):
        self.vocab = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.basic = BasicTokenizer(do_lower_case, strip_accents, tokenize_chinese_chars)
        self.max_input_chars_per_word = max_input_chars_per_word
        self.model_max_length = model_max_length
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.all_special_tokens = [unk_token, sep_token, pad_token, cls_token, mask_token]
        missing = [t for t in self.all_special_tokens if t not in self.vocab]
        if missing:
            raise ValueError(f"WordPieceTokenizer: special tokens {missing} are not in the vocabulary")
        self.unk_token_id, self.sep_token_id, self.pad_token_id, self.cls_token_id, self.mask_token_id = (
            self.vocab[t] for t in self.all_special_tokens)
        self.all_special_ids = {self.vocab[t] for t in self.all_special_tokens}
        alternatives = "|".join(re.escape(t) for t in sorted(self.all_special_tokens, key=len, reverse=True))
        self._special_split = re.compile(f"({alternatives})")
        self._cache = {}  # word -> its pieces

    @classmethod
    def from_pretrained(cls, folder, **overrides):
        """Read folder/vocab.txt and the options of folder/tokenizer_config.json (if present)."""
        folder = Path(folder)
        if not (folder / "vocab.txt").is_file():
            raise FileNotFoundError(f"WordPieceTokenizer.from_pretrained: no vocab.txt in {str(folder)!r}")
        options = {}
        config_path = folder / "tokenizer_config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text(encoding="utf-8"))
            keys = ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "unk_token",
                    "sep_token", "pad_token", "cls_token", "mask_token", "model_max_length")
            for k in keys:
                value = config.get(k)
                if isinstance(value, dict):  # special tokens saved as AddedToken objects
                    value = value.get("content")
                if value is not None or k == "strip_accents":
                    options[k] = value
        options.update(overrides)
        return cls(load_vocab(folder / "vocab.txt"), **options)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def __len__(self):
        return len(self.vocab)

    # ---------------------------------------------------------------- tokens
    def wordpiece(self, word):
        """Greedy longest-match-first split of one word into vocabulary pieces (or [UNK])."""
        pieces = self._cache.get(word)
        if pieces is None:
            if len(self._cache) >= 100_000:
                self._cache.clear()
            pieces = self._cache[word] = self._wordpiece(word)
        return list(pieces)

    def _wordpiece(self, word):
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:
                return [self.unk_token]  # some part of the word has no piece at all
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text):
        """The WordPiece tokens of text, without [CLS]/[SEP]."""
        tokens = []
        for k, part in enumerate(self._special_split.split(text)):
            if k % 2 == 1:
                tokens.append(part)  # a special token typed in the text
                continue
            for word in self.basic.tokenize(part):
                tokens.extend(self.wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, (int, np.integer)):
            return self.ids_to_tokens[int(ids)]
        ids = as_id_list(ids, "WordPieceTokenizer.convert_ids_to_tokens")
        bad = [i for i in ids if i not in self.ids_to_tokens]
        if bad:
            raise IndexError(f"WordPieceTokenizer: ids {bad[:5]} are not in the vocabulary of {len(self.vocab)}")
        return [self.ids_to_tokens[i] for i in ids]

    # ---------------------------------------------------------------- ids
    def _check_lengths(self, who, max_length, truncation, padding):
        if padding not in (False, True, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"{who}: padding must be False, True, 'longest' or 'max_length', got {padding!r}")
        if (truncation or padding == "max_length") and max_length is None:
            max_length = self.model_max_length
            if max_length is None:
                raise ValueError(f"{who}: truncation=True or padding='max_length' needs max_length")
        return max_length

    def _build(self, who, ids_a, ids_b, add_special_tokens, max_length, truncation):
        """[CLS] a [SEP] (b [SEP]) with token types 0 for a, 1 for b, truncating longest first."""
        if truncation and max_length is not None:
            budget = max_length - ((3 if ids_b is not None else 2) if add_special_tokens else 0)
            if budget < 0:
                raise ValueError(f"{who}: max_length={max_length} is too short for the special tokens")
            if ids_b is None:
                ids_a = ids_a[:budget]
            else:
                # longest first, as Hugging Face: the shorter sequence keeps its length if the
                # longer one can absorb the cut, else both get half the budget (the odd token
                # to the longer one, or to b when they are equally long)
                na, nb = len(ids_a), len(ids_b)
                if na + nb > budget:
                    short, long_ = min(na, nb), max(na, nb)
                    if short <= budget // 2:
                        long_ = budget - short
                    else:
                        short, long_ = budget // 2, budget - budget // 2
                    na, nb = (long_, short) if na > nb else (short, long_)
                ids_a, ids_b = ids_a[:na], ids_b[:nb]
        if add_special_tokens:
            input_ids = [self.cls_token_id] + ids_a + [self.sep_token_id]
        else:
            input_ids = list(ids_a)
        token_type_ids = [0] * len(input_ids)
        if ids_b is not None:
            tail = ids_b + [self.sep_token_id] if add_special_tokens else list(ids_b)
            input_ids += tail
            token_type_ids += [1] * len(tail)
        return input_ids, token_type_ids

    def _pad(self, rows, length):
        """rows of (input_ids, token_type_ids) -> int64 arrays padded on the right to length."""
        n = len(rows)
        input_ids = np.full((n, length), self.pad_token_id, dtype=np.int64)
        token_type_ids = np.zeros((n, length), dtype=np.int64)
        attention_mask = np.zeros((n, length), dtype=np.int64)
        for r, (ids, types) in enumerate(rows):
            input_ids[r, :len(ids)] = ids
            token_type_ids[r, :len(types)] = types
            attention_mask[r, :len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}

    def encode(self, text, add_special_tokens=True, max_length=None, truncation=False, padding=False):
        """Ids of one text: [CLS] tokens [SEP]. truncation=True cuts to max_length ids (special
        tokens included); padding="max_length" pads with [PAD] to max_length."""
        max_length = self._check_lengths("WordPieceTokenizer.encode", max_length, truncation, padding)
        ids, _ = self._build("WordPieceTokenizer.encode", self.convert_tokens_to_ids(self.tokenize(text)),
                             None, add_special_tokens, max_length, truncation)
        if padding == "max_length" and len(ids) < max_length:
            ids += [self.pad_token_id] * (max_length - len(ids))
        return ids

    def encode_pair(self, text, text_pair, add_special_tokens=True, max_length=None, truncation=False,
                    padding=False):
        """A sentence pair, [CLS] a [SEP] b [SEP], as a dict of lists: input_ids,
        token_type_ids (0 for a and its [CLS]/[SEP], 1 for b and its [SEP]) and attention_mask."""
        who = "WordPieceTokenizer.encode_pair"
        max_length = self._check_lengths(who, max_length, truncation, padding)
        ids, types = self._build(who, self.convert_tokens_to_ids(self.tokenize(text)),
                                 self.convert_tokens_to_ids(self.tokenize(text_pair)),
                                 add_special_tokens, max_length, truncation)
        mask = [1] * len(ids)
        if padding == "max_length" and len(ids) < max_length:
            extra = max_length - len(ids)
            ids, types, mask = ids + [self.pad_token_id] * extra, types + [0] * extra, mask + [0] * extra
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}

    def batch_encode(self, texts, text_pairs=None, add_special_tokens=True, max_length=None,
                     truncation=False, padding=True):
        """A batch as NumPy int64 arrays of shape (batch, length): input_ids, attention_mask
        (1 = token, 0 = [PAD]) and token_type_ids, padded to the longest row (or to
        max_length with padding="max_length")."""
        who = "WordPieceTokenizer.batch_encode"
        if isinstance(texts, str):
            raise TypeError(f"{who}: expected a list of texts, got a single str (use encode)")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"{who}: {len(texts)} texts but {len(text_pairs)} text_pairs")
        max_length = self._check_lengths(who, max_length, truncation, padding)
        rows = []
        for k, text in enumerate(texts):
            ids_b = None if text_pairs is None else self.convert_tokens_to_ids(self.tokenize(text_pairs[k]))
            rows.append(self._build(who, self.convert_tokens_to_ids(self.tokenize(text)), ids_b,
                                    add_special_tokens, max_length, truncation))
        longest = max((len(ids) for ids, _ in rows), default=0)
        if padding in (False, "do_not_pad") and any(len(ids) != longest for ids, _ in rows):
            raise ValueError(f"{who}: rows of different lengths need padding=True to make arrays")
        length = max(longest, max_length) if padding == "max_length" else longest
        return self._pad(rows, length)

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=True):
        """Text from ids: "##" pieces join the piece before them, other tokens are separated by
        a space; the clean-up removes the space before . , ? ! (as Hugging Face's decoder)."""
        tokens = self.convert_ids_to_tokens(as_id_list(ids, "WordPieceTokenizer.decode"))
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in self.all_special_tokens]
        out = []
        for k, t in enumerate(tokens):
            if k > 0:
                t = t[2:] if t.startswith("##") else " " + t
            if clean_up_tokenization_spaces:
                t = _clean_up(t)
            out.append(t)
        return "".join(out)

    def __repr__(self):
        return (f"WordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.basic.do_lower_case})")


def _clean_up(token):
    """Hugging Face's WordPiece decoder clean-up, applied token by token."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        token = token.replace(a, b)
    return token
