"""The encoder-decoder Transformer for translation (Vaswani et al., "Attention Is All You Need",
NeurIPS 2017): token embeddings scaled by sqrt(d_model), sinusoidal positions, `nn.Transformer`,
and a Linear "generator" to target-vocabulary logits.

    memory = Encoder(E_src[src] sqrt(d) + PE)                     (padding keys masked)
    logits = W Decoder(E_tgt[tgt] sqrt(d) + PE, memory) + b      (causal self-attention)

Teacher forcing trains it: feed tgt[:, :-1] (starting with BOS), predict tgt[:, 1:]. Decoding
runs the decoder once per new token: `greedy_decode` (a batch at once) or `beam_search`
(one sentence at a time, through `generation.beam_search`).

tie_weights=True uses one matrix for the target embedding and the generator (Press & Wolf
2017); share_embeddings=True also gives source and target one embedding (a joint vocabulary).
The embeddings start at normal(0, d_model^-1/2), as in fairseq, so that after the sqrt(d_model)
scale they are of unit size, like the positions, and a tied generator starts small.

    model = Seq2SeqTransformer(len(src_vocab), len(tgt_vocab), d_model=128, pad_idx=0)
    logits = model(src, tgt[:, :-1])
    out = model.greedy_decode(src, bos_idx=1, eos_idx=2, max_len=40)
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn.positional import SinusoidalPositionalEncoding
from ..ops.dtypes import to_tensor
from ..tensor import Tensor
from .generation import beam_search as _beam_search
from .generation import greedy_search as _greedy_search


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=256, nhead=4, num_encoder_layers=3,
                 num_decoder_layers=3, dim_feedforward=512, dropout=0.1, max_len=512, pad_idx=0,
                 tie_weights=False, share_embeddings=False, norm_first=False, activation="relu"):
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(f"Seq2SeqTransformer: share_embeddings needs one vocabulary, got sizes "
                             f"{src_vocab_size} and {tgt_vocab_size}")
        self.d_model, self.pad_idx = d_model, pad_idx
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_idx)
        self.tgt_embedding = (self.src_embedding if share_embeddings
                              else nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_idx))
        self.positional = SinusoidalPositionalEncoding(d_model, max_len, dropout, batch_first=True)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                          dim_feedforward, dropout, activation, batch_first=True,
                                          norm_first=norm_first)
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        for embedding in {id(self.src_embedding): self.src_embedding,
                          id(self.tgt_embedding): self.tgt_embedding}.values():
            nn.init.normal_(embedding.weight, std=d_model ** -0.5)
            with no_grad():
                embedding.weight[pad_idx] = 0.0
        if tie_weights:
            self.generator.weight = self.tgt_embedding.weight

    def _embed(self, embedding, tokens):
        return self.positional(embedding(tokens) * math.sqrt(self.d_model))

    def _tokens(self, tokens, name):
        tokens = to_tensor(tokens)
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise ValueError(f"Seq2SeqTransformer: expected {name} token ids of shape (batch, length), "
                             f"got {tokens.dtype} of shape {tuple(tokens.shape)}")
        return tokens

    def encode(self, src):
        """memory (N, S, d_model) and the source padding mask (N, S), True at padding."""
        src = self._tokens(src, "src")
        src_padding = src == self.pad_idx
        memory = self.transformer.encoder(self._embed(self.src_embedding, src),
                                          src_key_padding_mask=src_padding)
        return memory, src_padding

    def decode(self, tgt, memory, src_padding=None):
        """Decoder states (N, T, d_model) for target prefixes tgt (N, T), causally masked."""
        tgt = self._tokens(tgt, "tgt")
        T = tgt.shape[1]
        causal = Tensor(np.triu(np.ones((T, T), dtype=bool), k=1))  # True = may not attend
        return self.transformer.decoder(self._embed(self.tgt_embedding, tgt), memory, tgt_mask=causal,
                                        tgt_key_padding_mask=tgt == self.pad_idx,
                                        memory_key_padding_mask=src_padding)

    def forward(self, src, tgt):
        """Next-token logits (N, T, tgt_vocab_size) for every prefix of tgt (teacher forcing)."""
        memory, src_padding = self.encode(src)
        return self.generator(self.decode(tgt, memory, src_padding))

    @no_grad()
    def greedy_decode(self, src, bos_idx, eos_idx, max_len=50):
        """The most likely next token, step by step, for a batch of sources (N, S). Returns
        (N, 1 + generated) int64 starting with BOS; rows that met EOS are padded after it."""
        memory, src_padding = self.encode(src)

        def step(ys):
            return self.generator(self.decode(ys, memory, src_padding)[:, -1])

        return _greedy_search(step, memory.shape[0], bos_idx, eos_idx, max_len, self.pad_idx)

    @no_grad()
    def beam_search(self, src, bos_idx, eos_idx, beam_size=4, max_len=50, length_penalty=1.0,
                    num_return_sequences=1):
        """Beam search for each source sequence of src (N, S) (or one sequence (S,)). Returns, per
        source, a list of (tokens without BOS, score), best first; see generation.beam_search."""
        src = to_tensor(src)
        single = src.ndim == 1
        src = self._tokens(src.reshape(1, -1) if single else src, "src")
        results = []
        for i in range(src.shape[0]):
            memory, src_padding = self.encode(src[i:i + 1])
            memory = memory.expand(beam_size, -1, -1)
            src_padding = src_padding.expand(beam_size, -1)

            def step(tokens, state):
                hidden = self.decode(tokens, memory, src_padding)[:, -1]
                return self.generator(hidden).log_softmax(dim=-1)

            results.append(_beam_search(step, None, bos_idx, eos_idx, beam_size, max_len, length_penalty,
                                        num_return_sequences))
        return results[0] if single else results
