"""Runnable experiments. Each is a module with a `Config` dataclass, a `SMOKE` dict (the tiny
budget that `--smoke` applies) and `run(config, out, resume=False) -> summary`.

    from macrograd.experiments import get
    exp = get("mnist-mlp")
    summary = exp.run(exp.Config(epochs=3), out="runs/mnist-mlp")
"""
from __future__ import annotations

import importlib

from .config import ConfigError

# name -> module; modules are imported on demand so that `macrograd list` stays fast
EXPERIMENTS = {
    "optim-playground": "macrograd.experiments.optim_playground",
    "mnist-mlp": "macrograd.experiments.mnist_mlp",
    "fashion-study": "macrograd.experiments.fashion_study",
    "word2vec": "macrograd.experiments.word2vec",
    "char-rnn": "macrograd.experiments.char_rnn",
    "translate-seq2seq": "macrograd.experiments.translate_seq2seq",
    "mnist-lenet": "macrograd.experiments.mnist_lenet",
    "backbones": "macrograd.experiments.backbones",
    "cnn-inside": "macrograd.experiments.inside_cnn",
    "emoji-classify": "macrograd.experiments.emoji_classify",
    "segmentation": "macrograd.experiments.segmentation",
    "transfer": "macrograd.experiments.transfer",
    "gpt-shakespeare": "macrograd.experiments.gpt_shakespeare",
    "gpt-bpe": "macrograd.experiments.gpt_bpe",
    "translate-transformer": "macrograd.experiments.translate_transformer",
    "vit": "macrograd.experiments.vit",
    "minilm": "macrograd.experiments.minilm",
    "sentiment-finetune": "macrograd.experiments.sentiment_finetune",
    "vae": "macrograd.experiments.vae",
    "gan": "macrograd.experiments.gan",
    "ddpm": "macrograd.experiments.ddpm",
    "generative-compare": "macrograd.experiments.generative_compare",
    "scaling-laws": "macrograd.experiments.scaling_laws",
    "captioning": "macrograd.experiments.captioning",
}


def names() -> list[str]:
    return list(EXPERIMENTS)


def get(name: str):
    """The experiment module called `name` (a clear error listing the valid names otherwise)."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; valid experiments: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


__all__ = ["ConfigError", "EXPERIMENTS", "get", "names"]
