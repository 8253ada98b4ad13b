"""translate-seq2seq: German -> English with a recurrent encoder-decoder, with and without Bahdanau
attention, trained the same way; BLEU (sacrebleu) on the held-out test split.

Data: the 17,309 de-en pairs split once by `load_de_en_splits(seed=0)` into 1,000 test, 1,000
validation and 15,309 training pairs (the test split is shared with the Transformer translation
experiment). Pairs longer than `max_tokens` words on either side are dropped from training and
validation only; BLEU is computed on all 1,000 test pairs. Words (lower-cased, punctuation split)
seen at least `min_freq` times in training form each side's vocabulary; the rest map to <unk>.

Training: teacher forcing (the decoder reads the true previous word), cross entropy over real
target tokens (padding ignored), Adam, gradient clipping; the weights of the epoch with the lowest
validation loss are kept. Decoding: greedy and beam search; BLEU = sacrebleu.corpus_bleu of the
detokenised output against the raw references, lower-cased (both sides).

    OPENBLAS_NUM_THREADS=1 macrograd run translate-seq2seq
    macrograd run translate-seq2seq --set epochs=3 --set cell=lstm
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend

DESCRIPTION = "German->English GRU encoder-decoder, Bahdanau attention vs none: BLEU, examples, attention maps"


@dataclass
class Config:
    variants: tuple[str, ...] = ("attention", "no-attention")
    cell: str = "gru"
    embedding_dim: int = 128
    hidden_size: int = 256
    dropout: float = 0.2
    max_tokens: int = 10  # longest training/validation sentence kept, in words, either side
    min_freq: int = 2
    max_vocab: int = 4000
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    grad_clip: float = 1.0
    beam_size: int = 5
    length_penalty: float = 1.0
    max_decode_len: int = 40
    train_subset: int = 0  # 0 = every (filtered) training pair
    valid_subset: int = 0  # 0 = every (filtered) validation pair
    test_subset: int = 0  # 0 = all 1,000 test pairs
    beam_subset: int = 200  # beam search on the first n test pairs (0 = all 1,000; one sentence at a time, slow)
    examples: int = 10
    log_every: int = 20
    seed: int = 0


SMOKE = {"embedding_dim": 16, "hidden_size": 16, "epochs": 2, "train_subset": 256, "valid_subset": 64, "test_subset": 16, "beam_subset": 4,
         "batch_size": 32, "max_decode_len": 8, "examples": 3, "log_every": 2, "beam_size": 2, "max_vocab": 400}


# -- data -----------------------------------------------------------------------------------------
class Corpus:
    """Tokenised splits: per split, lists of source and target id lists (with <bos>/<eos> on the target)."""

    def __init__(self, config: Config):
        from ..data.text_data import load_de_en_splits
        from ..text import WordTokenizer

        splits = load_de_en_splits(seed=0)
        self.test_pairs = splits["test"][:config.test_subset or None]

        def short(pairs):
            return [p for p in pairs if len(_words(p.de)) <= config.max_tokens and len(_words(p.en)) <= config.max_tokens]

        train, valid = short(splits["train"]), short(splits["valid"])
        train, valid = train[:config.train_subset or None], valid[:config.valid_subset or None]
        self.n_all_train = len(splits["train"])
        self.src_tok = WordTokenizer.from_texts([p.de for p in train], min_freq=config.min_freq, max_size=config.max_vocab)
        self.tgt_tok = WordTokenizer.from_texts([p.en for p in train], min_freq=config.min_freq, max_size=config.max_vocab)
        self.train, self.valid = self.encode(train), self.encode(valid)
        self.test = self.encode(self.test_pairs)

    def encode(self, pairs):
        return ([self.src_tok.encode(p.de) or [self.src_tok.unk_id] for p in pairs],
                [self.tgt_tok.encode(p.en, add_special_tokens=True) for p in pairs])

    def describe(self) -> str:
        return (f"de-en: {len(self.train[0])} training pairs (of {self.n_all_train}, <= max_tokens words), "
                f"{len(self.valid[0])} validation, {len(self.test[0])} test; vocabularies de {self.src_tok.vocab_size}, "
                f"en {self.tgt_tok.vocab_size}")


def _words(text):
    from ..text import pre_tokenize

    return pre_tokenize(text)


def pad_batch(sequences, pad_id: int = 0) -> np.ndarray:
    """(B, longest) int64, right-padded with pad_id."""
    out = np.full((len(sequences), max(len(s) for s in sequences)), pad_id, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


def batches(src, tgt, batch_size: int, rng=None):
    """Yields (src (B, S), src_lengths (B,), tgt (B, T+1)) in batches of similar source length
    (less padding); rng shuffles the pairs and the order of the batches."""
    order = rng.permutation(len(src)) if rng is not None else np.arange(len(src))
    # sort within chunks of 50 batches by length, so batches stay random but padding is small
    chunk = batch_size * 50
    order = np.concatenate([sorted(order[i:i + chunk], key=lambda j: len(src[j])) for i in range(0, len(order), chunk)])
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    for g in groups:
        yield (pad_batch([src[j] for j in g]), np.array([len(src[j]) for j in g]), pad_batch([tgt[j] for j in g]))


def detokenize(tokens) -> str:
    """Word tokens back to a sentence: no space before closing punctuation."""
    return re.sub(r" ([.,!?;:)'\u2019])", r"\1", " ".join(tokens)).replace("( ", "(")


# -- training and evaluation ----------------------------------------------------------------------
def sequence_loss(model, src, lengths, tgt, pad_id):
    """Teacher-forced cross entropy per real target token: the decoder reads tgt[:, :-1] and predicts tgt[:, 1:]."""
    from ..creation import tensor
    from ..nn import functional as F

    logits, _ = model(tensor(src), lengths, tensor(tgt[:, :-1]))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tensor(tgt[:, 1:]).reshape(-1), ignore_index=pad_id)


def validation_loss(model, data, batch_size, pad_id) -> float:
    from ..autograd import no_grad

    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for src, lengths, tgt in batches(*data, batch_size * 2):
            n = int((tgt[:, 1:] != pad_id).sum())
            total += float(sequence_loss(model, src, lengths, tgt, pad_id).item()) * n
            count += n
    model.train()
    return total / max(count, 1)


def translate(model, corpus, src_lists, config: Config, beam: bool):
    """Detokenised English for each source id list (greedy in batches, or beam search one by one)."""
    from ..creation import tensor

    tok = corpus.tgt_tok
    out = []
    if beam:
        for s in src_lists:
            ids = model.beam_decode(tensor(np.array([s], dtype=np.int64)), np.array([len(s)]), tok.bos_id, tok.eos_id,
                                    config.beam_size, config.max_decode_len, config.length_penalty)
            out.append(detokenize(tok.decode(ids, skip_special_tokens=True).split()))
        return out
    for i in range(0, len(src_lists), 128):
        chunk = src_lists[i:i + 128]
        ids, _ = model.greedy_decode(tensor(pad_batch(chunk)), np.array([len(s) for s in chunk]), tok.bos_id,
                                     tok.eos_id, config.max_decode_len)
        out += [detokenize(tok.decode(x, skip_special_tokens=True).split()) for x in ids]
    return out


def bleu(hypotheses, references) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True).score)


def train_variant(name: str, config: Config, corpus: Corpus, run_folder, resume: bool) -> dict:
    from ..io import load, load_checkpoint, save, save_checkpoint
    from ..models.seq2seq import Seq2Seq
    from ..nn.utils import clip_grad_norm_
    from ..optim import Adam
    from ..train import MetricsLog

    result_file = run_folder.file(f"{name}_result.json")
    backend.manual_seed(config.seed)
    pad = corpus.tgt_tok.pad_id
    model = Seq2Seq(corpus.src_tok.vocab_size, corpus.tgt_tok.vocab_size, config.embedding_dim, config.hidden_size,
                    config.cell, attention=(name == "attention"), dropout=config.dropout, padding_idx=pad)
    best_path = run_folder.file(f"{name}.safetensors")
    if resume and result_file.exists() and best_path.exists():  # trained to the end already
        model.load_state_dict(load(best_path))
        print(f"{name}: trained in an earlier run")
        return {"model": model, **json.loads(result_file.read_text())}

    optimizer = Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    # the full state after each epoch (model, Adam, RNGs, history): a stopped run resumes where it was
    checkpoint = run_folder.file(f"{name}_checkpoint.safetensors")
    epochs, best, step, first_epoch = [], float("inf"), 0, 1
    if resume and checkpoint.exists():
        extra = load_checkpoint(checkpoint, model, optimizer)["extra"]
        epochs, best, step = extra["epochs"], extra["best"], extra["step"]
        rng.bit_generator.state = extra["data_rng"]
        first_epoch = len(epochs) + 1
        print(f"{name}: resuming after epoch {len(epochs)}")
    log = MetricsLog(run_folder.file(f"{name}_metrics.jsonl")).open(truncate_after_epoch=len(epochs) if resume else None)
    print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    start = time.perf_counter() - (epochs[-1]["seconds"] if epochs else 0.0)
    for epoch in range(first_epoch, config.epochs + 1):
        model.train()
        losses = []
        for src, lengths, tgt in batches(*corpus.train, config.batch_size, rng):
            loss = sequence_loss(model, src, lengths, tgt, pad)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(float(loss.item()))
            step += 1
            if step % config.log_every == 0:
                log.log({"kind": "step", "step": step, "epoch": epoch, "loss": float(np.mean(losses[-config.log_every:]))})
        val = validation_loss(model, corpus.valid, config.batch_size, pad)
        record = {"kind": "epoch", "epoch": epoch, "step": step, "train_loss": float(np.mean(losses)), "val_loss": val,
                  "seconds": round(time.perf_counter() - start, 1)}
        log.log(record)
        epochs.append(record)
        print(f"  {name} epoch {epoch}: train {record['train_loss']:.3f}, val {val:.3f} ({record['seconds']} s)", flush=True)
        if val < best:
            best = val
            save(model.state_dict(), best_path)
        save_checkpoint(checkpoint, model, optimizer, epoch=epoch,
                        extra={"epochs": epochs, "best": best, "step": step, "data_rng": rng.bit_generator.state})
    log.close()
    model.load_state_dict(load(best_path))
    result = {"best_val_loss": best, "best_epoch": min(epochs, key=lambda r: r["val_loss"])["epoch"],
              "train_seconds": epochs[-1]["seconds"], "epochs": epochs}
    run_folder.write_json(result_file.name, result)
    return {"model": model, **result}


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import RunFolder

    bad = [v for v in config.variants if v not in ("attention", "no-attention")]
    if bad:
        raise ValueError(f"translate-seq2seq: variants must be 'attention' and/or 'no-attention', got {bad}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    corpus = Corpus(config)
    print(corpus.describe())
    references = [p.en for p in corpus.test_pairs]
    n_beam = config.beam_subset or len(references)

    summary, outputs, models = {}, {}, {}
    for name in config.variants:
        trained = train_variant(name, config, corpus, run_folder, resume)
        model = models[name] = trained.pop("model")
        start = time.perf_counter()
        # the decoded test set is saved, so a resumed run reuses it (beam search is the slow part)
        saved = run_folder.file(f"{name}_translations.json")
        done = json.loads(saved.read_text()) if resume and saved.exists() else {}
        if done.get("test_pairs") == len(references) and len(done.get("beam", ())) == n_beam \
                and done.get("beam_size") == config.beam_size:
            greedy, beam, seconds = done["greedy"], done["beam"], done["seconds"]  # decoded by an earlier run
        else:
            greedy = translate(model, corpus, corpus.test[0], config, beam=False)
            beam = translate(model, corpus, corpus.test[0][:n_beam], config, beam=True)
            seconds = round(time.perf_counter() - start, 1)
            run_folder.write_json(saved.name, {"test_pairs": len(references), "beam_size": config.beam_size,
                                               "seconds": seconds, "greedy": greedy, "beam": beam})
        outputs[name] = {"greedy": greedy, "beam": beam}
        summary[name] = {
            "bleu_greedy": bleu(greedy, references),
            f"bleu_beam{config.beam_size}": bleu(beam, references[:n_beam]),
            "bleu_greedy_same_subset_as_beam": bleu(greedy[:n_beam], references[:n_beam]),
            "best_val_loss": trained["best_val_loss"], "best_epoch": trained["best_epoch"],
            "train_seconds": trained["train_seconds"], "decode_seconds": seconds,
        }
        print(f"{name}: test BLEU greedy {summary[name]['bleu_greedy']:.2f}, beam {config.beam_size} "
              f"{summary[name][f'bleu_beam{config.beam_size}']:.2f} (on {n_beam} pairs)")
        run_folder.write_json(f"{name}_epochs.json", trained["epochs"])

    _write_examples(corpus, outputs, references, config, run_folder.file("examples.md"))
    _plot_losses(run_folder, config.variants, run_folder.file("curves.png"))
    if "attention" in models:
        _plot_attention(models["attention"], corpus, config, run_folder.file("attention.png"))
    summary["test_pairs"] = len(references)
    summary["beam_pairs"] = n_beam
    summary["data"] = corpus.describe()
    run_folder.write_json("summary.json", summary)
    return summary


# -- reports --------------------------------------------------------------------------------------
def _write_examples(corpus, outputs, references, config, path):
    lines = ["# translate-seq2seq: test examples (German -> English)", ""]
    for i in range(min(config.examples, len(references))):
        lines += [f"- **de**: {corpus.test_pairs[i].de}", f"  - reference: {references[i]}"]
        for name, out in outputs.items():
            lines.append(f"  - {name} (greedy): {out['greedy'][i]}")
            if i < len(out["beam"]):
                lines.append(f"  - {name} (beam {config.beam_size}): {out['beam'][i]}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


def _plot_losses(run_folder, variants, path):
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, colour in zip(variants, ("tab:orange", "tab:blue")):
        epochs = json.loads(run_folder.file(f"{name}_epochs.json").read_text())
        ax.plot([r["epoch"] for r in epochs], [r["train_loss"] for r in epochs], "--", color=colour, label=f"{name} train")
        ax.plot([r["epoch"] for r in epochs], [r["val_loss"] for r in epochs], "o-", color=colour, label=f"{name} val")
    ax.set(xlabel="epoch", ylabel="cross entropy (nats / token)", title="de→en seq2seq")
    ax.legend(fontsize=8)
    save(fig, path)


def _plot_attention(model, corpus, config, path, count: int = 4):
    """Attention heat maps (rows: generated English words, columns: German source words) for the
    first `count` test sentences of 5 to 10 words."""
    from ..creation import tensor
    from ..viz._figure import pyplot, save

    src_ids, _ = corpus.test
    chosen = [i for i, s in enumerate(src_ids) if 5 <= len(s) <= 10][:count]
    if not chosen:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 4.4), squeeze=False)
    tok_src, tok_tgt = corpus.src_tok, corpus.tgt_tok
    for ax, i in zip(axes[0], chosen):
        s = src_ids[i]
        ids, attn = model.greedy_decode(tensor(np.array([s], dtype=np.int64)), np.array([len(s)]), tok_tgt.bos_id,
                                        tok_tgt.eos_id, config.max_decode_len)
        out_words = tok_tgt.decode(ids[0]).split() + ["<eos>"]
        weights = attn[0][:len(out_words), :len(s)]
        ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(s)), tok_src.decode(s).split(), rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(weights)), out_words[:len(weights)], fontsize=8)
    fig.suptitle("Bahdanau attention on test sentences (rows: English output, columns: German input)")
    save(fig, path)


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "Corpus", "batches", "bleu", "detokenize", "pad_batch"]
