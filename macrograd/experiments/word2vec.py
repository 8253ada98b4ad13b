"""word2vec: word embeddings learnt from Shakespeare, two ways, and what they know.

word2vec (skip-gram with negative sampling: predict a word's neighbours, SGD on per-pair steps)
and GloVe (weighted least squares on the log co-occurrence counts, Adagrad) are trained with
macrograd autograd on the same lower-cased words of Shakespeare's 42 works (words seen fewer
than min_count times dropped). Then, for each model:

    neighbours.md/.json   the nearest words by cosine to a fixed list of query words
    analogies.md/.json    a is to b as c is to ?  (the words nearest to b - a + c), e.g.
                          man : king :: woman : ?   and thou : thee :: he : ?
    tsne_<model>.png      a 2-D t-SNE map of the tsne_words most frequent words (scikit-learn)
    <model>.safetensors   the word vectors, with vocab.json for their rows
    metrics.jsonl, summary.json (losses, analogy hits, times)
"""
from __future__ import annotations

import gzip
import time
from dataclasses import dataclass

import numpy as np

DESCRIPTION = "word2vec (skip-gram, negative sampling) and GloVe on Shakespeare: neighbours, analogies, t-SNE maps"

QUERY_WORDS = ("king", "queen", "love", "death", "night", "sword", "heaven", "father", "blood", "crown",
               "gold", "fool", "romeo", "thou", "thee", "france", "eyes", "sweet")

# (a, b, c, expected): a is to b as c is to expected
ANALOGIES = (
    ("man", "king", "woman", "queen"), ("king", "queen", "lord", "lady"), ("king", "queen", "prince", "princess"),
    ("father", "mother", "son", "daughter"), ("brother", "sister", "father", "mother"), ("he", "she", "his", "her"),
    ("man", "men", "woman", "women"), ("eye", "eyes", "hand", "hands"), ("lord", "lords", "king", "kings"),
    ("thou", "thee", "he", "him"), ("thou", "thy", "you", "your"), ("thou", "art", "you", "are"),
    ("thou", "hast", "he", "hath"), ("thou", "dost", "he", "doth"), ("thou", "wilt", "he", "will"),
    ("i", "me", "thou", "thee"), ("i", "my", "thou", "thy"), ("england", "english", "france", "french"),
    ("good", "better", "bad", "worse"), ("day", "night", "sun", "moon"),
)


@dataclass
class Config:
    data_dir: str = ""           # a folder holding shakespeare/ ("": $MACROGRAD_DATA, then the user cache)
    max_words: int = 0           # > 0: only the first max_words words of the corpus (smoke runs)
    min_count: int = 5           # rarer words are dropped
    dim: int = 100
    # word2vec (skip-gram with negative sampling)
    w2v_window: int = 5
    w2v_negatives: int = 5
    w2v_subsample: float = 1e-4  # frequent words are thinned out (0: keep all)
    w2v_epochs: int = 3
    w2v_batch_size: int = 4096
    w2v_lr: float = 0.05         # decays linearly to 0
    # GloVe
    glove_window: int = 10
    glove_epochs: int = 8
    glove_batch_size: int = 16384
    glove_lr: float = 0.2         # Adagrad; higher than glove.c's 0.05, which steps once per entry, not per batch
    x_max: float = 100.0
    alpha: float = 0.75
    # t-SNE maps of the most frequent words
    tsne_words: int = 300
    tsne_iterations: int = 1000
    seed: int = 0


SMOKE = {"max_words": 20000, "min_count": 3, "dim": 16, "w2v_epochs": 1, "glove_epochs": 2, "tsne_words": 40,
         "tsne_iterations": 250}


def require_sklearn():
    """scikit-learn's TSNE draws the maps; it is an optional dependency (the `experiments` extra)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ImportError("word2vec: the t-SNE maps need scikit-learn, which is not installed; "
                          "pip install 'macrograd[experiments]' (or pip install scikit-learn)") from error
    return TSNE


def read_shakespeare(data_dir: str = "") -> tuple[str, str]:
    """(text, path) of shakespeare/shakespeare.txt.gz, looked for as every dataset is."""
    from ..data.download import DatasetNotFoundError, find_file, search_dirs

    folders = search_dirs("shakespeare", root=data_dir or None)
    for folder in folders:
        path = find_file(folder, "shakespeare.txt.gz")
        if path is not None:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8") as f:
                return f.read(), str(path)
    raise DatasetNotFoundError("word2vec: shakespeare.txt.gz not found in " + ", ".join(map(str, folders)) +
                               "; set MACROGRAD_DATA (or data_dir=) to a folder holding shakespeare/")


def neighbour_table(wv, queries, k: int = 8) -> dict:
    return {q: wv.most_similar(q, k) for q in queries if q in wv}


def analogy_table(wv, analogies, k: int = 5) -> list[dict]:
    rows = []
    for a, b, c, expected in analogies:
        if not all(w in wv for w in (a, b, c, expected)):
            continue
        top = wv.analogy(a, b, c, k)
        words = [w for w, _ in top]
        rows.append({"a": a, "b": b, "c": c, "expected": expected, "top": top,
                     "hit@1": words[:1] == [expected], "rank": words.index(expected) + 1 if expected in words else None})
    return rows


def markdown_neighbours(tables: dict) -> str:
    lines = ["# Nearest neighbours by cosine similarity", ""]
    for model, table in tables.items():
        lines += [f"## {model}", "", "| word | nearest words (cosine) |", "| --- | --- |"]
        lines += [f"| {q} | " + ", ".join(f"{w} ({s:.2f})" for w, s in near) + " |" for q, near in table.items()]
        lines.append("")
    return "\n".join(lines)


def markdown_analogies(tables: dict) -> str:
    lines = ["# Analogies: a is to b as c is to ?  (nearest to b - a + c, a/b/c left out)", ""]
    for model, rows in tables.items():
        hits1 = sum(r["hit@1"] for r in rows)
        hits5 = sum(r["rank"] is not None for r in rows)
        lines += [f"## {model}: {hits1}/{len(rows)} right at the top, {hits5}/{len(rows)} in the top 5", "",
                  "| analogy | expected | top 5 | rank |", "| --- | --- | --- | --- |"]
        for r in rows:
            top = ", ".join(f"**{w}**" if w == r["expected"] else w for w, _ in r["top"])
            lines.append(f"| {r['a']} : {r['b']} :: {r['c']} : ? | {r['expected']} | {top} | {r['rank'] or '-'} |")
        lines.append("")
    return "\n".join(lines)


def plot_tsne(wv, count: int, path, title: str, seed: int = 0, iterations: int = 1000):
    """t-SNE (cosine distances, PCA start) of the `count` most frequent words (the first rows), each
    point labelled with its word. Returns the 2-D coordinates."""
    from ..viz._figure import pyplot, save

    TSNE = require_sklearn()
    count = min(count, len(wv))
    vectors = wv.unit[:count].astype(np.float64)
    # exact gradients for a few hundred words (Barnes-Hut's approximation pays off only for thousands)
    tsne = TSNE(n_components=2, perplexity=min(30.0, (count - 1) / 3), metric="cosine", init="pca",
                method="exact" if count <= 1000 else "barnes_hut", max_iter=iterations, random_state=seed)
    xy = tsne.fit_transform(vectors)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(13, 13))
    # colour by frequency rank: the commonest words (pronouns, function words) are dark
    ax.scatter(xy[:, 0], xy[:, 1], s=8, c=np.arange(count), cmap="viridis", alpha=0.7)
    for (x, y), word in zip(xy, wv.words[:count]):
        ax.annotate(word, (x, y), fontsize=8, xytext=(2, 2), textcoords="offset points")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    save(fig, path)
    return xy


def run(config: Config, out, resume: bool = False) -> dict:
    """Trains both models (about a minute or two each on 2 cores for the full corpus); --resume
    simply runs again (the result is deterministic for a given seed)."""
    from ..creation import tensor
    from ..io import save
    from ..text.embeddings import WordVectors, build_vocab, corpus_words, encode_words
    from ..text.glove import cooccurrence, train_glove
    from ..text.word2vec import train_word2vec, word_vectors
    from ..train import MetricsLog, RunFolder

    require_sklearn()  # fail before minutes of training, not after
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    text, source = read_shakespeare(config.data_dir)
    words = corpus_words(text)
    if config.max_words:
        words = words[:config.max_words]
    vocab, counts = build_vocab(words, config.min_count)
    ids = encode_words(words, vocab)
    print(f"{source}: {len(words):,} words, {len(vocab):,} kept (seen >= {config.min_count} times), "
          f"{len(ids):,} tokens")
    run_folder.write_json("vocab.json", {"words": vocab, "counts": counts.tolist()})
    log = MetricsLog(run_folder.metrics_path).open()
    summary = {"corpus": source, "words": len(words), "vocab_size": len(vocab), "tokens": len(ids)}
    models = {}

    # -- word2vec --------------------------------------------------------------------------------
    start = time.perf_counter()

    def w2v_step(step, epoch, loss, lr):
        if step % 50 == 0:
            log.log({"kind": "step", "model": "word2vec", "step": step, "epoch": epoch, "loss": loss, "lr": lr})

    model, history = train_word2vec(ids, counts, dim=config.dim, window=config.w2v_window,
                                    negatives=config.w2v_negatives, subsample_threshold=config.w2v_subsample,
                                    epochs=config.w2v_epochs, batch_size=config.w2v_batch_size, lr=config.w2v_lr,
                                    seed=config.seed, on_step=w2v_step)
    for epoch, loss in history:
        log.log({"kind": "epoch", "model": "word2vec", "epoch": epoch, "loss": loss})
        print(f"word2vec epoch {epoch}: loss per pair {loss:.4f}")
    models["word2vec"] = WordVectors(vocab, word_vectors(model))
    summary["word2vec"] = {"final_loss": history[-1][1], "seconds": time.perf_counter() - start}

    # -- GloVe -----------------------------------------------------------------------------------
    start = time.perf_counter()
    rows, cols, values = cooccurrence(ids, len(vocab), window=config.glove_window)
    print(f"GloVe: {len(values):,} non-zero co-occurrence counts (window {config.glove_window}, 1/distance)")

    def glove_step(step, epoch, loss):
        if step % 20 == 0:
            log.log({"kind": "step", "model": "glove", "step": step, "epoch": epoch, "loss": loss})

    glove, history = train_glove(rows, cols, values, len(vocab), dim=config.dim, epochs=config.glove_epochs,
                                 batch_size=config.glove_batch_size, lr=config.glove_lr, x_max=config.x_max,
                                 alpha=config.alpha, seed=config.seed, on_step=glove_step)
    for epoch, loss in history:
        log.log({"kind": "epoch", "model": "glove", "epoch": epoch, "loss": loss})
    print(f"GloVe: {config.glove_epochs} epochs, weighted squared error per entry {history[-1][1]:.4f}")
    models["glove"] = WordVectors(vocab, glove.word_vectors())
    summary["glove"] = {"final_loss": history[-1][1], "nonzero_counts": len(values),
                        "seconds": time.perf_counter() - start}
    log.close()

    # -- what the vectors know -------------------------------------------------------------------
    neighbours = {name: neighbour_table(wv, QUERY_WORDS) for name, wv in models.items()}
    analogies = {name: analogy_table(wv, ANALOGIES) for name, wv in models.items()}
    run_folder.write_json("neighbours.json", neighbours)
    run_folder.write_json("analogies.json", analogies)
    run_folder.write_text("neighbours.md", markdown_neighbours(neighbours))
    run_folder.write_text("analogies.md", markdown_analogies(analogies))
    for name, wv in models.items():
        save({"vectors": tensor(wv.vectors)}, run_folder.file(f"{name}.safetensors"))
        plot_tsne(wv, config.tsne_words, run_folder.file(f"tsne_{name}.png"),
                  f"{name} on Shakespeare: t-SNE of the {min(config.tsne_words, len(wv))} most frequent words "
                  f"(dark = most frequent)", config.seed, config.tsne_iterations)
        rows = analogies[name]
        summary[name].update({"analogies": len(rows), "analogy_hits@1": sum(r["hit@1"] for r in rows),
                              "analogy_hits@5": sum(r["rank"] is not None for r in rows)})
        for q in ("king", "thou", "love"):
            if q in wv:
                print(f"{name:8s} {q}: " + ", ".join(w for w, _ in wv.most_similar(q, 6)))
        print(f"{name:8s} analogies: {summary[name]['analogy_hits@1']}/{len(rows)} at the top, "
              f"{summary[name]['analogy_hits@5']}/{len(rows)} in the top 5")
    run_folder.write_json("summary.json", summary)
    return {"word2vec_analogy_hits@1": summary["word2vec"]["analogy_hits@1"],
            "glove_analogy_hits@1": summary["glove"]["analogy_hits@1"], "analogies": len(analogies["word2vec"])}
