"""The real thing: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT, 22.7M weights) loaded
by macrograd from its Hugging Face folder gives the same sentence embeddings as Hugging Face
`transformers` on the same folder, on 212 varied sentences: Shakespeare, reviews in four
languages, numbers and punctuation, accents, CJK and emoji, and long texts cut at 128 tokens.
macrograd tokenizes with its own WordPiece, the reference with Hugging Face's tokenizer; the ids
must be equal too. Embeddings: mean over the real tokens, then unit length (1_Pooling/config.json)."""
import csv
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.io import from_pretrained
from macrograd.models.bert import BertModel
from macrograd.text import WordPieceTokenizer

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("MACROGRAD_SHARED", HERE.parent.parent / "shared"))
MODEL = SHARED / "models" / "all-MiniLM-L6-v2"
DATA = Path(os.environ.get("MACROGRAD_DATA", SHARED / "data"))
MAX_LENGTH, BATCH = 128, 32


def shakespeare_lines(n):
    with gzip.open(DATA / "shakespeare" / "shakespeare.txt.gz", "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f if len(line.strip()) > 25]
    return lines[1000::len(lines) // n][:n]


def reviews(n_per_language):
    texts = []
    for name in ("polarity-en-pang-lee2.csv", "polarity-de-amazon.csv", "polarity-fr-amazon.csv",
                 "polarity-nl-bol.com.csv"):
        with open(DATA / "sentiment" / name, encoding="utf-8-sig", newline="") as f:
            # "label","text" rows (the French file has them the other way round)
            rows = [row[1] if row[0] in ("1", "-1") else row[0] for row in csv.reader(f) if len(row) == 2]
            rows = list(dict.fromkeys(text for text in rows if text.strip()))
        texts += rows[::len(rows) // n_per_language][:n_per_language]
    # the first ~200 characters, cut at a space: long texts have their own group below
    return [text if len(text) < 240 else text[:text.rfind(" ", 0, 200)] for text in texts]


EDGE_CASES = [
    "", "a", "Hello, world!", "3.14159 is pi, and 2.71828 is e.", "1,000,000 dollars ($1M) - or €930,000?",
    "Call +1 (555) 010-9999 at 10:30pm on 2024-02-29.", "!!!???...,,,;;;:::", "#hashtag @user http://example.com/a?b=c&d=e",
    "Ünïcödé àccents: naïve café, résumé, Straße, Øresund.", "日本語のテキストと中文字符混合 with English.",
    "Emoji 😀🎉👍 and symbols ©®™ ± × ÷ ∞ ≠ ≤", "Tabs\tand\nnewlines\r\n  and   spaces", "UPPER CASE lower case MiXeD",
    "don't won't can't it's o'clock rock'n'roll", "[CLS] [SEP] [MASK] [PAD] typed as text", "x" * 120,
    "antidisestablishmentarianism supercalifragilisticexpialidocious", "42", "-0.0001e+10 0x1F 0b1010",
    "Привет, мир! Γειά σου κόσμε! مرحبا بالعالم",
]


def long_texts(lines, n):
    """Texts of about 100-150 word pieces (some are cut at 128 by truncation)."""
    texts, start = [], 0
    for k in range(n):
        words = 75 + 4 * k
        text = []
        while len(text) < words:
            text += lines[start % len(lines)].split()
            start += 1
        texts.append(" ".join(text[:words]))
    return texts


@pytest.fixture(scope="module")
def sentences():
    lines = shakespeare_lines(100)
    texts = lines[:80] + reviews(25) + EDGE_CASES + long_texts(lines[80:], 12)
    assert len(texts) == 212 and len(set(texts)) == 212
    return texts


@pytest.fixture(scope="module")
def reference(sentences):
    """Hugging Face transformers on the same folder, offline: ids, masks and embeddings."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModel.from_pretrained(MODEL).eval()
    ids, embeddings = [], []
    with torch.no_grad():
        for batch in batches(sentences):
            enc = tokenizer(batch, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            embeddings.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
            ids.append(enc["input_ids"].numpy())
    return ids, np.concatenate(embeddings)


@pytest.fixture(scope="module")
def ours(sentences):
    model, info = from_pretrained(MODEL, output_loading_info=True)
    tokenizer = WordPieceTokenizer.from_pretrained(MODEL)
    ids, embeddings = [], []
    with mg.no_grad():
        for batch in batches(sentences):
            enc = tokenizer.batch_encode(batch, truncation=True, max_length=MAX_LENGTH)
            emb = model.sentence_embedding(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            assert emb.dtype == mg.float32
            embeddings.append(emb.numpy())
            ids.append(enc["input_ids"])
    return model, info, ids, np.concatenate(embeddings)


def batch_order(sentences):
    """Sentence indices in batch order: first a batch that mixes the 8 shortest and the 8
    longest texts (the padding stress test), then batches of 32 by length (as a fast encoder
    would run them; the runtime stays low), each still with padding inside."""
    order = sorted(range(len(sentences)), key=lambda i: (len(sentences[i]), i))
    return order[:8] + order[-8:] + order[8:-8]


def batches(sentences):
    order = batch_order(sentences)
    starts = [0] + list(range(16, len(order), BATCH))
    return [[sentences[i] for i in order[a:b]] for a, b in zip(starts, starts[1:] + [len(order)])]


def test_the_folder_is_all_minilm_l6_v2_and_loads_without_leftovers(ours):
    model, info, _, _ = ours
    assert isinstance(model, BertModel) and not model.training
    assert info == {"missing_keys": [], "unexpected_keys": []}
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size,
            c.hidden_act, c.layer_norm_eps, c.vocab_size) == (384, 6, 12, 1536, "gelu", 1e-12, 30522)
    assert sum(p.numel() for p in model.parameters()) == 22_713_216
    pooling = json.loads((MODEL / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]


def test_token_ids_equal_hugging_faces(ours, reference):
    for k, (a, b) in enumerate(zip(ours[2], reference[0])):
        np.testing.assert_array_equal(a, b, err_msg=f"batch {k}")
    lengths = [batch.shape[1] for batch in ours[2]]
    assert max(lengths) == MAX_LENGTH  # the long texts reach the truncation length


def test_sentence_embeddings_equal_hugging_faces(sentences, ours, reference):
    mine, theirs = ours[3], reference[1]
    assert mine.shape == theirs.shape == (212, 384)
    cosine = (mine * theirs).sum(1) / (np.linalg.norm(mine, axis=1) * np.linalg.norm(theirs, axis=1))
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.99999, f"cosine {cosine.min()} for {sentences[batch_order(sentences)[worst]]!r}"
    diff = np.abs(mine - theirs).max(axis=1)
    assert diff.max() <= 1e-4, f"max abs difference {diff.max()}"
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, rtol=1e-5)


def test_embeddings_mean_something(ours):
    """A sanity check of the model itself: near-paraphrases are closer than unrelated texts."""
    model = ours[0]
    tokenizer = WordPieceTokenizer.from_pretrained(MODEL)
    enc = tokenizer.batch_encode(["A man is playing a guitar.", "Someone plays the guitar.",
                                  "The stock market fell sharply today."])
    with mg.no_grad():
        e = model.sentence_embedding(enc["input_ids"], enc["attention_mask"]).numpy()
    assert e[0] @ e[1] > 0.6 > 0.2 > e[0] @ e[2]
