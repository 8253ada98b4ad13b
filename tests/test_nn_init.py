"""mg.nn.init against the formulas and against torch.nn.init: gains, fans, the statistics of
every random initializer on large tensors, the exact ones (eye_, dirac_, constant_), and
orthogonality."""
import math

import numpy as np
import pytest
import torch

import macrograd as mg

init = mg.nn.init

NONLINEARITIES = [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
    ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)),
    ("selu", None),
]


@pytest.mark.parametrize("nonlinearity,param", NONLINEARITIES)
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity softsign"):
        init.calculate_gain("softsign")
    with pytest.raises(ValueError, match="negative_slope .* not a valid number"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (8, 4, 3, 3), (6, 2, 3, 4, 5), (1, 7)])
def test_fan_in_and_fan_out_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(mg.empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions \(got shape \(5,\)\)"):
        init._calculate_fan_in_and_fan_out(mg.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(mg.empty(3, 4), mode="fan_avg")


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


SHAPE = (400, 250)  # 100k draws: the sample std is within ~0.5% of the true one
FAN_IN, FAN_OUT = 250, 400


@pytest.mark.parametrize("name,kwargs,low,high,std", [
    ("uniform_", dict(a=-2.0, b=3.0), -2.0, 3.0, 5 / math.sqrt(12)),
    ("normal_", dict(mean=0.0, std=0.3), None, None, 0.3),
    ("xavier_uniform_", dict(gain=1.5), -1.5 * math.sqrt(6 / (FAN_IN + FAN_OUT)), 1.5 * math.sqrt(6 / (FAN_IN + FAN_OUT)),
     1.5 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier_normal_", dict(gain=2.0), None, None, 2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), -1 / math.sqrt(FAN_IN), 1 / math.sqrt(FAN_IN),
     1 / math.sqrt(3 * FAN_IN)),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu"), -math.sqrt(6 / FAN_OUT), math.sqrt(6 / FAN_OUT),
     math.sqrt(2 / FAN_OUT)),
    ("kaiming_normal_", dict(nonlinearity="relu"), None, None, math.sqrt(2 / FAN_IN)),
    ("kaiming_normal_", dict(a=0.1, mode="fan_out"), None, None, math.sqrt(2 / (1.01 * FAN_OUT))),
])
def test_random_init_statistics_match_formula_and_torch(name, kwargs, low, high, std):
    ours = getattr(init, name)(mg.nn.Parameter(mg.empty(*SHAPE)), **kwargs)
    theirs = getattr(torch.nn.init, name)(torch.empty(*SHAPE), **kwargs)
    assert ours.dtype == mg.float32 and ours.shape == SHAPE
    mean = kwargs.get("mean", (low + high) / 2 if low is not None else 0.0)
    for lo, hi, m, s in (_stats(ours), _stats(theirs)):
        if low is not None:
            assert low <= lo and hi <= high
            assert lo < low + 0.01 * (high - low) and hi > high - 0.01 * (high - low)  # the bounds are reached
        assert m == pytest.approx(mean, abs=0.02 * std)
        assert s == pytest.approx(std, rel=0.015)


def test_init_is_in_place_outside_autograd_and_seeded():
    weight = mg.nn.Parameter(mg.empty(30, 20))
    version = weight._version.value
    out = init.kaiming_uniform_(weight, a=math.sqrt(5))
    assert out is weight and weight.requires_grad and weight.grad_fn is None
    assert weight._version.value > version
    mg.manual_seed(7)
    first = init.normal_(mg.empty(5, 5)).numpy().copy()
    mg.manual_seed(7)
    np.testing.assert_array_equal(init.normal_(mg.empty(5, 5)).numpy(), first)
    generator = mg.Generator().manual_seed(3)
    a = init.uniform_(mg.empty(4), generator=generator).numpy().copy()
    generator.manual_seed(3)
    np.testing.assert_array_equal(init.uniform_(mg.empty(4), generator=generator).numpy(), a)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (1.0, 2.0, 0.0, 5.0),
                                           (0.0, 1.0, 2.0, 4.0)])
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    ours = init.trunc_normal_(mg.empty(*SHAPE), mean=mean, std=std, a=a, b=b)
    theirs = torch.nn.init.trunc_normal_(torch.empty(*SHAPE, dtype=torch.float64), mean=mean, std=std, a=a, b=b)
    # Moments of the truncated normal, from its closed form.
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    true_mean = mean + std * (pdf(alpha) - pdf(beta)) / z
    true_std = std * math.sqrt(1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - ((pdf(alpha) - pdf(beta)) / z) ** 2)
    for lo, hi, m, s in (_stats(ours), _stats(theirs)):
        assert a <= lo and hi <= b
        assert m == pytest.approx(true_mean, abs=0.02 * true_std)
        assert s == pytest.approx(true_std, rel=0.02)
    with pytest.raises(ValueError, match="a must be less than b"):
        init.trunc_normal_(mg.empty(3), a=1.0, b=-1.0)


@pytest.mark.parametrize("shape,gain", [((20, 50), 1.0), ((50, 20), 1.0), ((30, 30), 2.0), ((8, 3, 3, 3), 0.5)])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(mg.empty(*shape), gain=gain).numpy().astype(np.float64).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(mg.empty(4))


def test_exact_initializers_match_torch():
    for shape in [(3, 5), (5, 3)]:
        np.testing.assert_array_equal(init.eye_(mg.empty(*shape)).numpy(), torch.nn.init.eye_(torch.empty(*shape)).numpy())
    for shape, groups in [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((4, 2, 3, 3), 2), ((2, 5, 3, 3, 3), 1)]:
        np.testing.assert_array_equal(init.dirac_(mg.empty(*shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    assert np.all(init.constant_(mg.empty(2, 3), 0.25).numpy() == 0.25)
    assert np.all(init.zeros_(mg.empty(4)).numpy() == 0) and np.all(init.ones_(mg.empty(4)).numpy() == 1)
    with pytest.raises(ValueError, match="only tensors with 2 dimensions"):
        init.eye_(mg.empty(2, 2, 2))


def test_sparse_init_zeros_per_column():
    w = init.sparse_(mg.empty(10, 6), sparsity=0.3, std=0.1).numpy()
    assert all((w[:, j] == 0).sum() == 3 for j in range(6))


def test_zero_element_tensor_warns_and_is_a_noop():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(mg.empty(0, 3))


def test_linear_default_init_follows_torch_rule():
    layer = mg.nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    for p in (layer.weight, layer.bias):
        lo, hi, m, s = _stats(p)
        assert -bound <= lo and hi <= bound and lo < -0.9 * bound and hi > 0.9 * bound
    assert _stats(layer.weight)[3] == pytest.approx(bound / math.sqrt(3), rel=0.02)
