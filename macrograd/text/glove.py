"""GloVe (Pennington, Socher and Manning 2014): word vectors fitted to the log co-occurrence counts.

X_ij counts how often word j appears within `window` words of word i, each sighting weighted by
1/distance. GloVe fits w_i·w̃_j + b_i + b̃_j ≈ log X_ij on the non-zero entries by weighted least squares,

    J = Σ_ij f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)^2,   f(x) = min(1, (x / x_max)^α)

where f keeps the many tiny, noisy counts from dominating and caps the frequent pairs. Trained
with Adagrad (lr 0.05, as in the paper); the word vectors are w + w̃.

    rows, cols, counts = cooccurrence(ids, len(vocab), window=10)
    model, history = train_glove(rows, cols, counts, len(vocab), dim=100, epochs=25)
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..creation import tensor


def cooccurrence(ids, vocab_size: int, window: int = 10, symmetric: bool = True):
    """(rows, cols, counts): the non-zero entries of X, X_ij = Σ 1/d over the times word j stands d
    <= window places after word i (and, symmetric, before it). rows/cols int64, counts float32,
    sorted by (row, col). One pass per distance d, then one sort merges the equal (i, j) keys."""
    if window < 1:
        raise ValueError(f"cooccurrence: window must be >= 1, got {window}")
    ids = np.asarray(ids, dtype=np.int64)
    keys, weights = [], []
    for d in range(1, min(window, len(ids) - 1) + 1):
        left, right = ids[:-d], ids[d:]
        keys.append(left * vocab_size + right)
        weights.append(np.full(len(left), 1.0 / d, dtype=np.float32))
        if symmetric:
            keys.append(right * vocab_size + left)
            weights.append(weights[-1])
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    unique, where = np.unique(np.concatenate(keys), return_inverse=True)
    counts = np.bincount(where, weights=np.concatenate(weights)).astype(np.float32)
    return unique // vocab_size, unique % vocab_size, counts


def glove_weight(x, x_max: float = 100.0, alpha: float = 0.75):
    """f(x) = (x / x_max)^α below x_max, 1 from there on (NumPy arrays or Tensors)."""
    if isinstance(x, np.ndarray):
        return np.minimum((x / x_max) ** alpha, 1.0).astype(x.dtype)
    return ((x / x_max) ** alpha).clamp(max=1.0)


class GloVe(nn.Module):
    """Word vectors w and context vectors w̃ (Embedding tables), biases b and b̃ (one-column
    tables). Initialised as glove.c: every entry ~ U(-0.5/dim, 0.5/dim)."""

    def __init__(self, vocab_size: int, embedding_dim: int, x_max: float = 100.0, alpha: float = 0.75):
        super().__init__()
        self.x_max, self.alpha = x_max, alpha
        self.w = nn.Embedding(vocab_size, embedding_dim)
        self.w_tilde = nn.Embedding(vocab_size, embedding_dim)
        self.b = nn.Embedding(vocab_size, 1)
        self.b_tilde = nn.Embedding(vocab_size, 1)
        for table in (self.w, self.w_tilde, self.b, self.b_tilde):
            nn.init.uniform_(table.weight, -0.5 / embedding_dim, 0.5 / embedding_dim)

    def forward(self, i, j, x):
        """i, j (B,) int64 and x = X_ij (B,) > 0 -> the mean over the batch of
        f(x) (w_i·w̃_j + b_i + b̃_j - log x)^2."""
        if i.ndim != 1 or j.shape != i.shape or x.shape != i.shape:
            raise ValueError(f"GloVe: expected i, j and x of one shape (B,), got {tuple(i.shape)}, "
                             f"{tuple(j.shape)} and {tuple(x.shape)}")
        prediction = (self.w(i) * self.w_tilde(j)).sum(-1) + self.b(i).squeeze(-1) + self.b_tilde(j).squeeze(-1)
        error = prediction - x.log()
        return (glove_weight(x, self.x_max, self.alpha) * error * error).mean()

    @no_grad()
    def word_vectors(self) -> np.ndarray:
        """w + w̃, as the paper (both tables saw the same counts; the sum is a little better than either)."""
        return (self.w.weight.detach().numpy() + self.w_tilde.weight.detach().numpy()).astype(np.float32)


def train_glove(rows, cols, counts, vocab_size: int, dim: int = 100, epochs: int = 25, batch_size: int = 8192,
                lr: float = 0.05, x_max: float = 100.0, alpha: float = 0.75, seed: int = 0, on_step=None):
    """Fit GloVe to the non-zero co-occurrences with Adagrad, the entries shuffled every epoch.
    on_step(step, epoch, loss) is called after every step. Returns (model, history): history is a
    list of (epoch, mean weighted squared error per entry)."""
    from .. import backend, optim

    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float32)
    if not (len(rows) == len(cols) == len(counts)) or len(counts) == 0 or not np.all(counts > 0):
        raise ValueError(f"train_glove: expected rows, cols and counts of one non-zero length with counts > 0, "
                         f"got lengths {len(rows)}, {len(cols)} and {len(counts)}")
    rng = np.random.default_rng(seed)
    backend.manual_seed(seed)
    model = GloVe(vocab_size, dim, x_max, alpha)
    optimizer = optim.Adagrad(model.parameters(), lr=lr)
    step, history = 0, []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(counts))
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = model(tensor(rows[batch]), tensor(cols[batch]), tensor(counts[batch]))
            optimizer.zero_grad()
            loss.backward()  # Adagrad divides by the gradients' own scale: mean or sum steps alike
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"train_glove: the loss became {value} at step {step}; lower lr (now {lr})")
            total += value * len(batch)
            step += 1
            if on_step is not None:
                on_step(step, epoch, value)
        history.append((epoch, total / len(counts)))
    return model, history
