"""scaled_dot_product_attention and MultiheadAttention against PyTorch: outputs, attention
weights, input gradients and every parameter gradient; the fused op against its composition
from primitives; masks of every kind; errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from oracle import check, randn

# These tensors are tiny: torch's intra-op threads would only spin against the other test
# processes on a small shared machine (1 s instead of 3 ms for a Transformer's backward).
torch.set_num_threads(1)

SDPA = "scaled_dot_product_attention"


def sdpa(L, *args, **kwargs):
    return L.nn.functional.scaled_dot_product_attention(*args, **kwargs)


# -- the fused op against torch -------------------------------------------------------------------
@given(batch=st.sampled_from([(), (2,), (2, 3)]), L=st.integers(1, 5), S=st.integers(1, 6),
       E=st.integers(1, 5), Ev=st.integers(1, 4), mask=st.sampled_from(["none", "bool", "float", "causal"]),
       scale=st.sampled_from([None, 0.3]), seed=st.integers(0, 100))
def test_sdpa_matches_torch(batch, L, S, E, Ev, mask, scale, seed):
    rng = np.random.default_rng(seed)
    q, k, v = randn(*batch, L, E, seed=seed), randn(*batch, S, E, seed=seed + 1), randn(*batch, S, Ev, seed=seed + 2)
    if mask == "bool":
        m = rng.random((L, S)) > 0.3
        check(lambda Lib, q, k, v, m: sdpa(Lib, q, k, v, attn_mask=m, scale=scale), q, k, v, m, atol=1e-5)
    elif mask == "float":  # a float mask is added to the scores and gets its own gradient
        m = randn(L, S, seed=seed + 3)
        check(lambda Lib, q, k, v, m: sdpa(Lib, q, k, v, attn_mask=m, scale=scale), q, k, v, m, atol=1e-5)
    else:
        check(lambda Lib, q, k, v: sdpa(Lib, q, k, v, is_causal=mask == "causal", scale=scale), q, k, v,
              atol=1e-5)


def test_sdpa_masks_broadcast_over_batch_and_heads():
    q, k, v = randn(2, 3, 4, 5, seed=1), randn(2, 3, 6, 5, seed=2), randn(2, 3, 6, 7, seed=3)
    bool_mask = np.random.default_rng(0).random((2, 1, 4, 6)) > 0.4  # per batch, shared by the heads
    check(lambda L, q, k, v, m: sdpa(L, q, k, v, attn_mask=m), q, k, v, bool_mask)
    check(lambda L, q, k, v, m: sdpa(L, q, k, v, attn_mask=m), q, k, v, randn(3, 1, 6, seed=4))  # per head, per key


def test_sdpa_broadcasts_batch_dims_of_query_key_value():
    check(lambda L, q, k, v: sdpa(L, q, k, v), randn(2, 3, 4, 5, seed=1), randn(6, 5, seed=2), randn(3, 6, 7, seed=3))


def test_sdpa_grouped_query_attention():
    check(lambda L, q, k, v: sdpa(L, q, k, v, enable_gqa=True), randn(2, 6, 4, 5, seed=1),
          randn(2, 2, 6, 5, seed=2), randn(2, 2, 6, 7, seed=3))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_rows_give_zeros_like_torch(kind):
    # torch (2.5+) uses a "safe softmax" here: the output row and its gradients are 0, not NaN.
    m = np.ones((4, 6), dtype=bool)
    m[1] = False
    m[3, 2:] = False
    if kind == "float":
        m = np.where(m, 0.0, -np.inf).astype(np.float32)
    outs = check(lambda L, q, k, v, m: sdpa(L, q, k, v, attn_mask=m), randn(2, 4, 5, seed=1),
                 randn(2, 6, 5, seed=2), randn(2, 6, 3, seed=3), m, requires_grad=[True, True, True, False])
    assert np.all(outs[0][:, 1] == 0) and np.all(np.isfinite(outs[0]))


# -- the fused op against its composition from primitives ----------------------------------------
def composed(q, k, v, mask=None, is_causal=False, scale=None):
    """softmax(Q K^T * scale + mask) V from matmul, masked_fill and softmax."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        L, S = s.shape[-2:]
        mask = mg.tensor(np.tril(np.ones((L, S), dtype=bool)))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == mg.bool else s + mask
    return mg.nn.functional.softmax(s, dim=-1) @ v


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
def test_sdpa_equals_its_composition_in_float64(mask):
    rng = np.random.default_rng(7)

    def make(*shape):
        return mg.tensor(rng.standard_normal(shape), dtype=mg.float64, requires_grad=True)

    q, k, v = make(2, 3, 4, 5), make(2, 3, 6, 5), make(2, 3, 6, 4)
    m = None
    if mask == "bool":
        m = mg.tensor(rng.random((4, 6)) > 0.3)
    elif mask == "float":
        m = make(3, 4, 6)
    cot = mg.tensor(rng.standard_normal((2, 3, 4, 4)))
    results = []
    for f in (lambda: mg.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=mask == "causal"),
              lambda: composed(q, k, v, m, is_causal=mask == "causal")):
        for t in (q, k, v, m):
            if t is not None:
                t.grad = None
        out = f()
        (out * cot).sum().backward()
        grads = [t.grad.numpy() for t in (q, k, v, m) if t is not None and t.requires_grad]
        results.append((out.detach().numpy(), grads))
    (fused, fused_grads), (comp, comp_grads) = results
    np.testing.assert_allclose(fused, comp, atol=1e-6, rtol=1e-6)
    assert len(fused_grads) == len(comp_grads) == (4 if mask == "float" else 3)
    for a, b in zip(fused_grads, comp_grads):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


def test_sdpa_dropout_is_dropout_on_the_probabilities():
    # The fused op draws its mask from the global RNG exactly as F.dropout does, so the same
    # seed reproduces it from primitives: O = dropout(softmax(S)) V, with the same gradients.
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in ((2, 4, 5), (2, 6, 5), (2, 6, 3))]
    cot = mg.tensor(rng.standard_normal((2, 4, 3)))
    results = []
    for fused in (True, False):
        q, k, v = (mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays)
        mg.manual_seed(11)
        if fused:
            out = mg.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
        else:
            p = mg.nn.functional.softmax((q @ k.transpose(-2, -1)) / np.sqrt(5), dim=-1)
            out = mg.nn.functional.dropout(p, p=0.4) @ v
        (out * cot).sum().backward()
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in (q, k, v)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-12)
    no_drop = mg.nn.functional.scaled_dot_product_attention(*(mg.tensor(a) for a in arrays))
    assert not np.allclose(results[0][0], no_drop.numpy(), atol=1e-3)  # dropout did something
    out = mg.nn.functional.scaled_dot_product_attention(*(mg.tensor(a) for a in arrays), dropout_p=1.0)
    assert np.all(out.numpy() == 0)


def test_sdpa_does_not_change_its_inputs_and_float32_stays_float32():
    q, k, v = randn(2, 4, 5, seed=1), randn(2, 6, 5, seed=2), randn(2, 6, 3, seed=3)
    copies = [a.copy() for a in (q, k, v)]
    out = mg.nn.functional.scaled_dot_product_attention(*(mg.tensor(a) for a in (q, k, v)), is_causal=True)
    assert out.dtype == mg.float32
    for a, b in zip((q, k, v), copies):
        assert np.array_equal(a, b)


def test_sdpa_errors_name_the_op_and_shapes():
    q, k, v = mg.randn(2, 4, 5), mg.randn(2, 6, 5), mg.randn(2, 6, 3)
    with pytest.raises(RuntimeError, match="same dtype.*float64"):
        mg.nn.functional.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal=True"):
        mg.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(4, 6, dtype=mg.bool), is_causal=True)
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention.*\(2, 4, 5\), \(2, 6, 4\)"):
        mg.nn.functional.scaled_dot_product_attention(q, mg.randn(2, 6, 4), v)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(4, 5\) does not broadcast.*\(2, 4, 6\)"):
        mg.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(4, 5, dtype=mg.bool))
    with pytest.raises(RuntimeError, match="attn_mask dtype to be bool or float"):
        mg.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(4, 6, dtype=mg.int64))
    with pytest.raises(RuntimeError, match=r"batch dims.*\(2, 4, 5\), \(3, 6, 5\)"):
        mg.nn.functional.scaled_dot_product_attention(q, mg.randn(3, 6, 5), mg.randn(3, 6, 3))
    with pytest.raises(RuntimeError, match="enable_gqa.*multiple"):
        mg.nn.functional.scaled_dot_product_attention(mg.randn(1, 3, 4, 5), mg.randn(1, 2, 6, 5),
                                                      mg.randn(1, 2, 6, 3), enable_gqa=True)
    with pytest.raises(ValueError, match="dropout probability"):
        mg.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


# -- MultiheadAttention against torch -------------------------------------------------------------
E, H, N, TGT, SRC = 6, 2, 2, 3, 4


def twins(**kwargs):
    """A torch MultiheadAttention (float64) and ours holding the same weights."""
    theirs = torch.nn.MultiheadAttention(**kwargs).double()
    ours = mg.nn.MultiheadAttention(**kwargs, dtype=mg.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def compare_mha(ours, theirs, arrays, masks=None, atol=1e-10, **forward_kwargs):
    """Run both on the same inputs; compare output, weights, input grads and parameter grads."""
    masks = masks or {}
    results = []
    for lib, module in ((mg, ours), (torch, theirs)):
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        output, weights = module(*xs, **{k: lib.tensor(m) for k, m in masks.items()}, **forward_kwargs)
        rng = np.random.default_rng(5)
        loss = (output * lib.tensor(rng.standard_normal(tuple(output.shape)))).sum()
        if weights is not None:
            loss = loss + (weights * lib.tensor(rng.standard_normal(tuple(weights.shape)))).sum()
        loss.backward()
        results.append((output.detach().numpy(), None if weights is None else weights.detach().numpy(),
                        [x.grad.numpy() for x in xs],
                        {name: p.grad.numpy() for name, p in module.named_parameters()}))
    (out, w, grads, pgrads), (t_out, t_w, t_grads, t_pgrads) = results
    np.testing.assert_allclose(out, t_out, atol=atol)
    assert (w is None) == (t_w is None)
    if w is not None:
        np.testing.assert_allclose(w, t_w, atol=atol)
    for a, b in zip(grads, t_grads):
        np.testing.assert_allclose(a, b, atol=atol)
    assert list(pgrads) == list(t_pgrads)
    for name in t_pgrads:
        np.testing.assert_allclose(pgrads[name], t_pgrads[name], atol=atol, err_msg=name)
    return out, w


def inputs(batch_first=False, kdim=E, vdim=E, batched=True, seed=0):
    rng = np.random.default_rng(seed)
    shape = (lambda n, d: (N, n, d) if batch_first else (n, N, d)) if batched else (lambda n, d: (n, d))
    return [rng.standard_normal(shape(TGT, E)), rng.standard_normal(shape(SRC, kdim)), rng.standard_normal(shape(SRC, vdim))]


KEY_PADDING = np.array([[False, False, True, False], [False, True, True, False]])
ATTN_BOOL = np.array([[False, True, False, False], [False, False, False, True], [True, False, False, False]])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_matches_torch(batch_first, need_weights, average):
    ours, theirs = twins(embed_dim=E, num_heads=H, batch_first=batch_first)
    out, w = compare_mha(ours, theirs, inputs(batch_first), need_weights=need_weights,
                         average_attn_weights=average)
    assert out.shape == ((N, TGT, E) if batch_first else (TGT, N, E))
    if need_weights:
        assert w.shape == ((N, TGT, SRC) if average else (N, H, TGT, SRC))
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)


MASKS = {
    "bool attn_mask 2-D": {"attn_mask": ATTN_BOOL},
    "float attn_mask 2-D": {"attn_mask": np.random.default_rng(1).standard_normal((TGT, SRC))},
    "bool attn_mask 3-D": {"attn_mask": np.random.default_rng(2).random((N * H, TGT, SRC)) > 0.7},
    "float attn_mask 3-D": {"attn_mask": np.random.default_rng(3).standard_normal((N * H, TGT, SRC))},
    "bool key_padding_mask": {"key_padding_mask": KEY_PADDING},
    "float key_padding_mask": {"key_padding_mask": np.where(KEY_PADDING, -1e4, 0.5)},
    "both bool": {"attn_mask": ATTN_BOOL, "key_padding_mask": KEY_PADDING},
}


@pytest.mark.parametrize("masks", list(MASKS.values()), ids=list(MASKS))
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_masks_match_torch(masks, need_weights):
    ours, theirs = twins(embed_dim=E, num_heads=H, batch_first=True)
    compare_mha(ours, theirs, inputs(True), masks=masks, need_weights=need_weights)


def test_mha_mixed_mask_types_warn_like_torch():
    ours, theirs = twins(embed_dim=E, num_heads=H)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        compare_mha(ours, theirs, inputs(), masks={"attn_mask": np.zeros((TGT, SRC)), "key_padding_mask": KEY_PADDING})


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_causal_hint(need_weights):
    ours, theirs = twins(embed_dim=E, num_heads=H, batch_first=True)
    causal = np.triu(np.ones((TGT, TGT), dtype=bool), 1)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, TGT, E))
    compare_mha(ours, theirs, [x, x.copy(), x.copy()], masks={"attn_mask": causal}, is_causal=True,
                need_weights=need_weights)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        ours(mg.tensor(x), mg.tensor(x), mg.tensor(x), is_causal=True)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("options", [
    {"kdim": 5, "vdim": 7}, {"add_bias_kv": True}, {"add_zero_attn": True},
    {"kdim": 5, "vdim": 7, "add_bias_kv": True, "add_zero_attn": True}, {"bias": False},
], ids=["kdim/vdim", "bias_kv", "zero_attn", "all", "no bias"])
def test_mha_options_match_torch(options, need_weights):
    ours, theirs = twins(embed_dim=E, num_heads=H, **options)
    arrays = inputs(kdim=options.get("kdim", E), vdim=options.get("vdim", E))
    compare_mha(ours, theirs, arrays, masks={"attn_mask": ATTN_BOOL, "key_padding_mask": KEY_PADDING},
                need_weights=need_weights)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_input(need_weights):
    ours, theirs = twins(embed_dim=E, num_heads=H, batch_first=True)
    masks = {"key_padding_mask": np.where(KEY_PADDING[0], -np.inf, 0.0),
             "attn_mask": np.random.default_rng(6).standard_normal((H, TGT, SRC))}
    out, w = compare_mha(ours, theirs, inputs(batched=False), masks=masks, need_weights=need_weights,
                         average_attn_weights=False)
    assert out.shape == (TGT, E)
    assert w is None or w.shape == (H, TGT, SRC)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the NaN rows, on purpose
def test_mha_fully_masked_query_is_nan_with_weights_and_zero_without_like_torch():
    ours, theirs = twins(embed_dim=E, num_heads=H, batch_first=True)
    padding = KEY_PADDING.copy()
    padding[1] = True  # every key of the second sequence is padding
    for need_weights in (True, False):
        outs = []
        for lib, module in ((mg, ours), (torch, theirs)):
            q, k, v = (lib.tensor(a) for a in inputs(True))
            outs.append(module(q, k, v, key_padding_mask=lib.tensor(padding), need_weights=need_weights)[0]
                        .detach().numpy())
        np.testing.assert_allclose(outs[0], outs[1], atol=1e-10)  # NaN where torch has NaN
        assert np.isnan(outs[0][1]).all() == need_weights and np.isfinite(outs[0][0]).all()


def test_mha_init_and_state_dict_like_torch():
    ours = mg.nn.MultiheadAttention(8, 2)
    theirs = torch.nn.MultiheadAttention(8, 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, p in theirs.state_dict().items():
        assert tuple(ours.state_dict()[name].shape) == tuple(p.shape)
    assert np.all(ours.in_proj_bias.detach().numpy() == 0) and np.all(ours.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (8 + 24))  # xavier_uniform_ on the (3E, E) packed weight
    w = ours.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # strict: same keys


def test_mha_dropout_only_in_training():
    ours, _ = twins(embed_dim=E, num_heads=H, dropout=0.5)
    x = mg.tensor(inputs()[0])
    ours.eval()
    a, b = ours(x, x, x)[0].detach(), ours(x, x, x)[0].detach()
    assert np.array_equal(a.numpy(), b.numpy())
    ours.train()
    mg.manual_seed(0)
    c, w = ours(x, x, x, average_attn_weights=False)
    mg.manual_seed(0)
    d = ours(x, x, x, need_weights=False)[0]
    assert not np.allclose(c.detach().numpy(), a.numpy())
    # returned weights are the dropped ones (as torch): each is 0 or a kept p / (1 - p)
    assert np.any(w.detach().numpy() == 0) and not np.allclose(w.detach().numpy().sum(-1), 1)
    assert not np.allclose(d.detach().numpy(), a.numpy())


def test_functional_multi_head_attention_forward_matches_torch():
    _, theirs = twins(embed_dim=E, num_heads=H)
    q, k, v = inputs()
    args = lambda lib, sd: (E, H, sd["in_proj_weight"], sd["in_proj_bias"], None, None, False, 0.0,
                            sd["out_proj.weight"], sd["out_proj.bias"])
    sd_t = theirs.state_dict()
    sd_m = {k2: mg.tensor(t.numpy()) for k2, t in sd_t.items()}
    t_out, t_w = torch.nn.functional.multi_head_attention_forward(
        *(torch.tensor(a) for a in (q, k, v)), *args(torch, sd_t), key_padding_mask=torch.tensor(KEY_PADDING))
    m_out, m_w = mg.nn.functional.multi_head_attention_forward(
        *(mg.tensor(a) for a in (q, k, v)), *args(mg, sd_m), key_padding_mask=mg.tensor(KEY_PADDING))
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(m_w.numpy(), t_w.detach().numpy(), atol=1e-10)


def test_mha_errors_like_torch():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        mg.nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="must be greater than 0"):
        mg.nn.MultiheadAttention(0, 2)
    m = mg.nn.MultiheadAttention(E, H)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D"):
        m(mg.randn(1, 2, 3, E), mg.randn(1, 2, 3, E), mg.randn(1, 2, 3, E))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(mg.randn(3, 2, E), mg.randn(3, E), mg.randn(3, E))
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(3, 3\), but should be \(3, 4\)"):
        m(mg.randn(3, 2, E), mg.randn(4, 2, E), mg.randn(4, 2, E), attn_mask=mg.zeros(3, 3))
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 6, but got 5"):
        m(mg.randn(3, 2, 5), mg.randn(4, 2, 5), mg.randn(4, 2, 5))
    with pytest.raises(AssertionError, match="only bool and floating types of key_padding_mask"):
        m(mg.randn(3, 2, E), mg.randn(4, 2, E), mg.randn(4, 2, E), key_padding_mask=mg.zeros(2, 4, dtype=mg.int64))
