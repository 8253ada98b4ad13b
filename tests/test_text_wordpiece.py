"""BERT WordPiece (macrograd.text.WordPieceTokenizer) against the Hugging Face `tokenizers`
reference on the real all-MiniLM-L6-v2 vocabulary: ids of Shakespeare lines and English,
French, German and Dutch reviews (accents), CJK, emoji, control characters, long words,
with and without [CLS]/[SEP], sentence pairs, truncation, padded batches and decoding."""
import csv
import gzip
import os
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from macrograd.text import BasicTokenizer, WordPieceTokenizer, load_vocab

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
MODEL = DATA.parent / "models" / "all-MiniLM-L6-v2"

EDGE_CASES = [
    "", "   ", "Hello, world!", "unaffable tokenization", "I'm sure they'd've done it... don't!",
    "naïve café — Ærøskøbing, Straße, señor, Ångström, İstanbul, ΣΑΣ, ǅ, ﬁnal",
    "日本語のテキスト、中文字符。한국어 텍스트", "𠀀𪜀 CJK extension B and C", "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷",
    "ctrl\x00a\x07b\u200bc\ufeffd\u00ade\x85f\u2028g\x0bh\x0ci\x1cj\u3000k\u00a0l\ufffdm\U000f0000n",
    "tabs\tand\nnew\r\nlines", "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "Hello [MASK] world[SEP]x [cls] [UNK][PAD]", "$100 ^caret^ `tick` ~tilde~ ¿qué? «guillemets» „Zitat“",
    "math ∑∫√ ≤≥ ½ ² ①", "zalgo z̷̢a̴l̸g̵o", "\u0301accent first",
]


def _reviews(name, n, rng):
    with open(DATA / "sentiment" / name, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    texts = [max(row, key=len) for row in rows]  # the columns are (label, text) or (text, label)
    return rng.sample(texts, n)


@pytest.fixture(scope="module")
def sentences():
    rng = random.Random(0)
    with gzip.open(DATA / "shakespeare" / "shakespeare.txt.gz", "rt", encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    out = rng.sample(lines, 250)
    for name in ("polarity-en-pang-lee2.csv", "polarity-fr-amazon.csv", "polarity-de-amazon.csv",
                 "polarity-nl-bol.com.csv"):
        out += _reviews(name, 40, rng)
    return out + EDGE_CASES


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer.from_pretrained(MODEL)


@pytest.fixture
def hf():
    ref = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    ref.no_truncation()  # the file asks for both at 128
    ref.no_padding()
    return ref


def test_from_pretrained_reads_vocab_and_config(tok):
    assert tok.vocab_size == len(tok) == 30522
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (0, 100, 101, 102, 103)
    assert tok.basic.do_lower_case and tok.basic.strip_accents and tok.model_max_length == 512
    cased = WordPieceTokenizer.from_pretrained(MODEL, do_lower_case=False)
    assert cased.tokenize("Hello") == ["[UNK]"]  # the uncased vocabulary has no "H..." piece
    with pytest.raises(FileNotFoundError, match="no vocab.txt in"):
        WordPieceTokenizer.from_pretrained(DATA)


def test_ids_equal_hugging_face(tok, hf, sentences):
    for s in sentences:
        ref = hf.encode(s)
        assert tok.tokenize(s) == ref.tokens[1:-1], s
        assert tok.encode(s) == ref.ids, s
        assert tok.encode(s, add_special_tokens=False) == hf.encode(s, add_special_tokens=False).ids, s


def test_pairs_equal_hugging_face(tok, hf, sentences):
    rng = random.Random(1)
    for a, b in zip(sentences[::2], rng.sample(sentences, len(sentences))):
        ref = hf.encode(a, b)
        got = tok.encode_pair(a, b)
        assert got["input_ids"] == ref.ids
        assert got["token_type_ids"] == ref.type_ids
        assert got["attention_mask"] == ref.attention_mask
        assert tok.encode_pair(a, b, add_special_tokens=False)["input_ids"] == \
            hf.encode(a, b, add_special_tokens=False).ids


@pytest.mark.parametrize("max_length", [6, 20, 64])
def test_truncation_equals_hugging_face(tok, hf, sentences, max_length):
    hf.enable_truncation(max_length)  # longest_first
    # Hugging Face also builds every overflowing window of a truncated pair, which takes
    # seconds on long reviews: short first texts, and long second ones only from 20 tokens on
    short = [s for s in sentences if len(s) < 300]
    rng = random.Random(max_length)
    for a, b in zip(short[:150], rng.sample(short if max_length < 20 else sentences, 150)):
        assert tok.encode(a, max_length=max_length, truncation=True) == hf.encode(a).ids
        got = tok.encode_pair(a, b, max_length=max_length, truncation=True)
        ref = hf.encode(a, b)
        assert got["input_ids"] == ref.ids and got["token_type_ids"] == ref.type_ids, (a, b)


def test_batch_encode_equals_hugging_face_padding(tok, hf, sentences):
    batch = sentences[290:330]  # Shakespeare lines and long English reviews
    hf.enable_padding(pad_id=0, pad_token="[PAD]")
    refs = hf.encode_batch(batch)
    out = tok.batch_encode(batch)
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids"}
    for key, attr in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids")):
        assert out[key].dtype == np.int64 and out[key].shape == (40, len(refs[0].ids))
        np.testing.assert_array_equal(out[key], np.array([getattr(r, attr) for r in refs]))
    assert out["attention_mask"].sum(1).tolist() == [len(tok.encode(s)) for s in batch]
    pairs = tok.batch_encode(batch[:10], batch[10:20])
    refs = hf.encode_batch(list(zip(batch[:10], batch[10:20])))
    np.testing.assert_array_equal(pairs["input_ids"], [r.ids for r in refs])
    np.testing.assert_array_equal(pairs["token_type_ids"], [r.type_ids for r in refs])


def test_batch_encode_fixed_length(tok, hf, sentences):
    batch = sentences[300:320]
    hf.enable_truncation(24)
    hf.enable_padding(pad_id=0, pad_token="[PAD]", length=24)
    out = tok.batch_encode(batch, max_length=24, truncation=True, padding="max_length")
    np.testing.assert_array_equal(out["input_ids"], [r.ids for r in hf.encode_batch(batch)])
    assert tok.encode("hi", max_length=5, padding="max_length") == [101, 7632, 102, 0, 0]
    assert tok.encode_pair("hi", "yo", max_length=7, padding="max_length") == {
        "input_ids": [101, 7632, 102, 10930, 102, 0, 0], "token_type_ids": [0, 0, 0, 1, 1, 0, 0],
        "attention_mask": [1, 1, 1, 1, 1, 0, 0]}


def test_decode_equals_hugging_face(tok, hf, sentences):
    for s in sentences:
        ids = hf.encode(s).ids
        for skip in (True, False):
            assert tok.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip), s
    assert tok.decode(tok.encode("Hello, world! Tokenization.")) == "[CLS] hello, world! tokenization. [SEP]"
    assert tok.decode(np.array(tok.encode("unaffable")), skip_special_tokens=True) == "unaffable"


def test_wordpiece_greedy_longest_match_and_unk(tok):
    assert tok.tokenize("unaffable tokenization") == ["una", "##ffa", "##ble", "token", "##ization"]
    assert tok.wordpiece("a" * 100) != ["[UNK]"] and tok.wordpiece("a" * 101) == ["[UNK]"]
    assert tok.tokenize("hello ☃ world") == ["hello", "[UNK]", "world"]  # no piece for the snowman
    # one unknown character makes the whole word [UNK], not just its piece
    assert tok.tokenize("abc☃def") == ["[UNK]"]
    assert tok.convert_tokens_to_ids(["hello", "notawordpiece"]) == [7592, 100]


def test_basic_tokenizer_steps():
    basic = BasicTokenizer(do_lower_case=True)
    assert basic.tokenize(" Héllo\tWORLD!\u00a0ça\x00va?") == ["hello", "world", "!", "cava", "?"]  # \x00 is dropped, not a space
    assert basic.tokenize("東京タワー") == ["東", "京", "タワー"]  # ideographs apart, kana stay together
    assert basic.tokenize("a$b^c`d") == ["a", "$", "b", "^", "c", "`", "d"]  # ASCII symbols split too
    cased = BasicTokenizer(do_lower_case=False)
    assert cased.tokenize("Héllo, Wörld") == ["Héllo", ",", "Wörld"]  # accents kept when cased
    assert BasicTokenizer(do_lower_case=True, strip_accents=False).tokenize("Héllo") == ["héllo"]


def test_load_vocab_line_numbers_are_ids():
    vocab = load_vocab(MODEL / "vocab.txt")
    with open(MODEL / "vocab.txt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert len(vocab) == 30522 and vocab["[PAD]"] == 0 and vocab[lines[2000]] == 2000


def test_errors(tok):
    with pytest.raises(ValueError, match=r"max_length=2 is too short for the special tokens"):
        tok.encode_pair("a", "b", max_length=2, truncation=True)
    with pytest.raises(ValueError, match=r"padding must be False, True, 'longest' or 'max_length', got 'max'"):
        tok.encode("a", padding="max")
    with pytest.raises(ValueError, match=r"rows of different lengths need padding=True"):
        tok.batch_encode(["a", "a b"], padding=False)
    with pytest.raises(ValueError, match=r"2 texts but 1 text_pairs"):
        tok.batch_encode(["a", "b"], ["c"])
    with pytest.raises(TypeError, match=r"expected a list of texts, got a single str"):
        tok.batch_encode("a b")
    with pytest.raises(IndexError, match=r"ids \[40000\] are not in the vocabulary of 30522"):
        tok.decode([101, 40000])
    with pytest.raises(ValueError, match=r"special tokens \['\[UNK\]', '\[SEP\]', '\[PAD\]', '\[CLS\]', '\[MASK\]'\] are not in the vocabulary"):
        WordPieceTokenizer({"a": 0})
