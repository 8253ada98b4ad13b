"""word2vec: skip-gram with negative sampling (Mikolov et al. 2013), as an nn.Module trained by autograd.

Each word w has two vectors: v_w (in_embed, w as the centre word) and u_w (out_embed, w as a
context word). For a centre c with a true context word o and K negatives n_1..n_K drawn from the
unigram distribution raised to 0.75, the loss is

    -log σ(u_o·v_c) - Σ_k log σ(-u_{n_k}·v_c)          (-log σ(x) = softplus(-x))

so true pairs are pulled together and random pairs pushed apart. Frequent words are thinned out
first (subsampling), and each centre uses a random window of 1..window words on each side (nearer
words are used more often), as in word2vec.c. The in_embed table is the word vectors.

    model, history = train_word2vec(ids, counts, dim=100, epochs=5)
    wv = WordVectors(vocab, model.in_embed.weight.detach().numpy())
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..creation import tensor
from ..nn import functional as F


def keep_probabilities(counts, threshold: float = 1e-4) -> np.ndarray:
    """word2vec.c's subsampling: word w (frequency f = count/total) is kept with probability
    (sqrt(f / t) + 1) * t / f (capped at 1), so words much more frequent than t are thinned out
    roughly as sqrt(t / f) while rare words are always kept. threshold <= 0 keeps every word."""
    counts = np.asarray(counts, dtype=np.float64)
    if threshold <= 0:
        return np.ones(len(counts))
    f = counts / counts.sum()
    return np.minimum((np.sqrt(f / threshold) + 1) * threshold / f, 1.0)


def subsample(ids, keep, rng) -> np.ndarray:
    """The ids that survive one draw of subsampling (keep[w]: the probability to keep word w)."""
    return ids[rng.random(len(ids)) < keep[ids]]


def skipgram_pairs(ids, window: int, rng):
    """(centres, contexts): every pair (ids[i], ids[i ± d]) with 1 <= d <= r_i, where r_i is drawn
    uniformly from 1..window for each position i. Loops over the window offsets, not the words."""
    if window < 1:
        raise ValueError(f"skipgram_pairs: window must be >= 1, got {window}")
    ids = np.asarray(ids)
    n = len(ids)
    reach = rng.integers(1, window + 1, size=n)
    centres, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        right = np.flatnonzero(reach[:n - d] >= d)  # centre i, context i + d
        left = np.flatnonzero(reach[d:] >= d) + d   # centre i, context i - d
        centres += [ids[right], ids[left]]
        contexts += [ids[right + d], ids[left - d]]
    if not centres:
        return np.zeros(0, dtype=ids.dtype), np.zeros(0, dtype=ids.dtype)
    return np.concatenate(centres), np.concatenate(contexts)


class NegativeSampler:
    """Draws negatives w with P(w) = count(w)^power / Σ_v count(v)^power (power 0.75 raises rare
    words' chances relative to the plain unigram distribution), by inverting the cumulative sum."""

    def __init__(self, counts, power: float = 0.75):
        weights = np.asarray(counts, dtype=np.float64) ** power
        if weights.ndim != 1 or len(weights) == 0 or not np.all(weights >= 0) or weights.sum() <= 0:
            raise ValueError("NegativeSampler: counts must be a non-empty 1-D array of non-negative numbers "
                             "with a positive sum")
        self.probs = weights / weights.sum()
        self.cdf = np.cumsum(self.probs)
        self.cdf[-1] = 1.0  # no rounding gap at the top

    def sample(self, shape, rng) -> np.ndarray:
        """int64 ids of the given shape: the first index whose cumulative probability exceeds u ~ U[0, 1)."""
        return np.searchsorted(self.cdf, rng.random(shape), side="right").astype(np.int64)


class SkipGramNegativeSampling(nn.Module):
    """Two Embedding tables: in_embed (centre vectors v, the ones kept) and out_embed (context
    vectors u). Initialised as word2vec.c: v ~ U(-0.5/dim, 0.5/dim), u = 0."""

    def __init__(self, vocab_size: int, embedding_dim: int):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, embedding_dim)
        self.out_embed = nn.Embedding(vocab_size, embedding_dim)
        nn.init.uniform_(self.in_embed.weight, -0.5 / embedding_dim, 0.5 / embedding_dim)
        nn.init.zeros_(self.out_embed.weight)

    def forward(self, centre, context, negatives):
        """centre (B,), context (B,), negatives (B, K) int64 -> the mean over the B pairs of
        softplus(-u_o·v_c) + Σ_k softplus(u_{n_k}·v_c)."""
        if centre.ndim != 1 or context.shape != centre.shape or negatives.ndim != 2 or \
                negatives.shape[0] != centre.shape[0]:
            raise ValueError(f"SkipGramNegativeSampling: expected centre (B,), context (B,) and negatives (B, K), "
                             f"got {tuple(centre.shape)}, {tuple(context.shape)} and {tuple(negatives.shape)}")
        v = self.in_embed(centre)                                  # (B, D)
        u_pos = self.out_embed(context)                            # (B, D)
        u_neg = self.out_embed(negatives)                          # (B, K, D)
        positive = (u_pos * v).sum(-1)                             # (B,)  u_o·v_c
        negative = (u_neg @ v.unsqueeze(-1)).squeeze(-1)           # (B, K) u_n·v_c
        return (F.softplus(-positive) + F.softplus(negative).sum(-1)).mean()


def train_word2vec(ids, counts, dim: int = 100, window: int = 5, negatives: int = 5, subsample_threshold: float = 1e-4,
                   epochs: int = 5, batch_size: int = 4096, lr: float = 0.025, seed: int = 0, on_step=None):
    """Train skip-gram with negative sampling on a stream of word ids (counts: each id's corpus count).

    SGD on the summed loss of each batch, so every pair moves its vectors by lr times its own
    gradient, as word2vec.c's per-pair updates do; lr decays linearly to lr * 1e-4 over the run.
    on_step(step, epoch, loss, lr) is called after every step. Returns (model, history) with
    history a list of (epoch, mean loss per pair)."""
    from .. import backend, optim

    ids = np.asarray(ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    backend.manual_seed(seed)
    model = SkipGramNegativeSampling(len(counts), dim)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    sampler = NegativeSampler(counts)
    keep = keep_probabilities(counts, subsample_threshold)
    # the expected number of pairs over the run: kept words times window + 1 (r_i averages (window+1)/2 a side)
    planned = max(epochs * float(keep[ids].sum()) * (window + 1), 1.0)
    seen, step, history = 0, 0, []
    for epoch in range(1, epochs + 1):
        centres, contexts = skipgram_pairs(subsample(ids, keep, rng), window, rng)
        order = rng.permutation(len(centres))
        total, pairs = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            n = len(batch)
            rate = lr * max(1.0 - seen / planned, 1e-4)
            for group in optimizer.param_groups:
                group["lr"] = rate
            loss = model(tensor(centres[batch]), tensor(contexts[batch]), tensor(sampler.sample((n, negatives), rng)))
            optimizer.zero_grad()
            (loss * n).backward()  # the summed loss: per-pair steps, whatever the batch size
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"train_word2vec: the loss became {value} at step {step}; lower lr "
                                         f"(now {lr}) or batch_size (now {batch_size})")
            total += value * n
            pairs += n
            seen += n
            step += 1
            if on_step is not None:
                on_step(step, epoch, value, rate)
        history.append((epoch, total / max(pairs, 1)))
    return model, history


@no_grad()
def word_vectors(model: SkipGramNegativeSampling) -> np.ndarray:
    """The trained word vectors: the centre table v (float32, vocab_size x dim)."""
    return model.in_embed.weight.detach().numpy().copy()
