"""A recurrent encoder-decoder for translation, with or without Bahdanau (additive) attention.

Encoder: a bidirectional GRU or LSTM over the source embeddings (packed, so padding never enters
the recurrence). Its outputs h_1..h_S (forward and backward halves concatenated) are the memory.

Decoder, one target token at a time (teacher forcing in training: the input at step t is the
true token y_{t-1}, not the model's own guess):

    e_j   = v^T tanh(W s_{t-1} + U h_j)              additive score (Bahdanau et al., 2015)
    a     = softmax_j(e_j)   (padding positions get -inf, so weight exactly 0)
    c_t   = sum_j a_j h_j                             the context: where to look in the source
    s_t   = cell([embed(y_{t-1}); c_t], s_{t-1})
    logits_t = W_o tanh(W_h [s_t; c_t])

Without attention (attention=False) c_t is the same fixed vector at every step, the encoder's
final forward and backward states (Cho et al., 2014): the whole sentence squeezed into one vector,
the bottleneck that attention removes. Everything else is identical, so the two compare fairly.

    model = Seq2Seq(src_vocab, tgt_vocab, hidden_size=256, cell="gru", attention=True)
    logits, attn = model(src, src_lengths, tgt_in)          # (B, T, V), (B, T, S)
    tokens, attn = model.greedy_decode(src, src_lengths, bos_id, eos_id, max_len=30)
    tokens = model.beam_decode(src[i:i+1], src_lengths[i:i+1], bos_id, eos_id, beam_size=5)
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..creation import tensor, zeros
from ..nn import functional as F
from ..nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from ..ops.shape import cat, stack
from ..tensor import Tensor
from .generation import beam_search

CELLS = ("gru", "lstm")


def padding_mask(lengths, max_len: int) -> Tensor:
    """(B, max_len) bool, True at real tokens: position j < lengths[b]."""
    lengths = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    return tensor(np.arange(max_len)[None, :] < lengths[:, None])


class BahdanauAttention(nn.Module):
    """e_j = v^T tanh(W q + U k_j);  a = softmax_j(e_j) over real positions;  c = sum_j a_j k_j"""

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)
        self.key_proj = nn.Linear(key_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, memory):
        """U h_j for every source position, (B, S, A): computed once per sentence, not per step."""
        return self.key_proj(memory)

    def forward(self, query, projected_keys, memory, mask):
        """query (B, Hq), projected_keys (B, S, A), memory (B, S, Hk), mask (B, S) True at real
        tokens -> (context (B, Hk), weights (B, S)); each row of weights sums to 1 over real tokens."""
        if mask.shape != memory.shape[:2]:
            raise ValueError(f"BahdanauAttention: mask shape {tuple(mask.shape)} does not match the memory's "
                             f"(batch, source length) {tuple(memory.shape[:2])}")
        scores = self.v((projected_keys + self.query_proj(query).unsqueeze(1)).tanh()).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))  # padding can never be attended to
        weights = F.softmax(scores, dim=-1)
        context = (weights.unsqueeze(1) @ memory).squeeze(1)
        return context, weights


class Encoder(nn.Module):
    """Embedding -> bidirectional GRU/LSTM (packed). Returns memory (B, S, 2H) and the final
    states of both directions concatenated, (B, 2H)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, cell: str = "gru",
                 padding_idx: int = 0, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](embedding_dim, hidden_size, batch_first=True,
                                                          bidirectional=True)

    def forward(self, src, src_lengths):
        lengths = np.asarray(src_lengths.numpy() if isinstance(src_lengths, Tensor) else src_lengths)
        packed = pack_padded_sequence(self.dropout(self.embedding(src)), lengths, batch_first=True,
                                      enforce_sorted=False)
        output, hidden = self.rnn(packed)
        memory, _ = pad_packed_sequence(output, batch_first=True, total_length=src.shape[1])
        h = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM: (h, c)
        return memory, cat([h[0], h[1]], dim=-1)


class Seq2Seq(nn.Module):
    """GRU/LSTM encoder-decoder; attention=True adds Bahdanau attention (see the module docstring)."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 256, hidden_size: int = 256,
                 cell: str = "gru", attention: bool = True, dropout: float = 0.0, padding_idx: int = 0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {CELLS}, got {cell!r}")
        if hidden_size % 2:
            raise ValueError(f"Seq2Seq: hidden_size must be even (two encoder directions of hidden_size/2), "
                             f"got {hidden_size}")
        self.cell_type, self.use_attention = cell, attention
        memory_size = hidden_size  # two directions of hidden_size // 2
        self.encoder = Encoder(src_vocab_size, embedding_dim, hidden_size // 2, cell, padding_idx, dropout)
        self.bridge = nn.Linear(memory_size, hidden_size)  # encoder summary -> first decoder state
        self.embedding = nn.Embedding(tgt_vocab_size, embedding_dim, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.cell = {"gru": nn.GRUCell, "lstm": nn.LSTMCell}[cell](embedding_dim + memory_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size, memory_size, hidden_size) if attention else None
        self.combine = nn.Linear(hidden_size + memory_size, hidden_size)
        self.out = nn.Linear(hidden_size, tgt_vocab_size)

    # -- pieces -----------------------------------------------------------------------------------
    def encode(self, src, src_lengths):
        """Everything the decoder needs about the source: a dict of memory, projected keys,
        mask, the fixed context (no attention) and the first decoder state."""
        memory, summary = self.encoder(src, src_lengths)
        h0 = self.bridge(summary).tanh()
        state = (h0, zeros(h0.shape, dtype=h0.dtype)) if self.cell_type == "lstm" else h0
        return {"memory": memory, "mask": padding_mask(src_lengths, src.shape[1]), "summary": summary,
                "keys": self.attention.project_keys(memory) if self.attention is not None else None,
                "state": state}

    def decode_step(self, token, state, enc):
        """One decoder step: token (B,) int64, state -> (logits (B, V), new state, weights (B, S) or None)."""
        output, state, weights = self._step(token, state, enc)
        return self.out(output), state, weights

    def _step(self, token, state, enc):
        """One step up to the output layer: (tanh(W_h [s_t; c_t]) (B, H), new state, weights or None)."""
        h = state[0] if isinstance(state, tuple) else state
        if self.attention is not None:
            context, weights = self.attention(h, enc["keys"], enc["memory"], enc["mask"])
        else:
            context, weights = enc["summary"], None
        state = self.cell(cat([self.dropout(self.embedding(token)), context], dim=-1), state)
        h = state[0] if isinstance(state, tuple) else state
        return self.dropout(self.combine(cat([h, context], dim=-1)).tanh()), state, weights

    # -- training: teacher forcing -----------------------------------------------------------------
    def forward(self, src, src_lengths, tgt_in):
        """src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y_1 .. y_{T-1} ->
        (logits (B, T, V) predicting y_1 .. y_T, attention weights (B, T, S) or None)."""
        enc = self.encode(src, src_lengths)
        state, outputs, all_weights = enc["state"], [], []
        for t in range(tgt_in.shape[1]):
            output, state, weights = self._step(tgt_in[:, t], state, enc)
            outputs.append(output)
            all_weights.append(weights)
        attn = stack(all_weights, dim=1) if self.attention is not None else None
        # the output layer once over all steps: one (B*T, H) x (H, V) GEMM instead of T small ones
        return self.out(stack(outputs, dim=1)), attn

    # -- inference ---------------------------------------------------------------------------------
    def greedy_decode(self, src, src_lengths, bos_id: int, eos_id: int, max_len: int = 50):
        """The most likely token at each step, for a batch. Returns (list of token lists without
        BOS/EOS, attention array (B, steps, S) or None)."""
        was_training = self.training
        self.eval()
        with no_grad():
            enc = self.encode(src, src_lengths)
            state = enc["state"]
            token = tensor(np.full(src.shape[0], bos_id, dtype=np.int64))
            tokens, weights_per_step = [], []
            done = np.zeros(src.shape[0], dtype=bool)
            for _ in range(max_len):
                logits, state, weights = self.decode_step(token, state, enc)
                token = logits.argmax(dim=-1)
                tokens.append(token.numpy())
                if weights is not None:
                    weights_per_step.append(weights.numpy())
                done |= tokens[-1] == eos_id
                if done.all():
                    break
        self.train(was_training)
        steps = np.stack(tokens, axis=1)
        out = []
        for row in steps:
            row = row.tolist()
            out.append(row[:row.index(eos_id)] if eos_id in row else row)
        attn = np.stack(weights_per_step, axis=1) if weights_per_step else None
        return out, attn

    def beam_decode(self, src, src_lengths, bos_id: int, eos_id: int, beam_size: int = 5, max_len: int = 50,
                    length_penalty: float = 1.0):
        """Beam search for one source sentence (src (1, S)) through models.generation.beam_search.
        Returns the best token list without BOS/EOS.

        beam_search hands over whole prefixes; the decoder state after reading each prefix is
        cached under the prefix, so a step runs the decoder once per live beam on its last token
        (no re-reading of the prefix), and beams that swap places are followed exactly."""
        if src.shape[0] != 1:
            raise ValueError(f"Seq2Seq.beam_decode: one source sentence at a time, got a batch of {src.shape[0]}")
        was_training = self.training
        self.eval()
        with no_grad():
            enc1 = self.encode(src, src_lengths)
            enc = {k: _repeat(v, beam_size) for k, v in enc1.items()}
            cache = {(): enc1["state"]}  # prefix -> decoder state after reading it

            def step(tokens, _):
                prefixes = [tuple(row) for row in tokens.numpy().tolist()]
                before = _concat([cache[p[:-1]] for p in prefixes])  # the state before each last token
                last = tensor(np.array([p[-1] for p in prefixes], dtype=np.int64))
                logits, after, _ = self.decode_step(last, before, enc)
                for i, p in enumerate(prefixes):
                    cache[p] = _row(after, i)
                return F.log_softmax(logits, dim=-1)

            best = beam_search(step, None, bos_id, eos_id, beam_size=beam_size, max_len=max_len,
                               length_penalty=length_penalty)
        self.train(was_training)
        tokens = best[0][0].tolist()
        return tokens[:-1] if tokens and tokens[-1] == eos_id else tokens


def _repeat(value, n):
    """A tensor (or tuple of tensors) with batch 1 repeated n times along dim 0 (None stays None)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_repeat(v, n) for v in value)
    return value.expand(n, *value.shape[1:]) if value.shape[0] == 1 else value


def _row(state, i):
    if isinstance(state, tuple):
        return tuple(s[i:i + 1] for s in state)
    return state[i:i + 1]


def _concat(states):
    if isinstance(states[0], tuple):
        return tuple(cat([s[k] for s in states], dim=0) for k in range(len(states[0])))
    return cat(states, dim=0)


__all__ = ["BahdanauAttention", "CELLS", "Encoder", "Seq2Seq", "padding_mask"]
