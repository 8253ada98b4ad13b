"""Attention maps: record the attention probabilities of every attention layer of a model with
forward hooks, then plot any layer and head.

    from macrograd.viz.attention import record_attention, plot_attention_grid
    with record_attention(model) as maps:          # hooks on every attention module
        model(x)
    maps.names                                      # ["encoder.layers.0.self_attn", ...]
    maps[0].shape                                   # (N, heads, queries, keys), NumPy
    plot_attention_grid(maps, "attn.png", layers=[0, 1], heads=None, x_labels=tokens, y_labels=tokens)

What is recorded, per kind of module (the model's own forward is not changed):
- nn.MultiheadAttention (Transformer, ViT): a pre-hook asks the layer for its per-head weights
  (need_weights=True, average_attn_weights=False); the hook keeps them. The output is the same.
- GPT's CausalSelfAttention and BERT's BertSelfAttention, which call the fused
  scaled_dot_product_attention and never form the probabilities: the hook recomputes them from
  the module's input, P = softmax(q k^T / sqrt(d_head) + mask), with q, k from its own projections.

A module called several times (a decoder run once per generated token) keeps every call in
`maps.calls[name]`; `maps[name]` is the last one (for greedy decoding that is the whole output).
"""
from __future__ import annotations

import math
import textwrap
from contextlib import contextmanager

import numpy as np


# -- recording ------------------------------------------------------------------------------------
class AttentionMaps:
    """Recorded attention probabilities: name -> list of (N, H, L, S) arrays, one per call, in the
    order the modules were found in the model. Index by position (`maps[0]`) or name."""

    def __init__(self, names):
        self.names = list(names)
        self.calls = {name: [] for name in self.names}

    def __len__(self):
        return len(self.names)

    def __getitem__(self, layer):
        name = self.name(layer)
        if not self.calls[name]:
            raise KeyError(f"AttentionMaps: {name!r} recorded nothing (was the model run inside the block?)")
        return self.calls[name][-1]

    def name(self, layer) -> str:
        """The module name of `layer` (an index into names, or a name)."""
        if isinstance(layer, str):
            if layer not in self.calls:
                raise KeyError(f"AttentionMaps: no attention module {layer!r}; recorded: {self.names}")
            return layer
        if not -len(self.names) <= layer < len(self.names):
            raise IndexError(f"AttentionMaps: layer {layer} out of range for {len(self.names)} attention modules")
        return self.names[layer]

    def recorded(self) -> list:
        """Names of the modules that recorded at least one call."""
        return [n for n in self.names if self.calls[n]]


def _softmax(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _array(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _gpt_probs(module, args, output):
    """softmax(q k^T / sqrt(d) + causal mask) of GPT's CausalSelfAttention, from its input x."""
    from ..autograd import no_grad

    if len(args) > 1 and args[1] is not None:  # a KV-cached generation step: not a full map
        return None
    x = args[0]
    B, T, C = x.shape
    with no_grad():
        q, k, _ = _array(module.c_attn(x)).reshape(B, T, 3, module.n_head, C // module.n_head).transpose(2, 0, 3, 1, 4)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(C // module.n_head)
    scores = np.where(np.tri(T, T, dtype=bool), scores, -np.inf)
    return _softmax(scores)


def _bert_probs(module, args, output):
    """softmax(q k^T / sqrt(d) + padding mask) of BERT's BertSelfAttention, from (x, mask)."""
    from ..autograd import no_grad

    x, mask = args[0], args[1] if len(args) > 1 else None
    B, T, C = x.shape
    H = module.num_heads
    with no_grad():
        q = _array(module.query(x)).reshape(B, T, H, C // H).transpose(0, 2, 1, 3)
        k = _array(module.key(x)).reshape(B, T, H, C // H).transpose(0, 2, 1, 3)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(C // H)
    if mask is not None:
        m = _array(mask)
        scores = np.where(m, scores, -np.inf) if m.dtype == bool else scores + m
    return _softmax(scores)


def _attention_kinds():
    """(class, kind) pairs of the attention modules we know how to record."""
    from ..models.bert import BertSelfAttention
    from ..models.gpt import CausalSelfAttention
    from ..nn import MultiheadAttention

    return [(MultiheadAttention, "mha"), (CausalSelfAttention, "gpt"), (BertSelfAttention, "bert")]


@contextmanager
def record_attention(model):
    """Hooks on every attention module of `model` for the duration of the block; yields an
    AttentionMaps that fills as the model runs. The hooks are removed on exit."""
    kinds = _attention_kinds()
    found = []
    for name, module in model.named_modules():
        for cls, kind in kinds:
            if isinstance(module, cls):
                found.append((name, module, kind))
                break
    if not found:
        raise ValueError(f"record_attention: {type(model).__name__} has no attention module of a known kind "
                         f"({', '.join(c.__name__ for c, _ in kinds)})")
    maps = AttentionMaps(name for name, _, _ in found)
    handles = []
    for name, module, kind in found:
        store = maps.calls[name]
        if kind == "mha":
            def ask_for_weights(mod, args, kwargs):
                return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

            def keep(mod, args, output, store=store):
                weights = output[1]
                if weights is not None:
                    w = _array(weights)
                    store.append(w if w.ndim == 4 else w[None])  # unbatched (H, L, S) -> (1, H, L, S)

            handles.append(module.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(module.register_forward_hook(keep))
        else:
            probs = _gpt_probs if kind == "gpt" else _bert_probs

            def keep(mod, args, output, store=store, probs=probs):
                p = probs(mod, args, output)
                if p is not None:
                    store.append(p.astype(np.float32))

            handles.append(module.register_forward_hook(keep))
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


# -- plotting -------------------------------------------------------------------------------------
def _select(maps, layer, head, sample):
    """(L, S) map of one layer, head (an int, or "mean" over heads) and batch element."""
    weights = maps[layer][sample]
    if head == "mean":
        return weights.mean(axis=0)
    if not -weights.shape[0] <= head < weights.shape[0]:
        raise IndexError(f"plot_attention: head {head} out of range for {weights.shape[0]} heads of {maps.name(layer)!r}")
    return weights[head]


def _draw(ax, weights, x_labels, y_labels, title, vmax):
    ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    fontsize = 7 if max(weights.shape) <= 30 else 5
    if x_labels is not None:
        ax.set_xticks(range(len(x_labels)), x_labels, rotation=70, ha="right", fontsize=fontsize)
    else:
        ax.set_xticks([])
    if y_labels is not None:
        ax.set_yticks(range(len(y_labels)), y_labels, fontsize=fontsize)
    else:
        ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def _short(name: str) -> str:
    """The last three parts of a module name (layers.1.multihead_attn): panel titles stay narrow."""
    return ".".join(name.split(".")[-3:])


def _check_labels(labels, size, axis, who):
    if labels is not None and len(labels) != size:
        raise ValueError(f"{who}: {len(labels)} {axis} labels for a map with {size} {axis} positions")


def plot_attention(maps, path, layer=0, head=0, sample=0, x_labels=None, y_labels=None, title=None):
    """One attention map (rows: queries, columns: keys) of `layer` (index or name), `head` (an int or
    "mean") and batch element `sample`, as a heat map in [0, 1]."""
    from ._figure import pyplot, save

    weights = _select(maps, layer, head, sample)
    _check_labels(x_labels, weights.shape[1], "key", "plot_attention")
    _check_labels(y_labels, weights.shape[0], "query", "plot_attention")
    plt = pyplot()
    side = max(3.0, min(10.0, 0.25 * max(weights.shape) + 1.5))
    fig, ax = plt.subplots(figsize=(side, side))
    _draw(ax, weights, x_labels, y_labels, title or f"{maps.name(layer)}, head {head}", 1.0)
    return save(fig, path)


def plot_attention_grid(maps, path, layers=None, heads=None, sample=0, x_labels=None, y_labels=None,
                        title=None, vmax=1.0):
    """A grid of attention maps: one row per layer in `layers` (indices or names; None = every
    recorded module), one column per head in `heads` (ints or "mean"; None = every head)."""
    from ._figure import pyplot, save

    layers = list(range(len(maps))) if layers is None else list(layers)
    layers = [l for l in layers if maps.calls[maps.name(l)]]
    if not layers:
        raise ValueError("plot_attention_grid: no recorded attention among the layers asked for")
    n_heads = maps[layers[0]].shape[1]
    heads = list(range(n_heads)) if heads is None else list(heads)
    first = _select(maps, layers[0], heads[0], sample)
    _check_labels(x_labels, first.shape[1], "key", "plot_attention_grid")
    _check_labels(y_labels, first.shape[0], "query", "plot_attention_grid")
    plt = pyplot()
    cell = max(2.8, min(5.0, 0.12 * max(first.shape) + 1.2))
    fig, axes = plt.subplots(len(layers), len(heads), figsize=(cell * len(heads), cell * len(layers)), squeeze=False)
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            weights = _select(maps, layer, head, sample)
            _draw(axes[r][c], weights, x_labels if r == len(layers) - 1 else None, y_labels if c == 0 else None,
                  f"{_short(maps.name(layer))}\nhead {head}", vmax)
    if title:
        fig.suptitle(textwrap.fill(title, width=int(28 * len(heads)) + 20), fontsize=9)
    return save(fig, path)


__all__ = ["AttentionMaps", "plot_attention", "plot_attention_grid", "record_attention"]
