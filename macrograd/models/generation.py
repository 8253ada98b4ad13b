"""Decoding: turning a model's next-token scores into text, one token at a time.

- `greedy`: the most likely token; `greedy_search` repeats it until EOS, for a batch of prefixes.
- `sample_next_token`: temperature, then top-k and/or top-p (nucleus) filtering, then one draw
  from the softmax (seeded by `mg.manual_seed` or a `generator=`), as Hugging Face's
  `generate(do_sample=True)` and nanoGPT's `generate` do.
- `beam_search`: keep the `beam_size` best prefixes instead of one, for an encoder-decoder
  model given as a step function `step(tokens, state) -> log_probs`.

Decoding makes no gradients: everything here works on the raw arrays and returns int64 tensors.

Filters (logits in, logits out, -inf where a token may not be drawn):
    top-k:  keep the k largest logits (ties with the k-th are kept, as torch.topk + `<` does);
    top-p:  keep the smallest set of most likely tokens whose total probability is >= p
            (always at least the most likely one).
"""
from __future__ import annotations

import heapq

import numpy as np

from .. import backend
from ..backend import xp
from ..ops.dtypes import to_tensor
from ..tensor import Tensor


def _logits_array(logits, who):
    logits = to_tensor(logits)
    if logits.dtype.kind != "f" or logits.ndim < 1:
        raise RuntimeError(f"{who}: expected float logits of shape (..., vocab_size), got "
                           f"{logits.dtype} of shape {tuple(logits.shape)}")
    return logits.detach()._data


def greedy(logits):
    """argmax over the last dim: the most likely next token, (...,) int64."""
    return Tensor(xp.argmax(_logits_array(logits, "greedy"), axis=-1).astype(np.int64))


def greedy_search(step, batch_size, bos_id, eos_id, max_len=50, pad_id=0):
    """Greedy decoding of a batch: start every row at bos_id and append its most likely next token
    until every row has produced eos_id or max_len tokens are generated.

    step(tokens) -> logits: tokens is an int64 tensor (batch_size, t) of prefixes; logits
    (batch_size, vocab) score each row's next token (e.g. an encoder-decoder's decoder run on the
    prefix and its memory). A row that has produced EOS is padded with pad_id from then on.

    Returns (batch_size, 1 + generated) int64 starting with BOS."""
    if batch_size < 1 or max_len < 1:
        raise ValueError(f"greedy_search: batch_size and max_len must be >= 1, got {batch_size} and {max_len}")
    tokens = np.full((batch_size, 1), bos_id, dtype=np.int64)
    done = np.zeros(batch_size, dtype=bool)
    for _ in range(max_len):
        next_token = backend.to_numpy(greedy(step(Tensor(tokens)))._data)
        if next_token.shape != (batch_size,):
            raise RuntimeError(f"greedy_search: step must return logits of shape ({batch_size}, vocab_size), "
                               f"got a next token per row of shape {next_token.shape}")
        next_token[done] = pad_id
        done |= next_token == eos_id
        tokens = np.concatenate([tokens, next_token[:, None]], axis=1)
        if done.all():
            break
    return Tensor(tokens)


def top_k_filter(logits, top_k):
    """logits with every entry below the k-th largest of its row set to -inf."""
    x = _logits_array(logits, "top_k_filter")
    if int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k_filter: top_k must be a positive integer, got {top_k}")
    k = min(int(top_k), x.shape[-1])
    kth = xp.partition(x, x.shape[-1] - k, axis=-1)[..., -k:].min(axis=-1, keepdims=True)
    return Tensor(xp.where(x < kth, x.dtype.type(-np.inf), x))


def top_p_filter(logits, top_p):
    """logits with -inf outside the nucleus: the fewest most likely tokens whose probabilities
    sum to >= top_p (a token is dropped when the tokens ranked above it already reach top_p)."""
    x = _logits_array(logits, "top_p_filter")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p_filter: top_p must be in (0, 1], got {top_p}")
    if top_p == 1.0:
        return Tensor(x.copy())
    order = xp.argsort(-x, axis=-1, kind="stable")  # most likely first
    sorted_logits = xp.take_along_axis(x, order, axis=-1)
    probs = xp.exp(sorted_logits - sorted_logits[..., :1])
    probs /= probs.sum(axis=-1, keepdims=True)
    mass_before = xp.cumsum(probs, axis=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= top_p
    drop_sorted[..., 0] = False  # the most likely token always stays
    drop = xp.empty_like(drop_sorted)
    xp.put_along_axis(drop, order, drop_sorted, axis=-1)
    return Tensor(xp.where(drop, x.dtype.type(-np.inf), x))


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token per row of logits (..., vocab_size), drawn from softmax(filter(logits / T));
    temperature=0 means greedy. Returns (...,) int64."""
    if temperature < 0:
        raise ValueError(f"sample_next_token: temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return greedy(logits)
    x = _logits_array(logits, "sample_next_token") / np.float32(temperature)
    if top_k is not None:
        x = top_k_filter(Tensor(x), top_k)._data
    if top_p is not None:
        x = top_p_filter(Tensor(x), top_p)._data
    probs = xp.exp(x - x.max(axis=-1, keepdims=True))
    cdf = xp.cumsum(probs, axis=-1)
    # inverse-CDF draw: the first token whose cumulative (unnormalised) mass exceeds u * total
    u = backend.to_device_array(backend.rng_of(generator).random(x.shape[:-1] + (1,)))
    token = (cdf <= u * cdf[..., -1:]).sum(axis=-1)
    return Tensor(xp.minimum(token, x.shape[-1] - 1).astype(np.int64))


def _length_normalised(score, length, length_penalty):
    """Hugging Face's beam score: sum of log-probs / length ** length_penalty."""
    return score / (length ** length_penalty)


def beam_search(step, state, bos_id, eos_id, beam_size=4, max_len=50, length_penalty=1.0,
                num_return_sequences=1):
    """Beam search for one source sequence.

    step(tokens, state) -> log_probs: tokens is an int64 tensor (beam_size, t) of prefixes, each
    starting with bos_id; log_probs (beam_size, vocab) are the next-token log-probabilities of
    each prefix. `state` (e.g. the encoder's memory repeated beam_size times) is passed through.

    Each step extends every live prefix by every token, keeps the 2*beam_size best by summed
    log-prob, moves those ending in eos_id to the finished list (scored sum / len**length_penalty,
    len counting the generated tokens and the EOS) and continues with the beam_size best others.
    The search stops when no live prefix can still beat the worst of beam_size finished ones
    (an exact bound, not a heuristic) or at max_len generated tokens.

    Returns a list of (tokens, score), best first: tokens without BOS, with EOS if generated."""
    if beam_size < 1 or max_len < 1:
        raise ValueError(f"beam_search: beam_size and max_len must be >= 1, got {beam_size} and {max_len}")
    tokens = np.full((beam_size, 1), bos_id, dtype=np.int64)
    scores = np.full(beam_size, -np.inf)
    scores[0] = 0.0  # one live prefix at the start; the copies would only repeat it
    finished = []  # heap of (normalised score, tiebreak, tokens)
    counter = 0
    out_of_length = True  # the loop ran to max_len (not stopped by the bound or by EOS everywhere)
    for length in range(1, max_len + 1):
        log_probs = step(Tensor(tokens), state)
        log_probs = backend.to_numpy(to_tensor(log_probs).detach()._data).astype(np.float64)
        if log_probs.ndim != 2 or log_probs.shape[0] != beam_size:
            raise RuntimeError(f"beam_search: step must return log_probs of shape ({beam_size}, "
                               f"vocab_size), got {log_probs.shape}")
        vocab = log_probs.shape[1]
        total = (scores[:, None] + log_probs).ravel()
        n_top = min(2 * beam_size, total.size)
        top = np.argpartition(-total, n_top - 1)[:n_top]
        top = top[np.argsort(-total[top], kind="stable")]
        next_tokens, next_scores = [], []
        for flat in top:
            score = total[flat]
            if score == -np.inf:
                break
            beam, token = divmod(int(flat), vocab)
            seq = np.append(tokens[beam], token)
            if token == eos_id:
                entry = (_length_normalised(score, length, length_penalty), counter, seq[1:])
                counter += 1
                if len(finished) < max(beam_size, num_return_sequences):
                    heapq.heappush(finished, entry)
                else:
                    heapq.heappushpop(finished, entry)
            else:
                next_tokens.append(seq)
                next_scores.append(score)
            if len(next_tokens) == beam_size:
                break
        if not next_tokens:
            out_of_length = False
            break
        while len(next_tokens) < beam_size:  # fewer candidates than beams: pad with dead copies
            next_tokens.append(next_tokens[0])
            next_scores.append(-np.inf)
        tokens, scores = np.stack(next_tokens), np.array(next_scores)
        if len(finished) >= beam_size:
            # Adding tokens only lowers a sum of log-probs, so the best a live prefix can still
            # reach is its sum now over the most favourable length (max_len if penalty > 0).
            best_length = max_len if length_penalty > 0 else length + 1
            bound = _length_normalised(scores.max(), best_length, length_penalty)
            if bound <= finished[0][0]:
                out_of_length = False
                break
    if out_of_length:  # max_len reached: the live prefixes are hypotheses as they stand
        for seq, score in zip(tokens, scores):
            if score > -np.inf:
                finished.append((_length_normalised(score, len(seq) - 1, length_penalty), counter, seq[1:]))
                counter += 1
    best = sorted(finished, key=lambda e: (-e[0], e[1]))[:num_return_sequences]
    return [(Tensor(seq.astype(np.int64)), float(score)) for score, _, seq in best]


__all__ = ["greedy", "greedy_search", "top_k_filter", "top_p_filter", "sample_next_token", "beam_search"]
