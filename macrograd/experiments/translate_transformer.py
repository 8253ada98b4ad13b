"""translate-transformer: German -> English with the encoder-decoder Transformer (Vaswani et al.
2017), on exactly the data of translate-seq2seq, so the two read side by side.

Data: `translate_seq2seq.Corpus`, i.e. the fixed split `load_de_en_splits(seed=0)` (1,000 test
pairs, shared by every translation experiment), pairs of at most `max_tokens` words for training
and validation, word vocabularies of words seen `min_freq` times. BLEU = sacrebleu on all 1,000
test pairs, lower-cased, as translate-seq2seq computes it.

Model: `models.Seq2SeqTransformer` (scaled embeddings + sinusoidal positions + nn.Transformer,
post-LN as in the paper, tied target embedding / generator). Training: teacher forcing, cross
entropy with label smoothing 0.1 (padding ignored), AdamW with a linear warm-up then cosine decay,
gradient clipping; the epoch with the lowest validation loss is kept. Decoding: batched greedy and
beam search. Cross-attention maps (every decoder layer and head) for a few test sentences, drawn
with `viz.attention`.

    OPENBLAS_NUM_THREADS=1 macrograd run translate-transformer
    macrograd run translate-transformer --set epochs=5 --set d_model=128
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend
from .translate_seq2seq import Corpus, batches, bleu, detokenize, pad_batch

DESCRIPTION = "German->English encoder-decoder Transformer: BLEU beside translate-seq2seq, cross-attention maps"


@dataclass
class Config:
    d_model: int = 128
    nhead: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.1
    max_tokens: int = 10  # longest training/validation sentence kept, in words, either side (as translate-seq2seq)
    min_freq: int = 2
    max_vocab: int = 4000
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    beam_size: int = 5
    length_penalty: float = 1.0
    max_decode_len: int = 40
    train_subset: int = 0  # 0 = every (filtered) training pair
    valid_subset: int = 0  # 0 = every (filtered) validation pair
    test_subset: int = 0  # 0 = all 1,000 test pairs
    beam_subset: int = 200  # beam search on the first n test pairs (0 = all; one sentence at a time)
    examples: int = 10
    attention_sentences: int = 2
    seq2seq_summary: str = "runs/translate-seq2seq/summary.json"  # shown side by side when it exists
    log_every: int = 20
    seed: int = 0


SMOKE = {"d_model": 16, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 32,
         "epochs": 2, "train_subset": 256, "valid_subset": 64, "test_subset": 16, "beam_subset": 3, "batch_size": 32, "max_decode_len": 8,
         "examples": 3, "log_every": 2, "beam_size": 2, "max_vocab": 400, "warmup_steps": 4, "attention_sentences": 1}


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over `warmup` steps, then cosine decay to 0.05 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_model(config: Config, corpus: Corpus):
    from ..models.seq2seq_transformer import Seq2SeqTransformer

    if corpus.src_tok.pad_id != corpus.tgt_tok.pad_id:
        raise ValueError("translate-transformer: source and target tokenizers must share the padding id")
    backend.manual_seed(config.seed)
    return Seq2SeqTransformer(corpus.src_tok.vocab_size, corpus.tgt_tok.vocab_size, config.d_model, config.nhead,
                              config.num_encoder_layers, config.num_decoder_layers, config.dim_feedforward,
                              config.dropout, max_len=256, pad_idx=corpus.tgt_tok.pad_id, tie_weights=True)


def sequence_loss(model, src, tgt, pad_id, label_smoothing=0.0):
    """Teacher-forced cross entropy per real target token (the decoder reads tgt[:, :-1])."""
    from ..creation import tensor
    from ..nn import functional as F

    logits = model(tensor(src), tensor(tgt[:, :-1]))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tensor(tgt[:, 1:]).reshape(-1),
                           ignore_index=pad_id, label_smoothing=label_smoothing)


def validation_loss(model, data, batch_size, pad_id) -> float:
    """Mean cross entropy per real target token (no smoothing), in eval mode."""
    from ..autograd import no_grad

    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for src, _, tgt in batches(*data, batch_size * 2):
            n = int((tgt[:, 1:] != pad_id).sum())
            total += float(sequence_loss(model, src, tgt, pad_id).item()) * n
            count += n
    model.train()
    return total / max(count, 1)


def fit_teacher_forced(model, config, steps_per_epoch: int, train_batches, batch_loss, validate, run_folder,
                       decayed=None) -> dict:
    """The teacher-forced training loop that translate-transformer and captioning share: AdamW
    (betas 0.9, 0.98; weight decay only on `decayed`, by default the weight matrices), linear
    warm-up then cosine learning rate (lr_factor), gradient clipping, JSON-lines metrics, and the
    weights of the epoch with the lowest validation loss kept in model.safetensors and reloaded.

    train_batches(rng) yields one epoch's batches, batch_loss(batch) gives a batch's loss and
    validate() the validation loss; config gives lr, weight_decay, warmup_steps, grad_clip,
    epochs, log_every and seed."""
    from ..io import load, save
    from ..nn.utils import clip_grad_norm_
    from ..optim import AdamW
    from ..train import MetricsLog

    decay = [p for p in model.parameters() if p.ndim >= 2] if decayed is None else decayed
    no_decay = [p for p in model.parameters() if not any(p is q for q in decay)]
    optimizer = AdamW([{"params": decay, "weight_decay": config.weight_decay},
                       {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))
    total = steps_per_epoch * config.epochs
    rng = np.random.default_rng(config.seed)
    best_path = run_folder.file("model.safetensors")
    log = MetricsLog(run_folder.file("metrics.jsonl")).open()
    epochs, best, step, start, cpu_start = [], float("inf"), 0, time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(1, config.epochs + 1):
        losses = []
        for batch in train_batches(rng):
            for group in optimizer.param_groups:
                group["lr"] = config.lr * lr_factor(step, total, config.warmup_steps)
            loss = batch_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(float(loss.item()))
            step += 1
            if step % config.log_every == 0:
                log.log({"kind": "step", "step": step, "epoch": epoch, "loss": float(np.mean(losses[-config.log_every:])),
                         "lr": optimizer.param_groups[0]["lr"]})
        val = validate()
        record = {"kind": "epoch", "epoch": epoch, "step": step, "train_loss": float(np.mean(losses)), "val_loss": val,
                  "seconds": round(time.perf_counter() - start, 1)}
        log.log(record)
        epochs.append(record)
        print(f"  epoch {epoch}/{config.epochs}: train {record['train_loss']:.3f} (smoothed), val {val:.3f} "
              f"({record['seconds']} s)", flush=True)
        if val < best:
            best = val
            save(model.state_dict(), best_path)
    log.close()
    model.load_state_dict(load(best_path))
    return {"best_val_loss": best, "best_epoch": min(epochs, key=lambda r: r["val_loss"])["epoch"],
            "train_seconds": round(time.perf_counter() - start, 1),
            "train_cpu_seconds": round(time.process_time() - cpu_start, 1), "epochs": epochs, "steps": step}


def train_or_reload(model, run_folder, resume: bool, train_model) -> dict:
    """With resume and a finished training in the run folder, its best weights and record;
    otherwise train_model() (fit_teacher_forced's record), saved as train_result.json."""
    from ..io import load

    result_file = run_folder.file("train_result.json")
    if resume and result_file.exists() and run_folder.file("model.safetensors").exists():
        model.load_state_dict(load(run_folder.file("model.safetensors")))
        print("trained in an earlier run")
        return json.loads(result_file.read_text())
    trained = train_model()
    run_folder.write_json(result_file.name, trained)
    return trained


def train(model, config: Config, corpus: Corpus, run_folder) -> dict:
    pad = corpus.tgt_tok.pad_id
    return fit_teacher_forced(
        model, config, math.ceil(len(corpus.train[0]) / config.batch_size),
        lambda rng: batches(*corpus.train, config.batch_size, rng),
        lambda batch: sequence_loss(model, batch[0], batch[2], pad, config.label_smoothing),
        lambda: validation_loss(model, corpus.valid, config.batch_size, pad), run_folder)


def translate(model, corpus: Corpus, src_lists, config: Config, beam: bool) -> list:
    """Detokenised English for each source id list (greedy in batches of 128, or beam one by one)."""
    from ..creation import tensor

    tok = corpus.tgt_tok
    model.eval()
    out = []
    if beam:
        for s in src_lists:
            (tokens, _), = model.beam_search(tensor(np.array(s, dtype=np.int64)), tok.bos_id, tok.eos_id,
                                             config.beam_size, config.max_decode_len, config.length_penalty)
            ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)  # a Tensor or a list
            out.append(detokenize(tok.decode(ids, skip_special_tokens=True).split()))
        return out
    for i in range(0, len(src_lists), 128):
        chunk = src_lists[i:i + 128]
        ids = model.greedy_decode(tensor(pad_batch(chunk, corpus.src_tok.pad_id)), tok.bos_id, tok.eos_id,
                                  config.max_decode_len).numpy()
        out += [detokenize(tok.decode(row[1:].tolist(), skip_special_tokens=True).split()) for row in ids]
    return out


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import RunFolder

    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    corpus = Corpus(config)
    print(corpus.describe())
    model = build_model(config, corpus)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"Transformer: {n_params:,} parameters")
    trained = train_or_reload(model, run_folder, resume, lambda: train(model, config, corpus, run_folder))

    references = [p.en for p in corpus.test_pairs]
    n_beam = config.beam_subset or len(references)
    start = time.perf_counter()
    greedy = translate(model, corpus, corpus.test[0], config, beam=False)
    greedy_seconds = time.perf_counter() - start
    beam = translate(model, corpus, corpus.test[0][:n_beam], config, beam=True)
    summary = {
        "bleu_greedy": bleu(greedy, references),
        f"bleu_beam{config.beam_size}": bleu(beam, references[:n_beam]),
        "bleu_greedy_same_subset_as_beam": bleu(greedy[:n_beam], references[:n_beam]),
        "best_val_loss": trained["best_val_loss"], "best_epoch": trained["best_epoch"],
        "train_seconds": trained["train_seconds"], "greedy_decode_seconds": round(greedy_seconds, 1),
        "parameters": n_params, "test_pairs": len(references), "beam_pairs": n_beam, "data": corpus.describe(),
    }
    print(f"test BLEU greedy {summary['bleu_greedy']:.2f}, beam {config.beam_size} "
          f"{summary[f'bleu_beam{config.beam_size}']:.2f} (on {n_beam} pairs)")
    seq2seq = _seq2seq_summary(config.seq2seq_summary)
    if seq2seq:
        summary["translate_seq2seq"] = seq2seq
    _write_examples(corpus, greedy, beam, references, config, run_folder.file("examples.md"))
    _plot_losses(trained["epochs"], run_folder.file("curves.png"))
    summary["attention_maps"] = _plot_cross_attention(model, corpus, config, run_folder)
    run_folder.write_json("summary.json", summary)
    return summary


# -- reports --------------------------------------------------------------------------------------
def _seq2seq_summary(path: str) -> dict:
    """translate-seq2seq's test BLEU (greedy) per variant, from its summary.json, if it exists."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {name: {k: v for k, v in result.items() if k.startswith("bleu")}
            for name, result in data.items() if isinstance(result, dict) and "bleu_greedy" in result}


def _write_examples(corpus, greedy, beam, references, config, path):
    lines = ["# translate-transformer: test examples (German -> English)", ""]
    for i in range(min(config.examples, len(references))):
        lines += [f"- **de**: {corpus.test_pairs[i].de}", f"  - reference: {references[i]}",
                  f"  - greedy: {greedy[i]}"]
        if i < len(beam):
            lines.append(f"  - beam {config.beam_size}: {beam[i]}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


def _plot_losses(epochs, path):
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["epoch"] for r in epochs], [r["train_loss"] for r in epochs], "--", label="train (label-smoothed)")
    ax.plot([r["epoch"] for r in epochs], [r["val_loss"] for r in epochs], "o-", label="validation")
    ax.set(xlabel="epoch", ylabel="cross entropy (nats / token)", title="de→en Transformer")
    ax.legend(fontsize=8)
    save(fig, path)


def _plot_cross_attention(model, corpus, config, run_folder) -> list:
    """For the first test sentences of 5 to 10 words: every decoder layer's cross-attention, one
    panel per head (rows: generated English tokens, columns: German source words)."""
    from ..creation import tensor
    from ..viz.attention import plot_attention_grid, record_attention

    src_ids, _ = corpus.test
    chosen = [i for i, s in enumerate(src_ids) if 5 <= len(s) <= 10][:config.attention_sentences]
    tok_src, tok_tgt = corpus.src_tok, corpus.tgt_tok
    model.eval()
    files = []
    for k, i in enumerate(chosen):
        s = src_ids[i]
        with record_attention(model) as maps:
            ys = model.greedy_decode(tensor(np.array([s], dtype=np.int64)), tok_tgt.bos_id, tok_tgt.eos_id,
                                     config.max_decode_len).numpy()[0]
        generated = [int(t) for t in ys[1:] if t != tok_tgt.pad_id]
        cross = [n for n in maps.names if n.endswith("multihead_attn")]
        rows = len(maps[cross[0]][0, 0])  # queries of the last decoder call = generated tokens
        y_labels = [tok_tgt.itos[t] for t in generated][:rows]
        x_labels = [tok_src.itos[t] for t in s]
        name = f"cross_attention_{k}.png"
        plot_attention_grid(maps, run_folder.file(name), layers=cross, x_labels=x_labels, y_labels=y_labels,
                            title=f"cross-attention: {corpus.test_pairs[i].de}")
        files.append(name)
    return files


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "build_model", "translate", "lr_factor"]
