"""Pieces shared by the sentence-encoder experiments (minilm, sentiment-finetune): the polarity
sets, where the pretrained MiniLM lives, and batched sentence embeddings.

    texts, labels = load_polarity("en")          # Pang & Lee sentences, labels 1 (positive) / 0
    model, tokenizer = load_minilm()             # ../shared/models/all-MiniLM-L6-v2 (or the hub)
    vectors = embed_texts(model, tokenizer, texts)   # (N, 384) float32, L2-normalised
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

POLARITY_FILES = {"en": "polarity-en-pang-lee2.csv", "nl": "polarity-nl-bol.com.csv",
                  "fr": "polarity-fr-amazon.csv", "de": "polarity-de-amazon.csv"}
MINILM = "all-MiniLM-L6-v2"


def load_polarity(language: str = "en", max_chars: int = 0):
    """(texts, labels int64 with 1 = positive, 0 = negative) of sentiment/polarity-<language>-*.csv.

    The files are CSV rows of a label ("1" / "-1") and a text, in either order (the French file
    puts the text first), some with a byte-order mark; texts are stripped of surrounding space.
    max_chars > 0 cuts each text (the Amazon reviews run to thousands of characters)."""
    from ..data.text_data import _find

    if language not in POLARITY_FILES:
        raise ValueError(f"load_polarity: language must be one of {sorted(POLARITY_FILES)}, got {language!r}")
    raw = _find("sentiment", POLARITY_FILES[language]).read_text(encoding="utf-8-sig")
    texts, labels = [], []
    for number, row in enumerate(csv.reader(io.StringIO(raw)), 1):
        if not row:
            continue
        if len(row) != 2:
            raise ValueError(f"load_polarity: row {number} of {POLARITY_FILES[language]} has {len(row)} fields, expected 2")
        label, text = (row[0], row[1]) if row[0].strip() in ("1", "-1") else (row[1], row[0])
        if label.strip() not in ("1", "-1"):
            raise ValueError(f"load_polarity: row {number} of {POLARITY_FILES[language]} has no 1/-1 label: {row!r:.80}")
        text = " ".join(text.split())
        texts.append(text[:max_chars] if max_chars else text)
        labels.append(1 if label.strip() == "1" else 0)
    return texts, np.asarray(labels, dtype=np.int64)


def split(n: int, test_fraction: float, seed: int):
    """(train indices, test indices): a fixed random split of range(n), each in random order, so
    that a prefix (a subset) is a random sample too (the polarity files list one class first)."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]


def minilm_folder(name: str = "") -> str:
    """The MiniLM checkpoint: `name` if given, else ../models/all-MiniLM-L6-v2 beside the data folder
    ($MACROGRAD_DATA/../models, the shared layout), else the hub id sentence-transformers/..."""
    if name:
        return name
    data = os.environ.get("MACROGRAD_DATA")
    if data:
        folder = Path(data).resolve().parent / "models" / MINILM
        if (folder / "config.json").is_file():
            return str(folder)
    return f"sentence-transformers/{MINILM}"


def load_minilm(name: str = ""):
    """(BertModel with MiniLM's weights, its WordPieceTokenizer)."""
    from ..io import from_pretrained
    from ..text import WordPieceTokenizer

    folder = minilm_folder(name)
    model = from_pretrained(folder)
    model.eval()
    return model, WordPieceTokenizer.from_pretrained(folder)


def embed_texts(model, tokenizer, texts, max_length: int = 64, batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings (N, hidden): mean over the real tokens, L2-normalised (sentence-transformers);
    texts are sorted by length first so that each batch pads little."""
    from ..autograd import no_grad

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with no_grad():
        for i in range(0, len(texts), batch_size):
            rows = order[i:i + batch_size]
            enc = tokenizer.batch_encode([texts[j] for j in rows], truncation=True, max_length=max_length)
            out[rows] = model.sentence_embedding(enc["input_ids"], enc["attention_mask"]).numpy()
    return out


__all__ = ["POLARITY_FILES", "embed_texts", "load_minilm", "load_polarity", "minilm_folder", "split"]
