"""gpt-shakespeare: a character-level GPT on Shakespeare with nanoGPT's CPU configuration, checked
against the identical model trained in PyTorch.

nanoGPT's "shakespeare_char on a MacBook" settings: 4 layers, 4 heads, 128-wide embeddings, a
context of 64 characters, batches of 12, no dropout; AdamW (lr 1e-3, betas (0.9, 0.99), weight
decay 0.1 on matrices only), 100 linear warm-up steps then a cosine decay to 1e-4 at step 2,000,
gradient-norm clipping at 1.0. nanoGPT reports a validation loss of about 1.88 for it (on its
1 MB tinyshakespeare; ours is the whole 5 MB of Shakespeare, split 90/10 by position).

The validation loss is estimated as nanoGPT does it, as the mean loss over `final_eval_iters`
random validation blocks; here the blocks are drawn once from a seeded generator, so the
macrograd model and its PyTorch twin are scored on exactly the same characters.

The PyTorch reference (config.torch_reference, needs torch, a test-only dependency):
tests/reference/gpt_torch.py holds nanoGPT's model in torch.nn, loads macrograd's initial weights
through the state_dict and trains it with this module's `train_gpt` loop (lib=torch): the same
batches in the same order, the same AdamW groups, schedule and clipping.

`tokenizer="bpe"` (the `gpt-bpe` experiment) trains a byte-level BPE of `bpe_vocab_size` tokens on
the training text and models BPE tokens instead of characters; its loss is per token, so the
summary also gives it per character (loss * tokens / characters of the validation text).

    OPENBLAS_NUM_THREADS=1 macrograd run gpt-shakespeare        # 2,000 steps, + the torch twin
    python tests/reference/gpt_torch.py                         # both runs, from the test tree
"""
from __future__ import annotations

import importlib.util
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend

DESCRIPTION = "char-level GPT (nanoGPT's CPU config) on Shakespeare: val loss and samples, vs PyTorch"

REFERENCE_SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "reference" / "gpt_torch.py"


@dataclass
class Config:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    batch_size: int = 12
    dropout: float = 0.0
    bias: bool = True
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.1
    warmup_iters: int = 100
    max_iters: int = 2000
    lr_decay_iters: int = 2000  # cosine from learning_rate to min_lr between warmup_iters and this
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20  # validation batches for the curve (the same ones every time)
    final_eval_iters: int = 200  # validation batches for the reported number
    log_every: int = 25
    tokenizer: str = "char"  # "char" or "bpe"
    bpe_vocab_size: int = 512
    sample_tokens: int = 500
    temperature: float = 0.8
    top_k: int = 200
    num_samples: int = 2
    max_chars: int = 0  # 0 = the whole text
    torch_reference: bool = True  # also train the identical PyTorch model (when torch is importable)
    torch_result: str = ""  # a JSON file from `gpt_torch.py --torch-only --out FILE` (the twin run apart)
    seed: int = 0


SMOKE = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 4, "max_iters": 6,
         "warmup_iters": 2, "lr_decay_iters": 6, "eval_interval": 3, "eval_iters": 2, "final_eval_iters": 2,
         "log_every": 2, "sample_tokens": 30, "num_samples": 1, "max_chars": 20000, "bpe_vocab_size": 280,
         "torch_reference": False}


# -- the schedule and the loop, written once for macrograd and PyTorch ----------------------------
def lr_at(it: int, config: Config) -> float:
    """nanoGPT's get_lr: linear warm-up over warmup_iters, cosine down to min_lr at lr_decay_iters."""
    if it < config.warmup_iters:
        return config.learning_rate * (it + 1) / (config.warmup_iters + 1)
    if it > config.lr_decay_iters:
        return config.min_lr
    ratio = (it - config.warmup_iters) / (config.lr_decay_iters - config.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return config.min_lr + coeff * (config.learning_rate - config.min_lr)


def evaluate_gpt(model, lib, batches) -> float:
    """Mean cross entropy (nats per token) of model over a list of (x, y) batches."""
    was_training = model.training
    model.eval()
    total = 0.0
    with lib.no_grad():
        for x, y in batches:
            _, loss = model(lib.tensor(x), lib.tensor(y))
            total += float(loss.item())
    model.train(was_training)
    return total / len(batches)


def train_gpt(model, lib, batches, val_batches, config: Config, log=None) -> dict:
    """Train `model` (a GPT of library `lib`: macrograd or torch, with nanoGPT's
    configure_optimizers) for config.max_iters steps on batches.next(), setting each step's lr
    from `lr_at`, clipping the gradient norm; validate every eval_interval steps on val_batches.
    log(record) receives every step/eval record. Returns {"history", "seconds_per_step"}."""
    optimizer = model.configure_optimizers(config.weight_decay, config.learning_rate,
                                           (config.beta1, config.beta2), "cpu")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    history, running, seconds = [], [], 0.0
    model.train()
    for it in range(config.max_iters):
        lr = lr_at(it, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batches.next()
        start = time.perf_counter()
        _, loss = model(lib.tensor(x), lib.tensor(y))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            lib.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        seconds += time.perf_counter() - start
        running.append(float(loss.item()))
        step = it + 1
        if step % config.log_every == 0 or step == config.max_iters:
            record = {"kind": "step", "step": step, "lr": lr, "loss": float(np.mean(running))}
            running = []
            history.append(record)
            if log:
                log(record)
        if step % config.eval_interval == 0 or step == config.max_iters:
            record = {"kind": "eval", "step": step, "val_loss": evaluate_gpt(model, lib, val_batches)}
            history.append(record)
            if log:
                log(record)
    return {"history": history, "seconds_per_step": seconds / max(config.max_iters, 1)}


# -- data -----------------------------------------------------------------------------------------
@dataclass
class LMData:
    tokenizer: object
    train_ids: np.ndarray
    val_ids: np.ndarray
    val_curve: list  # batches for the validation curve
    val_final: list  # batches for the reported number
    chars_per_token: float  # of the validation text (1 for characters)
    description: str


def data_for(config: Config) -> LMData:
    """Shakespeare split 90/10 by position (the char-rnn split), as characters or BPE tokens of a
    tokenizer trained on the training part only; fixed validation batches from seed + 1."""
    from ..data.text_data import CharBatches, load_shakespeare

    if config.tokenizer not in ("char", "bpe"):
        raise ValueError(f"gpt-shakespeare: tokenizer must be 'char' or 'bpe', got {config.tokenizer!r}")
    text, tokenizer, train_ids, val_ids = load_shakespeare(max_chars=config.max_chars)
    chars_per_token = 1.0
    if config.tokenizer == "bpe":
        from ..text import ByteBPETokenizer

        n_train = len(train_ids)  # the same cut as the characters' (ASCII text: 1 char = 1 byte)
        train_text, val_text = text[:n_train], text[n_train:]
        start = time.perf_counter()
        tokenizer = ByteBPETokenizer.train(train_text, config.bpe_vocab_size)
        train_ids = np.asarray(tokenizer.encode(train_text), dtype=np.int64)
        val_ids = np.asarray(tokenizer.encode(val_text), dtype=np.int64)
        chars_per_token = len(val_text) / len(val_ids)
        print(f"BPE: {tokenizer.vocab_size} tokens trained and applied in {time.perf_counter() - start:.0f} s, "
              f"{chars_per_token:.2f} validation characters per token")
    val = CharBatches(val_ids, config.block_size, config.batch_size, seed=config.seed + 1).take(config.final_eval_iters)
    unit = "characters" if config.tokenizer == "char" else "BPE tokens"
    description = (f"Shakespeare, {len(train_ids):,} train / {len(val_ids):,} val {unit} (90/10 by position), "
                   f"vocabulary {tokenizer.vocab_size}")
    return LMData(tokenizer, train_ids, val_ids, val[:config.eval_iters], val, chars_per_token, description)


def build_model(config: Config, vocab_size: int):
    """macrograd's GPT, initialised from the seed (its weights are also the PyTorch twin's start)."""
    from ..models.gpt import GPT

    backend.manual_seed(config.seed)
    return GPT(gpt_config(config, vocab_size))


def gpt_config(config: Config, vocab_size: int):
    from ..models.gpt import GPTConfig

    return GPTConfig(block_size=config.block_size, vocab_size=vocab_size, n_layer=config.n_layer,
                     n_head=config.n_head, n_embd=config.n_embd, dropout=config.dropout, bias=config.bias)


def _torch_reference():
    """The reference module (tests/reference/gpt_torch.py), or (None, why not)."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed (it is a test-only dependency)"
    if not REFERENCE_SCRIPT.is_file():
        return None, f"{REFERENCE_SCRIPT} not found (it ships with the source tree, not the package)"
    spec = importlib.util.spec_from_file_location("gpt_torch", REFERENCE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, ""


def sample(model, tokenizer, config: Config, prompt: str = "\n") -> list:
    """config.num_samples continuations of `prompt` (temperature, top-k; seeded)."""
    from ..tensor import Tensor

    generator = backend.Generator().manual_seed(config.seed)
    start = np.asarray([tokenizer.encode(prompt)], dtype=np.int64)
    model.eval()
    texts = []
    for _ in range(config.num_samples):
        ids = model.generate(Tensor(start), config.sample_tokens, temperature=config.temperature,
                             top_k=config.top_k or None, generator=generator)
        texts.append(tokenizer.decode(ids[0].tolist()[start.shape[1]:]))
    return texts


# -- the experiment -------------------------------------------------------------------------------
def run(config: Config, out, resume: bool = False) -> dict:
    from ..data.text_data import CharBatches
    from ..io import load, save
    from ..train import MetricsLog, RunFolder
    import macrograd as mg

    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    data = data_for(config)
    print(data.description)
    vocab = data.tokenizer.vocab_size
    model = build_model(config, vocab)
    init_state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    print(f"GPT: {model.get_num_params() / 1e6:.2f}M parameters, {config.max_iters} steps of "
          f"{config.batch_size} x {config.block_size}")

    weights = run_folder.file("model.safetensors")
    result_file = run_folder.file("macrograd_result.json")
    if resume and result_file.exists() and weights.exists():
        model.load_state_dict(load(weights))
        result = json.loads(result_file.read_text())
        print(f"macrograd: trained in an earlier run, val {result['val_loss']:.4f}")
    else:
        log = MetricsLog(run_folder.file("metrics.jsonl")).open()
        batches = CharBatches(data.train_ids, config.block_size, config.batch_size, seed=config.seed)
        trained = train_gpt(model, mg, batches, data.val_curve, config, log=lambda r: _print_and_log(log, "macrograd", r))
        log.close()
        result = {"val_loss": evaluate_gpt(model, mg, data.val_final), **trained}
        save(model.state_dict(), weights)
        run_folder.write_json(result_file.name, result)

    summary = {"val_loss": result["val_loss"], "seconds_per_step": result["seconds_per_step"]}
    if config.tokenizer == "bpe":
        summary["val_loss_per_char"] = result["val_loss"] / data.chars_per_token
    reference, why_not = (None, "config.torch_reference is off")
    if config.torch_result:
        # the twin trained apart (in parallel) by tests/reference/gpt_torch.py with the same config
        reference = "file"
        ref = json.loads(Path(config.torch_result).read_text())
        print(f"PyTorch result read from {config.torch_result}")
    elif config.torch_reference:
        reference, why_not = _torch_reference()
        if reference is not None:
            print("the same run in PyTorch")
            ref = reference.train_reference(config, vocab, init_state, data.train_ids, data.val_curve, data.val_final)
    torch_history = None
    if reference is not None:
        torch_history = ref["history"]
        run_folder.write_json("torch_result.json", ref)
        summary.update(torch_val_loss=ref["val_loss"], torch_seconds_per_step=ref["seconds_per_step"],
                       val_loss_difference=result["val_loss"] - ref["val_loss"])
    else:
        print(f"NOTE: no PyTorch reference: {why_not}")
    summary["torch_reference"] = ("ran apart: " + config.torch_result if reference == "file"
                                  else "ran" if reference is not None else f"not run: {why_not}")

    samples = sample(model, data.tokenizer, config)
    run_folder.write_text("samples.md", "\n".join(
        [f"# {config.tokenizer}-level GPT samples (prompt: a newline, temperature {config.temperature}, "
         f"top-k {config.top_k})", ""] + [f"## sample {i + 1}\n\n```\n{s}\n```\n" for i, s in enumerate(samples)]))
    summary["samples"] = samples
    _plot_curves(result["history"], torch_history, run_folder.file("curves.png"), config)
    summary["data"] = data.description
    summary["eval_batches"] = f"{len(data.val_final)} random validation blocks of {config.batch_size} x {config.block_size}"
    line = f"val loss {summary['val_loss']:.4f}"
    if "torch_val_loss" in summary:
        line += f", PyTorch {summary['torch_val_loss']:.4f} (difference {summary['val_loss_difference']:+.4f})"
    print(line)
    run_folder.write_json("summary.json", summary)
    return summary


def _print_and_log(log, who, record):
    log.log(record)
    if record["kind"] == "eval":
        print(f"  {who} step {record['step']}: val {record['val_loss']:.4f}", flush=True)


def _plot_curves(history, torch_history, path, config: Config):
    """Training loss per logged step and validation loss; PyTorch dashed."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    for records, style, who in ((history, "-", "macrograd"), (torch_history, "--", "PyTorch")):
        if not records:
            continue
        steps = [r for r in records if r["kind"] == "step"]
        evals = [r for r in records if r["kind"] == "eval"]
        ax_train.plot([r["step"] for r in steps], [r["loss"] for r in steps], style, lw=1, label=who)
        ax_val.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], style, marker=".", label=who)
    unit = "nats / char" if config.tokenizer == "char" else "nats / BPE token"
    ax_train.set(xlabel="step", ylabel=unit, title="training loss")
    ax_val.set(xlabel="step", ylabel=unit, title="validation loss")
    for ax in (ax_train, ax_val):
        ax.legend(fontsize=8)
    fig.suptitle(f"GPT ({config.n_layer} layers, {config.n_embd} wide) on Shakespeare, {config.tokenizer} tokens")
    save(fig, path)


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "train_gpt", "evaluate_gpt", "lr_at", "data_for", "build_model"]
