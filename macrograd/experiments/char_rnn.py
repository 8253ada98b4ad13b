"""char-rnn: vanilla RNN, LSTM and GRU character-level language models on Shakespeare, at the
same budget, each checked against the identical model trained in PyTorch.

Data: the whole Shakespeare text as characters, first 90% train / last 10% validation (by
position). Each step trains on `batch_size` random contiguous blocks of `block_size` characters
(drawn from a seeded generator); the validation loss (nats per character) is the mean cross
entropy over a fixed set of validation blocks.

The PyTorch reference (config.torch_reference, needs torch, which is a test-only dependency):
tests/reference/char_rnn_torch.py builds the same model in torch.nn (the same code, see
models/char_rnn.py), loads macrograd's initial weights through the state_dict, and runs this
module's `train_lm` loop with lib=torch: the same batches in the same order, the same Adam,
cosine schedule and gradient clipping. Both validation losses go into summary.json.

    OPENBLAS_NUM_THREADS=1 macrograd run char-rnn                 # 3 models x 2000 steps, + torch
    macrograd run char-rnn --set cells=lstm --set steps=500 --set torch_reference=false
    python tests/reference/char_rnn_torch.py --cell lstm --steps 2000   # the torch run alone

(OPENBLAS_NUM_THREADS=1: a recurrent step is a small GEMM; on a busy 2-core machine a threaded
BLAS spends longer synchronising than computing, 5x slower in our measurements.)
"""
from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend

DESCRIPTION = "RNN vs LSTM vs GRU char-level LMs on Shakespeare (val nats/char, samples), vs PyTorch"

REFERENCE_SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "reference" / "char_rnn_torch.py"


@dataclass
class Config:
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    hidden_size: int = 256
    num_layers: int = 1
    embedding_dim: int = 64
    block_size: int = 64
    batch_size: int = 32
    steps: int = 2000
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decay from lr to lr * min_lr_ratio over the run
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_batches: int = 20  # validation blocks for the curve (the same every time)
    final_eval_batches: int = 100  # validation blocks for the reported number
    log_every: int = 25
    sample_chars: int = 300
    temperatures: tuple[float, ...] = (0.5, 0.8, 1.0)
    max_chars: int = 0  # 0 = the whole text
    torch_reference: bool = True  # also train the identical PyTorch model (when torch is importable)
    seed: int = 0


SMOKE = {"hidden_size": 32, "embedding_dim": 16, "block_size": 16, "batch_size": 8, "steps": 6, "eval_every": 3,
         "eval_batches": 2, "final_eval_batches": 2, "log_every": 2, "sample_chars": 40, "max_chars": 20000,
         "torch_reference": False}


# -- the training loop, written once for macrograd and PyTorch ------------------------------------
def evaluate_lm(model, lib, batches) -> float:
    """Mean cross entropy (nats per character) of model over a list of (x, y) batches."""
    F = lib.nn.functional
    was_training = model.training
    model.eval()
    total = 0.0
    with lib.no_grad():
        for x, y in batches:
            logits, _ = model(lib.tensor(x))
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lib.tensor(y).reshape(-1)).item())
    model.train(was_training)
    return total / len(batches)


def train_lm(model, lib, batches, val_batches, config: Config, log=None) -> dict:
    """Train `model` (a CharRNN of library `lib`, macrograd or torch) for config.steps steps of
    Adam with a cosine schedule and gradient-norm clipping, on batches.next(); validate every
    config.eval_every steps on val_batches. log(record) receives each step/eval record.
    Returns {"history": [...], "seconds_per_step": ...}."""
    F = lib.nn.functional
    params = list(model.parameters())
    optimizer = lib.optim.Adam(params, lr=config.lr)
    scheduler = lib.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                         eta_min=config.lr * config.min_lr_ratio)
    history, running, seconds = [], [], 0.0
    model.train()
    for step in range(1, config.steps + 1):
        x, y = batches.next()
        start = time.perf_counter()
        logits, _ = model(lib.tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lib.tensor(y).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        scheduler.step()
        seconds += time.perf_counter() - start
        running.append(float(loss.item()))
        if step % config.log_every == 0 or step == config.steps:
            record = {"kind": "step", "step": step, "loss": float(np.mean(running))}
            running = []
            history.append(record)
            if log:
                log(record)
        if step % config.eval_every == 0 or step == config.steps:
            record = {"kind": "eval", "step": step, "val_loss": evaluate_lm(model, lib, val_batches)}
            history.append(record)
            if log:
                log(record)
    return {"history": history, "seconds_per_step": seconds / config.steps}


# -- the experiment -------------------------------------------------------------------------------
def _torch_reference():
    """The reference module (tests/reference/char_rnn_torch.py), or (None, why not)."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed (it is a test-only dependency)"
    if not REFERENCE_SCRIPT.is_file():
        return None, f"{REFERENCE_SCRIPT} not found (it ships with the source tree, not the package)"
    spec = importlib.util.spec_from_file_location("char_rnn_torch", REFERENCE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, ""


def build_model(config: Config, cell: str, vocab_size: int):
    """The macrograd CharRNN of one cell, initialised from the seed (its weights are also the
    PyTorch twin's starting point)."""
    from ..models.char_rnn import CharRNN

    backend.manual_seed(config.seed)
    return CharRNN(vocab_size, config.hidden_size, config.num_layers, cell, config.embedding_dim)


def data_for(config: Config):
    """(tokenizer, train_ids, validation batches for the curve, validation batches for the final number)."""
    from ..data.text_data import CharBatches, load_shakespeare

    _, tokenizer, train_ids, val_ids = load_shakespeare(max_chars=config.max_chars)
    val = CharBatches(val_ids, config.block_size, config.batch_size, seed=config.seed + 1).take(config.final_eval_batches)
    return tokenizer, train_ids, val[:config.eval_batches], val


def run(config: Config, out, resume: bool = False) -> dict:
    from ..data.text_data import CharBatches
    from ..io import save
    from ..models.char_rnn import CELLS
    from ..tensor import Tensor
    from ..train import MetricsLog, RunFolder
    import macrograd as mg

    bad = [c for c in config.cells if c not in CELLS]
    if bad:
        raise ValueError(f"char-rnn: cells must be among {CELLS}, got {bad}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    tokenizer, train_ids, val_curve, val_final = data_for(config)
    print(f"Shakespeare: {len(train_ids):,} train / {sum(x.size for x, _ in val_final):,} val characters "
          f"scored, vocabulary {tokenizer.vocab_size}")
    reference, why_not = (None, "config.torch_reference is off")
    if config.torch_reference:
        reference, why_not = _torch_reference()
        if reference is None:
            print(f"NOTE: no PyTorch reference: {why_not}")

    results = {}
    for cell in config.cells:
        result_file = run_folder.file(f"{cell}_result.json")
        if resume and result_file.exists():
            results[cell] = json.loads(result_file.read_text())
            print(f"{cell}: done in an earlier run, val {results[cell]['val_loss']:.4f}")
            continue
        model = build_model(config, cell, tokenizer.vocab_size)
        init_state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        log = MetricsLog(run_folder.file(f"{cell}_metrics.jsonl")).open()
        print(f"{cell}: {sum(p.numel() for p in model.parameters()):,} parameters, {config.steps} steps")
        batches = CharBatches(train_ids, config.block_size, config.batch_size, seed=config.seed)
        trained = train_lm(model, mg, batches, val_curve, config, log=lambda r, cell=cell: _print_and_log(log, cell, r))
        log.close()
        result = {"val_loss": evaluate_lm(model, mg, val_final),
                  "seconds_per_step": trained["seconds_per_step"], "history": trained["history"]}
        save(model.state_dict(), run_folder.file(f"{cell}.safetensors"))

        if reference is not None:
            print(f"{cell}: the same run in PyTorch")
            ref = reference.train_reference(config, cell, tokenizer.vocab_size, init_state, train_ids, val_curve, val_final)
            result.update(torch_val_loss=ref["val_loss"], torch_seconds_per_step=ref["seconds_per_step"],
                          torch_history=ref["history"], val_loss_difference=result["val_loss"] - ref["val_loss"])
            run_folder.write_json(f"{cell}_torch_history.json", ref["history"])

        samples = {}
        for temperature in config.temperatures:
            prompt = Tensor(np.asarray([tokenizer.encode("\n")], dtype=np.int64))
            generator = backend.Generator().manual_seed(config.seed)
            ids = model.generate(prompt, config.sample_chars, temperature=temperature, generator=generator)
            samples[str(temperature)] = tokenizer.decode(ids[0].tolist()[1:])
        result["samples"] = samples
        run_folder.write_json(result_file.name, result)
        results[cell] = result
        line = f"{cell}: val {result['val_loss']:.4f} nats/char"
        if "torch_val_loss" in result:
            line += f", torch {result['torch_val_loss']:.4f} (difference {result['val_loss_difference']:+.4f})"
        print(line)

    _plot_curves(results, run_folder.file("curves.png"))
    _write_samples(results, run_folder.file("samples.md"))
    summary = {cell: {k: v for k, v in r.items() if k not in ("history", "torch_history", "samples")}
               for cell, r in results.items()}
    summary["torch_reference"] = "ran" if reference is not None else f"not run: {why_not}"
    summary["data"] = f"Shakespeare, {len(train_ids):,} training characters, vocabulary {tokenizer.vocab_size}"
    run_folder.write_json("summary.json", summary)
    return summary


def _print_and_log(log, cell, record):
    log.log(record)
    if record["kind"] == "eval":
        print(f"  {cell} step {record['step']}: val {record['val_loss']:.4f}", flush=True)


def _plot_curves(results: dict, path):
    """Training loss (per logged step) and validation loss for each model; PyTorch dashed."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"rnn": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}
    for cell, result in results.items():
        for key, style, who in (("history", "-", "macrograd"), ("torch_history", "--", "PyTorch")):
            history = result.get(key)
            if not history:
                continue
            steps = [r for r in history if r["kind"] == "step"]
            evals = [r for r in history if r["kind"] == "eval"]
            ax_train.plot([r["step"] for r in steps], [r["loss"] for r in steps], style, color=colours.get(cell),
                          lw=1, label=f"{cell} ({who})")
            ax_val.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], style, marker=".",
                        color=colours.get(cell), label=f"{cell} ({who})")
    ax_train.set(xlabel="step", ylabel="nats / char", title="training loss")
    ax_val.set(xlabel="step", ylabel="nats / char", title="validation loss")
    for ax in (ax_train, ax_val):
        ax.legend(fontsize=8)
    fig.suptitle("char-rnn on Shakespeare")
    save(fig, path)


def _write_samples(results: dict, path):
    lines = ["# char-rnn samples (prompt: a newline)", ""]
    for cell, result in results.items():
        for temperature, text in result["samples"].items():
            lines += [f"## {cell}, temperature {temperature}", "", "```", text, "```", ""]
    Path(path).write_text("\n".join(lines))


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "train_lm", "evaluate_lm", "build_model", "data_for"]
