"""Byte-level BPE on whole real corpora: trained on a slice of Shakespeare, it encodes and decodes
EVERY byte of the full Shakespeare file and of the English-German sentence pairs (umlauts, ß,
typographic quotes, words it never saw) back to the identical bytes, and its save/load JSON
gives the same ids."""
import gzip
import os
from pathlib import Path

import pytest

from macrograd.text import ByteBPETokenizer

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def read_bytes(path):
    with gzip.open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def corpora():
    return {"shakespeare": read_bytes(DATA / "shakespeare" / "shakespeare.txt.gz"),
            "de-en": read_bytes(DATA / "de-en" / "eng-deu.tsv.gz")}


@pytest.fixture(scope="module")
def tok(corpora):
    # a slice from the middle (not the first lines, which are all one play's front matter)
    text = corpora["shakespeare"].decode("utf-8")
    return ByteBPETokenizer.train(text[1_000_000:1_300_000], vocab_size=512, special_tokens=["<|endoftext|>"])


@pytest.mark.parametrize("name", ["shakespeare", "de-en"])
def test_every_byte_round_trips(tok, corpora, name):
    raw = corpora[name]
    text = raw.decode("utf-8")  # strict: the files are valid UTF-8
    ids = tok.encode(text)
    assert min(ids) >= 0 and max(ids) < tok.vocab_size
    assert tok.decode_bytes(ids) == raw  # every byte, \r and \t included, in order
    # merges learnt on 6% of Shakespeare compress all of it (and English-German, less so)
    ratio = len(raw) / len(ids)
    assert ratio > (1.8 if name == "shakespeare" else 1.5), ratio


def test_non_ascii_lines_and_save_load(tok, corpora, tmp_path):
    lines = corpora["de-en"].decode("utf-8").splitlines()
    german = [line for line in lines if any(c in line for c in "äöüÄÖÜß")]
    assert len(german) > 1000
    for line in german[:2000]:
        assert tok.decode(tok.encode(line), errors="strict") == line
    tok.save(tmp_path / "bpe.json")
    loaded = ByteBPETokenizer.load(tmp_path / "bpe.json")
    sample = "\n".join(german[:500]) + "<|endoftext|>" + corpora["shakespeare"][:20_000].decode("utf-8")
    assert loaded.encode(sample) == tok.encode(sample)
    assert loaded.decode(tok.encode(sample)) == sample
