"""Every layer against its torch twin: the same weights (torch's state_dict copied in through
NumPy), the same inputs, in train and eval mode; outputs, input gradients, every parameter
gradient and the buffers after the step must agree. Dropout is compared at p=0 and its
statistics are checked separately. Bad input gets an error naming the layer and the shapes."""
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import macrograd as mg


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def twin(make):
    """The module built with L = macrograd and with L = torch, holding torch's weights."""
    ours, theirs = make(mg), make(torch)
    ours.load_state_dict({k: mg.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def run(module, L, arrays):
    tensors = [L.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    out = module(*tensors)
    cotangent = np.random.default_rng(1234).standard_normal(tuple(out.shape)).astype(np.float32)
    if out.requires_grad:
        (out * L.tensor(cotangent)).sum().backward()
    grads = [None if t.grad is None else t.grad.detach().numpy() for t in tensors]
    params = {n: (None if p.grad is None else p.grad.detach().numpy()) for n, p in module.named_parameters()}
    state = {n: v.detach().numpy() for n, v in module.state_dict().items()}
    return out.detach().numpy(), grads, params, state


def compare(make, *arrays, modes=("train", "eval"), rtol=1e-5, atol=1e-6, steps=1):
    """Run the twins on the inputs in each mode (`steps` times) and compare everything."""
    ours, theirs = twin(make)
    for mode in modes:
        for module in (ours, theirs):
            module.train(mode == "train")
        for _ in range(steps):
            ours.zero_grad()
            theirs.zero_grad()
            mine, reference = run(ours, mg, arrays), run(theirs, torch, arrays)
            out, grads, params, state = mine
            t_out, t_grads, t_params, t_state = reference
            assert out.shape == t_out.shape and out.dtype == t_out.dtype, f"{mode}: output {out.shape} {out.dtype}"
            np.testing.assert_allclose(out, t_out, rtol=rtol, atol=atol, err_msg=f"{mode}: output")
            for i, (g, tg) in enumerate(zip(grads, t_grads)):
                if tg is None:
                    assert g is None or not np.any(g), f"{mode}: input {i} has a gradient, torch none"
                else:
                    np.testing.assert_allclose(g, tg, rtol=rtol, atol=atol, err_msg=f"{mode}: grad of input {i}")
            assert params.keys() == t_params.keys()
            for name in t_params:
                if t_params[name] is None:
                    assert params[name] is None or not np.any(params[name]), f"{mode}: {name}.grad"
                else:
                    assert params[name] is not None, f"{mode}: {name} got no gradient"
                    np.testing.assert_allclose(params[name], t_params[name], rtol=rtol, atol=atol,
                                               err_msg=f"{mode}: grad of {name}")
            assert state.keys() == t_state.keys()
            for name in t_state:
                assert state[name].dtype == t_state[name].dtype, name
                np.testing.assert_allclose(state[name], t_state[name], rtol=rtol, atol=atol, err_msg=f"{mode}: {name}")
    return ours, theirs


# -- affine and shape layers ----------------------------------------------------------------------
@given(batch=st.lists(st.integers(1, 4), min_size=0, max_size=2), n_in=st.integers(1, 6),
       n_out=st.integers(1, 6), bias=st.booleans())
def test_linear_matches_torch(batch, n_in, n_out, bias):
    compare(lambda L: L.nn.Linear(n_in, n_out, bias=bias), randn(*batch, n_in))


def test_bilinear_matches_torch():
    compare(lambda L: L.nn.Bilinear(3, 4, 5), randn(6, 3), randn(6, 4, seed=1))
    compare(lambda L: L.nn.Bilinear(2, 2, 3, bias=False), randn(2, 5, 2), randn(2, 5, 2, seed=1))


def test_shape_layers_match_torch():
    x = randn(2, 3, 4, 5)
    compare(lambda L: L.nn.Identity(), x)
    compare(lambda L: L.nn.Flatten(), x)
    compare(lambda L: L.nn.Flatten(0, 2), x)
    compare(lambda L: L.nn.Flatten(-2), x)
    compare(lambda L: L.nn.Unflatten(1, (3, 1)), x)
    compare(lambda L: L.nn.Sequential(L.nn.Flatten(), L.nn.Unflatten(1, (3, 4, 5))), x)


# -- activations ----------------------------------------------------------------------------------
ACTIVATIONS = [
    lambda L: L.nn.ReLU(), lambda L: L.nn.ReLU6(), lambda L: L.nn.Hardtanh(-0.5, 2.0), lambda L: L.nn.LeakyReLU(),
    lambda L: L.nn.LeakyReLU(0.2), lambda L: L.nn.ELU(), lambda L: L.nn.ELU(alpha=0.3), lambda L: L.nn.GELU(),
    lambda L: L.nn.GELU(approximate="tanh"), lambda L: L.nn.SiLU(), lambda L: L.nn.Softplus(),
    lambda L: L.nn.Softplus(beta=2.0, threshold=1.5), lambda L: L.nn.Tanh(), lambda L: L.nn.Sigmoid(),
    lambda L: L.nn.Softmax(dim=1), lambda L: L.nn.Softmax(dim=-1), lambda L: L.nn.LogSoftmax(dim=0),
    lambda L: L.nn.LogSoftmax(dim=2),
]


@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda make: repr(make(torch)))
def test_activation_matches_torch(make):
    compare(make, randn(3, 4, 5) * 3)


def test_softmax_without_dim_uses_torch_legacy_choice():
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        with pytest.warns(UserWarning, match="Implicit dimension"):
            compare(lambda L: L.nn.Softmax(), randn(*shape), modes=("train",))


def test_inplace_activations_match_torch():
    for make in [lambda L: L.nn.Sequential(L.nn.Linear(4, 4), L.nn.ReLU(inplace=True)),
                 lambda L: L.nn.Sequential(L.nn.Linear(4, 4), L.nn.LeakyReLU(0.1, inplace=True)),
                 lambda L: L.nn.Sequential(L.nn.Linear(4, 4), L.nn.ELU(inplace=True)),
                 lambda L: L.nn.Sequential(L.nn.Linear(4, 4), L.nn.SiLU(inplace=True))]:
        compare(make, randn(3, 4))


# -- dropout --------------------------------------------------------------------------------------
def test_dropout_p0_matches_torch_and_eval_is_identity():
    compare(lambda L: L.nn.Dropout(0.0), randn(4, 5))
    compare(lambda L: L.nn.Dropout(0.7), randn(4, 5), modes=("eval",))


def test_dropout_statistics():
    p = 0.3
    layer = mg.nn.Dropout(p)
    x = mg.ones(200, 500, requires_grad=True)
    y = layer(x)
    values = y.detach().numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 100k draws: sd of the fraction is 0.0015
    np.testing.assert_allclose(values[kept], 1 / (1 - p), rtol=1e-6)  # survivors scaled by 1/(1-p)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), values)  # dy/dx = mask / (1-p)
    assert not np.array_equal(layer(x).detach().numpy(), values)  # a new mask per call
    assert np.all(mg.nn.Dropout(1.0)(x).detach().numpy() == 0)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        mg.nn.Dropout(1.5)


def test_channel_dropout():
    x = randn(2, 3, 4, 5)
    compare(lambda L: L.nn.Dropout2d(0.0), x)
    compare(lambda L: L.nn.Dropout2d(0.5), x, modes=("eval",))
    compare(lambda L: L.nn.Dropout1d(0.0), x[:, :, 0])
    y = mg.nn.Dropout2d(0.4)(mg.ones(50, 40, 3, 3)).numpy()
    per_channel = y.reshape(50, 40, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 1 / 0.6).all(-1))  # whole channels
    assert abs((per_channel[..., 0] == 0).mean() - 0.4) < 0.05
    y = mg.nn.Dropout1d(0.5)(mg.ones(40, 30, 6)).numpy()
    assert np.all((y == 0).all(-1) | (y == 2).all(-1))


# -- normalization --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.5, "eps": 1e-3}, {"affine": False},
                                    {"bias": False}, {"track_running_stats": False}])
@pytest.mark.parametrize("shape", [(8, 4), (6, 4, 5)])
def test_batchnorm1d_matches_torch_over_several_steps(kwargs, shape):
    x = randn(*shape) * 2 + 1
    # train several steps (running statistics accumulate), then evaluate with them
    compare(lambda L: L.nn.BatchNorm1d(4, **kwargs), x, modes=("train",), steps=3)
    compare(lambda L: L.nn.BatchNorm1d(4, **kwargs), x, modes=("train", "eval", "train", "eval"), steps=2)


def test_batchnorm1d_running_stats_follow_the_formula():
    layer = mg.nn.BatchNorm1d(3, momentum=0.1)
    x = randn(10, 3) * 3 + 2
    layer(mg.tensor(x))
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    assert int(layer.num_batches_tracked) == 1


def test_batchnorm2d_matches_torch():
    compare(lambda L: L.nn.BatchNorm2d(3), randn(4, 3, 5, 2) + 0.5, modes=("train", "eval"), steps=2)


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.nn.GroupNorm(2, 4), (3, 4, 5)),
    (lambda L: L.nn.GroupNorm(1, 4, affine=False), (3, 4)),
    (lambda L: L.nn.GroupNorm(4, 4, eps=1e-3), (2, 4, 3, 2)),
    (lambda L: L.nn.InstanceNorm1d(4), (3, 4, 5)),
    (lambda L: L.nn.InstanceNorm1d(4, affine=True), (4, 5)),
    (lambda L: L.nn.InstanceNorm2d(4, affine=True, track_running_stats=True), (3, 4, 5, 2)),
    (lambda L: L.nn.InstanceNorm2d(4, track_running_stats=True, momentum=0.5), (4, 3, 3)),
], ids=["gn", "gn_no_affine", "gn_4d", "in1d", "in1d_unbatched", "in2d_running", "in2d_unbatched_running"])
def test_group_and_instance_norm_match_torch(make, shape):
    ours, theirs = make(mg), make(torch)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    compare(lambda L: theirs if L is torch else ours, randn(*shape) * 2 + 1, modes=("train", "eval", "train"), steps=2)


@pytest.mark.parametrize("make", [
    lambda L: L.nn.LayerNorm(5), lambda L: L.nn.LayerNorm((4, 5), eps=1e-3),
    lambda L: L.nn.LayerNorm(5, elementwise_affine=False), lambda L: L.nn.LayerNorm([5], bias=False),
], ids=["last", "two_dims", "no_affine", "no_bias"])
def test_layernorm_matches_torch(make):
    ours, theirs = make(mg), make(torch)
    with torch.no_grad():  # non-trivial affine parameters
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    compare(lambda L: theirs if L is torch else ours, randn(3, 4, 5) * 2 + 1)


# -- embedding ------------------------------------------------------------------------------------
def test_embedding_matches_torch():
    idx = np.array([[1, 2, 0, 4], [4, 3, 2, 1]], dtype=np.int64)
    compare(lambda L: L.nn.Embedding(6, 3), idx)
    compare(lambda L: L.nn.Embedding(6, 3, padding_idx=2), idx)
    compare(lambda L: L.nn.Embedding(6, 3, padding_idx=-1), np.array([5, 0, 5, 1]))


def test_embedding_init_and_padding_row():
    layer = mg.nn.Embedding(1000, 64, padding_idx=3)
    w = layer.weight.detach().numpy()
    assert np.all(w[3] == 0)
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02  # N(0, 1)
    idx = mg.tensor([3, 3, 1])
    layer(idx).sum().backward()
    assert np.all(layer.weight.grad.numpy()[3] == 0) and np.all(layer.weight.grad.numpy()[1] == 1)


def test_embedding_max_norm_renormalises_like_torch():
    idx = np.array([0, 2, 2, 5], dtype=np.int64)
    ours, theirs = twin(lambda L: L.nn.Embedding(6, 4, max_norm=1.0))
    np.testing.assert_allclose(ours(mg.tensor(idx)).detach().numpy(), theirs(torch.tensor(idx)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_embedding_from_pretrained():
    weights = randn(4, 3)
    for L in (mg, torch):
        layer = L.nn.Embedding.from_pretrained(L.tensor(weights))
        assert not layer.weight.requires_grad
        np.testing.assert_array_equal(layer(L.tensor([2, 0])).numpy(), weights[[2, 0]])
    assert mg.nn.Embedding.from_pretrained(mg.tensor(weights), freeze=False).weight.requires_grad


# -- losses ---------------------------------------------------------------------------------------
N, C = 6, 4
LOGITS = randn(N, C) * 2
LABELS = np.array([0, 3, 1, 1, 2, 3], dtype=np.int64)
LABELS_IGNORED = np.array([0, -100, 1, 1, 2, 3], dtype=np.int64)
CLASS_WEIGHT = np.array([0.5, 1.0, 2.0, 1.5], dtype=np.float32)
PROBS = np.random.default_rng(5).dirichlet(np.ones(C), N).astype(np.float32)
LOG_PROBS = np.log(PROBS)
UNIT = 1 / (1 + np.exp(-randn(N, C, seed=2)))
BINARY = (randn(N, C, seed=3) > 0).astype(np.float32)


def with_weight(name, **kwargs):
    return lambda L: getattr(L.nn, name)(weight=L.tensor(CLASS_WEIGHT), **kwargs)


LOSSES = [
    ("ce", lambda L: L.nn.CrossEntropyLoss(), (LOGITS, LABELS)),
    ("ce_sum", lambda L: L.nn.CrossEntropyLoss(reduction="sum"), (LOGITS, LABELS)),
    ("ce_none", lambda L: L.nn.CrossEntropyLoss(reduction="none"), (LOGITS, LABELS)),
    ("ce_weight_ignore", with_weight("CrossEntropyLoss", ignore_index=-100), (LOGITS, LABELS_IGNORED)),
    ("ce_ignore_1", lambda L: L.nn.CrossEntropyLoss(ignore_index=1), (LOGITS, LABELS)),
    ("ce_smoothing", with_weight("CrossEntropyLoss", label_smoothing=0.2), (LOGITS, LABELS)),
    ("ce_probs", lambda L: L.nn.CrossEntropyLoss(label_smoothing=0.1), (LOGITS, PROBS)),
    ("ce_3d", lambda L: L.nn.CrossEntropyLoss(), (randn(2, C, 3), np.array([[0, 1, 2], [3, 3, 0]]))),
    ("nll", lambda L: L.nn.NLLLoss(), (LOG_PROBS, LABELS)),
    ("nll_weight_ignore", with_weight("NLLLoss", ignore_index=2, reduction="mean"), (LOG_PROBS, LABELS)),
    ("nll_none", with_weight("NLLLoss", reduction="none"), (LOG_PROBS, LABELS)),
    ("mse", lambda L: L.nn.MSELoss(), (LOGITS, UNIT)),
    ("mse_none", lambda L: L.nn.MSELoss(reduction="none"), (LOGITS, UNIT)),
    ("l1_sum", lambda L: L.nn.L1Loss(reduction="sum"), (LOGITS, UNIT)),
    ("smooth_l1", lambda L: L.nn.SmoothL1Loss(beta=0.5), (LOGITS, UNIT)),
    ("huber", lambda L: L.nn.HuberLoss(delta=0.7, reduction="sum"), (LOGITS, UNIT)),
    ("bce", lambda L: L.nn.BCELoss(), (UNIT, BINARY)),
    ("bce_weight", with_weight("BCELoss", reduction="none"), (UNIT, BINARY)),
    ("bce_logits", lambda L: L.nn.BCEWithLogitsLoss(), (LOGITS, BINARY)),
    ("bce_logits_pos_weight", lambda L: L.nn.BCEWithLogitsLoss(weight=L.tensor(CLASS_WEIGHT),
                                                                pos_weight=L.tensor(CLASS_WEIGHT[::-1].copy())),
     (LOGITS, BINARY)),
    ("kl_batchmean", lambda L: L.nn.KLDivLoss(reduction="batchmean"), (LOG_PROBS, PROBS)),
    ("kl_log_target", lambda L: L.nn.KLDivLoss(reduction="sum", log_target=True), (LOG_PROBS, LOG_PROBS[::-1].copy())),
    ("kl_none", lambda L: L.nn.KLDivLoss(reduction="none"), (LOG_PROBS, PROBS)),
]


@pytest.mark.parametrize("make,inputs", [(m, i) for _, m, i in LOSSES], ids=[name for name, _, _ in LOSSES])
def test_loss_matches_torch(make, inputs):
    compare(make, *inputs, modes=("train",))


def test_loss_options_and_buffers():
    loss = mg.nn.CrossEntropyLoss(weight=mg.tensor(CLASS_WEIGHT))
    assert list(loss.state_dict()) == list(torch.nn.CrossEntropyLoss(weight=torch.tensor(CLASS_WEIGHT)).state_dict())
    assert list(mg.nn.BCEWithLogitsLoss(pos_weight=mg.ones(3)).state_dict()) == ["pos_weight"]
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert mg.nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert mg.nn.L1Loss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        mg.nn.MSELoss(reduction="avg")


# -- a whole model --------------------------------------------------------------------------------
def mlp(L, approximate="none"):
    nn = L.nn
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.0),
                         nn.Linear(16, 16), nn.LayerNorm(16), nn.GELU(approximate), nn.Linear(16, 3))


def test_mlp_training_steps_match_torch():
    ours, theirs = twin(mlp)
    x, y = randn(12, 5), np.arange(12) % 3
    for model, L in ((ours, mg), (theirs, torch)):
        loss_fn = L.nn.CrossEntropyLoss()
        for _ in range(4):
            model.zero_grad()
            loss = loss_fn(model(L.tensor(x)), L.tensor(y))
            loss.backward()
            with L.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
        model.eval()
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ours(mg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


# -- errors that name the layer and the shapes ----------------------------------------------------
def test_shape_errors_name_the_layer():
    with pytest.raises(RuntimeError, match=re.escape(
            "Linear(in_features=784, out_features=10): expected input with last dimension 784, got shape (32, 100)")):
        mg.nn.Linear(784, 10)(mg.zeros(32, 100))
    with pytest.raises(RuntimeError, match=r"Bilinear\(in1_features=2, in2_features=3, out_features=4\): .*\(5, 2\) and \(4, 3\)"):
        mg.nn.Bilinear(2, 3, 4)(mg.zeros(5, 2), mg.zeros(4, 3))
    with pytest.raises(RuntimeError, match=re.escape("LayerNorm((4, 5)): expected input with shape (*, 4, 5), got shape (2, 5, 4)")):
        mg.nn.LayerNorm((4, 5))(mg.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=re.escape("BatchNorm1d(4): expected 2D or 3D input with 4 channels in dim 1, got shape (8, 3)")):
        mg.nn.BatchNorm1d(4)(mg.zeros(8, 3))
    with pytest.raises(ValueError, match=re.escape("got shape (2, 4, 3, 3, 1)")):
        mg.nn.BatchNorm1d(4)(mg.zeros(2, 4, 3, 3, 1))
    with pytest.raises(ValueError, match=re.escape("BatchNorm2d(3): expected 4D input")):
        mg.nn.BatchNorm2d(3)(mg.zeros(2, 3))
    with pytest.raises(IndexError, match=r"Embedding\(5, 2\): index out of range, .* \[0, 5\) but got values in \[0, 7\]"):
        mg.nn.Embedding(5, 2)(mg.tensor([0, 7]))
    with pytest.raises(TypeError, match=r"Embedding\(5, 2\): expected integer indices .* got dtype float32"):
        mg.nn.Embedding(5, 2)(mg.zeros(3))
    with pytest.raises(ValueError, match=re.escape("GroupNorm(2, 4): expected input of shape (N, 4, *), got shape (3, 6)")):
        mg.nn.GroupNorm(2, 4)(mg.zeros(3, 6))
    with pytest.raises(ValueError, match=re.escape("num_channels (5) must be divisible by num_groups (2)")):
        mg.nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match=re.escape("InstanceNorm2d(3): expected 3D or 4D input, got shape (2, 3)")):
        mg.nn.InstanceNorm2d(3)(mg.zeros(2, 3))
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        mg.nn.Embedding(5, 2, padding_idx=5)


def test_module_level_dtype_conversion_runs_in_float64():
    # tanh-GELU: the exact GELU's erf is a 1e-7 approximation, which would hide float64 precision
    ours, theirs = twin(lambda L: mlp(L, approximate="tanh"))
    ours.double()
    theirs.double()
    x = randn(4, 5).astype(np.float64)
    ours.eval()
    theirs.eval()
    out = ours(mg.tensor(x))
    assert out.dtype == mg.float64
    np.testing.assert_allclose(out.detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_linear_default_bias_bound_and_parameters_distinct():
    a, b = mg.nn.Linear(3, 3), mg.nn.Linear(3, 3)
    assert not np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert np.abs(a.bias.detach().numpy()).max() <= 1 / math.sqrt(3)
