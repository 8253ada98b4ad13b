"""sentiment-finetune: sentence polarity with a pretrained encoder, against models that start from
nothing. Four ways to classify, the same train/test split, test accuracy for each:

    bag       bag of embeddings: the mean of learned word-piece vectors -> Linear (fastText-like)
    scratch   a small BERT (2 layers, 64 wide) trained from random weights -> mean pool -> Linear
    frozen    all-MiniLM-L6-v2 frozen: its sentence embeddings (mean pooled, unit length) -> Linear
    finetune  all-MiniLM-L6-v2 and the Linear trained together (full fine-tuning, small lr)

All four read MiniLM's WordPiece ids (so the baselines see the same tokens), truncated to
`max_length`. Data: sentiment/polarity-<lang>-*.csv (English: Pang & Lee movie-review sentences,
4,000; Dutch bol.com 3,000, French Amazon 1,500, German Amazon 200 reviews), a seeded split with
`test_fraction` held out. MiniLM was trained on English, so the other languages test how much of
it carries over through a vocabulary that splits their words into small pieces.

    macrograd run sentiment-finetune
    macrograd run sentiment-finetune --set languages=en,nl,fr,de --set methods=bag,frozen
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from .. import backend

DESCRIPTION = "polarity: MiniLM fine-tuned vs frozen vs a transformer from scratch vs bag of embeddings"

METHODS = ("bag", "scratch", "frozen", "finetune")


@dataclass
class Config:
    languages: tuple[str, ...] = ("en",)
    methods: tuple[str, ...] = METHODS
    model: str = ""  # MiniLM folder or hub id; "" = ../models/all-MiniLM-L6-v2 beside $MACROGRAD_DATA
    max_length: int = 64
    test_fraction: float = 0.2
    batch_size: int = 32
    bag_dim: int = 64
    bag_epochs: int = 10
    bag_lr: float = 3e-3
    scratch_hidden: int = 64
    scratch_layers: int = 2
    scratch_heads: int = 2
    scratch_epochs: int = 5
    scratch_lr: float = 1e-3
    frozen_epochs: int = 300  # full-batch steps of the linear head on the fixed embeddings
    frozen_lr: float = 1e-2
    finetune_epochs: int = 2
    finetune_lr: float = 5e-5
    finetune_train_subset: int = 0  # 0 = the whole training split (fine-tuning is the slow one)
    weight_decay: float = 0.01
    train_subset: int = 0  # 0 = the whole training split, for every method
    test_subset: int = 0
    seed: int = 0


SMOKE = {"bag_epochs": 2, "scratch_epochs": 1, "scratch_hidden": 16, "scratch_layers": 1, "frozen_epochs": 20,
         "finetune_epochs": 1, "train_subset": 48, "test_subset": 32, "max_length": 16, "batch_size": 16}


# -- models ---------------------------------------------------------------------------------------
def classes():
    """The two classifier modules (built lazily: nn is imported on use)."""
    from .. import nn
    from ..models.bert import mean_pooling

    class BagOfEmbeddings(nn.Module):
        """logits = W mean_t(E[x_t]) + b over the real tokens."""

        def __init__(self, vocab_size, dim, num_classes=2):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, ids, mask):
            return self.head(mean_pooling(self.embedding(ids), mask, normalize=False))

    class PooledClassifier(nn.Module):
        """logits = W dropout(mean_t(encoder(x)_t)) + b: a BERT encoder with a linear head on its
        mean-pooled token vectors (the pooling MiniLM was trained with)."""

        def __init__(self, encoder, num_classes=2, dropout=0.1):
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(encoder.config.hidden_size, num_classes)

        def forward(self, ids, mask):
            hidden = self.encoder(ids, mask).last_hidden_state
            return self.head(self.dropout(mean_pooling(hidden, mask, normalize=False)))

    return BagOfEmbeddings, PooledClassifier


# -- data -----------------------------------------------------------------------------------------
def token_batches(ids, labels, batch_size, rng=None):
    """Yields (ids (B, T), mask (B, T), labels (B,)) padded to each batch's longest row; rng shuffles."""
    order = rng.permutation(len(ids)) if rng is not None else np.arange(len(ids))
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        length = max(len(ids[j]) for j in rows)
        x = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for k, j in enumerate(rows):
            x[k, :len(ids[j])] = ids[j]
            mask[k, :len(ids[j])] = 1
        yield x, mask, labels[rows]


def train_tokens(model, train, test, epochs, lr, config: Config, log=None) -> dict:
    """AdamW on (ids, mask) -> logits with cross entropy; returns {"test_acc", "train_seconds", "epochs"}."""
    from ..creation import tensor
    from ..nn import functional as F
    from ..optim import AdamW

    optimizer = AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    history, start = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for x, mask, y in token_batches(*train, config.batch_size, rng):
            loss = F.cross_entropy(model(tensor(x), tensor(mask)), tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "test_acc": accuracy(model, test, config),
                  "seconds": round(time.perf_counter() - start, 1)}
        history.append(record)
        if log:
            log(record)
    return {"test_acc": history[-1]["test_acc"], "train_seconds": round(time.perf_counter() - start, 1),
            "epochs": history}


def accuracy(model, data, config: Config) -> float:
    from ..autograd import no_grad
    from ..creation import tensor

    model.eval()
    correct = 0
    with no_grad():
        for x, mask, y in token_batches(*data, 128):
            correct += int((model(tensor(x), tensor(mask)).numpy().argmax(axis=1) == y).sum())
    return correct / len(data[0])


def train_frozen(features_train, y_train, features_test, y_test, config: Config) -> dict:
    """A Linear on fixed sentence embeddings, full-batch AdamW; returns test accuracy."""
    from .. import nn
    from ..creation import tensor
    from ..nn import functional as F
    from ..optim import AdamW

    backend.manual_seed(config.seed)
    head = nn.Linear(features_train.shape[1], 2)
    optimizer = AdamW(head.parameters(), lr=config.frozen_lr, weight_decay=config.weight_decay)
    x, y = tensor(features_train), tensor(y_train)
    start = time.perf_counter()
    for _ in range(config.frozen_epochs):
        loss = F.cross_entropy(head(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    predictions = head(tensor(features_test)).detach().numpy().argmax(axis=1)
    return {"test_acc": float((predictions == y_test).mean()), "train_loss": float(loss.item()),
            "train_seconds": round(time.perf_counter() - start, 1)}


# -- the experiment -------------------------------------------------------------------------------
def run_language(language: str, config: Config, encoder, tokenizer, run_folder) -> dict:
    from ..io import from_pretrained
    from ..models.bert import BertConfig, BertModel
    from .text_common import embed_texts, load_polarity, minilm_folder, split

    texts, labels = load_polarity(language)
    train_idx, test_idx = split(len(texts), config.test_fraction, config.seed)
    if config.train_subset:
        train_idx = train_idx[:config.train_subset]
    if config.test_subset:
        test_idx = test_idx[:config.test_subset]
    # the texts are cut to 20 characters per token before tokenising: enough for max_length
    # word pieces, and the long Amazon reviews are not split into thousands of pieces for nothing
    ids = [tokenizer.encode(texts[i][:config.max_length * 20], truncation=True, max_length=config.max_length)
           for i in range(len(texts))]
    train = ([ids[i] for i in train_idx], labels[train_idx])
    test = ([ids[i] for i in test_idx], labels[test_idx])
    print(f"{language}: {len(train_idx)} train / {len(test_idx)} test texts, "
          f"{np.mean([len(i) for i in ids]):.1f} word pieces on average (max {config.max_length})")
    BagOfEmbeddings, PooledClassifier = classes()
    results = {"train": len(train_idx), "test": len(test_idx), "majority_class_acc": float(max(test[1].mean(), 1 - test[1].mean()))}

    def show(method):
        return lambda r: print(f"  {language} {method} epoch {r['epoch']}: loss {r['train_loss']:.3f}, "
                               f"test acc {r['test_acc']:.4f} ({r['seconds']} s)", flush=True)

    for method in config.methods:
        backend.manual_seed(config.seed)
        if method == "bag":
            model = BagOfEmbeddings(tokenizer.vocab_size, config.bag_dim)
            result = train_tokens(model, train, test, config.bag_epochs, config.bag_lr, config, show(method))
        elif method == "scratch":
            small = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=config.scratch_hidden,
                               num_hidden_layers=config.scratch_layers, num_attention_heads=config.scratch_heads,
                               intermediate_size=4 * config.scratch_hidden, max_position_embeddings=max(config.max_length, 64))
            model = PooledClassifier(BertModel(small, add_pooling_layer=False))
            result = train_tokens(model, train, test, config.scratch_epochs, config.scratch_lr, config, show(method))
        elif method == "frozen":
            start = time.perf_counter()
            features = embed_texts(encoder, tokenizer, [texts[i][:config.max_length * 20] for i in
                                                        np.concatenate([train_idx, test_idx])], config.max_length)
            embed_seconds = time.perf_counter() - start
            result = train_frozen(features[:len(train_idx)], train[1], features[len(train_idx):], test[1], config)
            result["embed_seconds"] = round(embed_seconds, 1)
            print(f"  {language} frozen: test acc {result['test_acc']:.4f}")
        elif method == "finetune":
            model = PooledClassifier(from_pretrained(minilm_folder(config.model)))
            subset = config.finetune_train_subset or len(train[0])
            result = train_tokens(model, (train[0][:subset], train[1][:subset]), test, config.finetune_epochs,
                                  config.finetune_lr, config, show(method))
            result["train_examples"] = min(subset, len(train[0]))
        else:
            raise ValueError(f"sentiment-finetune: methods must be among {METHODS}, got {method!r}")
        results[method] = result
        run_folder.write_json(f"{language}_results.json", results)
    return results


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import RunFolder
    from .text_common import load_minilm

    bad = [m for m in config.methods if m not in METHODS]
    if bad:
        raise ValueError(f"sentiment-finetune: methods must be among {METHODS}, got {bad}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    encoder, tokenizer = load_minilm(config.model)  # the tokenizer for every method, the frozen encoder
    summary = {}
    for language in config.languages:
        done = run_folder.file(f"{language}_results.json")
        if resume and done.exists():
            previous = json.loads(done.read_text())
            if all(m in previous for m in config.methods):
                summary[language] = previous
                continue
        summary[language] = run_language(language, config, encoder, tokenizer, run_folder)
    table = ["| language | train / test | " + " | ".join(config.methods) + " |",
             "| --- | --- | " + " | ".join("---" for _ in config.methods) + " |"]
    for language, r in summary.items():
        table.append(f"| {language} | {r['train']} / {r['test']} | "
                     + " | ".join(f"{r[m]['test_acc']:.3f}" for m in config.methods) + " |")
    run_folder.write_text("results.md", "\n".join(["# sentiment-finetune: test accuracy", ""] + table + [""]))
    print("\n".join(table))
    run_folder.write_json("summary.json", summary)
    return summary


__all__ = ["Config", "SMOKE", "DESCRIPTION", "METHODS", "run", "classes", "token_batches"]
