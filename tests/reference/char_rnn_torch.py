"""The PyTorch reference for the char-rnn experiment: the identical model and training in torch.

Identical means: the model is `macrograd.models.char_rnn.classes(torch.nn).CharRNN` (the same
code as macrograd's, built on torch.nn), it starts from macrograd's initial weights (copied
through the state_dict), and it is trained by the experiment's own `train_lm` loop with lib=torch:
the same batches in the same order (the same seeded CharBatches), Adam, the cosine schedule and
gradient clipping. So any gap in validation loss is the libraries' arithmetic, nothing else.

The char-rnn experiment calls `train_reference` when config.torch_reference is on. Run alone it
trains one cell in both libraries and prints both validation losses:

    MACROGRAD_DATA=../shared/data OPENBLAS_NUM_THREADS=1 python tests/reference/char_rnn_torch.py --cell lstm --steps 2000
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the macrograd source tree

from macrograd.data.text_data import CharBatches  # noqa: E402
from macrograd.experiments import char_rnn  # noqa: E402
from macrograd.models.char_rnn import classes  # noqa: E402


def torch_model(config, cell: str, vocab_size: int, init_state: dict):
    """The torch.nn twin of macrograd's CharRNN, holding the weights in init_state (name -> array)."""
    torch.manual_seed(config.seed)
    model = classes(torch.nn).CharRNN(vocab_size, config.hidden_size, config.num_layers, cell, config.embedding_dim)
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in init_state.items()})
    return model


def train_reference(config, cell: str, vocab_size: int, init_state: dict, train_ids, val_curve, val_final) -> dict:
    """Train the torch twin exactly as the experiment trains macrograd's model;
    returns {"val_loss", "seconds_per_step", "history"}. torch runs on one thread, as macrograd's
    BLAS does under OPENBLAS_NUM_THREADS=1, so the step times compare like with like."""
    torch.set_num_threads(1)
    model = torch_model(config, cell, vocab_size, init_state)
    batches = CharBatches(train_ids, config.block_size, config.batch_size, seed=config.seed)
    trained = char_rnn.train_lm(model, torch, batches, val_curve, config)
    return {"val_loss": char_rnn.evaluate_lm(model, torch, val_final), **trained}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--steps", type=int, default=char_rnn.Config.steps)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 matches macrograd's one BLAS thread)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import macrograd as mg

    config = dataclasses.replace(char_rnn.Config(), steps=args.steps, cells=(args.cell,))
    tokenizer, train_ids, val_curve, val_final = char_rnn.data_for(config)
    model = char_rnn.build_model(config, args.cell, tokenizer.vocab_size)
    init_state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}

    start = time.perf_counter()
    ours = char_rnn.train_lm(model, mg, CharBatches(train_ids, config.block_size, config.batch_size, seed=config.seed),
                             val_curve, config)
    ours_val = char_rnn.evaluate_lm(model, mg, val_final)
    print(f"macrograd {args.cell}: val {ours_val:.4f} nats/char ({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    ref = train_reference(config, args.cell, tokenizer.vocab_size, init_state, train_ids, val_curve, val_final)
    print(f"PyTorch   {args.cell}: val {ref['val_loss']:.4f} nats/char ({time.perf_counter() - start:.0f} s)")
    print(f"difference: {ours_val - ref['val_loss']:+.4f} nats/char")


if __name__ == "__main__":
    main()
