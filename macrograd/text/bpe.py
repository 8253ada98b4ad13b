"""Byte-level BPE tokenizer (GPT-2 style): any text -> UTF-8 bytes -> merged byte sequences.

Training starts from the 256 single-byte tokens and repeatedly merges the most frequent
adjacent pair into a new token. Text is first split into chunks by a GPT-2-like regular
expression (words with their leading space, runs of digits, runs of punctuation, whitespace),
so merges never cross a chunk boundary. Since every text is bytes, nothing is ever unknown
and decode(encode(text)) == text for any Unicode string.

    tok = ByteBPETokenizer.train(shakespeare, vocab_size=1280, special_tokens=["<|endoftext|>"])
    ids = tok.encode("To be, or not to be")
    tok.decode(ids) == "To be, or not to be"

Ids: 0..255 are the bytes, 256 + r is the token made by merge r, special tokens come last.
"""
import heapq
import re
import warnings
from collections import Counter, defaultdict

from ._json import as_id_list, read_json, write_json

# GPT-2's split pattern with \p{L} (letters) and \p{N} (numbers), which Python's `re` lacks,
# spelled through \w: letters = word characters that are not digits or "_" ([^\W\d_]).
# The alternatives cover every character, so the chunks always join back to the text.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

_CACHE_LIMIT = 100_000  # chunks remembered by encode (a vocabulary's worth of words)


def bytes_to_unicode():
    """GPT-2's map from the 256 bytes to printable characters, to show byte tokens readably:
    printable Latin-1 bytes stand for themselves, the rest (space, control) go to chr(256+n),
    so a leading space shows as "Ġ"."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def merge_pair(ids, pair, new_id):
    """Replace every non-overlapping occurrence of pair in ids (left to right) by new_id."""
    a, b = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(word_counts, num_merges):
    """The BPE merges of a table {chunk bytes (tuple of ids): count}, most frequent pair first
    (ties: the smaller pair of ids), for at most num_merges merges.

    Pair counts live in one table weighted by the chunk counts and are updated incrementally:
    a merge touches only the chunks that hold its pair (found through `where`), and a heap
    with lazy deletion gives the most frequent pair without scanning all pairs each time.
    """
    words = [list(w) for w in word_counts]
    counts = list(word_counts.values())
    pair_counts = Counter()
    where = defaultdict(set)  # pair -> indices of the words that contain it
    for i, (w, c) in enumerate(zip(words, counts)):
        for p in zip(w, w[1:]):
            pair_counts[p] += c
            where[p].add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # a stale heap entry: the pair's count has changed since it was pushed
        new_id = 256 + len(merges)
        merges.append(pair)
        delta = Counter()
        for i in where.pop(pair):
            old, c = words[i], counts[i]
            new = merge_pair(old, pair, new_id)
            old_pairs, new_pairs = list(zip(old, old[1:])), list(zip(new, new[1:]))
            for p in old_pairs:
                delta[p] -= c
            for p in new_pairs:
                delta[p] += c
            for p in set(old_pairs).difference(new_pairs):
                if p in where:
                    where[p].discard(i)
            for p in new_pairs:
                where[p].add(i)
            words[i] = new
        for p, d in delta.items():
            if d == 0:
                continue
            c = pair_counts[p] + d
            if c > 0:
                pair_counts[p] = c
                heapq.heappush(heap, (-c, p))
            else:
                del pair_counts[p]
                where.pop(p, None)
        pair_counts.pop(pair, None)
    return merges


class ByteBPETokenizer:
    """Byte-level BPE with a GPT-2-like pre-split.

    merges: list of (id_a, id_b) pairs; merge r makes token 256 + r.
    special_tokens: strings (e.g. "<|endoftext|>") with ids after the merges; encode
    recognises them in the text (see allowed_special) and never splits them.
    """

    def __init__(self, merges=(), special_tokens=(), pattern=GPT2_SPLIT_PATTERN):
        self.merges = [tuple(int(t) for t in m) for m in merges]
        self.ranks = {}
        self.id_to_bytes = [bytes([b]) for b in range(256)]
        for r, (a, b) in enumerate(self.merges):
            new_id = 256 + r
            if not (0 <= a < new_id and 0 <= b < new_id):
                raise ValueError(f"ByteBPETokenizer: merge {r} {(a, b)} uses an id not made before it")
            if (a, b) in self.ranks:
                raise ValueError(f"ByteBPETokenizer: merge {r} {(a, b)} repeats merge {self.ranks[(a, b)]}")
            self.ranks[(a, b)] = r
            self.id_to_bytes.append(self.id_to_bytes[a] + self.id_to_bytes[b])
        special_tokens = list(special_tokens)
        if len(set(special_tokens)) != len(special_tokens) or "" in special_tokens:
            raise ValueError(f"ByteBPETokenizer: special tokens must be distinct non-empty strings, got {special_tokens}")
        first = 256 + len(self.merges)
        self.special_tokens = {s: first + k for k, s in enumerate(special_tokens)}
        self.special_ids = {i: s for s, i in self.special_tokens.items()}
        self.pattern = pattern
        self._split = re.compile(pattern)
        # longest first, so that a special token that contains another one wins
        self._special_split = None
        if special_tokens:
            alternatives = "|".join(re.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
            self._special_split = re.compile(f"({alternatives})")
        self._cache = {}

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, texts, vocab_size, special_tokens=(), pattern=GPT2_SPLIT_PATTERN):
        """Learn vocab_size - 256 - len(special_tokens) merges from texts (a string or an
        iterable of strings); vocab_size counts the 256 bytes and the special tokens."""
        special_tokens = list(special_tokens)
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"ByteBPETokenizer.train: vocab_size={vocab_size} is smaller than the "
                             f"256 byte tokens plus {len(special_tokens)} special tokens")
        if isinstance(texts, str):
            texts = [texts]
        split = re.compile(pattern)
        specials = (re.compile("|".join(re.escape(s) for s in sorted(special_tokens, key=len, reverse=True)))
                    if special_tokens else None)
        chunks = Counter()
        for text in texts:
            # special tokens are atoms: never learn merges across or inside them
            for part in (specials.split(text) if specials else [text]):
                chunks.update(split.findall(part))
        word_counts = {tuple(w.encode("utf-8")): c for w, c in chunks.items()}
        merges = learn_merges(word_counts, num_merges)
        if len(merges) < num_merges:
            warnings.warn(f"ByteBPETokenizer.train: the text has only {len(merges)} pairs left to "
                          f"merge, vocab_size is {256 + len(merges) + len(special_tokens)} instead "
                          f"of {vocab_size}", stacklevel=2)
        return cls(merges, special_tokens, pattern)

    # ---------------------------------------------------------------- encode / decode
    @property
    def vocab_size(self):
        return 256 + len(self.merges) + len(self.special_tokens)

    def __len__(self):
        return self.vocab_size

    def _encode_chunk(self, chunk):
        """The ids of one pre-split chunk: its bytes, then merges applied lowest rank first."""
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        ids = list(chunk.encode("utf-8"))
        ranks = self.ranks
        while len(ids) >= 2:
            # the adjacent pair learnt earliest is the one to merge now, as in training
            pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
            r = ranks.get(pair)
            if r is None:
                break
            ids = merge_pair(ids, pair, 256 + r)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[chunk] = ids
        return ids

    def encode_ordinary(self, text):
        """Ids of text with special tokens treated as ordinary text."""
        ids = []
        for chunk in self._split.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def encode(self, text, allowed_special="all"):
        """Ids of text. allowed_special: "all" (special token strings in text become their
        ids), "none" (they are encoded as ordinary text), or a set of the ones to recognise."""
        if not isinstance(text, str):
            raise TypeError(f"ByteBPETokenizer.encode: expected a str, got {type(text).__name__}")
        if allowed_special == "none" or self._special_split is None:
            return self.encode_ordinary(text)
        if allowed_special == "all":
            allowed = self.special_tokens
        else:
            allowed = set(allowed_special)
            unknown = allowed - self.special_tokens.keys()
            if unknown:
                raise ValueError(f"ByteBPETokenizer.encode: {sorted(unknown)} are not special tokens "
                                 f"of this tokenizer ({list(self.special_tokens)})")
        ids = []
        # re.split with a capture group alternates ordinary text and special-token matches
        for k, part in enumerate(self._special_split.split(text)):
            if k % 2 == 1 and part in allowed:
                ids.append(self.special_tokens[part])
            else:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode_bytes(self, ids):
        ids = as_id_list(ids, "ByteBPETokenizer.decode")
        n_plain = len(self.id_to_bytes)
        out = []
        for i in ids:
            if 0 <= i < n_plain:
                out.append(self.id_to_bytes[i])
            elif i in self.special_ids:
                out.append(self.special_ids[i].encode("utf-8"))
            else:
                raise IndexError(f"ByteBPETokenizer.decode: id {i} out of range for a vocabulary of {self.vocab_size}")
        return b"".join(out)

    def decode(self, ids, errors="replace"):
        """The text of ids. A slice of ids may cut a multi-byte character: errors="replace"
        shows that as U+FFFD (errors="strict" raises instead)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_str(self, i):
        """Token i shown GPT-2 style (bytes through bytes_to_unicode: " the" -> "Ġthe")."""
        if i in self.special_ids:
            return self.special_ids[i]
        table = bytes_to_unicode()
        return "".join(table[b] for b in self.id_to_bytes[i])

    # ---------------------------------------------------------------- save / load
    def save(self, path):
        """JSON with the pattern, the merges (pairs of ids), the special tokens and, for people
        to read, the vocabulary shown GPT-2 style."""
        table = bytes_to_unicode()
        vocab = {"".join(table[b] for b in bs): i for i, bs in enumerate(self.id_to_bytes)}
        write_json(path, "ByteBPETokenizer", {
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges": [list(m) for m in self.merges],
            "vocab": vocab,
        })

    @classmethod
    def load(cls, path):
        state = read_json(path, "ByteBPETokenizer")
        specials = sorted(state["special_tokens"], key=state["special_tokens"].get)
        tok = cls(state["merges"], specials, state["pattern"])
        if tok.special_tokens != state["special_tokens"]:
            raise ValueError(f"ByteBPETokenizer.load: special token ids in {str(path)!r} do not "
                             f"follow the {len(tok.merges)} merges")
        return tok

    def __repr__(self):
        return (f"ByteBPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")
