"""Finite-difference gradient checks (float64) for every Function of the fused nn ops:
Softmax, LogSoftmax, CrossEntropy, CrossEntropyProbs, NLLLoss, MSE/L1/Huber/BCE/BCEWithLogits/
KLDiv losses, LayerNorm, BatchNorm (train and eval), GroupNorm, LpNormalize, Dropout, Embedding."""
import numpy as np
import pytest

import macrograd as mg
import macrograd.nn.functional as F
from macrograd.autograd import gradcheck


def t64(*shape, seed=0, scale=1.0, shift=0.0, requires_grad=True):
    data = np.random.default_rng(seed).standard_normal(shape) * scale + shift
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


def probs64(*shape, seed=0, requires_grad=True):
    p = np.random.default_rng(seed).random(shape) + 0.1
    return mg.tensor(p / p.sum(axis=1, keepdims=True), dtype=mg.float64, requires_grad=requires_grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim):
    x = t64(3, 4, seed=1, scale=2)
    assert gradcheck(lambda x: F.softmax(x, dim=dim), (x,))
    assert gradcheck(lambda x: F.log_softmax(x, dim=dim), (x,))


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_class_targets(reduction, smoothing):
    x = t64(4, 3, 2, seed=2)
    target = mg.tensor([[0, 2], [1, -100], [2, 2], [-100, 0]])
    weight = mg.tensor([0.5, 1.5, 2.0], dtype=mg.float64)
    assert gradcheck(lambda x: F.cross_entropy(x, target, weight, reduction=reduction,
                                               label_smoothing=smoothing), (x,))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probability_targets(smoothing):
    x, q = t64(3, 4, seed=3), probs64(3, 4, seed=4)
    weight = mg.tensor([0.5, 1.0, 1.5, 2.0], dtype=mg.float64)
    assert gradcheck(lambda x, q: F.cross_entropy(x, q, weight, reduction="none",
                                                  label_smoothing=smoothing), (x, q))


def test_nll_loss():
    x = t64(5, 3, seed=5)
    target = mg.tensor([0, 2, 1, 1, 2])
    weight = mg.tensor([1.0, 0.5, 3.0], dtype=mg.float64)
    assert gradcheck(lambda x: F.nll_loss(x, target, weight, ignore_index=1), (x,))
    assert gradcheck(lambda x: F.nll_loss(x, target, reduction="none"), (x,))


@pytest.mark.parametrize("loss,kwargs", [
    (F.mse_loss, {}), (F.l1_loss, {}), (F.smooth_l1_loss, {"beta": 0.5}),
    (F.huber_loss, {"delta": 0.8}), (F.mse_loss, {"reduction": "sum"}),
])
def test_regression_losses(loss, kwargs):
    # shifted away from the kinks of |d| and the huber switch points
    x, y = t64(3, 4, seed=6), t64(3, 4, seed=7)
    assert gradcheck(lambda x, y: loss(x, y, **kwargs), (x, y))
    assert gradcheck(lambda x, y: loss(x, y, reduction="none"), (x, y))


def test_regression_loss_with_broadcast_target():
    x, y = t64(3, 4, seed=8), t64(4, seed=9)
    with pytest.warns(UserWarning):
        assert gradcheck(lambda x, y: F.mse_loss(x, y), (x, y))


def test_binary_cross_entropy():
    x = mg.tensor(np.random.default_rng(10).uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    t = mg.tensor(np.random.default_rng(11).random((3, 4)), requires_grad=True)
    w = mg.tensor(np.random.default_rng(12).random(4) + 0.5)
    assert gradcheck(lambda x, t: F.binary_cross_entropy(x, t, w, reduction="none"), (x, t))


def test_binary_cross_entropy_with_logits():
    x, t = t64(3, 4, seed=13, scale=3), probs64(3, 4, seed=14)
    w = mg.tensor(np.random.default_rng(15).random((3, 1)) + 0.5)
    pos = mg.tensor(np.random.default_rng(16).random(4) * 3)
    assert gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(
        x, t, w, reduction="none", pos_weight=pos), (x, t))
    assert gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t), (x, t))


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(log_target):
    x = mg.tensor(np.log(probs64(3, 4, seed=17, requires_grad=False).numpy()), requires_grad=True)
    t = probs64(3, 4, seed=18, requires_grad=False).numpy()
    t = mg.tensor(np.log(t) if log_target else t, requires_grad=True)
    assert gradcheck(lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=log_target), (x, t))


def test_layer_norm():
    x, w, b = t64(2, 3, 4, seed=19), t64(3, 4, seed=20), t64(3, 4, seed=21)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), (x, w, b))
    assert gradcheck(lambda x: F.layer_norm(x, (4,)), (x,))


@pytest.mark.parametrize("shape", [(5, 3), (3, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(shape, training):
    x, w, b = t64(*shape, seed=22), t64(3, seed=23), t64(3, seed=24)
    mean, var = mg.zeros(3, dtype=mg.float64), mg.ones(3, dtype=mg.float64)
    # running stats change on every training call; gradcheck re-runs the function many times
    stats = lambda: (mean.clone(), var.clone())  # noqa: E731
    assert gradcheck(lambda x, w, b: F.batch_norm(x, *stats(), w, b, training=training), (x, w, b))


def test_group_and_instance_norm():
    x, w, b = t64(2, 4, 3, seed=25), t64(4, seed=26), t64(4, seed=27)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
    assert gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))


@pytest.mark.parametrize("p", [2.0, 1.5, 3.0])
def test_normalize(p):
    x = t64(3, 4, seed=28)
    assert gradcheck(lambda x: F.normalize(x, p=p, dim=1), (x,))


def test_dropout_with_a_fixed_mask():
    x = t64(4, 5, seed=29)

    def fn(x):
        mg.manual_seed(7)  # the same mask on every call
        return F.dropout(x, p=0.4)

    assert gradcheck(fn, (x,))


def test_embedding():
    w = t64(5, 3, seed=30)
    idx = mg.tensor([[0, 4, 4], [1, 0, 2]])
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: compared with torch instead)
    assert gradcheck(lambda w: F.embedding(idx, w), (w,))


def test_linear_and_bilinear():
    x, w, b = t64(2, 3, seed=31), t64(4, 3, seed=32), t64(4, seed=33)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, b))
    x2, wb = t64(2, 2, seed=34), t64(4, 3, 2, seed=35)
    assert gradcheck(lambda a, c, w: F.bilinear(a, c, w), (x, x2, wb))
