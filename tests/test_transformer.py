"""Transformer layers, stacks and the full Transformer against PyTorch after loading the same
state_dict (eval mode, and train mode with dropout=0): outputs, input grads, every parameter
grad, state_dict keys; and the position encodings (macrograd additions)."""
import math

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.nn.positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding

# These tensors are tiny: torch's intra-op threads would only spin against the other test
# processes on a small shared machine (1 s instead of 3 ms for a Transformer's backward).
torch.set_num_threads(1)

D, NHEAD, FF, N, S, T = 8, 2, 16, 2, 5, 4
# macrograd's erf (inside gelu) is a rational approximation good to ~1e-8, so gelu layers are
# compared a little more loosely than the float64 rounding-level atol of everything else.
ATOL = {"relu": 1e-9, "gelu": 1e-6}


def load_twin(ours, theirs):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def make(lib_cls_kwargs, cls_name, *args):
    theirs = getattr(torch.nn, cls_name)(*args, **lib_cls_kwargs).double()
    ours = getattr(mg.nn, cls_name)(*args, **lib_cls_kwargs, dtype=mg.float64)
    load_twin(ours, theirs)
    return ours, theirs


def compare(ours, theirs, arrays, mask_arrays=None, train=False, atol=1e-9, **kwargs):
    """Same inputs through both; compare the output, input grads and every parameter grad."""
    results = []
    for lib, module in ((mg, ours), (torch, theirs)):
        module.train(train)
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        masks = {k: lib.tensor(m) for k, m in (mask_arrays or {}).items()}
        out = module(*xs, **masks, **kwargs)
        (out * lib.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)))).sum().backward()
        results.append((out.detach().numpy(), [x.grad.numpy() for x in xs],
                        {n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}))
    (out, grads, pgrads), (t_out, t_grads, t_pgrads) = results
    np.testing.assert_allclose(out, t_out, atol=atol)
    for a, b in zip(grads, t_grads):
        np.testing.assert_allclose(a, b, atol=atol)
    assert list(pgrads) == list(t_pgrads)
    for name in t_pgrads:
        np.testing.assert_allclose(pgrads[name], t_pgrads[name], atol=atol, err_msg=name)
    return out


def seq(n, batch_first, seed):
    shape = (N, n, D) if batch_first else (n, N, D)
    return np.random.default_rng(seed).standard_normal(shape)


SRC_PADDING = np.array([[False, False, False, True, True], [False, False, False, False, False]])
TGT_PADDING = np.array([[False, False, False, True], [False, False, False, False]])


def causal_mask(n):
    return np.triu(np.full((n, n), -np.inf), 1)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first, train):
    kwargs = dict(dim_feedforward=FF, dropout=0.0, activation=activation, batch_first=batch_first,
                  norm_first=norm_first)
    ours, theirs = make(kwargs, "TransformerEncoderLayer", D, NHEAD)
    compare(ours, theirs, [seq(S, batch_first, 1)], train=train, atol=ATOL[activation])
    masks = {"src_mask": causal_mask(S), "src_key_padding_mask": np.where(SRC_PADDING, -np.inf, 0.0)}
    compare(ours, theirs, [seq(S, batch_first, 2)], masks, train=train, atol=ATOL[activation])


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("train", [False, True])
def test_decoder_layer_matches_torch(norm_first, activation, train):
    kwargs = dict(dim_feedforward=FF, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first)
    ours, theirs = make(kwargs, "TransformerDecoderLayer", D, NHEAD)
    masks = {"tgt_mask": causal_mask(T), "tgt_key_padding_mask": np.where(TGT_PADDING, -np.inf, 0.0),
             "memory_key_padding_mask": SRC_PADDING,
             "memory_mask": np.random.default_rng(3).random((T, S)) > 0.8}
    compare(ours, theirs, [seq(T, True, 1), seq(S, True, 2)], masks, train=train, atol=ATOL[activation])
    compare(ours, theirs, [seq(T, True, 3), seq(S, True, 4)], {"tgt_mask": causal_mask(T)}, train=train,
            tgt_is_causal=True, atol=ATOL[activation])


def test_layer_with_callable_activation_and_no_bias():
    kwargs = dict(dim_feedforward=FF, dropout=0.0, bias=False)
    theirs = torch.nn.TransformerEncoderLayer(D, NHEAD, activation=torch.tanh, **kwargs).double()
    ours = mg.nn.TransformerEncoderLayer(D, NHEAD, activation=mg.tanh, **kwargs, dtype=mg.float64)
    load_twin(ours, theirs)
    compare(ours, theirs, [seq(S, False, 1)], train=True)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_stacks_match_torch(norm_first):
    layer_kwargs = dict(dim_feedforward=FF, dropout=0.0, norm_first=norm_first)
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NHEAD, **layer_kwargs), 2,
                                        torch.nn.LayerNorm(D), enable_nested_tensor=False).double()
    m_enc = mg.nn.TransformerEncoder(mg.nn.TransformerEncoderLayer(D, NHEAD, **layer_kwargs, dtype=mg.float64), 2,
                                     mg.nn.LayerNorm(D, dtype=mg.float64))
    assert list(m_enc.state_dict())[:2] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias"]
    load_twin(m_enc, t_enc)
    # the deep copies are independent parameters (with equal initial values)
    assert m_enc.layers[0].linear1.weight is not m_enc.layers[1].linear1.weight
    compare(m_enc, t_enc, [seq(S, False, 1)], {"mask": causal_mask(S),
                                               "src_key_padding_mask": np.where(SRC_PADDING, -np.inf, 0.0)})
    compare(m_enc, t_enc, [seq(S, False, 5)], {"src_key_padding_mask": SRC_PADDING}, train=True)
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, NHEAD, **layer_kwargs), 2,
                                        torch.nn.LayerNorm(D)).double()
    m_dec = mg.nn.TransformerDecoder(mg.nn.TransformerDecoderLayer(D, NHEAD, **layer_kwargs, dtype=mg.float64), 2,
                                     mg.nn.LayerNorm(D, dtype=mg.float64))
    load_twin(m_dec, t_dec)
    compare(m_dec, t_dec, [seq(T, False, 2), seq(S, False, 3)],
            {"tgt_mask": causal_mask(T), "memory_key_padding_mask": SRC_PADDING})


def test_encoder_in_float32():
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0), 2,
                                         enable_nested_tensor=False)
    ours = mg.nn.TransformerEncoder(mg.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0), 2)
    load_twin(ours, theirs)
    out = compare(ours, theirs, [seq(S, False, 1).astype(np.float32)], {"src_key_padding_mask": SRC_PADDING},
                  train=True, atol=2e-5)
    assert out.dtype == np.float32


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_full_transformer_matches_torch(batch_first, norm_first):
    kwargs = dict(d_model=D, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF,
                  dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    ours, theirs = make(kwargs, "Transformer")
    masks = {"tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64).numpy(),
             "src_key_padding_mask": SRC_PADDING, "tgt_key_padding_mask": np.where(TGT_PADDING, -np.inf, 0.0),
             "memory_key_padding_mask": SRC_PADDING}
    compare(ours, theirs, [seq(S, batch_first, 1), seq(T, batch_first, 2)], masks, train=True)
    compare(ours, theirs, [seq(S, batch_first, 3), seq(T, batch_first, 4)], {"tgt_mask": masks["tgt_mask"]},
            tgt_is_causal=True)


def test_transformer_unbatched_and_default_dropout_in_eval():
    kwargs = dict(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)
    ours, theirs = make(kwargs, "Transformer")  # dropout 0.1: identity in eval mode
    rng = np.random.default_rng(0)
    compare(ours, theirs, [rng.standard_normal((S, D)), rng.standard_normal((T, D))], {"tgt_mask": causal_mask(T)})


def test_transformer_train_mode_dropout_is_seeded():
    model = mg.nn.Transformer(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=FF, dropout=0.3)
    src, tgt = mg.randn(S, N, D), mg.randn(T, N, D)
    mg.manual_seed(1)
    a = model(src, tgt).detach().numpy()
    mg.manual_seed(1)
    b = model(src, tgt).detach().numpy()
    model.eval()
    c = model(src, tgt).detach().numpy()
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_state_dict_keys_and_init_like_torch():
    kwargs = dict(d_model=D, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=FF)
    ours, theirs = mg.nn.Transformer(**kwargs), torch.nn.Transformer(**kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert tuple(ours.state_dict()[name].shape) == tuple(value.shape), name
    # Transformer re-initialises every matrix with xavier_uniform_
    w = ours.encoder.layers[0].linear1.weight.detach().numpy()
    bound = math.sqrt(6 / (D + FF))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_generate_square_subsequent_mask_like_torch():
    ours = mg.nn.Transformer.generate_square_subsequent_mask(4)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert ours.dtype == mg.float32
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert mg.nn.Transformer.generate_square_subsequent_mask(3, dtype=mg.float64).dtype == mg.float64


def test_transformer_errors_like_torch():
    model = mg.nn.Transformer(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(mg.randn(S, 2, D), mg.randn(T, 3, D))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        model(mg.randn(S, 2, D + 1), mg.randn(T, 2, D + 1))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        mg.nn.TransformerEncoderLayer(D, NHEAD, activation="tanh")


# -- position encodings (macrograd additions) -----------------------------------------------------
def test_sinusoidal_encoding_is_vaswani_table():
    pe = SinusoidalPositionalEncoding(6, max_len=10)
    table = np.array([[math.sin(p / 10000 ** (2 * (i // 2) / 6)) if i % 2 == 0 else
                       math.cos(p / 10000 ** (2 * (i // 2) / 6)) for i in range(6)] for p in range(10)])
    x = np.random.default_rng(0).standard_normal((4, 2, 6)).astype(np.float32)  # (L, N, E)
    np.testing.assert_allclose(pe(mg.tensor(x)).numpy(), x + table[:4, None], atol=1e-6)
    np.testing.assert_allclose(pe(mg.tensor(x), offset=3).numpy(), x + table[3:7, None], atol=1e-6)
    first = SinusoidalPositionalEncoding(6, max_len=10, batch_first=True)(mg.tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(first.numpy(), (x + table[:4, None]).transpose(1, 0, 2), atol=1e-6)
    assert list(pe.state_dict()) == []  # a fixed table, not saved
    assert SinusoidalPositionalEncoding(5, max_len=3).pe.shape == (3, 5)  # odd d_model
    with pytest.raises(ValueError, match="max_len=10"):
        pe(mg.tensor(x), offset=8)


def test_learned_positional_embedding_trains_its_rows():
    pe = LearnedPositionalEmbedding(10, 6, batch_first=True)
    assert list(pe.state_dict()) == ["weight"] and pe.weight.shape == (10, 6)
    x = mg.randn(2, 4, 6, requires_grad=True)
    out = pe(x, offset=1)
    np.testing.assert_allclose(out.detach().numpy(), x.detach().numpy() + pe.weight.detach().numpy()[None, 1:5])
    out.sum().backward()
    expected = np.zeros((10, 6))
    expected[1:5] = 2.0  # each used position is added to both sequences of the batch
    np.testing.assert_array_equal(pe.weight.grad.numpy(), expected)
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 4, 6)))


def rope_reference(x, base=10000.0):
    """RoPE written independently in torch with complex numbers: feature pairs (i, i + d/2)."""
    L, d = x.shape[-2:]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(L, d // 2, dtype=torch.float64), torch.arange(L, dtype=torch.float64)[:, None] * theta)
    z = torch.complex(x[..., : d // 2], x[..., d // 2:]) * rot
    return torch.cat([z.real, z.imag], dim=-1)


def test_rotary_matches_a_complex_number_reference_and_keeps_norms():
    rope = RotaryEmbedding(8)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 8))
    out = rope.rotate(mg.tensor(x)).numpy()
    np.testing.assert_allclose(out, rope_reference(torch.tensor(x)).numpy(), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), atol=1e-12)
    np.testing.assert_allclose(rope.rotate(mg.tensor(x[..., 2:, :]), offset=2).numpy(), out[..., 2:, :], atol=1e-12)
    with pytest.raises(ValueError, match="head_dim must be even"):
        RotaryEmbedding(7)
    with pytest.raises(RuntimeError, match=r"expected input \(..., L, 8\)"):
        rope.rotate(mg.randn(5, 6))


def test_rotary_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(16)
    rng = np.random.default_rng(1)
    q1, k1 = rng.standard_normal(16), rng.standard_normal(16)
    length = 12
    q = mg.tensor(np.tile(q1, (length, 1)))  # the same vector at every position
    k = mg.tensor(np.tile(k1, (length, 1)))
    rq, rk = rope(q, k)
    scores = (rq @ rk.transpose(0, 1)).numpy()  # scores[m, n] = rope(q)_m . rope(k)_n
    for shift in range(-length + 1, length):
        diagonal = np.diagonal(scores, offset=-shift)  # all (m, n) with m - n = shift
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-10)
    assert np.ptp([np.diagonal(scores, -s)[0] for s in range(length)]) > 1e-3  # but it does depend on m - n


def test_rotary_gradient_is_the_inverse_rotation():
    rope = RotaryEmbedding(4)
    x = mg.randn(3, 4, dtype=mg.float64, requires_grad=True)
    g = np.random.default_rng(2).standard_normal((3, 4))
    (rope.rotate(x) * mg.tensor(g)).sum().backward()
    theirs = torch.tensor(x.detach().numpy(), requires_grad=True)
    (rope_reference(theirs) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
