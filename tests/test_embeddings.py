"""Word embeddings: skip-gram with negative sampling and GloVe (loss and every gradient against a
direct NumPy computation), the negative-sampling distribution, subsampling, the skip-gram pairs and
co-occurrence counts against brute-force loops, nearest neighbours and analogies on hand-made
vectors, learning on a corpus with known structure, and the word2vec experiment's smoke run."""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import macrograd as mg
from macrograd.experiments import word2vec as experiment
from macrograd.text.embeddings import WordVectors, build_vocab, corpus_words, encode_words
from macrograd.text.glove import GloVe, cooccurrence, glove_weight, train_glove
from macrograd.text.word2vec import (NegativeSampler, SkipGramNegativeSampling, keep_probabilities, skipgram_pairs,
                                     subsample, train_word2vec, word_vectors)

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# -- skip-gram with negative sampling ------------------------------------------------------------
def test_skipgram_loss_and_gradients_equal_numpy():
    rng = np.random.default_rng(1)
    vocab, dim, batch, k = 7, 4, 6, 3
    model = SkipGramNegativeSampling(vocab, dim)
    V = rng.normal(size=(vocab, dim)).astype(np.float32)
    U = rng.normal(size=(vocab, dim)).astype(np.float32)
    model.in_embed.weight.data = mg.tensor(V.copy())
    model.out_embed.weight.data = mg.tensor(U.copy())
    c = np.array([0, 1, 1, 3, 6, 0])  # repeated ids: their gradients must add up
    o = np.array([2, 2, 5, 4, 0, 1])
    n = rng.integers(0, vocab, size=(batch, k))
    loss = model(mg.tensor(c), mg.tensor(o), mg.tensor(n))
    loss.backward()

    V64, U64 = V.astype(np.float64), U.astype(np.float64)
    pos = (U64[o] * V64[c]).sum(1)                       # u_o·v_c
    neg = np.einsum("bkd,bd->bk", U64[n], V64[c])        # u_n·v_c
    expected = np.mean(-np.log(sigmoid(pos)) - np.log(sigmoid(-neg)).sum(1))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(np.mean(softplus(-pos) + softplus(neg).sum(1)))
    # d/dpos = -σ(-pos)/B,  d/dneg = σ(neg)/B
    g_pos, g_neg = -sigmoid(-pos) / batch, sigmoid(neg) / batch
    dV, dU = np.zeros_like(V64), np.zeros_like(U64)
    np.add.at(dV, c, g_pos[:, None] * U64[o] + np.einsum("bk,bkd->bd", g_neg, U64[n]))
    np.add.at(dU, o, g_pos[:, None] * V64[c])
    np.add.at(dU, n, g_neg[:, :, None] * V64[c][:, None, :])
    np.testing.assert_allclose(model.in_embed.weight.grad.numpy(), dV, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.out_embed.weight.grad.numpy(), dU, rtol=1e-4, atol=1e-6)


def test_skipgram_initialisation_and_shape_errors():
    mg.manual_seed(0)
    model = SkipGramNegativeSampling(50, 10)
    v = model.in_embed.weight.detach().numpy()
    assert v.shape == (50, 10) and np.abs(v).max() <= 0.05 and v.std() > 0.01  # U(-0.5/dim, 0.5/dim)
    assert not model.out_embed.weight.detach().numpy().any()  # word2vec.c starts the context vectors at 0
    with pytest.raises(ValueError, match=r"SkipGramNegativeSampling: expected centre \(B,\), context \(B,\) and "
                                         r"negatives \(B, K\), got \(3,\), \(3,\) and \(3,\)"):
        model(mg.tensor([1, 2, 3]), mg.tensor([1, 2, 3]), mg.tensor([1, 2, 3]))


def test_negative_sampling_distribution():
    counts = np.array([1000, 100, 10, 1, 0, 50])
    sampler = NegativeSampler(counts)
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(sampler.probs, expected)
    draws = sampler.sample((200_000,), np.random.default_rng(0))
    assert draws.dtype == np.int64 and draws.min() >= 0 and draws.max() < len(counts)
    freq = np.bincount(draws, minlength=len(counts)) / len(draws)
    np.testing.assert_allclose(freq, expected, atol=0.004)
    assert freq[4] == 0  # a zero count is never drawn
    # the 0.75 power flattens the unigram distribution: rare words are drawn more than their share
    assert freq[3] > 1 / counts.sum() and freq[0] < 1000 / counts.sum()
    assert sampler.sample((3, 5), np.random.default_rng(0)).shape == (3, 5)
    with pytest.raises(ValueError, match="NegativeSampler: counts must be a non-empty 1-D array"):
        NegativeSampler(np.zeros(3))


def test_subsampling_thins_out_frequent_words():
    counts = np.array([100_000, 1000, 10])
    keep = keep_probabilities(counts, 1e-3)
    f = counts / counts.sum()
    np.testing.assert_allclose(keep, np.minimum((np.sqrt(f / 1e-3) + 1) * 1e-3 / f, 1))
    assert keep[0] < 0.15 and keep[2] == 1.0
    assert np.all(keep_probabilities(counts, 0) == 1)
    ids = np.repeat(np.arange(3), counts)
    kept = np.bincount(subsample(ids, keep, np.random.default_rng(0)), minlength=3)
    np.testing.assert_allclose(kept / counts, keep, atol=0.02)


@pytest.mark.parametrize("window", [1, 2, 4])
def test_skipgram_pairs_equal_a_loop(window):
    ids = np.random.default_rng(window).integers(0, 50, size=40)
    centres, contexts = skipgram_pairs(ids, window, np.random.default_rng(7))
    reach = np.random.default_rng(7).integers(1, window + 1, size=len(ids))  # the same draw
    expected = sorted((ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
                      if i != j and abs(i - j) <= reach[i])
    assert sorted(zip(centres.tolist(), contexts.tolist())) == [(int(a), int(b)) for a, b in expected]
    with pytest.raises(ValueError, match="skipgram_pairs: window must be >= 1, got 0"):
        skipgram_pairs(ids, 0, np.random.default_rng(0))


# -- GloVe ---------------------------------------------------------------------------------------
def test_cooccurrence_equals_a_loop():
    ids = np.random.default_rng(3).integers(0, 6, size=30)
    rows, cols, counts = cooccurrence(ids, 6, window=3)
    X = np.zeros((6, 6))
    for i in range(len(ids)):
        for j in range(len(ids)):
            if 0 < abs(i - j) <= 3:
                X[ids[i], ids[j]] += 1 / abs(i - j)
    nz = np.nonzero(X)
    np.testing.assert_array_equal(rows, nz[0])
    np.testing.assert_array_equal(cols, nz[1])
    np.testing.assert_allclose(counts, X[nz], rtol=1e-6)
    r, c, x = cooccurrence(ids, 6, window=3, symmetric=False)  # j after i only
    assert np.allclose(np.triu(X, 0).sum() + np.tril(X, -1).sum(), 2 * x.sum())


def test_glove_weight():
    x = np.array([1.0, 10.0, 100.0, 500.0], dtype=np.float32)
    np.testing.assert_allclose(glove_weight(x), [0.01 ** 0.75, 0.1 ** 0.75, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(glove_weight(mg.tensor(x), 10.0, 0.5).numpy(), [0.1 ** 0.5, 1, 1, 1], rtol=1e-6)


def test_glove_loss_and_gradients_equal_numpy():
    rng = np.random.default_rng(2)
    vocab, dim = 6, 3
    model = GloVe(vocab, dim, x_max=5.0, alpha=0.75)
    W, Wt = rng.normal(size=(2, vocab, dim)).astype(np.float32)
    b, bt = rng.normal(size=(2, vocab, 1)).astype(np.float32)
    for table, value in ((model.w, W), (model.w_tilde, Wt), (model.b, b), (model.b_tilde, bt)):
        table.weight.data = mg.tensor(value.copy())
    i, j = np.array([0, 1, 1, 4, 5]), np.array([2, 3, 0, 4, 1])
    x = np.array([1.0, 3.5, 7.0, 0.5, 20.0], dtype=np.float32)
    loss = model(mg.tensor(i), mg.tensor(j), mg.tensor(x))
    loss.backward()
    f = np.minimum((x / 5.0) ** 0.75, 1.0)
    err = (W[i] * Wt[j]).sum(1) + b[i, 0] + bt[j, 0] - np.log(x)
    assert loss.item() == pytest.approx(np.mean(f * err ** 2), rel=1e-5)
    g = 2 * f * err / len(x)
    dW, dWt, db, dbt = np.zeros_like(W), np.zeros_like(Wt), np.zeros_like(b), np.zeros_like(bt)
    np.add.at(dW, i, g[:, None] * Wt[j])
    np.add.at(dWt, j, g[:, None] * W[i])
    np.add.at(db, i, g[:, None])
    np.add.at(dbt, j, g[:, None])
    for table, expected in ((model.w, dW), (model.w_tilde, dWt), (model.b, db), (model.b_tilde, dbt)):
        np.testing.assert_allclose(table.weight.grad.numpy(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.word_vectors(), W + Wt)
    with pytest.raises(ValueError, match=r"GloVe: expected i, j and x of one shape \(B,\), got \(5,\), \(5,\) and \(4,\)"):
        model(mg.tensor(i), mg.tensor(j), mg.tensor(x[:4]))


# -- learning on a corpus whose structure is known ----------------------------------------------
def two_topic_corpus(n_segments=1500, seed=0):
    """Words 0-9 only ever appear near each other, and words 10-19 likewise (segments of 8 words
    from one topic each); a good embedding puts each topic's words together."""
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, 2, size=n_segments)
    return np.concatenate([rng.integers(0, 10, size=8) + 10 * t for t in topics])


def topic_separation(vectors):
    wv = WordVectors([str(i) for i in range(20)], vectors)
    sim = wv.unit @ wv.unit.T
    same = np.add.outer(np.arange(20) // 10, -(np.arange(20) // 10)) == 0
    off_diagonal = ~np.eye(20, dtype=bool)
    return sim[same & off_diagonal].mean() - sim[~same].mean()


def test_word2vec_learns_topics():
    ids = two_topic_corpus()
    counts = np.bincount(ids, minlength=20)
    losses = []
    model, history = train_word2vec(ids, counts, dim=8, window=3, negatives=3, subsample_threshold=0, epochs=3,
                                    batch_size=64, lr=0.01, on_step=lambda *a: losses.append(a[2]))
    assert history[-1][1] < history[0][1] and np.mean(losses[-10:]) < np.mean(losses[:10])
    assert topic_separation(word_vectors(model)) > 0.5


def test_glove_learns_topics():
    ids = two_topic_corpus()
    rows, cols, counts = cooccurrence(ids, 20, window=4)
    model, history = train_glove(rows, cols, counts, 20, dim=8, epochs=60, batch_size=128, lr=0.1, x_max=50)
    assert history[-1][1] < 0.2 * history[0][1]
    assert topic_separation(model.word_vectors()) > 0.3
    with pytest.raises(ValueError, match="train_glove: expected rows, cols and counts of one non-zero length"):
        train_glove(rows, cols[:-1], counts, 20)


# -- queries -------------------------------------------------------------------------------------
def hand_made():
    """Axes: royalty, male, female, fruit. king = royal + male, queen = royal + female, ..."""
    words = ["king", "queen", "man", "woman", "prince", "apple", "pear", "zero"]
    vectors = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0.1], [0, 0, 1, 0.1], [0.9, 1.1, 0, 0],
                        [0, 0, 0, 1], [0.1, 0, 0, 0.9], [0, 0, 0, 0]], dtype=np.float32)
    return WordVectors(words, vectors)


def test_most_similar_on_hand_made_vectors():
    wv = hand_made()
    top = wv.most_similar("king", k=3)
    assert [w for w, _ in top] == ["prince", "man", "queen"]
    u = np.array([1, 1, 0, 0]) / np.sqrt(2)
    assert top[0][1] == pytest.approx(u @ (np.array([0.9, 1.1, 0, 0]) / np.hypot(0.9, 1.1)), rel=1e-6)
    assert top[1][1] == pytest.approx(u @ (np.array([0, 1, 0, 0.1]) / np.hypot(1, 0.1)), rel=1e-6)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert [w for w, _ in wv.most_similar("apple", k=1)] == ["pear"]
    assert len(wv.most_similar("king", k=100)) == len(wv) - 1  # k is capped; the word itself is left out
    assert wv.similarity("zero", "king") == 0.0  # a zero vector has cosine 0, not NaN
    assert wv.similarity("apple", "apple") == pytest.approx(1.0)
    with pytest.raises(KeyError, match="'castle' is not in the vocabulary of 8 words"):
        wv.most_similar("castle")
    with pytest.raises(ValueError, match=r"expected a vector of shape \(4,\), got \(3,\)"):
        wv.nearest(np.zeros(3))


def test_analogy_on_hand_made_vectors():
    wv = hand_made()
    top = wv.analogy("man", "king", "woman", k=3)  # king - man + woman
    assert top[0][0] == "queen" and {"man", "king", "woman"}.isdisjoint(w for w, _ in top)
    target = wv.unit[0] - wv.unit[2] + wv.unit[3]
    assert top[0][1] == pytest.approx(wv.unit[1] @ target / np.linalg.norm(target), rel=1e-6)
    assert wv.analogy("woman", "queen", "man", k=1)[0][0] in ("king", "prince")


def test_corpus_helpers():
    words = corpus_words("To be, or not to be: 'tis O'er-thou'rt THE question!\n2 be")
    assert words == ["to", "be", "or", "not", "to", "be", "'tis", "o'er", "thou'rt", "the", "question", "be"]
    vocab, counts = build_vocab(words, min_count=2)
    assert vocab == ["be", "to"] and counts.tolist() == [3, 2] and counts.dtype == np.int64
    assert encode_words(words, vocab).tolist() == [1, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="build_vocab: no word occurs 9 or more times in 12 words"):
        build_vocab(words, min_count=9)
    with pytest.raises(ValueError, match=r"WordVectors: expected vectors of shape \(2, dim\), got \(3, 4\)"):
        WordVectors(["a", "b"], np.zeros((3, 4)))


# -- the experiment ------------------------------------------------------------------------------
def test_word2vec_experiment_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(DATA))
    out = tmp_path / "run"
    summary = experiment.run(experiment.Config(**experiment.SMOKE), out)
    for name in ("config.json", "vocab.json", "metrics.jsonl", "summary.json", "neighbours.md", "neighbours.json",
                 "analogies.md", "analogies.json", "tsne_word2vec.png", "tsne_glove.png", "word2vec.safetensors",
                 "glove.safetensors"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "tsne_glove.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    full = json.loads((out / "summary.json").read_text())
    assert full["words"] == 20000 and full["vocab_size"] == len(json.loads((out / "vocab.json").read_text())["words"])
    for model in ("word2vec", "glove"):
        assert math.isfinite(full[model]["final_loss"]) and full[model]["analogies"] == summary["analogies"]
    neighbours = json.loads((out / "neighbours.json").read_text())
    assert set(neighbours) == {"word2vec", "glove"} and len(neighbours["glove"]["king"]) == 8
    assert "| king |" in (out / "neighbours.md").read_text()
    assert "## glove: " in (out / "analogies.md").read_text()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["model"] for r in records if r["kind"] == "epoch"} == {"word2vec", "glove"}
    vectors = mg.io.load(out / "word2vec.safetensors")["vectors"]
    assert tuple(vectors.shape) == (full["vocab_size"], 16)


def test_word2vec_experiment_needs_scikit_learn(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install 'macrograd\[experiments\]'"):
        experiment.run(experiment.Config(**experiment.SMOKE), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # it stopped before writing or training anything
