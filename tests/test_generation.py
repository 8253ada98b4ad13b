"""Decoding: top-k / top-p filters on hand-made distributions and against the common PyTorch
recipes, seeded sampling that follows the filtered softmax, and beam search that is exact when
the beam holds every hypothesis and beats greedy where greedy is known to fail."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import macrograd as mg
from macrograd.models.generation import beam_search, greedy, sample_next_token, top_k_filter, top_p_filter

NEG = -np.inf


def torch_top_k(logits, k):
    """nanoGPT's: v, _ = topk(logits, k); logits[logits < v[:, [-1]]] = -inf"""
    logits = logits.clone()
    v, _ = torch.topk(logits, min(k, logits.size(-1)))
    logits[logits < v[:, [-1]]] = -float("inf")
    return logits


def torch_top_p(logits, p):
    """The widely used nucleus recipe: drop tokens after the cumulative probability passes p."""
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    remove = cumulative > p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, sorted_indices, remove), -float("inf"))


def test_greedy_is_argmax():
    logits = mg.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    assert greedy(logits).tolist() == [1, 0]
    assert greedy(logits).dtype == mg.int64


def test_top_k_on_a_hand_made_row():
    out = top_k_filter(mg.tensor([[1.0, 3.0, 2.0, 5.0]]), 2).numpy()
    np.testing.assert_array_equal(out, [[NEG, 3.0, NEG, 5.0]])
    # ties with the k-th largest are kept, as torch.topk + `<` does
    out = top_k_filter(mg.tensor([[1.0, 3.0, 3.0, 5.0]]), 2).numpy()
    np.testing.assert_array_equal(out, [[NEG, 3.0, 3.0, 5.0]])
    # k larger than the vocabulary keeps everything
    np.testing.assert_array_equal(top_k_filter(mg.tensor([[1.0, 2.0]]), 10).numpy(), [[1.0, 2.0]])


def test_top_p_on_a_hand_made_distribution():
    probs = np.array([[0.05, 0.5, 0.15, 0.3]])
    logits = mg.tensor(np.log(probs).astype(np.float32))
    kept = lambda p: np.isfinite(top_p_filter(logits, p).numpy())[0].tolist()  # noqa: E731
    assert kept(0.3) == [False, True, False, False]     # 0.5 alone reaches 0.3
    assert kept(0.5 + 1e-3) == [False, True, False, True]
    assert kept(0.75) == [False, True, False, True]     # 0.5 + 0.3 >= 0.75
    assert kept(0.85) == [False, True, True, True]      # needs 0.15 too
    assert kept(0.97) == [True, True, True, True]
    assert kept(1.0) == [True, True, True, True]
    assert kept(1e-6) == [False, True, False, False]    # always at least one token
    np.testing.assert_array_equal(top_p_filter(logits, 0.75).numpy()[0, [1, 3]], logits.numpy()[0, [1, 3]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), vocab=st.integers(1, 40), k=st.integers(1, 45),
       p=st.floats(0.01, 0.99))
def test_filters_match_the_torch_recipes(seed, vocab, k, p):
    logits = np.random.default_rng(seed).normal(0, 2, (3, vocab)).astype(np.float32)
    np.testing.assert_array_equal(top_k_filter(mg.tensor(logits), k).numpy(),
                                  torch_top_k(torch.tensor(logits), k).numpy())
    # skip draws whose nucleus boundary sits within rounding of p
    probs = np.sort(np.exp(logits - logits.max(1, keepdims=True)), axis=1)[:, ::-1]
    cumulative = np.cumsum(probs / probs.sum(1, keepdims=True), axis=1)
    if np.abs(cumulative - p).min() > 1e-5:
        np.testing.assert_array_equal(top_p_filter(mg.tensor(logits), p).numpy(),
                                      torch_top_p(torch.tensor(logits), p).numpy())


def test_sampling_follows_the_filtered_softmax():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    logits = mg.tensor(np.tile(np.log(probs), (40000, 1)).astype(np.float32))
    mg.manual_seed(0)
    draws = sample_next_token(logits).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), probs, atol=0.01)
    # temperature 0.5 squares the probabilities (then renormalises)
    draws = sample_next_token(logits, temperature=0.5).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), probs**2 / (probs**2).sum(), atol=0.01)
    # top_k=2 renormalises over the two most likely tokens
    draws = sample_next_token(logits, top_k=2).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [0, 0, 3 / 7, 4 / 7], atol=0.01)
    # top_p=0.65 keeps 0.4 + 0.3
    draws = sample_next_token(logits, top_p=0.65).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [0, 0, 3 / 7, 4 / 7], atol=0.01)
    assert sample_next_token(logits[:3], temperature=0).tolist() == [3, 3, 3]


def test_sampling_is_seeded_and_takes_a_generator():
    logits = mg.randn(5, 50)
    mg.manual_seed(3)
    a = sample_next_token(logits, temperature=1.3)
    mg.manual_seed(3)
    b = sample_next_token(logits, temperature=1.3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = sample_next_token(logits, generator=mg.Generator().manual_seed(1))
    d = sample_next_token(logits, generator=mg.Generator().manual_seed(1))
    np.testing.assert_array_equal(c.numpy(), d.numpy())
    assert tuple(a.shape) == (5,) and a.dtype == mg.int64


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        top_k_filter(mg.randn(2, 5), 0)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        top_p_filter(mg.randn(2, 5), 1.5)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_next_token(mg.randn(2, 5), temperature=-1)
    with pytest.raises(RuntimeError, match="expected float logits"):
        greedy(mg.tensor([1, 2]))


# ---- beam search ------------------------------------------------------------------------------
BOS, EOS = 0, 1


def markov_step(table):
    """A decoder whose next-token log-probs depend on the last token only: table (V, V)."""
    log_table = np.log(table)

    def step(tokens, state):
        return mg.tensor(log_table[tokens.numpy()[:, -1]])
    return step


def brute_force(table, max_len, length_penalty):
    """The best hypothesis by enumeration: sequences ending in EOS, or max_len tokens long."""
    V = table.shape[0]
    best, best_score = None, -np.inf
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(1, V), repeat=n):
            if EOS in seq[:-1] or (seq[-1] != EOS and n < max_len):
                continue
            logp = sum(np.log(table[a, b]) for a, b in zip((BOS,) + seq[:-1], seq))
            score = logp / n**length_penalty
            if score > best_score:
                best, best_score = list(seq), score
    return best, best_score


def test_beam_search_finds_the_sequence_greedy_misses():
    # After BOS: A (2) is likelier than B (3), but after A everything is uncertain, while B is
    # followed by EOS almost surely: P(A, EOS) = 0.6 * 0.34, P(B, EOS) = 0.4 * 0.9.
    table = np.array([
        [0.0, 0.0, 0.6, 0.4],     # BOS ->
        [0.25, 0.25, 0.25, 0.25],   # EOS -> (unused)
        [0.0, 0.34, 0.33, 0.33],  # A ->
        [0.0, 0.9, 0.05, 0.05],   # B ->
    ]) + 1e-12
    step = markov_step(table)
    tokens = [BOS]
    for _ in range(2):  # greedy
        tokens.append(int(np.argmax(table[tokens[-1]])))
    assert tokens[1:] == [2, 1]
    (best, score), = beam_search(step, None, BOS, EOS, beam_size=2, max_len=5, length_penalty=0.0)
    assert best.tolist() == [3, 1]
    assert score == pytest.approx(np.log(0.4 * 0.9), rel=1e-6)
    # a beam of one is greedy
    (one, _), = beam_search(step, None, BOS, EOS, beam_size=1, max_len=5, length_penalty=0.0)
    assert one.tolist() == [2, 1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), vocab=st.integers(3, 4), max_len=st.integers(1, 4),
       length_penalty=st.sampled_from([0.0, 1.0, 2.0, -0.5]))
def test_a_beam_holding_every_hypothesis_is_exact(seed, vocab, max_len, length_penalty):
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.ones(vocab) * 0.5, size=vocab) + 1e-9
    table[:, BOS] = 1e-9  # BOS never comes back
    table /= table.sum(1, keepdims=True)
    best, best_score = brute_force(table, max_len, length_penalty)
    beam = (vocab - 1) ** max_len + 1
    results = beam_search(markov_step(table), None, BOS, EOS, beam_size=beam, max_len=max_len,
                          length_penalty=length_penalty, num_return_sequences=3)
    (tokens, score) = results[0]
    assert score == pytest.approx(best_score, rel=1e-6, abs=1e-9)
    assert tokens.tolist() == best
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)


def test_beam_search_checks_its_step_function():
    with pytest.raises(RuntimeError, match=r"log_probs of shape \(3, vocab_size\), got \(1, 4\)"):
        beam_search(lambda tokens, state: mg.zeros(1, 4), None, BOS, EOS, beam_size=3)
    with pytest.raises(ValueError, match="beam_size and max_len must be >= 1"):
        beam_search(lambda tokens, state: mg.zeros(1, 4), None, BOS, EOS, beam_size=0)
