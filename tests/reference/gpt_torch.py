"""The PyTorch reference for gpt-shakespeare: nanoGPT's model in torch.nn, trained exactly as
macrograd's GPT is.

Exactly means: the model below is nanoGPT's model.py (trimmed to what a training run uses), it
starts from macrograd's initial weights (copied through the state_dict; the tied wte/lm_head
weight is one tensor in both), and it is trained by the experiment's own `train_gpt` loop with
lib=torch: the same batches in the same order (the same seeded CharBatches), the same AdamW
parameter groups, warm-up + cosine schedule and gradient clipping, scored on the same validation
blocks. So any gap in validation loss is the libraries' arithmetic, nothing else.

The gpt-shakespeare experiment calls `train_reference` when config.torch_reference is on. Run
alone, this script trains both and prints both validation losses and their difference:

    MACROGRAD_DATA=../shared/data OPENBLAS_NUM_THREADS=1 python tests/reference/gpt_torch.py
    python tests/reference/gpt_torch.py --max-iters 200           # a quick look
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as tnn
from torch.nn import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the macrograd source tree

from macrograd.data.text_data import CharBatches  # noqa: E402
from macrograd.experiments import gpt_shakespeare  # noqa: E402


# -- nanoGPT's model.py in torch.nn ---------------------------------------------------------------
class CausalSelfAttention(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = tnn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = tnn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.resid_dropout = tnn.Dropout(c.dropout)
        self.n_head, self.n_embd, self.dropout = c.n_head, c.n_embd, c.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class MLP(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = tnn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.gelu = tnn.GELU()
        self.c_proj = tnn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = tnn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn = tnn.LayerNorm(c.n_embd, bias=c.bias), CausalSelfAttention(c)
        self.ln_2, self.mlp = tnn.LayerNorm(c.n_embd, bias=c.bias), MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.transformer = tnn.ModuleDict(dict(
            wte=tnn.Embedding(c.vocab_size, c.n_embd), wpe=tnn.Embedding(c.block_size, c.n_embd),
            drop=tnn.Dropout(c.dropout), h=tnn.ModuleList([Block(c) for _ in range(c.n_layer)]),
            ln_f=tnn.LayerNorm(c.n_embd, bias=c.bias)))
        self.lm_head = tnn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx, targets=None):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        return logits, TF.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type=None):
        """nanoGPT's: decay every >= 2-D parameter, not the biases and LayerNorm gains."""
        params = {n: p for n, p in self.named_parameters() if p.requires_grad}
        groups = [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


# -- the reference run ----------------------------------------------------------------------------
def torch_model(config, vocab_size: int, init_state: dict):
    """nanoGPT's GPT in torch, holding the weights in init_state (name -> array)."""
    model = GPT(gpt_shakespeare.gpt_config(config, vocab_size))
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in init_state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # the tied weight may be stored under one name only; every other key must match
    missing = [k for k in missing if k not in ("lm_head.weight", "transformer.wte.weight")]
    if missing or unexpected:
        raise RuntimeError(f"gpt_torch: state_dict mismatch: missing {missing}, unexpected {unexpected}")
    return model


def train_reference(config, vocab_size: int, init_state: dict, train_ids, val_curve, val_final) -> dict:
    """Train the torch twin exactly as the experiment trains macrograd's model; returns
    {"val_loss", "seconds_per_step", "history"}. torch runs on one thread, as macrograd's BLAS does
    under OPENBLAS_NUM_THREADS=1, so the step times compare like with like."""
    torch.set_num_threads(1)
    model = torch_model(config, vocab_size, init_state)
    batches = CharBatches(train_ids, config.block_size, config.batch_size, seed=config.seed)
    trained = gpt_shakespeare.train_gpt(model, torch, batches, val_curve, config)
    return {"val_loss": gpt_shakespeare.evaluate_gpt(model, torch, val_final), **trained}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iters", type=int, default=gpt_shakespeare.Config.max_iters)
    parser.add_argument("--tokenizer", default="char", choices=["char", "bpe"])
    parser.add_argument("--torch-only", action="store_true",
                        help="train only the torch twin (from macrograd's initial weights) and write --out")
    parser.add_argument("--out", default=None, help="write the torch result (val_loss, history) to this JSON file")
    args = parser.parse_args(argv)
    import json

    import macrograd as mg

    config = dataclasses.replace(gpt_shakespeare.Config(), max_iters=args.max_iters,
                                 lr_decay_iters=args.max_iters, tokenizer=args.tokenizer)
    data = gpt_shakespeare.data_for(config)
    model = gpt_shakespeare.build_model(config, data.tokenizer.vocab_size)
    init_state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if args.torch_only:
        start = time.perf_counter()
        ref = train_reference(config, data.tokenizer.vocab_size, init_state, data.train_ids, data.val_curve,
                              data.val_final)
        print(f"PyTorch:   val {ref['val_loss']:.4f} ({time.perf_counter() - start:.0f} s)")
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(ref))
        return
    start = time.perf_counter()
    batches = CharBatches(data.train_ids, config.block_size, config.batch_size, seed=config.seed)
    gpt_shakespeare.train_gpt(model, mg, batches, data.val_curve, config)
    ours = gpt_shakespeare.evaluate_gpt(model, mg, data.val_final)
    print(f"macrograd: val {ours:.4f} ({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    ref = train_reference(config, data.tokenizer.vocab_size, init_state, data.train_ids, data.val_curve, data.val_final)
    print(f"PyTorch:   val {ref['val_loss']:.4f} ({time.perf_counter() - start:.0f} s)")
    print(f"difference: {ours - ref['val_loss']:+.4f}")


if __name__ == "__main__":
    main()
