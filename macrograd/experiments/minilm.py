"""minilm: the pretrained sentence encoder all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) loaded into
macrograd's BertModel with our WordPiece tokenizer, used for semantic search.

A sentence embedding is the mean of the last layer's token vectors over the real tokens, scaled
to unit length (sentence-transformers' recipe; tests/test_pretrained_minilm.py shows it equals
Hugging Face's to 1e-4). Cosine similarity is then a dot product: a search embeds the corpus
once and ranks it by q . e for each query.

The corpus: `shakespeare_lines` lines of Shakespeare (lines of at least 6 words, a seeded sample)
and `review_sentences` sentences of movie reviews (the English polarity set). The run writes the
top hits of the example queries (results.md), a similarity matrix of a few sentences, and the
attention maps of one sentence (every head of the first and last layers).

    macrograd run minilm
    macrograd run minilm --set "queries=a storm at sea,the film was boring"
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

DESCRIPTION = "all-MiniLM-L6-v2 in macrograd's BERT: sentence embeddings and semantic search over Shakespeare and reviews"

DEFAULT_QUERIES = (
    "a king who loses his crown",
    "declaring love to a woman",
    "the sea and a shipwreck",
    "I am afraid of dying",
    "a hilarious comedy that made me laugh",
    "the acting was terrible and the plot made no sense",
    "beautiful cinematography but a boring story",
)


@dataclass
class Config:
    model: str = ""  # a folder or hub id; "" = ../models/all-MiniLM-L6-v2 beside $MACROGRAD_DATA
    shakespeare_lines: int = 300
    review_sentences: int = 300
    queries: tuple[str, ...] = DEFAULT_QUERIES
    top_k: int = 3
    max_length: int = 64
    attention_sentence: str = "the cat sat on the mat because it was tired"
    seed: int = 0


SMOKE = {"shakespeare_lines": 20, "review_sentences": 20, "queries": ("a storm at sea", "a boring film"), "top_k": 2}


def corpus(config: Config):
    """(texts, sources): a seeded sample of Shakespeare lines and review sentences."""
    from ..data.text_data import _find, _read_text
    from .text_common import load_polarity

    rng = np.random.default_rng(config.seed)
    lines = _read_text(_find("shakespeare", "shakespeare.txt.gz")).splitlines()
    lines = sorted({" ".join(l.split()) for l in lines if len(l.split()) >= 6})
    picked = [lines[i] for i in np.sort(rng.choice(len(lines), min(config.shakespeare_lines, len(lines)), replace=False))]
    reviews, _ = load_polarity("en")
    chosen = np.sort(rng.choice(len(reviews), min(config.review_sentences, len(reviews)), replace=False))
    texts = picked + [reviews[i] for i in chosen]
    return texts, ["shakespeare"] * len(picked) + ["review"] * len(chosen)


def search(query_vectors, corpus_vectors, top_k: int):
    """(indices, scores) of the top_k corpus rows by cosine similarity for each query (all unit vectors)."""
    scores = query_vectors @ corpus_vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return top, np.take_along_axis(scores, top, axis=1)


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import RunFolder
    from .text_common import embed_texts, load_minilm, minilm_folder

    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    start = time.perf_counter()
    model, tokenizer = load_minilm(config.model)
    load_seconds = time.perf_counter() - start
    texts, sources = corpus(config)
    start = time.perf_counter()
    vectors = embed_texts(model, tokenizer, texts, config.max_length)
    embed_seconds = time.perf_counter() - start
    queries = list(config.queries)
    query_vectors = embed_texts(model, tokenizer, queries, config.max_length)
    top, scores = search(query_vectors, vectors, config.top_k)
    print(f"{len(texts)} texts embedded in {embed_seconds:.1f} s ({vectors.shape[1]} dimensions)")

    results, lines = [], ["# minilm: semantic search", "",
                          f"Corpus: {sources.count('shakespeare')} Shakespeare lines and {sources.count('review')} movie-review "
                          f"sentences; cosine similarity of all-MiniLM-L6-v2 sentence embeddings (macrograd).", ""]
    for q, query in enumerate(queries):
        hits = [{"text": texts[i], "source": sources[i], "score": float(s)} for i, s in zip(top[q], scores[q])]
        results.append({"query": query, "hits": hits})
        lines += [f"**{query}**", ""] + [f"- {h['score']:.3f} ({h['source']}) {h['text']}" for h in hits] + [""]
        print(f"{query!r}: {hits[0]['score']:.3f} {hits[0]['text'][:70]}")
    run_folder.write_text("results.md", "\n".join(lines))
    _plot_similarity(queries, query_vectors, run_folder.file("query_similarity.png"))
    attention_files = _plot_attention(model, tokenizer, config.attention_sentence, run_folder)
    summary = {"model": minilm_folder(config.model), "texts": len(texts), "dimensions": int(vectors.shape[1]),
               "load_seconds": round(load_seconds, 2), "embed_seconds": round(embed_seconds, 2),
               "texts_per_second": round(len(texts) / max(embed_seconds, 1e-9), 1),
               "norms": [float(np.linalg.norm(vectors, axis=1).min()), float(np.linalg.norm(vectors, axis=1).max())],
               "searches": results, "attention_maps": attention_files}
    run_folder.write_json("summary.json", summary)
    return summary


def _plot_similarity(texts, vectors, path):
    """The cosine-similarity matrix of a few texts."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(vectors @ vectors.T, cmap="viridis", vmin=0.0, vmax=1.0)
    labels = [t if len(t) <= 40 else t[:37] + "..." for t in texts]
    ax.set_xticks(range(len(texts)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(texts)), labels, fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title("cosine similarity of the queries (MiniLM)")
    save(fig, path)


def _plot_attention(model, tokenizer, sentence: str, run_folder) -> list:
    """Every head of the first and last layers for one sentence."""
    from ..viz.attention import plot_attention_grid, record_attention

    enc = tokenizer.batch_encode([sentence])
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    with record_attention(model) as maps:
        model(enc["input_ids"], enc["attention_mask"])
    name = "attention_layers.png"
    plot_attention_grid(maps, run_folder.file(name), layers=[0, len(maps) - 1], x_labels=tokens, y_labels=tokens,
                        title=f"MiniLM self-attention: first and last layer, every head")
    return [name]


__all__ = ["Config", "SMOKE", "DESCRIPTION", "run", "corpus", "search"]
