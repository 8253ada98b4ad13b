"""GPT: a decoder-only Transformer language model, in the layout of Karpathy's nanoGPT (which is
GPT-2's, so the state_dict keys are nanoGPT's: transformer.wte, transformer.h.0.attn.c_attn, ...).

    x_0 = wte[idx] + wpe[0..T-1]
    x   = x + attn(ln_1(x));  x = x + mlp(ln_2(x))          (pre-LayerNorm blocks, n_layer times)
    logits = ln_f(x) @ wte^T                                  (lm_head tied to the token embedding)

Attention is causal: position t attends to 0..t, through the fused
`F.scaled_dot_product_attention(is_causal=True)`.

`generate` keeps a key/value cache: after the prompt, each new token runs through the network
alone and attends to the keys and values stored for the tokens before it, so producing n tokens
costs O(n) token-passes instead of O(n^2).

    model = GPT(GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128))
    logits, loss = model(idx, targets)
    out = model.generate(idx[:, :1], max_new_tokens=100, temperature=0.8, top_k=20)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import creation, nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.shape import cat
from ..tensor import Tensor
from .generation import sample_next_token


@dataclass
class GPTConfig:
    block_size: int = 1024   # the longest context (the size of the position table)
    vocab_size: int = 50304  # GPT-2's 50257 rounded up to a multiple of 64
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True        # biases in Linears and LayerNorms (False: a bit better and faster)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused q/k/v projection (c_attn)."""

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"CausalSelfAttention: n_embd={config.n_embd} is not divisible by "
                             f"n_head={config.n_head}")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x, cache=None):
        """x (B, T, C). With cache (a dict, possibly empty) the keys/values of earlier tokens are
        read from cache["k"], cache["v"] and the new ones appended there."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = cat([cache["k"], k], dim=2), cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        dropout_p = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            # new query i sits at position past + i: it sees keys 0..past+i (bottom-right causal)
            S = past + T
            mask = Tensor(np.tri(T, S, k=past, dtype=bool))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """x -> c_proj(gelu(c_fc(x))), 4x wider in the middle."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(x)): pre-LayerNorm residual block."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.vocab_size is None or config.block_size is None:
            raise ValueError("GPT: config.vocab_size and config.block_size must be set")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: one Parameter is both the input embedding and the output projection
        # (https://paperswithcode.com/method/weight-tying); it saves vocab_size * n_embd weights.
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream: the
        # stream adds 2 per layer, so each is shrunk by sqrt(2 * n_layer) to keep its variance.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def get_num_params(self, non_embedding=True):
        """Parameters (tied ones once); without the position table by default, as in nanoGPT
        (the token table is counted: it is also the output layer)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def _hidden(self, idx, caches=None, offset=0):
        """ln_f(blocks(wte[idx] + wpe[offset..])) of shape (B, T, n_embd)."""
        idx = idx if isinstance(idx, Tensor) else creation.tensor(idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"GPT: expected idx of integer token ids with shape (B, T), got "
                             f"{idx.dtype} of shape {tuple(idx.shape)}")
        t = idx.shape[1]
        if offset + t > self.config.block_size:
            raise ValueError(f"GPT: cannot forward a sequence of length {offset + t}, block size "
                             f"is only {self.config.block_size}")
        pos = creation.arange(offset, offset + t, dtype=np.int64)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i])
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None):
        """(logits, loss): logits (B, T, vocab) and the mean cross-entropy against targets (B, T)
        (-1 = ignore); without targets only the last position's logits (B, 1, vocab), loss None."""
        x = self._hidden(idx)
        if targets is not None:
            logits = self.lm_head(x)
            targets = targets if isinstance(targets, Tensor) else creation.tensor(targets)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=-1)
            return logits, loss
        # inference: only the last position is needed (a list index keeps the time dim)
        return self.lm_head(x[:, [-1], :]), None

    def crop_block_size(self, block_size):
        """Shrink the context (e.g. to fine-tune a model on shorter sequences)."""
        if block_size > self.config.block_size:
            raise ValueError(f"GPT.crop_block_size: {block_size} > block size {self.config.block_size}")
        self.config.block_size = block_size
        wpe = self.transformer.wpe
        wpe.weight = nn.Parameter(wpe.weight.detach()[:block_size].clone())
        wpe.num_embeddings = block_size

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type=None):
        """AdamW with weight decay on the matrices (every >= 2-D tensor: Linear weights and
        embeddings) and none on biases and LayerNorm gains."""
        from .. import optim

        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        decay = [p for p in params.values() if p.ndim >= 2]
        no_decay = [p for p in params.values() if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return optim.AdamW(groups, lr=learning_rate, betas=betas)

    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 use_cache=True, generator=None):
        """Append max_new_tokens tokens to idx (B, T), each sampled from the model's next-token
        distribution (temperature, top_k, top_p as in `generation.sample_next_token`;
        temperature=0 is greedy). Only the last block_size tokens are seen as context.

        With use_cache, keys and values are kept per layer; once the sequence outgrows the
        position table the window slides and every position shifts, so from then on each step
        recomputes the (cropped) context, exactly as the uncached loop does."""
        idx = idx if isinstance(idx, Tensor) else creation.tensor(idx)
        block = self.config.block_size
        caches = None
        for _ in range(max_new_tokens):
            length = idx.shape[1]
            if not use_cache or length > block:
                context = idx[:, -block:]
                logits = self.lm_head(self._hidden(context)[:, -1, :])
                caches = None
            elif caches is None:  # prefill: the whole prompt at once, filling the cache
                caches = [{} for _ in self.transformer.h]
                logits = self.lm_head(self._hidden(idx, caches)[:, -1, :])
            else:  # one new token, attending to the cached keys/values
                logits = self.lm_head(self._hidden(idx[:, -1:], caches, offset=length - 1)[:, -1, :])
            next_token = sample_next_token(logits, temperature, top_k, top_p, generator)
            idx = cat([idx, next_token.reshape(-1, 1)], dim=1)
        return idx

    @classmethod
    def from_pretrained(cls, name_or_path, **kwargs):
        """A GPT from a folder holding config.json (GPTConfig's fields) and model.safetensors
        (nanoGPT's keys); see macrograd.io.pretrained."""
        from ..io.pretrained import from_pretrained

        return from_pretrained(name_or_path, model_class=cls, **kwargs)
