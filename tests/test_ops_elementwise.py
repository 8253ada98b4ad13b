"""Elementwise, activation and compare ops against PyTorch: values, every input gradient, dtypes,
Python operators (plain, reflected, in-place) and type promotion."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from op_strategies import array, broadcast_pair, shapes
from oracle import check, randn


def F(L):
    """Where each library keeps its activation functions."""
    return torch.nn.functional if L is torch else mg


# -- unary math ---------------------------------------------------------------------------------
# name -> how to draw a valid input from a normal sample (domains, and away from kinks at 0)
UNARY = {
    "neg": lambda x: x, "abs": lambda x: x, "exp": lambda x: x, "sin": lambda x: x,
    "cos": lambda x: x, "tanh": lambda x: x, "sigmoid": lambda x: x * 4, "square": lambda x: x,
    "log": lambda x: np.abs(x) + 0.5, "log2": lambda x: np.abs(x) + 0.5,
    "log10": lambda x: np.abs(x) + 0.5, "log1p": lambda x: np.abs(x) - 0.5,
    "sqrt": lambda x: np.abs(x) + 0.5, "rsqrt": lambda x: np.abs(x) + 0.5,
    "reciprocal": lambda x: x, "erf": lambda x: x * 2,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes(0, 3), seed=st.integers(0, 2**16))
def test_unary_ops_match_torch(name, shape, seed):
    x = UNARY[name](array(shape, seed, low=0.1)).astype(np.float32)
    check(lambda L, t: getattr(L, name)(t), x)
    check(lambda L, t: getattr(t, name)(), x)  # the method form


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign"])
def test_step_functions_have_zero_gradient(name):
    x = randn(3, 4, seed=1) * 3
    check(lambda L, t: getattr(L, name)(t) * t, x)


def test_round_with_decimals():
    check(lambda L, t: L.round(t * 10, decimals=1), randn(5, seed=2))


def test_unary_ops_on_integers_give_floats():
    x = np.array([1, 4, 9], dtype=np.int64)
    for name in ("exp", "log", "sqrt", "sin", "tanh", "sigmoid", "reciprocal", "rsqrt"):
        check(lambda L, t: getattr(L, name)(t), x)
    check(lambda L, t: (L.abs(-t), -t, L.square(t)), x)


# -- binary arithmetic --------------------------------------------------------------------------
BINARY = {
    "add": (lambda L, a, b: L.add(a, b), None),
    "add_alpha": (lambda L, a, b: L.add(a, b, alpha=2.5), None),
    "sub": (lambda L, a, b: L.sub(a, b), None),
    "sub_alpha": (lambda L, a, b: L.sub(a, b, alpha=-0.5), None),
    "mul": (lambda L, a, b: L.mul(a, b), None),
    "div": (lambda L, a, b: L.div(a, b), "b_away_from_0"),
    "true_divide": (lambda L, a, b: L.true_divide(a, b), "b_away_from_0"),
    "pow": (lambda L, a, b: L.pow(a, b), "a_positive"),
    "remainder": (lambda L, a, b: L.remainder(a, b), "b_away_from_0"),
    "fmod": (lambda L, a, b: L.fmod(a, b), "b_away_from_0"),
    "maximum": (lambda L, a, b: L.maximum(a, b), None),
    "minimum": (lambda L, a, b: L.minimum(a, b), None),
    "where": (lambda L, a, b: L.where(a > b, a, b * 2), None),
    "clamp_tensor": (lambda L, a, b: L.clamp(a, min=b, max=b + 1), None),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcast_pair(), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_torch(name, pair, seed):
    fn, domain = BINARY[name]
    a, b = array(pair[0], seed), array(pair[1], seed + 1)
    if domain == "b_away_from_0":
        b = np.sign(b + (b == 0)).astype(np.float32) * (np.abs(b) + 0.5)
    if domain == "a_positive":
        a = np.abs(a) + 0.5
    check(fn, a, b)


@pytest.mark.parametrize("fn", [
    lambda L, a, b: a + b, lambda L, a, b: a - b, lambda L, a, b: a * b, lambda L, a, b: a / b,
    lambda L, a, b: a.abs() ** b, lambda L, a, b: a % b, lambda L, a, b: -a, lambda L, a, b: abs(a),
    lambda L, a, b: +a, lambda L, a, b: 2 - a, lambda L, a, b: 2 + a, lambda L, a, b: 3 * a,
    lambda L, a, b: 2 / b, lambda L, a, b: 2 ** a, lambda L, a, b: (1.5 % b.detach()) * a,
    lambda L, a, b: a ** 2, lambda L, a, b: a ** 3, lambda L, a, b: b.abs() ** 0.5,
    lambda L, a, b: b.abs() ** -1.5, lambda L, a, b: a ** 0, lambda L, a, b: a ** 1,
], ids=["add", "sub", "mul", "div", "pow", "mod", "neg", "abs", "pos", "rsub", "radd", "rmul",
        "rdiv", "rpow", "rmod", "sq", "cube", "sqrt", "neg_pow", "pow0", "pow1"])
def test_python_operators(fn):
    a, b = randn(3, 4, seed=1), randn(4, seed=2)
    b = np.sign(b) * (np.abs(b) + 0.5)
    check(fn, a, b)


def test_floor_division_operator_without_gradient():
    a, b = randn(3, 4, seed=1) * 4, np.array([1.5, -2.0, 0.7, 3.0], np.float32)
    check(lambda L, x, y: (x // y, 7 // y, x // 2), a, b, requires_grad=[False, False])
    check(lambda L, x, y: L.div(x, y, rounding_mode="trunc"), a, b)  # zero gradients
    check(lambda L, x, y: L.div(x, y, rounding_mode="floor"), a, b)
    ints = np.array([7, -7, 6, -1, 0], np.int64)
    check(lambda L, x: (x // 2, x // -3, L.div(x, -3, rounding_mode="trunc"), x % 3, L.fmod(x, 3), x / 2), ints)


def test_div_rejects_unknown_rounding_mode():
    with pytest.raises(ValueError, match="rounding_mode"):
        mg.div(mg.ones(2), mg.ones(2), rounding_mode="round")


def test_pow_with_zero_base_and_exponents():
    a = np.array([0.0, 0.0, 2.0, 3.0], np.float32)
    b = np.array([0.0, 2.0, 0.0, 1.5], np.float32)
    check(lambda L, x, y: L.pow(x, y), a, b)
    check(lambda L, x: (x ** 0, x ** 2, x ** 1.0), a)


# -- in-place operators on non-leaf tensors -----------------------------------------------------
def test_inplace_operators_on_non_leaf_tensors():
    def fn(L, x, b):
        y = x * 1
        y += b
        y -= 1
        y *= 3
        y /= 2
        y **= 2
        y *= x
        return y

    check(fn, randn(3, 4, seed=1), randn(4, seed=2))


def test_inplace_methods_on_non_leaf_tensors():
    def fn(L, x, b):
        y = x * 2
        y.add_(b).mul_(0.5).sub_(b, alpha=2).div_(3).clamp_(-0.2, 0.2)
        return y

    check(fn, randn(3, 4, seed=1), randn(4, seed=2))


def test_inplace_on_leaf_that_requires_grad_is_an_error():
    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1


def test_inplace_change_of_a_saved_tensor_is_caught():
    x = mg.randn(3, requires_grad=True)
    y = x * 1
    z = y.exp()  # saves its output, not y
    w = y * y  # saves y
    y += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (w + z).sum().backward()


def test_inplace_cannot_change_shape_or_dtype():
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        y = mg.ones(3)
        y += mg.ones(2, 3)
    with pytest.raises(RuntimeError, match="can't be cast"):
        y = mg.ones(3, dtype=mg.int64)
        y += 0.5


# -- dtype promotion ----------------------------------------------------------------------------
PROMOTION = [
    (np.int64, np.float32, lambda L, a, b: a + b),
    (np.float32, np.int64, lambda L, a, b: a * b),
    (np.int64, np.int64, lambda L, a, b: a / b),
    (np.int64, np.int64, lambda L, a, b: a + b),
    (np.int32, np.int64, lambda L, a, b: a - b),
    (np.float32, np.float64, lambda L, a, b: a + b),
    (np.bool_, np.int64, lambda L, a, b: a + b),
    (np.bool_, np.float32, lambda L, a, b: a * b),
    (np.float32, None, lambda L, a: a + 1.5),
    (np.float64, None, lambda L, a: a * 2.5),
    (np.int64, None, lambda L, a: a * 2.5),
    (np.int64, None, lambda L, a: a + 2),
    (np.int64, None, lambda L, a: 2.5 ** a),
    (np.int64, None, lambda L, a: a ** 2),
    (np.int64, None, lambda L, a: a ** 0.5),
    (np.int32, None, lambda L, a: a / 2),
    (np.bool_, None, lambda L, a: a + 1),
    (np.float32, None, lambda L, a: a + True),
]


@pytest.mark.parametrize("da, db, fn", PROMOTION)
def test_dtype_promotion_matches_torch(da, db, fn):
    a = (np.arange(1, 7).reshape(2, 3) % 3).astype(da)
    if db is None:
        check(fn, a)
    else:
        check(fn, a, (np.arange(3) + 1).astype(db))


def test_zero_dim_tensor_does_not_widen():
    a, b = randn(3, seed=1), np.array(2.0, np.float64)
    check(lambda L, x, y: x * y, a, b)  # float32, as in PyTorch


# -- activations --------------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": lambda L, x: F(L).relu(x),
    "relu_method": lambda L, x: x.relu(),
    "leaky_relu": lambda L, x: F(L).leaky_relu(x),
    "leaky_relu_0.2": lambda L, x: F(L).leaky_relu(x, negative_slope=0.2),
    "elu": lambda L, x: F(L).elu(x),
    "elu_alpha": lambda L, x: F(L).elu(x, alpha=0.5),
    "gelu": lambda L, x: F(L).gelu(x),
    "gelu_tanh": lambda L, x: F(L).gelu(x, approximate="tanh"),
    "silu": lambda L, x: F(L).silu(x),
    "softplus": lambda L, x: F(L).softplus(x),
    "softplus_beta": lambda L, x: F(L).softplus(x, beta=2.0, threshold=3.0),
    "hardtanh": lambda L, x: F(L).hardtanh(x),
    "hardtanh_bounds": lambda L, x: F(L).hardtanh(x, min_val=-0.5, max_val=2.0),
    "relu6": lambda L, x: F(L).relu6(x),
    "erf": lambda L, x: L.erf(x),
    "erf_method": lambda L, x: x.erf(),
    "sigmoid": lambda L, x: L.sigmoid(x),
    "tanh": lambda L, x: L.tanh(x),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=shapes(0, 3), seed=st.integers(0, 2**16))
def test_activations_match_torch(name, shape, seed):
    x = array(shape, seed, low=0.01) * 4  # spread over the interesting range, away from the kink
    check(ACTIVATIONS[name], x, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_stable_at_extremes(name):
    x = np.array([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow or nan on the way
        check(ACTIVATIONS[name], x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "relu6", "hardtanh", "leaky_relu", "elu"])
def test_activation_gradient_at_the_kinks(name):
    x = np.array([-1.0, 0.0, 1.0, 6.0, -6.0], np.float32)  # 0, +-1 and 6 are kinks of some
    check(ACTIVATIONS[name], x)


def test_relu_keeps_integer_dtype():
    check(lambda L, x: F(L).relu(x), np.array([-2, 0, 3], np.int64))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        mg.gelu(mg.ones(2), approximate="sigmoid")


# -- clamp --------------------------------------------------------------------------------------
@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None), (0.5, -0.5), (-1, 1)])
def test_clamp_scalar_bounds(lo, hi):
    x = np.array([-1.0, -0.5, -0.3, 0.0, 0.3, 0.5, 1.0], np.float32)
    check(lambda L, t: L.clamp(t, min=lo, max=hi), x)
    check(lambda L, t: t.clip(lo, hi), x)


def test_clamp_tensor_bounds_at_ties_and_crossed_bounds():
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    lo = np.array([2.0, 2.0, 2.0, 5.0], np.float32)
    hi = np.array([3.0, 3.0, 3.0, 4.5], np.float32)
    check(lambda L, t, a, b: L.clamp(t, a, b), x, lo, hi)


def test_clamp_of_integers():
    x = np.array([1, 5, -3], np.int64)
    check(lambda L, t: (L.clamp(t, 0, 2), L.clamp(t, min=2.5)), x)


def test_clamp_needs_a_bound():
    with pytest.raises(RuntimeError, match="min.*max"):
        mg.clamp(mg.ones(2))


# -- comparisons and selection ------------------------------------------------------------------
COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("name", COMPARISONS)
@given(pair=broadcast_pair(), seed=st.integers(0, 2**16))
def test_comparisons_match_torch(name, pair, seed):
    a = np.round(array(pair[0], seed))  # rounded: plenty of ties
    b = np.round(array(pair[1], seed + 1))
    check(lambda L, x, y: getattr(L, name)(x, y), a, b)
    check(lambda L, x, y: getattr(x, name)(y), a, b)


def test_comparison_operators_and_scalars():
    a, b = np.array([1.0, 2.0, 3.0], np.float32), np.array([3.0, 2.0, 1.0], np.float32)
    check(lambda L, x, y: (x == y, x != y, x < y, x <= y, x > y, x >= y, x > 2, 2 < x, x == 2),
          a, b, requires_grad=[False, False])
    ints = np.array([1, 2, 3], np.int64)
    check(lambda L, x: (x == 2.0, x < 2.5, x >= 2), ints)


def test_logical_ops():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    check(lambda L, x, y: (x & y, x | y, x ^ y, ~x, L.logical_and(x, y), L.logical_or(x, y),
                           L.logical_xor(x, y), L.logical_not(y)), a, b)
    n = np.array([0.0, 1.5, -2.0, 0.0], np.float32)
    check(lambda L, x: (L.logical_not(x), L.logical_and(x, x > 0)), n, requires_grad=[False])


def test_nan_inf_predicates_and_closeness():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    check(lambda L, t: (L.isnan(t), L.isinf(t), L.isfinite(t)), x, requires_grad=[False])
    a, b = randn(4, seed=1), randn(4, seed=1) + np.float32(1e-7)
    check(lambda L, x, y: L.isclose(x, y), a, b, requires_grad=[False, False])
    assert mg.allclose(mg.tensor(a), mg.tensor(b)) == torch.allclose(torch.tensor(a), torch.tensor(b))
    assert mg.equal(mg.tensor(a), mg.tensor(a)) and not mg.equal(mg.tensor(a), mg.tensor(a[:3]))


def test_maximum_minimum_split_ties_and_propagate_nan():
    a = np.array([1.0, 2.0, 3.0, np.nan], np.float32)
    b = np.array([1.0, 3.0, 2.0, 0.0], np.float32)
    check(lambda L, x, y: (L.maximum(x, y), L.minimum(x, y)), a, b, check_grad=False)
    check(lambda L, x, y: (L.maximum(x, y), L.minimum(x, y)), a[:3], b[:3])


def test_where_forms():
    cond = np.array([[True, False, True]])
    a, b = randn(2, 3, seed=1), randn(3, seed=2)
    check(lambda L, c, x, y: L.where(c, x, y), cond, a, b)
    check(lambda L, c, x: L.where(c, x, 0.0), cond, a)
    check(lambda L, c, x: L.where(c, 1.5, x), cond, a)
    check(lambda L, c: L.where(c), cond)
    check(lambda L, x: (L.nonzero(x > 0), L.nonzero(x > 0, as_tuple=True)), a, requires_grad=[False])


def test_where_needs_a_bool_condition():
    with pytest.raises(TypeError, match="bool"):
        mg.where(mg.ones(3), mg.ones(3), mg.zeros(3))


def test_clone_and_casts_carry_gradients():
    x = randn(3, seed=1)
    check(lambda L, t: (t.clone() * 2, t.to(L.float64) * 3, t.double().float() * t), x)
    check(lambda L, t: (t.long(), t.to(L.int32)), x)
