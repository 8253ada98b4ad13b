"""Character and word tokenizers (macrograd.text): round trips on real Shakespeare, the
Vocabulary's ordering, limits and special tokens, unknowns, save/load."""
import gzip
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from macrograd.text import CharTokenizer, Vocabulary, WordTokenizer, pre_tokenize

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="module")
def shakespeare():
    with gzip.open(DATA / "shakespeare" / "shakespeare.txt.gz", "rt", encoding="utf-8") as f:
        return f.read()


# ------------------------------------------------------------------ characters
def test_char_vocabulary_is_the_sorted_unique_characters(shakespeare):
    tok = CharTokenizer.from_text(shakespeare)
    assert tok.itos == sorted(set(shakespeare))
    assert tok.vocab_size == len(tok) == len(set(shakespeare))
    assert all(tok.stoi[c] == i for i, c in enumerate(tok.itos))
    assert tok.stoi["\n"] == 0 and tok.stoi[" "] == 1  # the char-rnn layout: whitespace first


def test_char_round_trip_on_shakespeare(shakespeare):
    train, held_out = shakespeare[:4_000_000], shakespeare[4_000_000:]
    tok = CharTokenizer.from_text(train)
    ids = tok.encode(held_out)
    assert len(ids) == len(held_out) and max(ids) < tok.vocab_size
    assert tok.decode(ids) == held_out
    assert tok.decode(np.array(ids[:1000], dtype=np.int64)) == held_out[:1000]


def test_char_unknown_character_error_names_it():
    tok = CharTokenizer.from_text("hello world")
    with pytest.raises(KeyError, match=r"1 character\(s\) not in the vocabulary of 8: 'z' .*position 2.*unk_token"):
        tok.encode("hez")
    with pytest.raises(IndexError, match=r"ids \[8\] out of range for a vocabulary of 8"):
        tok.decode([0, 8])


def test_char_unk_option_takes_id_zero():
    tok = CharTokenizer.from_text("banana", unk_token="<unk>")
    assert tok.itos == ["<unk>", "a", "b", "n"] and tok.unk_id == 0
    assert tok.encode("bandana!") == [2, 1, 3, 0, 1, 3, 1, 0]
    assert tok.decode(tok.encode("cab")) == "<unk>ab"
    assert tok.encode("<unk>") == [0, 0, 3, 0, 0]  # the unk string is not matched as text


def test_char_save_load(tmp_path, shakespeare):
    text = shakespeare[:50_000] + "é—"
    for unk in (None, "<unk>"):
        tok = CharTokenizer.from_text(text, unk_token=unk)
        tok.save(tmp_path / "char.json")
        back = CharTokenizer.load(tmp_path / "char.json")
        assert back.itos == tok.itos and back.unk_token == unk
        assert back.encode(text) == tok.encode(text)
    assert '"é"' in (tmp_path / "char.json").read_text(encoding="utf-8")  # readable JSON
    with pytest.raises(ValueError, match=r"CharTokenizer.load: .* holds a 'Vocabulary'"):
        Vocabulary(["a"]).save(tmp_path / "v.json")
        CharTokenizer.load(tmp_path / "v.json")


def test_char_bad_vocabularies():
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
    with pytest.raises(TypeError, match=r"CharTokenizer.decode: token ids must be integers, got float"):
        CharTokenizer("ab").decode([0.0])


# ------------------------------------------------------------------ vocabulary
def test_vocabulary_orders_specials_then_frequency_then_alphabet():
    lists = [["to", "be", "or", "not", "to", "be"], ["be", "it", "so"]]
    v = Vocabulary.build(lists)
    assert v.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "be", "to", "it", "not", "or", "so"]
    assert v.stoi == {t: i for i, t in enumerate(v.itos)}
    assert v["be"] == 4 and v["zebra"] == v.unk_id == 1 and "zebra" not in v
    assert v.freqs["be"] == 3 and v.lookup_tokens(np.array([5, 1])) == ["to", "<unk>"]


def test_vocabulary_min_freq_and_max_size(shakespeare):
    words = pre_tokenize(shakespeare[:300_000])
    counts = Counter(words)
    v = Vocabulary.build([words], min_freq=3)
    assert set(v.itos[4:]) == {w for w, c in counts.items() if c >= 3}
    small = Vocabulary.build([words], min_freq=3, max_size=500)
    assert len(small) == 500 and small.itos == v.itos[:500]  # the 496 most frequent words
    assert min(counts[w] for w in small.itos[4:]) >= max(counts[w] for w in v.itos[500:])
    with pytest.raises(ValueError, match=r"max_size=3 leaves no room for the 4 special tokens"):
        Vocabulary.build([words], max_size=3)


def test_vocabulary_custom_specials_and_no_unk(tmp_path):
    v = Vocabulary.build([["a", "b", "a", "[SEP]"]], specials=["[PAD]", "[UNK]", "[SEP]"], unk_token="[UNK]")
    assert v.itos == ["[PAD]", "[UNK]", "[SEP]", "a", "b"]  # a special in the text stays in its slot
    strict = Vocabulary(["a", "b"], specials=["<pad>"], unk_token=None)
    with pytest.raises(KeyError, match=r"token 'c' is not in the vocabulary of 3 and there is no unk_token"):
        strict["c"]
    with pytest.raises(ValueError, match=r"unk_token '<unk>' is not among the specials"):
        Vocabulary(["a"], specials=["<pad>"])
    v.save(tmp_path / "v.json")
    back = Vocabulary.load(tmp_path / "v.json")
    assert back.itos == v.itos and back.unk_id == v.unk_id and back.specials == v.specials


# ------------------------------------------------------------------ words
def test_pre_tokenizer_splits_words_and_punctuation():
    assert pre_tokenize("O'er the hills, I'll go--now!") == ["o'er", "the", "hills", ",", "i'll", "go", "-", "-", "now", "!"]
    assert pre_tokenize("Hello World", lower=False) == ["Hello", "World"]
    assert pre_tokenize("  tabs\tand\nlines  ") == ["tabs", "and", "lines"]


def test_word_round_trip_on_shakespeare(shakespeare):
    train, held_out = shakespeare[:1_000_000], shakespeare[1_000_000:1_050_000]
    tok = WordTokenizer.from_texts(train.splitlines(), min_freq=2)
    # held-out text: rare words become <unk>, the others survive in order
    ids = tok.encode(held_out, add_special_tokens=True)
    assert ids[0] == tok.bos_id == 2 and ids[-1] == tok.eos_id == 3
    words = tok.tokenize(held_out)
    decoded = tok.decode(ids[1:-1]).split(" ")
    assert tok.decode(ids, skip_special_tokens=True).split(" ") == [w for w in words if w in tok.stoi]
    assert decoded == [w if w in tok.stoi else "<unk>" for w in words]
    assert 0 < decoded.count("<unk>") < 0.1 * len(words)  # about 6% with min_freq=2 on 1 MB


def test_word_exact_round_trip_when_every_word_is_known(shakespeare):
    text = shakespeare[:200_000]
    tok = WordTokenizer.from_texts(text, lower=False)
    ids = tok.encode(text)
    assert tok.unk_id not in ids
    assert tok.decode(ids) == " ".join(pre_tokenize(text, lower=False))
    assert tok.tokenize(tok.decode(ids)) == tok.tokenize(text)


def test_word_save_load(tmp_path, shakespeare):
    lines = shakespeare[:100_000].splitlines()
    tok = WordTokenizer.from_texts(lines, min_freq=2, max_size=1000, lower=False)
    tok.save(tmp_path / "word.json")
    back = WordTokenizer.load(tmp_path / "word.json")
    assert back.itos == tok.itos and back.lower is False and len(back) == 1000
    assert all(back.encode(l, add_special_tokens=True) == tok.encode(l, add_special_tokens=True) for l in lines)


def test_word_missing_special_token_error():
    tok = WordTokenizer.from_texts(["a b"], specials=["<pad>", "<unk>"])
    assert tok.encode("a c") == [2, 1]
    with pytest.raises(KeyError, match=r"the bos token '<bos>' is not in the vocabulary \(specials: \['<pad>', '<unk>'\]\)"):
        tok.encode("a", add_special_tokens=True)
