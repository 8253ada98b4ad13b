"""captioning: caption emoji images with their names ("grinning face", "hot dog", "man
firefighter") using a CNN encoder and a Transformer decoder that attends over the image, and
measure it on emoji it has never seen.

Data: the 3,786 Noto emoji (`data.load_emoji`) at `image_size` pixels on white, each captioned by
its name. `Emoji.split` holds out ~15% of the emoji, keeping every skin-tone variant of one
emoji on one side, so a test image is a picture the model never saw in any colour; ~10% of the
remaining emoji (again whole groups) are the validation set that picks the epoch. The word
vocabulary comes from the training captions (words seen `min_freq` times; others -> <unk>).

Model: `models.ImageCaptioner`: a 3x3 stem and two stride-2 ResNet BasicBlocks make an 8x8 grid
of features (for 32-pixel images), which a 2-layer Transformer decoder cross-attends to.
Training: teacher forcing, cross entropy with label smoothing (padding ignored), AdamW with
warm-up and cosine decay, gradient clipping, random shifts of up to 2 pixels; the epoch with the
lowest validation loss is kept. Decoding: batched greedy and beam search, <unk> suppressed and
no word repeated twice in a row (`block_repeats`; greedy without it is reported too).

Why a Transformer decoder rather than an attention GRU: its cross-attention weights over the
grid are recorded by `viz.attention.record_attention` as they are (drawn over each image below),
training runs all caption positions at once (no Python loop over time), and it is the decoder
of translate-transformer, so the two experiments read side by side.

What it can learn, honestly: most names are unique ("hot dog" has no cousin), so on unseen emoji
only the words shared across many emoji can come out right: "face", "man", "woman", "flag",
"hand", "person", "with", "heart"... BLEU is sacrebleu's corpus BLEU as translate-seq2seq computes
it; beside it the run reports the same BLEU for trivial captioners (the most frequent training
caption for every image; the caption of the nearest training image in pixel space) and for an
oracle that writes the true caption minus the words outside the vocabulary (a ceiling).

    OPENBLAS_NUM_THREADS=1 macrograd run captioning                    # the full run (~12 min, one core)
    macrograd run captioning --smoke                                   # seconds
    macrograd run captioning --set epochs=10 --set num_decoder_layers=1
"""
from __future__ import annotations

import math
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend
from .translate_seq2seq import bleu, detokenize, pad_batch
from .translate_transformer import fit_teacher_forced, sequence_loss, train_or_reload

DESCRIPTION = "Emoji -> name captioning: CNN grid + Transformer decoder, BLEU on unseen emoji vs baselines, attention over the image"
IMAGE_SIZES = (8, 16, 32, 64)  # divide the 64-pixel originals and leave a grid after two halvings


@dataclass
class Config:
    image_size: int = 32
    widths: tuple[int, ...] = (32, 64, 128)  # CNN channels: stem, then the two stride-2 blocks
    d_model: int = 128
    nhead: int = 4
    num_decoder_layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.1
    min_freq: int = 2  # training-caption count for a word to get its own id
    test_fraction: float = 0.15  # of the emoji (skin-tone groups), held out for the test
    val_fraction: float = 0.1  # of the remaining groups, held out to choose the epoch
    split_seed: int = 0
    epochs: int = 24
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    shift: int = 2  # random shifts of up to this many pixels while training (0 = none)
    beam_size: int = 3
    block_repeats: bool = True  # decoding may not repeat the word just said (no emoji name does)
    length_penalty: float = 1.0
    max_decode_len: int = 16
    train_subset: int = 0  # 0 = every training image (a seeded random subset otherwise)
    val_subset: int = 0
    test_subset: int = 0
    examples: int = 24  # test images in the example grid (distinct emoji)
    attention_images: int = 4
    log_every: int = 10
    seed: int = 0


SMOKE = {"widths": (4, 8, 8), "d_model": 16, "nhead": 2, "num_decoder_layers": 1, "dim_feedforward": 32,
         "epochs": 2, "batch_size": 32, "warmup_steps": 2, "train_subset": 96, "val_subset": 32, "test_subset": 24,
         "beam_size": 2, "max_decode_len": 6, "examples": 4, "attention_images": 2, "log_every": 1}


def check_config(config: Config) -> None:
    """A clear ValueError for settings that cannot work."""
    def bad(option, value, need):
        raise ValueError(f"captioning: {option} must be {need}, got {value!r}")

    if config.image_size not in IMAGE_SIZES:
        bad("image_size", config.image_size, f"one of {IMAGE_SIZES}")
    if len(config.widths) != 3 or min(config.widths) < 1:
        bad("widths", config.widths, "3 positive channel counts (stem, block 1, block 2)")
    if config.d_model < 1 or config.nhead < 1 or config.d_model % config.nhead:
        bad("d_model", config.d_model, f"a positive multiple of nhead={config.nhead}")
    for option in ("num_decoder_layers", "dim_feedforward", "min_freq", "epochs", "batch_size", "beam_size",
                   "max_decode_len", "log_every"):
        if getattr(config, option) < 1:
            bad(option, getattr(config, option), ">= 1")
    for option in ("test_fraction", "val_fraction"):
        if not 0.0 < getattr(config, option) < 1.0:
            bad(option, getattr(config, option), "in (0, 1)")
    if not 0.0 <= config.dropout < 1.0:
        bad("dropout", config.dropout, "in [0, 1)")
    for option in ("shift", "warmup_steps", "train_subset", "val_subset", "test_subset", "examples",
                   "attention_images"):
        if getattr(config, option) < 0:
            bad(option, getattr(config, option), ">= 0")


# -- data -----------------------------------------------------------------------------------------
class CaptionData:
    """Images and tokenised captions of the three splits (train, val, test), split by emoji group.

    Per split: `images` float32 (N, 3, size, size) in [0, 1] on white, `names` the raw captions,
    `ids` id lists with <bos> ... <eos>; `tokenizer` is built on the training captions only."""

    def __init__(self, config: Config):
        from ..data import load_emoji
        from ..text import WordTokenizer

        emoji = load_emoji()
        train_all, test = emoji.split(config.test_fraction, config.split_seed)
        fit, val = emoji.subset(train_all).split(config.val_fraction, config.split_seed)  # whole groups again
        rng = np.random.default_rng(config.seed)
        # subsets are random samples: the file lists similar emoji next to each other
        self.index = {name: np.sort(rng.permutation(idx)[:n or None])
                      for name, idx, n in (("train", train_all[fit], config.train_subset),
                                           ("val", train_all[val], config.val_subset),
                                           ("test", test, config.test_subset))}
        self.n_emoji, self.n_groups = len(emoji), len(set(emoji.groups))
        self.emoji = emoji
        self.names = {k: [emoji.names[i] for i in idx] for k, idx in self.index.items()}
        self.images = {k: emoji.subset(idx).rgb(config.image_size) for k, idx in self.index.items()}
        self.tokenizer = WordTokenizer.from_texts(self.names["train"], min_freq=config.min_freq)
        self.ids = {k: [self.tokenizer.encode(n, add_special_tokens=True) for n in names]
                    for k, names in self.names.items()}

    def display_images(self, split: str, rows) -> np.ndarray:
        """The 64-pixel originals (N, 3, 64, 64) of `rows` of a split, for figures."""
        return self.emoji.subset(self.index[split][rows]).rgb(64)

    def describe(self) -> str:
        n = {k: len(v) for k, v in self.index.items()}
        distinct = len(set(self.names["test"]))
        return (f"emoji: {n['train']} training, {n['val']} validation, {n['test']} test images "
                f"({distinct} distinct test captions; skin-tone variants kept on one side), "
                f"vocabulary {self.tokenizer.vocab_size} words (min_freq on the training captions)")


def caption_batches(images, ids, batch_size: int, pad_id: int, rng=None):
    """Yields (images (B, 3, H, W), tokens (B, T+1) right-padded); rng shuffles."""
    order = rng.permutation(len(ids)) if rng is not None else np.arange(len(ids))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield images[rows], pad_batch([ids[i] for i in rows], pad_id)


# -- training -------------------------------------------------------------------------------------
def build_model(config: Config, vocab_size: int, pad_id: int, longest: int):
    """The captioner, seeded; `longest` is the longest training caption in tokens (BOS, EOS included)."""
    from ..models.captioner import ImageCaptioner

    backend.manual_seed(config.seed)
    return ImageCaptioner(vocab_size, config.d_model, config.nhead, config.num_decoder_layers,
                          config.dim_feedforward, config.dropout, config.image_size, widths=tuple(config.widths),
                          max_len=max(longest, config.max_decode_len + 1), pad_idx=pad_id)


def validation_loss(model, images, ids, batch_size: int, pad_id: int) -> float:
    """Mean cross entropy per real caption token (no smoothing), in eval mode."""
    from ..autograd import no_grad

    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for x, tokens in caption_batches(images, ids, 2 * batch_size, pad_id):
            n = int((tokens[:, 1:] != pad_id).sum())
            total += float(sequence_loss(model, x, tokens, pad_id).item()) * n
            count += n
    model.train()
    return total / max(count, 1)


def train(model, config: Config, data: CaptionData, run_folder) -> dict:
    """Teacher-forced training (translate-transformer's loop); keeps (and reloads) the weights of
    the epoch with the lowest val loss."""
    from ..data import transforms as T

    pad = data.tokenizer.pad_id
    # no weight decay on biases, norms and the grid positions (as translate-transformer)
    decay = [p for p in model.parameters() if p.ndim >= 2 and p is not model.grid_position.weight]
    # a shifted emoji is still the same emoji (white fill = the background); no flips: "facing right"
    shift = T.RandomCrop(config.image_size, padding=config.shift, fill=1.0) if config.shift else None
    images, ids = data.images["train"], data.ids["train"]

    def batch_loss(batch):
        x, tokens = batch
        return sequence_loss(model, shift.apply_batch(x) if shift else x, tokens, pad, config.label_smoothing)

    return fit_teacher_forced(
        model, config, math.ceil(len(ids) / config.batch_size),
        lambda rng: caption_batches(images, ids, config.batch_size, pad, rng), batch_loss,
        lambda: validation_loss(model, data.images["val"], data.ids["val"], config.batch_size, pad),
        run_folder, decayed=decay)


# -- captioning and scores ------------------------------------------------------------------------
def caption_text(tokens) -> str:
    """Word tokens back to a name: translate-seq2seq's detokenize, and hyphens rejoined
    ("down-pointing", "hear-no-evil"; sacrebleu keeps such words whole). All but 4 of the 1,910
    distinct names come back exactly (the two Congos' " - " and "u.s." become "-" and "u. s.")."""
    return detokenize(tokens).replace(" - ", "-")


def suppressed(tokenizer) -> tuple:
    """Ids a caption may not contain: <pad>, <unk>, <bos> (EOS ends it)."""
    return tuple(tokenizer.stoi[t] for t in (tokenizer.pad_token, tokenizer.vocab.unk_token, tokenizer.bos_token))


def caption(model, images, tokenizer, config: Config, beam: bool = False, block_repeats=None) -> list:
    """A caption (a detokenised string) for each image: greedy in batches of 128, or beam search
    one image at a time; block_repeats=None takes config.block_repeats."""
    from ..creation import tensor

    model.eval()
    banned, out = suppressed(tokenizer), []
    block = config.block_repeats if block_repeats is None else block_repeats
    if beam:
        for image in images:
            (tokens, _), = model.beam_search(tensor(image), tokenizer.bos_id, tokenizer.eos_id, config.beam_size,
                                             config.max_decode_len, config.length_penalty, suppress_tokens=banned,
                                             block_repeats=block)
            out.append(caption_text(tokenizer.decode(tokens.tolist(), skip_special_tokens=True).split()))
        return out
    for start in range(0, len(images), 128):
        ids = model.greedy_decode(tensor(images[start:start + 128]), tokenizer.bos_id, tokenizer.eos_id,
                                  config.max_decode_len, suppress_tokens=banned, block_repeats=block).numpy()
        out += [caption_text(tokenizer.decode(row[1:].tolist(), skip_special_tokens=True).split()) for row in ids]
    return out


def words(text: str) -> list:
    """The words of a caption (lower-cased; punctuation dropped)."""
    from ..text import pre_tokenize

    return [w for w in pre_tokenize(text) if w[0].isalnum()]


def word_scores(hypotheses, references) -> dict:
    """Bag-of-words agreement over the whole test set: precision = matched / predicted words,
    recall = matched / true words, matches clipped per caption (as BLEU's unigram counts), and
    the fraction of captions that are exactly right."""
    matched = predicted = true = exact = 0
    for hyp, ref in zip(hypotheses, references):
        h, r = Counter(words(hyp)), Counter(words(ref))
        matched += sum((h & r).values())
        predicted += sum(h.values())
        true += sum(r.values())
        exact += words(hyp) == words(ref)
    precision, recall = matched / max(predicted, 1), matched / max(true, 1)
    return {"word_precision": precision, "word_recall": recall,
            "word_f1": 2 * precision * recall / max(precision + recall, 1e-12), "exact_match": exact / max(len(references), 1)}


def scores(hypotheses, references) -> dict:
    return {"bleu": bleu(hypotheses, references), **word_scores(hypotheses, references)}


def per_word(hypotheses, references, top: int = 15) -> dict:
    """For the `top` words most frequent in the references: in how many test captions each occurs,
    recall (the prediction has it too) and precision (a prediction with it is right)."""
    counts = Counter(w for ref in references for w in set(words(ref)))
    table = {}
    for word, n in counts.most_common(top):
        said = [word in words(h) for h in hypotheses]
        true = [word in words(r) for r in references]
        hits = sum(s and t for s, t in zip(said, true))
        table[word] = {"test_captions": n, "recall": hits / n, "precision": hits / max(sum(said), 1),
                       "predicted": sum(said)}
    return table


def baselines(data: CaptionData, references) -> dict:
    """Captioners with no learning in them, scored like the model: the most frequent training
    caption for every image; the caption of the nearest training image (Euclidean distance
    between the pixel vectors); and a ceiling, the true caption without the out-of-vocabulary words."""
    train, test = data.images["train"], data.images["test"]
    most_frequent = Counter(data.names["train"]).most_common(1)[0][0]
    a, b = test.reshape(len(test), -1), train.reshape(len(train), -1)
    distance = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]  # |a - b|^2 without an N x M x D array
    nearest = [data.names["train"][j] for j in distance.argmin(axis=1)]
    vocab = data.tokenizer.stoi
    ceiling = [caption_text([t for t in data.tokenizer.tokenize(r) if t in vocab]) for r in references]
    return {"most_frequent_caption": {"caption": most_frequent, **scores([most_frequent] * len(references), references)},
            "nearest_neighbour_pixels": {**scores(nearest, references), "captions": nearest},
            "vocabulary_ceiling": scores(ceiling, references)}


# -- the run --------------------------------------------------------------------------------------
def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import RunFolder

    check_config(config)
    cpu_start, wall_start = time.process_time(), time.perf_counter()  # CPU time: the machine may be shared
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    data = CaptionData(config)
    print(data.describe())
    tok = data.tokenizer
    model = build_model(config, tok.vocab_size, tok.pad_id, max(len(i) for i in data.ids["train"]))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"ImageCaptioner: {n_params:,} parameters, a {model.grid_shape[0]}x{model.grid_shape[1]} feature grid")
    trained = train_or_reload(model, run_folder, resume, lambda: train(model, config, data, run_folder))

    references = data.names["test"]
    start = time.perf_counter()
    greedy = caption(model, data.images["test"], tok, config)
    beam = caption(model, data.images["test"], tok, config, beam=True)
    decode_seconds = round(time.perf_counter() - start, 1)
    repeating = caption(model, data.images["test"], tok, config, block_repeats=False) if config.block_repeats else greedy
    base = baselines(data, references)
    nearest = base["nearest_neighbour_pixels"].pop("captions")
    summary = {
        "bleu_greedy": bleu(greedy, references), f"bleu_beam{config.beam_size}": bleu(beam, references),
        "greedy": scores(greedy, references), f"beam{config.beam_size}": scores(beam, references),
        "greedy_repeats_allowed": scores(repeating, references),
        "baselines": base, "words_greedy": per_word(greedy, references),
        "best_val_loss": trained["best_val_loss"], "best_epoch": trained["best_epoch"],
        "train_seconds": trained["train_seconds"], "train_cpu_seconds": trained["train_cpu_seconds"],
        "decode_seconds": decode_seconds, "parameters": n_params,
        "test_images": len(references), "test_distinct_captions": len(set(references)),
        "vocabulary": tok.vocab_size, "data": data.describe(),
    }
    print(f"test BLEU greedy {summary['bleu_greedy']:.2f}, beam {config.beam_size} "
          f"{summary[f'bleu_beam{config.beam_size}']:.2f}; baselines: most frequent caption "
          f"{base['most_frequent_caption']['bleu']:.2f}, nearest neighbour {base['nearest_neighbour_pixels']['bleu']:.2f}, "
          f"vocabulary ceiling {base['vocabulary_ceiling']['bleu']:.2f}")
    run_folder.write_json("test_captions.json", [{"name": r, "greedy": g, f"beam{config.beam_size}": b, "nearest": n}
                                                 for r, g, b, n in zip(references, greedy, beam, nearest)])
    from .generative_common import plot_losses

    plot_losses(trained["epochs"], ("train_loss", "val_loss"), run_folder.file("curves.png"),
                "emoji captioning: cross entropy per caption token (train label-smoothed)", x_key="epoch")
    shown = example_rows(references, config.examples, config.seed)
    _plot_examples(data, shown, greedy, nearest, run_folder.file("examples.png"))
    _write_examples(references, greedy, beam, nearest, shown, config, run_folder.file("examples.md"))
    _plot_attention(model, data, one_per_category(data, shown, config.attention_images), config,
                    run_folder.file("attention.png"))
    summary["figures"] = ["curves.png", "examples.png", "attention.png"]
    summary["run_seconds"] = round(time.perf_counter() - wall_start, 1)
    summary["run_cpu_seconds"] = round(time.process_time() - cpu_start, 1)
    run_folder.write_json("summary.json", summary)
    return summary


# -- reports --------------------------------------------------------------------------------------
def example_rows(references, count: int, seed: int) -> list:
    """`count` test rows of distinct captions (one skin-tone variant each), in a seeded random order."""
    first = {}
    for i, name in enumerate(references):
        first.setdefault(name, i)
    rows = np.array(sorted(first.values()))
    return sorted(np.random.default_rng(seed).permutation(rows)[:count].tolist())


def one_per_category(data, rows, count: int) -> list:
    """Up to `count` of the test `rows`, the first of each emoji category in turn (a flag, a
    person, a face, an object...), so the attention figure is not four of one kind."""
    picked, seen = [], set()
    for row in rows:
        category = data.emoji.categories[data.index["test"][row]]
        if category not in seen and len(picked) < count:
            picked.append(row)
            seen.add(category)
    return picked + [r for r in rows if r not in picked][:count - len(picked)]


def _plot_examples(data, rows, greedy, nearest, path, columns: int = 6):
    """The chosen unseen test emoji, each with the model's caption, the nearest-neighbour
    baseline's and the true name; words the model got right in green."""
    from ..viz._figure import pyplot, save

    if not rows:
        return
    plt = pyplot()
    images = data.display_images("test", rows)
    columns = min(columns, len(rows))
    n_rows = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(2.3 * columns, 3.3 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, row in zip(axes.ravel(), images, rows):
        true = data.names["test"][row]
        right = set(words(true)) & set(words(greedy[row]))
        ax.imshow(image.transpose(1, 2, 0))
        ax.set_title(textwrap.fill(f"model: {greedy[row]}", 28), fontsize=7.5,
                     color="tab:green" if right else "black")
        ax.text(0.5, -0.04, textwrap.fill(f"true: {true}", 28) + "\n" + textwrap.fill(f"nearest: {nearest[row]}", 28),
                transform=ax.transAxes, ha="center", va="top", fontsize=7, color="0.25")
    fig.suptitle("Captions for unseen test emoji (green: at least one word right)", fontsize=10)
    save(fig, path, dpi=80)


def _write_examples(references, greedy, beam, nearest, rows, config, path):
    lines = ["# captioning: unseen test emoji", "",
             f"| true name | greedy | beam {config.beam_size} | nearest-neighbour baseline |", "| --- | --- | --- | --- |"]
    lines += [f"| {references[i]} | {greedy[i]} | {beam[i]} | {nearest[i]} |" for i in rows]
    Path(path).write_text("\n".join(lines) + "\n")


def _plot_attention(model, data, rows, config, path):
    """For each chosen test image: the greedy caption word by word, each word's cross-attention
    over the feature grid (last decoder layer, mean over heads) upsampled bilinearly to the
    picture and laid over it. The map of word k is the attention of the decoder position that
    predicted it (the query at position k-1, reading the words before)."""
    from ..creation import tensor
    from ..nn import functional as F
    from ..viz._figure import pyplot, save
    from ..viz.attention import record_attention

    if not rows:
        return
    tok = data.tokenizer
    model.eval()
    with record_attention(model) as maps:
        ids = model.greedy_decode(tensor(data.images["test"][rows]), tok.bos_id, tok.eos_id, config.max_decode_len,
                                  suppress_tokens=suppressed(tok), block_repeats=config.block_repeats).numpy()
    last = [n for n in maps.names if n.endswith("multihead_attn")][-1]
    weights = maps[last].mean(axis=1)  # (N, queries, g*g): the last call saw the whole caption
    g = model.grid_shape
    display = data.display_images("test", rows)
    size = display.shape[-1]
    heat = F.interpolate(tensor(weights.reshape(-1, 1, *g).astype(np.float32)), size=(size, size),
                         mode="bilinear", align_corners=False).numpy().reshape(len(rows), -1, size, size)
    captions = []
    for row in ids:
        generated = [int(t) for t in row[1:] if t != tok.pad_id]
        captions.append([tok.itos[t] for t in generated][:weights.shape[1]])
    columns = 1 + max(len(c) for c in captions)
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.5 * columns, 1.75 * len(rows)), squeeze=False)
    for r, (row, words_out) in enumerate(zip(rows, captions)):
        picture = display[r].transpose(1, 2, 0)
        for ax in axes[r]:
            ax.axis("off")
        axes[r][0].imshow(picture)
        axes[r][0].set_title(textwrap.fill(data.names["test"][row], 18), fontsize=7)
        for k, word in enumerate(words_out):
            ax = axes[r][k + 1]
            ax.imshow(picture)
            ax.imshow(heat[r, k], cmap="jet", alpha=0.5, vmin=0.0, vmax=heat[r, :len(words_out)].max())
            ax.set_title(word, fontsize=8)
    fig.suptitle(f"Cross-attention of each generated word over the {g[0]}x{g[1]} feature grid "
                 "(last decoder layer, mean of heads; unseen test emoji, true name on the left)", fontsize=8)
    save(fig, path, dpi=80)


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "check_config", "CaptionData", "build_model", "caption",
           "baselines", "word_scores", "per_word", "caption_text"]
