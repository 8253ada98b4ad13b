"""The fused neural-net ops (softmax, losses, normalization, dropout, embedding) and
macrograd.nn.functional, against torch.nn.functional: values and every gradient."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
import macrograd.nn.functional as mgF
from oracle import check, randn


def F(L):
    """The functional module of either library: the same test code runs on both."""
    return mgF if L is mg else torch.nn.functional


def rng(seed=0):
    return np.random.default_rng(seed)


def probs(*shape, seed=0, dtype=np.float32):
    """Rows (along dim 1) of class probabilities."""
    p = rng(seed).random(shape) + 0.1
    return (p / p.sum(axis=1, keepdims=True)).astype(dtype)


# -- softmax / log_softmax ------------------------------------------------------------------------
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_softmax_and_log_softmax_match_torch_on_any_dim(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = randn(*shape, seed=1) * 3
    check(lambda L, a: F(L).softmax(a, dim=dim), x)
    check(lambda L, a: F(L).log_softmax(a, dim=dim), x)
    check(lambda L, a: a.softmax(dim) * 2 + a.log_softmax(dim), x)  # the Tensor methods


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], dtype=np.float32)
    check(lambda L, a: F(L).log_softmax(a, dim=1), x)
    check(lambda L, a: F(L).softmax(a, dim=-1), x)


def test_softmax_dtype_argument_and_float64():
    x = randn(3, 4, dtype=np.float64)
    check(lambda L, a: F(L).softmax(a, dim=1, dtype=L.float32), x)
    check(lambda L, a: F(L).log_softmax(a, 0), x)


def test_softmax_errors():
    with pytest.raises(IndexError, match="softmax: dimension 2 is out of range.*shape \\(3, 4\\)"):
        mgF.softmax(mg.randn(3, 4), dim=2)
    with pytest.raises(RuntimeError, match="log_softmax: expected a floating point input, got int64"):
        mgF.log_softmax(mg.tensor([1, 2]), dim=0)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = mgF.softmax(mg.randn(2, 3))
    np.testing.assert_allclose(y.detach().numpy().sum(axis=1), 1, rtol=1e-6)


def test_log_softmax_equals_x_minus_logsumexp_in_float64():
    x = mg.tensor(randn(5, 7, dtype=np.float64) * 4, requires_grad=True)
    fused = mgF.log_softmax(x, dim=1)
    composed = x - mg.logsumexp(x, dim=1, keepdim=True)
    cot = mg.tensor(randn(5, 7, dtype=np.float64, seed=3))
    (gf,) = _grads(fused, cot, [x])
    (gc,) = _grads(composed, cot, [x])
    np.testing.assert_allclose(fused.detach().numpy(), composed.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(gf, gc, atol=1e-6)


def _grads(out, cotangent, inputs):
    """Gradients of sum(out * cotangent) with respect to inputs (as arrays)."""
    for t in inputs:
        t.grad = None
    (out * cotangent).sum().backward()
    grads = [t.grad.detach().numpy().copy() for t in inputs]
    for t in inputs:
        t.grad = None
    return grads


# -- cross_entropy and nll_loss --------------------------------------------------------------------
def _targets(shape, classes, seed=0, ignore=None):
    t = rng(seed).integers(0, classes, size=shape)
    if ignore is not None:
        t.flat[:: 3] = ignore  # every third target ignored
    return t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [None, -100, 2])
def test_cross_entropy_class_targets_every_option(reduction, use_weight, smoothing, ignore):
    x, t = randn(6, 5, seed=2) * 2, _targets((6,), 5, seed=3, ignore=ignore)
    w = rng(4).random(5).astype(np.float32) + 0.5
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    if ignore is not None:
        kwargs["ignore_index"] = ignore

    def fn(L, x, t, w):
        return F(L).cross_entropy(x, t, weight=w if use_weight else None, **kwargs)

    check(fn, x, t, w, requires_grad=[True, False, False])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_spatial_targets(reduction, smoothing):
    x, t = randn(2, 4, 3, 5, seed=5), _targets((2, 3, 5), 4, seed=6, ignore=-100)
    w = rng(7).random(4).astype(np.float32) + 0.5
    check(lambda L, x, t, w: F(L).cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing),
          x, t, w, requires_grad=[True, False, False])
    x1, t1 = randn(3, 4, 6, seed=8), _targets((3, 6), 4, seed=9)
    check(lambda L, x, t: F(L).cross_entropy(x, t, reduction=reduction), x1, t1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(reduction, use_weight, smoothing):
    x, q = randn(4, 5, 3, seed=10), probs(4, 5, 3, seed=11)
    w = rng(12).random(5).astype(np.float32) + 0.5

    def fn(L, x, q, w):
        return F(L).cross_entropy(x, q, weight=w if use_weight else None, reduction=reduction,
                                  label_smoothing=smoothing)

    # the target's gradient too: soft labels can be learned
    check(fn, x, q, w, requires_grad=[True, True, False])


def test_cross_entropy_unbatched_and_legacy_flags():
    x = randn(5, seed=13)
    check(lambda L, x, t: F(L).cross_entropy(x, t), x, np.array(3))
    check(lambda L, x, t: F(L).cross_entropy(x, t, reduction="none"), x, np.array(1))
    check(lambda L, x, q: F(L).cross_entropy(x, q), x, probs(1, 5, seed=1)[0])
    x2, t2 = randn(4, 3), _targets((4,), 3)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        check(lambda L, x, t: F(L).cross_entropy(x, t, size_average=False), x2, t2)
        check(lambda L, x, t: F(L).cross_entropy(x, t, reduce=False), x2, t2)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        mgF.nll_loss(mg.tensor(x2), mg.tensor(t2), size_average=False)


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    x, t = randn(3, 4), np.full(3, -100)
    outs = check(lambda L, x, t: F(L).cross_entropy(x, t), x, t)  # the gradient is 0
    assert np.isnan(outs[0])
    check(lambda L, x, t: F(L).nll_loss(x, t, weight=L.zeros(4)), x, np.array([0, 1, 2]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
def test_nll_loss_every_option(reduction, use_weight):
    x, t = randn(7, 4, seed=14), _targets((7,), 4, seed=15, ignore=1)
    w = rng(16).random(4).astype(np.float32) + 0.5

    def fn(L, x, t, w):
        return F(L).nll_loss(F(L).log_softmax(x, 1), t, weight=w if use_weight else None,
                             ignore_index=1, reduction=reduction)

    check(fn, x, t, w, requires_grad=[True, False, False])
    xs, ts = randn(2, 3, 4, 2, seed=17), _targets((2, 4, 2), 3, seed=18, ignore=-100)
    check(lambda L, x, t: F(L).nll_loss(x, t, reduction=reduction), xs, ts)


def test_cross_entropy_equals_nll_of_log_softmax_in_float64():
    x = mg.tensor(randn(6, 5, 2, dtype=np.float64, seed=19), requires_grad=True)
    t = mg.tensor(_targets((6, 2), 5, seed=20, ignore=-100))
    w = mg.tensor(rng(21).random(5) + 0.5)
    cot = mg.tensor(randn(6, 2, dtype=np.float64, seed=22))
    for reduction in ("none", "mean", "sum"):
        fused = mgF.cross_entropy(x, t, w, reduction=reduction)
        composed = mgF.nll_loss(mgF.log_softmax(x, dim=1), t, w, reduction=reduction)
        c = cot if reduction == "none" else mg.tensor(1.7, dtype=mg.float64)
        np.testing.assert_allclose(fused.detach().numpy(), composed.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(_grads(fused, c, [x])[0], _grads(composed, c, [x])[0], atol=1e-6)


def test_cross_entropy_errors():
    x = mg.randn(4, 3)
    with pytest.raises(IndexError, match="cross_entropy: target 3 is out of bounds for C=3 classes"):
        mgF.cross_entropy(x, mg.tensor([0, 1, 3, 2]))
    with pytest.raises(IndexError, match="target -1 is out of bounds for C=3"):
        mgF.nll_loss(x, mg.tensor([0, -1, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\).*got target of shape \(4, 1\)"):
        mgF.cross_entropy(x, mg.tensor([[0], [1], [2], [0]]))
    with pytest.raises(ValueError, match=r"class probabilities and must have the input's shape \(4, 3\), got \(4, 2\)"):
        mgF.cross_entropy(x, mg.rand(4, 2))
    with pytest.raises(ValueError, match="cross_entropy: 'avg' is not a valid value for reduction"):
        mgF.cross_entropy(x, mg.tensor([0, 1, 2, 0]), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        mgF.cross_entropy(x, mg.tensor([0, 1, 2, 0]), weight=mg.ones(4))
    with pytest.raises(RuntimeError, match="nll_loss: expected an integer class-index target, got bool"):
        mgF.nll_loss(x, mg.tensor([True, False, True, False]))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        mgF.cross_entropy(x, mg.tensor([0, 1, 2, 0]), label_smoothing=1.5)


# -- regression and binary losses ------------------------------------------------------------------
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_losses(name, reduction):
    x, y = randn(4, 5, seed=23) * 2, randn(4, 5, seed=24) * 2
    check(lambda L, x, y: getattr(F(L), name)(x, y, reduction=reduction), x, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_loss_options(reduction):
    x, y, w = randn(3, 6, seed=25) * 2, randn(3, 6, seed=26) * 2, rng(27).random((3, 6)).astype(np.float32)
    rg = [True, True, False]
    check(lambda L, x, y, w: F(L).mse_loss(x, y, reduction=reduction, weight=w), x, y, w, requires_grad=rg)
    check(lambda L, x, y, w: F(L).l1_loss(x, y, reduction=reduction, weight=w), x, y, w, requires_grad=rg)
    check(lambda L, x, y, w: F(L).huber_loss(x, y, reduction=reduction, delta=0.7, weight=w), x, y, w,
          requires_grad=rg)
    check(lambda L, x, y: F(L).smooth_l1_loss(x, y, reduction=reduction, beta=0.5), x, y)
    check(lambda L, x, y: F(L).smooth_l1_loss(x, y, reduction=reduction, beta=0.0), x, y)
    check(lambda L, x, y: F(L).huber_loss(x, y, reduction=reduction, delta=2.5), x, y)


def test_regression_loss_broadcast_target_warns_like_torch():
    x, y = randn(4, 3, seed=28), randn(3, seed=29)
    with pytest.warns(UserWarning, match="target size"):
        check(lambda L, x, y: F(L).mse_loss(x, y), x, y)
    with pytest.raises(ValueError, match=r"mse_loss: the target shape \(4,\) does not broadcast with the input shape \(4, 3\)"):
        mgF.mse_loss(mg.randn(4, 3), mg.randn(4))
    with pytest.raises(ValueError, match="mse_loss: 'batchmean' is not a valid value for reduction"):
        mgF.mse_loss(mg.randn(4), mg.randn(4), reduction="batchmean")
    with pytest.raises(ValueError, match=r"l1_loss: weights and input must have the same size"):
        mgF.l1_loss(mg.randn(4, 3), mg.randn(4, 3), weight=mg.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
def test_binary_cross_entropy(reduction, use_weight):
    x = rng(30).uniform(0.02, 0.98, (4, 3)).astype(np.float32)
    t = rng(31).random((4, 3)).astype(np.float32)
    w = rng(32).random(3).astype(np.float32) + 0.5  # broadcast over the batch
    check(lambda L, x, t, w: F(L).binary_cross_entropy(x, t, w if use_weight else None, reduction=reduction),
          x, t, w, requires_grad=[True, True, False], rtol=1e-4)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    x = np.array([0.0, 1.0, 0.5, 1.0], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0], dtype=np.float32)
    out = check(lambda L, x, t: F(L).binary_cross_entropy(x, t, reduction="none"), x, t,
                requires_grad=[True, False])
    np.testing.assert_allclose(out[0][:2], [100.0, 100.0])
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        mgF.binary_cross_entropy(mg.tensor([1.5]), mg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target size \(2,\) that is different to the input size \(1,\)"):
        mgF.binary_cross_entropy(mg.tensor([0.5]), mg.tensor([1.0, 0.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_pos_weight", [False, True])
def test_binary_cross_entropy_with_logits(reduction, use_weight, use_pos_weight):
    x = randn(5, 3, seed=33) * 4
    x[0, 0], x[1, 1] = 60.0, -60.0  # far in the tails: must stay finite
    t = rng(34).random((5, 3)).astype(np.float32)
    w = rng(35).random((5, 1)).astype(np.float32) + 0.5
    pw = rng(36).random(3).astype(np.float32) * 3

    def fn(L, x, t, w, pw):
        return F(L).binary_cross_entropy_with_logits(
            x, t, weight=w if use_weight else None, reduction=reduction,
            pos_weight=pw if use_pos_weight else None)

    check(fn, x, t, w, pw, requires_grad=[True, True, False, False])


def test_bce_with_logits_equals_bce_of_sigmoid_in_float64():
    x = mg.tensor(randn(4, 3, dtype=np.float64, seed=37) * 2, requires_grad=True)
    t = mg.tensor(rng(38).random((4, 3)), requires_grad=True)
    for reduction, cot in (("none", mg.tensor(randn(4, 3, dtype=np.float64, seed=39))),
                           ("mean", mg.tensor(1.3, dtype=mg.float64))):
        fused = mgF.binary_cross_entropy_with_logits(x, t, reduction=reduction)
        composed = mgF.binary_cross_entropy(mg.sigmoid(x), t, reduction=reduction)
        np.testing.assert_allclose(fused.detach().numpy(), composed.detach().numpy(), rtol=1e-10)
        for a, b in zip(_grads(fused, cot, [x, t]), _grads(composed, cot, [x, t])):
            np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x = np.log(probs(4, 5, seed=40))
    t = probs(4, 5, seed=41)
    if log_target:
        t = np.log(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn about reduction='mean'
        check(lambda L, x, t: F(L).kl_div(x, t, reduction=reduction, log_target=log_target), x, t)


def test_kl_div_zero_target_contributes_zero():
    x, t = np.log(probs(2, 3, seed=42)), np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=np.float32)
    check(lambda L, x, t: F(L).kl_div(x, t, reduction="sum"), x, t, requires_grad=[True, False])


# -- normalization ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 7), [7])])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(shape, normalized, affine):
    pshape = tuple(normalized)
    w, b = randn(*pshape, seed=43) + 1, randn(*pshape, seed=44)
    x = randn(*shape, seed=45) * 3 + 1

    def fn(L, x, w, b):
        return F(L).layer_norm(x, normalized, weight=None if affine == "none" else w,
                               bias=b if affine == "both" else None, eps=1e-4)

    check(fn, x, w, b, rtol=1e-4, atol=1e-5)


def test_layer_norm_equals_its_composition_in_float64():
    x = mg.tensor(randn(3, 4, 5, dtype=np.float64, seed=46), requires_grad=True)
    w = mg.tensor(randn(5, dtype=np.float64, seed=47), requires_grad=True)
    b = mg.tensor(randn(5, dtype=np.float64, seed=48), requires_grad=True)
    cot = mg.tensor(randn(3, 4, 5, dtype=np.float64, seed=49))
    fused = mgF.layer_norm(x, (5,), w, b, eps=1e-5)
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    composed = (x - mean) / mg.sqrt(var + 1e-5) * w + b
    np.testing.assert_allclose(fused.detach().numpy(), composed.detach().numpy(), atol=1e-12)
    for a, c in zip(_grads(fused, cot, [x, w, b]), _grads(composed, cot, [x, w, b])):
        np.testing.assert_allclose(a, c, atol=1e-6)


def test_layer_norm_accepts_an_int_normalized_shape():
    x = mg.randn(3, 4)
    np.testing.assert_array_equal(mgF.layer_norm(x, 4).numpy(), mgF.layer_norm(x, (4,)).numpy())


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"layer_norm: given normalized_shape=\[5\], expected input with shape \[\*, 5\], but got input of size \[3, 4\]"):
        mgF.layer_norm(mg.randn(3, 4), (5,))
    with pytest.raises(RuntimeError, match=r"expected weight of shape \(4,\).*got weight of shape \(3,\)"):
        mgF.layer_norm(mg.randn(3, 4), (4,), weight=mg.ones(3))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_against_torch(shape, training, affine):
    x = randn(*shape, seed=50) * 2 + 0.5
    w, b = randn(3, seed=51) + 1, randn(3, seed=52)
    mean0, var0 = randn(3, seed=53), rng(54).random(3).astype(np.float32) + 0.5
    stats = {}

    def fn(L, x, w, b):
        rm, rv = L.tensor(mean0.copy()), L.tensor(var0.copy())
        stats[L.__name__] = rm, rv
        return F(L).batch_norm(x, rm, rv, w if affine else None, b if affine else None,
                               training=training, momentum=0.3, eps=1e-3)

    check(fn, x, w, b, rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(stats["macrograd"], stats["torch"]):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_running_statistics_over_several_steps():
    rm_mg, rv_mg = mg.zeros(4), mg.ones(4)
    rm_t, rv_t = torch.zeros(4), torch.ones(4)
    for step in range(5):
        x = randn(6, 4, 3, seed=100 + step) * (step + 1) + step
        mgF.batch_norm(mg.tensor(x), rm_mg, rv_mg, training=True, momentum=0.1)
        torch.nn.functional.batch_norm(torch.tensor(x), rm_t, rv_t, training=True, momentum=0.1)
    np.testing.assert_allclose(rm_mg.detach().numpy(), rm_t.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(rv_mg.detach().numpy(), rv_t.detach().numpy(), rtol=1e-5)
    # and eval mode normalises with those running statistics
    x = randn(5, 4, 3, seed=7)
    ours = mgF.batch_norm(mg.tensor(x), rm_mg, rv_mg)
    theirs = torch.nn.functional.batch_norm(torch.tensor(x), rm_t, rv_t)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_without_running_stats_and_errors():
    x = randn(5, 2, 3, seed=55)
    check(lambda L, x: F(L).batch_norm(x, None, None, training=True), x)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, got input size \[1, 3\]"):
        mgF.batch_norm(mg.randn(1, 3), mg.zeros(3), mg.ones(3), training=True)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean should contain 3 elements not 4"):
        mgF.batch_norm(mg.randn(2, 3), mg.zeros(4), mg.ones(4))
    with pytest.raises(RuntimeError, match="must be defined in evaluation mode"):
        mgF.batch_norm(mg.randn(2, 3), None, None, training=False)


@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((2, 4, 3, 3), 2), ((3, 4), 2), ((2, 6, 2, 2), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape, groups, affine):
    x = randn(*shape, seed=56) * 2 + 1
    c = shape[1]
    w, b = randn(c, seed=57) + 1, randn(c, seed=58)
    check(lambda L, x, w, b: F(L).group_norm(x, groups, w if affine else None, b if affine else None, eps=1e-4),
          x, w, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"group_norm: expected number of channels in input \(6\) to be divisible by num_groups \(4\)"):
        mgF.group_norm(mg.randn(2, 6, 3), 4)


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm(use_input_stats):
    x = randn(3, 4, 5, 2, seed=59) * 2 + 1
    w, b = randn(4, seed=60) + 1, randn(4, seed=61)
    mean0, var0 = randn(4, seed=62), rng(63).random(4).astype(np.float32) + 0.5
    stats = {}

    def fn(L, x, w, b):
        rm, rv = L.tensor(mean0.copy()), L.tensor(var0.copy())
        stats[L.__name__] = rm, rv
        return F(L).instance_norm(x, rm, rv, w, b, use_input_stats=use_input_stats, momentum=0.2)

    check(fn, x, w, b, rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(stats["macrograd"], stats["torch"]):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    check(lambda L, x: F(L).instance_norm(x), x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1)])
def test_normalize(p, dim):
    x = randn(4, 5, seed=64)
    x[1] = 0.0  # a zero vector stays zero, with a finite gradient
    check(lambda L, x: F(L).normalize(x, p=p, dim=dim), x)


# -- dropout ---------------------------------------------------------------------------------------
def test_dropout_scales_kept_units_and_backprops_through_the_mask():
    x = mg.tensor(randn(200, 50, seed=65), requires_grad=True)
    y = mgF.dropout(x, p=0.3)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-6)
    cot = randn(200, 50, seed=66)
    (y * mg.tensor(cot)).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), cot * kept / 0.7, rtol=1e-6)
    assert y.dtype == mg.float32


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keep_rate_statistics(p):
    y = mgF.dropout(mg.ones(100_000), p=p)
    keep = (y.detach().numpy() != 0).mean()
    # binomial standard deviation is at most 0.0016 here: 5 sigma
    assert abs(keep - (1 - p)) < 0.008
    assert abs(y.detach().numpy().mean() - 1.0) < 0.05


def test_dropout_identity_in_eval_and_edge_probabilities():
    x = mg.randn(3, 4, requires_grad=True)
    assert mgF.dropout(x, 0.5, training=False) is x
    assert mgF.dropout(x, 0.0) is x
    assert not mgF.dropout(x, 1.0).detach().numpy().any()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {bad}"):
            mgF.dropout(x, bad)


def test_dropout_is_reproducible_with_manual_seed():
    mg.manual_seed(3)
    a = mgF.dropout(mg.ones(50)).detach().numpy()
    mg.manual_seed(3)
    b = mgF.dropout(mg.ones(50)).detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout2d_drops_whole_channels():
    y = mgF.dropout2d(mg.ones(8, 16, 3, 3), p=0.5).detach().numpy()
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).sum() < 128
    y1 = mgF.dropout1d(mg.ones(4, 6, 5), p=0.5).detach().numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2).all(-1))
    with pytest.raises(RuntimeError, match=r"dropout2d: expected 3D or 4D input, got input of shape \(2, 3\)"):
        mgF.dropout2d(mg.ones(2, 3))


# -- embedding and one_hot -------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding(padding_idx, scale_grad_by_freq):
    w = randn(6, 4, seed=67)
    idx = np.array([[0, 2, 2, 5], [1, 0, 5, 5]])

    def fn(L, w, i):
        return F(L).embedding(i, w, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)

    check(fn, w, idx)
    check(lambda L, w, i: F(L).embedding(i, w), w, np.array(3))


def test_embedding_max_norm_renormalises_rows_in_place():
    w = randn(5, 3, seed=68) * 3
    idx = np.array([0, 1, 3])
    weights = {}

    def fn(L, w, i):
        weights[L.__name__] = w
        return F(L).embedding(i, w, max_norm=1.5)

    check(fn, w, idx)
    np.testing.assert_allclose(weights["macrograd"].detach().numpy(), weights["torch"].detach().numpy(), rtol=1e-6)


def test_embedding_errors():
    w = mg.randn(4, 2)
    with pytest.raises(IndexError, match=r"embedding: index 4 is out of range for a weight of 4 rows"):
        mgF.embedding(mg.tensor([0, 4]), w)
    with pytest.raises(RuntimeError, match="embedding: expected indices of an integer dtype"):
        mgF.embedding(mg.tensor([0.0, 1.0]), w)


def test_one_hot():
    t = np.array([[0, 3], [2, 1]])
    for kwargs in ({}, {"num_classes": 6}):
        ours = mgF.one_hot(mg.tensor(t), **kwargs)
        theirs = torch.nn.functional.one_hot(torch.tensor(t), **kwargs)
        assert ours.dtype == mg.int64
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    with pytest.raises(RuntimeError, match=r"one_hot: class values must be smaller than num_classes \(3\), got 3"):
        mgF.one_hot(mg.tensor(t), 3)


# -- the rest of nn.functional: activations, linear, bilinear, pad -----------------------------------
@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("silu", {}), ("softplus", {"beta": 2.0}),
    ("hardtanh", {"min_val": -0.5, "max_val": 0.7}), ("relu6", {}), ("sigmoid", {}), ("tanh", {}),
])
def test_activations_are_exported(name, kwargs):
    x = randn(3, 7, seed=69) * 4
    check(lambda L, x: getattr(F(L), name)(x, **kwargs), x, rtol=1e-5, atol=1e-6)


def test_linear_and_bilinear():
    x, w, b = randn(2, 3, 4, seed=70), randn(5, 4, seed=71), randn(5, seed=72)
    check(lambda L, x, w, b: F(L).linear(x, w, b), x, w, b)
    check(lambda L, x, w: F(L).linear(x, w), x, w)
    x1, x2, wb, bb = randn(3, 4, seed=73), randn(3, 2, seed=74), randn(5, 4, 2, seed=75), randn(5, seed=76)
    check(lambda L, a, c, w, b: F(L).bilinear(a, c, w, b), x1, x2, wb, bb, rtol=1e-4)
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(2, 3\) does not match weight of shape \(5, 4\)"):
        mgF.linear(mg.randn(2, 3), mg.randn(5, 4))


def test_pad_is_exported():
    check(lambda L, x: F(L).pad(x, (1, 2)), randn(2, 3, seed=77))
