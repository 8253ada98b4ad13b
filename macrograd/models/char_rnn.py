"""A character-level recurrent language model (Karpathy's char-rnn): embedding -> RNN/LSTM/GRU -> linear.

    h_t = cell(embed(x_t), h_{t-1});   logits_t = W h_t + b;   loss = -log softmax(logits_t)[x_{t+1}]

The cell is a vanilla tanh RNN, an LSTM or a GRU (`cell=`), so the three can be compared at the
same budget. `generate` continues a prompt one character at a time, carrying the hidden state
(no recomputation of the prefix), with greedy, temperature, top-k and top-p sampling.

    model = CharRNN(vocab_size=65, hidden_size=256, cell="lstm")
    logits, hidden = model(x)                        # x (B, T) int64 -> logits (B, T, vocab)
    out = model.generate(prompt, max_new_tokens=200, temperature=0.8)

Written once against an `nn` namespace (see _family.py): `classes(torch.nn).CharRNN` is the
identical PyTorch model with the same state_dict keys, which the PyTorch reference run uses.
"""
from __future__ import annotations

import types

from ._family import family

CELLS = ("rnn", "lstm", "gru")


@family
def classes(nn):
    class CharRNN(nn.Module):
        def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 1, cell: str = "lstm",
                     embedding_dim: int | None = None, dropout: float = 0.0):
            super().__init__()
            if cell not in CELLS:
                raise ValueError(f"CharRNN: cell must be one of {CELLS}, got {cell!r}")
            embedding_dim = embedding_dim or hidden_size
            self.cell = cell
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = recurrent(embedding_dim, hidden_size, num_layers, batch_first=True,
                                 dropout=dropout if num_layers > 1 else 0.0)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, idx, hidden=None):
            """idx (B, T) int64 -> (logits (B, T, vocab), hidden): hidden is h (layers, B, H), or
            (h, c) for the LSTM; pass it back in to continue a sequence."""
            output, hidden = self.rnn(self.embedding(idx), hidden)
            return self.head(output), hidden

        def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None, top_p=None,
                     generator=None):
            """Continue idx (B, T) int64 by max_new_tokens sampled tokens (temperature 0 = greedy);
            returns (B, T + max_new_tokens). The prompt runs through the network once, then each
            new token alone with the carried hidden state. (macrograd models only.)"""
            from ..autograd import no_grad
            from ..ops.shape import cat
            from .generation import sample_next_token

            was_training = self.training
            self.eval()
            tokens = [idx]
            with no_grad():
                logits, hidden = self(idx)
                for _ in range(max_new_tokens):
                    nxt = sample_next_token(logits[:, -1, :], temperature, top_k, top_p, generator)
                    nxt = nxt.reshape(-1, 1)
                    tokens.append(nxt)
                    logits, hidden = self(nxt, hidden)
            self.train(was_training)
            return cat(tokens, dim=1)

    return types.SimpleNamespace(CharRNN=CharRNN)


CharRNN = classes().CharRNN

__all__ = ["CELLS", "CharRNN", "classes"]
