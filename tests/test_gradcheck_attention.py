"""Finite-difference gradient checks (float64) of the fused ScaledDotProductAttention Function:
every input (query, key, value, and a float mask), with bool, float and causal masks, fully
masked rows, broadcast batch dims, grouped-query heads and dropout (re-seeded per call)."""
import numpy as np
import pytest

import macrograd as mg
from macrograd.autograd import gradcheck
from macrograd.ops.attention import ScaledDotProductAttention


def t64(*shape, seed=0, requires_grad=True):
    data = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


def sdpa(*args, **kwargs):
    return mg.nn.functional.scaled_dot_product_attention(*args, **kwargs)


def test_sdpa_is_one_fused_node():
    out = sdpa(t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 2))
    assert type(out.grad_fn) is ScaledDotProductAttention


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("scale", [None, 0.7])
def test_no_mask_and_causal(is_causal, scale):
    q, k, v = t64(2, 3, 4, seed=1), t64(2, 5, 4, seed=2), t64(2, 5, 3, seed=3)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v, is_causal=is_causal, scale=scale), (q, k, v))


def test_bool_mask_with_a_fully_masked_row():
    q, k, v = t64(2, 3, 4, seed=1), t64(2, 5, 4, seed=2), t64(2, 5, 3, seed=3)
    mask = np.random.default_rng(4).random((3, 5)) > 0.4
    mask[0] = False  # this query attends to nothing: output 0, gradient 0
    mask = mg.tensor(mask)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v, attn_mask=mask), (q, k, v))


def test_float_mask_gets_its_gradient_through_broadcasting():
    q, k, v = t64(2, 2, 3, 4, seed=1), t64(2, 2, 5, 4, seed=2), t64(2, 2, 5, 3, seed=3)
    bias = t64(2, 1, 5, seed=4)  # one bias per head and key, broadcast over batch and queries
    assert gradcheck(lambda q, k, v, b: sdpa(q, k, v, attn_mask=b), (q, k, v, bias))


def test_broadcast_batch_dims():
    q, k, v = t64(2, 3, 4, 2, seed=1), t64(5, 2, seed=2), t64(3, 5, 3, seed=3)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v), (q, k, v))


def test_grouped_query_heads():
    q, k, v = t64(1, 4, 3, 2, seed=1), t64(1, 2, 5, 2, seed=2), t64(1, 2, 5, 3, seed=3)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v, enable_gqa=True), (q, k, v))


def test_dropout_with_a_fixed_mask():
    q, k, v = t64(2, 3, 4, seed=1), t64(2, 5, 4, seed=2), t64(2, 5, 3, seed=3)

    def f(q, k, v):
        mg.manual_seed(5)  # the same dropout mask at every evaluation
        return sdpa(q, k, v, dropout_p=0.3)

    assert gradcheck(f, (q, k, v))


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    original = ScaledDotProductAttention.backward

    def wrong(ctx, do):
        dq, dk, dv = original(ctx, do)
        return dq, dk * 1.01, dv

    monkeypatch.setattr(ScaledDotProductAttention, "backward", wrong)
    q, k, v = t64(2, 3, 2, seed=1), t64(2, 4, 2, seed=2), t64(2, 4, 2, seed=3)
    assert not gradcheck(lambda q, k, v: sdpa(q, k, v), (q, k, v), raise_exception=False)
