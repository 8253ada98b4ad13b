"""Byte-level BPE (macrograd.text.ByteBPETokenizer): exact vocabulary size, merges equal to a
brute-force recount, the Wikipedia example, lossless round trips on any Unicode and on
held-out Shakespeare, compression, special tokens, save/load."""
import gzip
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from macrograd.text import GPT2_SPLIT_PATTERN, ByteBPETokenizer, bytes_to_unicode

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def shakespeare():
    with gzip.open(DATA / "shakespeare" / "shakespeare.txt.gz", "rt", encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def tok(shakespeare):
    """1,024 tokens (767 merges + 1 special) learnt from 300 kB of Shakespeare."""
    return ByteBPETokenizer.train(shakespeare[:300_000], vocab_size=1024, special_tokens=[EOT])


def naive_merges(text, num_merges):
    """BPE by the book: recount every adjacent pair of every chunk before each merge."""
    words = [list(w.encode()) for w in re.findall(GPT2_SPLIT_PATTERN, text)]
    merges = []
    for r in range(num_merges):
        counts = Counter(p for w in words for p in zip(w, w[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest ids
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(256 + r)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


def test_wikipedia_example_on_bytes():
    # aaabdaaabac: aa -> Z(256), then ab -> Y(257) (tied with Za, smaller ids win), then ZY -> X(258)
    tok = ByteBPETokenizer.train("aaabdaaabac", vocab_size=259)
    a, b, c, d = b"abcd"
    assert tok.merges == [(a, a), (a, b), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, d, 258, a, c]  # XdXac
    assert tok.id_to_bytes[258] == b"aaab"
    assert tok.decode([258, d]) == "aaabd"


def test_training_equals_the_brute_force_recount(shakespeare):
    text = shakespeare[100_000:112_000]
    tok = ByteBPETokenizer.train(text, vocab_size=256 + 150)
    assert tok.merges == naive_merges(text, 150)


def test_training_gives_exactly_the_requested_vocabulary(tok):
    assert tok.vocab_size == len(tok) == 1024
    assert len(tok.merges) == 1024 - 256 - 1 and tok.special_tokens == {EOT: 1023}
    assert len(set(tok.id_to_bytes)) == len(tok.id_to_bytes) == 1023  # every token is new bytes
    assert tok.token_str(256 + tok.merges.index((ord(" "), ord("t")))) == "Ġt"


def test_merges_never_cross_chunk_boundaries(tok):
    for bs in tok.id_to_bytes[256:]:
        s = bs.decode("utf-8", errors="ignore")
        assert len(re.findall(GPT2_SPLIT_PATTERN, s)) <= 1, s  # one chunk (or part of one)


def test_round_trip_and_compression_on_held_out_shakespeare(tok, shakespeare):
    held_out = shakespeare[3_000_000:3_200_000]
    ids = tok.encode(held_out)
    assert tok.decode(ids) == held_out
    ratio = len(held_out.encode("utf-8")) / len(ids)
    assert ratio > 2.0, ratio  # bytes per token: ~2.3 with 768 merges
    assert max(ids) < tok.vocab_size - 1  # no special token made from ordinary text


@given(st.text())
def test_round_trip_on_any_unicode(tok, text):
    assert "".join(re.findall(GPT2_SPLIT_PATTERN, text)) == text  # the pre-split loses nothing
    ids = tok.encode(text, allowed_special="none")
    assert all(0 <= i < 1023 for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")


@given(st.lists(st.sampled_from(["héllo wörld", "日本語", "😀👍🏽", " \n\t", "I'll", "123", EOT]), max_size=8))
def test_round_trip_with_special_tokens(tok, parts):
    text = "".join(parts)
    ids = tok.encode(text)
    assert ids.count(1023) == text.count(EOT)
    assert tok.decode(ids) == text


def test_special_tokens(tok):
    text = f"To be{EOT}or not"
    ids = tok.encode(text)
    assert ids == tok.encode("To be") + [1023] + tok.encode("or not")
    plain = tok.encode(text, allowed_special="none")
    assert 1023 not in plain and tok.decode(plain) == text
    assert tok.encode(text, allowed_special={EOT}) == ids
    with pytest.raises(ValueError, match=r"\['<mask>'\] are not special tokens of this tokenizer"):
        tok.encode(text, allowed_special={"<mask>"})


def test_special_tokens_are_not_learnt_from(shakespeare):
    text = (shakespeare[:20_000] + EOT) * 3
    tok = ByteBPETokenizer.train(text, vocab_size=400, special_tokens=[EOT, "<pad>"])
    assert tok.special_tokens == {EOT: 398, "<pad>": 399}
    assert not any(b"<|" in bs or b"|>" in bs for bs in tok.id_to_bytes)


def test_save_load_gives_identical_encodings(tok, shakespeare, tmp_path):
    tok.save(tmp_path / "bpe.json")
    back = ByteBPETokenizer.load(tmp_path / "bpe.json")
    text = shakespeare[4_000_000:4_050_000] + EOT + "naïve 東京 😀"
    assert back.encode(text) == tok.encode(text)
    assert back.merges == tok.merges and back.special_tokens == tok.special_tokens
    state = json.loads((tmp_path / "bpe.json").read_text(encoding="utf-8"))
    assert state["type"] == "ByteBPETokenizer" and state["vocab"]["Ġthe"] == tok.encode(" the")[0]


def test_decode_errors_and_partial_characters(tok):
    ids = tok.encode("é", allowed_special="none")
    assert tok.decode_bytes(ids) == "é".encode()
    assert tok.decode([0xC3]) == "\ufffd"  # half of a two-byte character
    with pytest.raises(UnicodeDecodeError):
        tok.decode([0xC3], errors="strict")
    with pytest.raises(IndexError, match=r"id 1024 out of range for a vocabulary of 1024"):
        tok.decode([1024])
    assert tok.decode(np.array(tok.encode("hello"), dtype=np.int64)) == "hello"


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"vocab_size=200 is smaller than the 256 byte tokens plus 0"):
        ByteBPETokenizer.train("abc", vocab_size=200)
    with pytest.warns(UserWarning, match=r"only 2 pairs left to merge, vocab_size is 258 instead of 300"):
        small = ByteBPETokenizer.train("abc", vocab_size=300)
    assert small.vocab_size == 258
    with pytest.raises(ValueError, match=r"merge 0 \(256, 1\) uses an id not made before it"):
        ByteBPETokenizer([(256, 1)])
    with pytest.raises(TypeError, match=r"expected a str, got bytes"):
        small.encode(b"abc")


def test_bytes_to_unicode_is_a_printable_bijection():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256 and table[ord(" ")] == "Ġ" and table[ord("a")] == "a"
    assert all(c.isprintable() and not c.isspace() for c in table.values())
