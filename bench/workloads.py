"""The benchmark workloads, each written once against PyTorch's API.

Every builder takes the library module `L` (``macrograd`` or ``torch``) and builds the same
model with `L.nn.*`, so the two libraries run literally the same code: that is the contract.
A `Workload` says which layers it needs (`needs`); the runner skips it with "not available
yet" while macrograd lacks one of them, rather than timing a stand-in.

A training step is the whole thing a training loop does per batch:
zero_grad, forward, loss, backward, optimizer step. Data are fixed random float32 arrays
(drawn once from NumPy, identical for both libraries).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Workload:
    """One benchmark: `setup(L, scale)` returns a zero-argument `step()` closure doing one step.

    `scale` divides the batch size (and is used by the tests to run a tiny version)."""

    name: str
    description: str
    setup: Callable
    needs: tuple = ()  # attribute paths under L, e.g. "nn.Conv2d", that macrograd must have
    batch: int = 0
    tags: tuple = field(default_factory=tuple)


def has(L, path: str) -> bool:
    """Does module L have the dotted attribute `path` (e.g. "nn.functional.max_pool2d")?"""
    obj = L
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


def missing(L, workload: Workload) -> list:
    return [path for path in workload.needs if not has(L, path)]


# -- data ------------------------------------------------------------------------------------------
def _inputs(L, shape, seed=0):
    """A fixed float32 batch, the same numbers in both libraries."""
    array = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return L.tensor(array)


def _labels(L, n, classes, shape=None, seed=1):
    array = np.random.default_rng(seed).integers(0, classes, size=shape or (n,)).astype(np.int64)
    return L.tensor(array)


def _train_step(model, optimizer, loss_fn, x, y):
    """Return a closure doing one full training step on the fixed batch (x, y)."""

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _inference_step(L, model, x):
    model.eval()

    def step():
        with L.no_grad():
            return model(x)

    return step


# -- models (the same code for both libraries) --------------------------------------------------
def mlp(L):
    """784-256-256-10 with ReLU."""
    nn = L.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet5(L):
    """LeNet-5 for 1x28x28: conv 1->6 5x5 pad 2, pool, conv 6->16 5x5, pool, 400-120-84-10."""
    nn = L.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def resnet8(L):
    """ResNet-8 for 3x32x32: stem conv+BN+ReLU, one BasicBlock at 16, 32 (stride 2) and 64
    (stride 2) channels with 1x1 conv + BN shortcuts where the shape changes, global average
    pool, linear 64->10."""
    nn, F = L.nn, L.nn.functional

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet8(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.stages = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.stages(self.stem(x))
            return self.fc(x.mean(dim=(2, 3)))  # global average pool

    return ResNet8()


def char_lstm(L, vocab=65, embed=64, hidden=256):
    nn = L.nn

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=1, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, tokens):
            out, _ = self.lstm(self.embedding(tokens))
            return self.head(out).reshape(-1, vocab)

    return CharLSTM()


def gpt(L, vocab=65, block=64, n_layer=4, n_head=4, width=128):
    """nanoGPT's CPU configuration: pre-norm blocks, causal self-attention, 4x GELU MLP,
    no biases, no dropout, the head tied to the token embedding."""
    nn, F = L.nn, L.nn.functional
    use_sdpa = has(L, "nn.functional.scaled_dot_product_attention")

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width, bias=False)
            self.proj = nn.Linear(width, width, bias=False)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(width, dim=2)
            q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
            if use_sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # explicit masked softmax attention
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // n_head))
                mask = L.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
                att = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
                y = att @ v
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(width, bias=False)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(width, bias=False)
            self.fc = nn.Linear(width, 4 * width, bias=False)
            self.fc_proj = nn.Linear(4 * width, width, bias=False)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.fc_proj(F.gelu(self.fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, width)
            self.wpe = nn.Embedding(block, width)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(width, bias=False)
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.lm_head.weight = self.wte.weight  # weight tying

        def forward(self, tokens):
            T = tokens.shape[1]
            x = self.wte(tokens) + self.wpe(L.arange(T))
            for blk in self.blocks:
                x = blk(x)
            return self.lm_head(self.ln_f(x)).reshape(-1, vocab)

    return GPT()


# -- workloads ------------------------------------------------------------------------------------
def _w1(L, scale=1):
    batch = max(1, 128 // scale)
    model = mlp(L)
    opt = L.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return _train_step(model, opt, L.nn.functional.cross_entropy, _inputs(L, (batch, 784)), _labels(L, batch, 10))


def _w2(L, scale=1):
    batch = max(1, 128 // scale)
    model = lenet5(L)
    opt = L.optim.Adam(model.parameters(), lr=1e-3)
    return _train_step(model, opt, L.nn.functional.cross_entropy, _inputs(L, (batch, 1, 28, 28)), _labels(L, batch, 10))


def _w3(L, scale=1):
    batch = max(1, 128 // scale)
    model = resnet8(L)
    opt = L.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return _train_step(model, opt, L.nn.functional.cross_entropy, _inputs(L, (batch, 3, 32, 32)), _labels(L, batch, 10))


def _w4(L, scale=1, seq=64):
    batch = max(1, 32 // scale)
    model = char_lstm(L)
    opt = L.optim.Adam(model.parameters(), lr=2e-3)
    tokens = _labels(L, batch, 65, shape=(batch, seq), seed=2)
    targets = _labels(L, batch, 65, shape=(batch * seq,), seed=3)
    return _train_step(model, opt, L.nn.functional.cross_entropy, tokens, targets)


def _w5(L, scale=1, block=64):
    batch = max(1, 12 // scale)
    model = gpt(L, block=block)
    opt = L.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = _labels(L, batch, 65, shape=(batch, block), seed=2)
    targets = _labels(L, batch, 65, shape=(batch * block,), seed=3)
    return _train_step(model, opt, L.nn.functional.cross_entropy, tokens, targets)


def _inference(build, shape_of):
    def setup(L, scale=1, batch=1):
        return _inference_step(L, build(L), _inputs(L, shape_of(max(1, batch // scale))))
    return setup


_CONV = ("nn.Conv2d", "nn.MaxPool2d")
_MLP_INFER = _inference(mlp, lambda b: (b, 784))
_LENET_INFER = _inference(lenet5, lambda b: (b, 1, 28, 28))

WORKLOADS = [
    Workload("W1 mlp", "MLP 784-256-256-10 ReLU, batch 128, cross-entropy, SGD momentum 0.9", _w1, batch=128),
    Workload("W2 lenet5", "LeNet-5 on 1x28x28, batch 128, Adam", _w2, needs=_CONV, batch=128),
    Workload("W3 resnet8", "ResNet-8 on 3x32x32, batch 128, SGD momentum", _w3,
             needs=("nn.Conv2d", "nn.BatchNorm2d"), batch=128),
    Workload("W4 char-lstm", "embedding 65->64, LSTM 256, linear 256->65, seq 64, batch 32, Adam", _w4,
             needs=("nn.Embedding", "nn.LSTM"), batch=32),
    Workload("W5 gpt", "GPT 4 layers, 4 heads, width 128, block 64, batch 12, vocab 65, tied head, AdamW", _w5,
             needs=("nn.Embedding", "nn.LayerNorm", "nn.ModuleList", "nn.functional.gelu", "optim.AdamW"), batch=12),
    Workload("W6 mlp infer b1", "W1's MLP, eval, no_grad, batch 1 (latency)",
             lambda L, scale=1: _MLP_INFER(L, 1, batch=1), batch=1, tags=("inference",)),
    Workload("W6 mlp infer b1024", "W1's MLP, eval, no_grad, batch 1024 (throughput)",
             lambda L, scale=1: _MLP_INFER(L, scale, batch=1024), batch=1024, tags=("inference",)),
    Workload("W6 lenet5 infer b1", "W2's LeNet-5, eval, no_grad, batch 1 (latency)",
             lambda L, scale=1: _LENET_INFER(L, 1, batch=1), needs=_CONV, batch=1, tags=("inference",)),
    Workload("W6 lenet5 infer b1024", "W2's LeNet-5, eval, no_grad, batch 1024 (throughput)",
             lambda L, scale=1: _LENET_INFER(L, scale, batch=1024), needs=_CONV, batch=1024,
             tags=("inference",)),
]


def by_name(names=None) -> list:
    """The workloads whose name contains any of `names` (all of them when names is empty)."""
    if not names:
        return list(WORKLOADS)
    return [w for w in WORKLOADS if any(n.lower() in w.name.lower() for n in names)]
