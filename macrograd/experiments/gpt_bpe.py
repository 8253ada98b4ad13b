"""gpt-bpe: gpt-shakespeare on byte-level BPE tokens instead of characters.

The same model, schedule, split and PyTorch check as gpt-shakespeare (see that module); only the
tokens differ: a ByteBPETokenizer of `bpe_vocab_size` tokens is learnt from the training text,
and the loss is reported per token and per character (loss / characters per token).

    OPENBLAS_NUM_THREADS=1 macrograd run gpt-bpe
    macrograd run gpt-bpe --set max_iters=500 --set lr_decay_iters=500 --set warmup_iters=50
"""
from __future__ import annotations

from dataclasses import dataclass

from . import gpt_shakespeare

DESCRIPTION = "GPT on Shakespeare with byte-level BPE tokens (512): val loss per token and per char, samples"


@dataclass
class Config(gpt_shakespeare.Config):
    tokenizer: str = "bpe"


SMOKE = {**gpt_shakespeare.SMOKE, "max_chars": 5000}


def run(config: Config, out, resume: bool = False) -> dict:
    return gpt_shakespeare.run(config, out, resume)


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run"]
