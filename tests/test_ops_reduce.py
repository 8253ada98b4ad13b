"""Reductions against PyTorch (values, indices, every gradient) over hypothesis-drawn shapes,
dims (None, int, tuple, negative) and keepdim; each fused reduction against its composition."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from op_strategies import array, shape_and_dims
from oracle import check, randn

keepdims = st.booleans()
seeds = st.integers(0, 2**16)


def _dims_arg(dim):
    """torch reads dim=None as 'all' for sum/mean/var but wants () or a tuple for amax."""
    return () if dim is None else dim


# -- sum, mean, var, std, logsumexp, norm, amax/amin: a dims tuple ------------------------------
MULTI_DIM = {
    "sum": lambda L, x, d, k: L.sum(x, dim=d, keepdim=k),
    "mean": lambda L, x, d, k: x.mean(dim=d, keepdim=k),
    "var": lambda L, x, d, k: L.var(x, dim=d, keepdim=k),
    "var_correction0": lambda L, x, d, k: x.var(dim=d, keepdim=k, correction=0),
    "var_unbiased_false": lambda L, x, d, k: L.var(x, d, False, k),
    "std": lambda L, x, d, k: L.std(x, dim=d, keepdim=k),
    "std_correction0": lambda L, x, d, k: x.std(dim=d, correction=0, keepdim=k),
    # torch's logsumexp fails on dim=(), so spell "all" out
    "logsumexp": lambda L, x, d, k: L.logsumexp(x, dim=tuple(range(x.ndim)) if d is None else d, keepdim=k),
    "norm": lambda L, x, d, k: L.norm(x, dim=d[:2] if isinstance(d, tuple) else d, keepdim=k),
    "norm_p2": lambda L, x, d, k: L.norm(x, p=2, dim=d, keepdim=k),
    "norm_p1": lambda L, x, d, k: x.norm(p=1, dim=d, keepdim=k),
    "norm_p3": lambda L, x, d, k: x.norm(p=3, dim=d, keepdim=k),
    "norm_inf": lambda L, x, d, k: x.norm(p=math.inf, dim=d, keepdim=k),
    # torch's 'fro' takes at most two dims
    "norm_fro": lambda L, x, d, k: L.norm(x, p="fro", dim=d[:2] if isinstance(d, tuple) else d, keepdim=k),
    "amax": lambda L, x, d, k: L.amax(x, dim=_dims_arg(d), keepdim=k),
    "amin": lambda L, x, d, k: x.amin(dim=_dims_arg(d), keepdim=k),
}


def _varlike_needs_two(name, shape, dim):
    """var/std with correction 1 over a single element is nan (0/0): legal, but not a test."""
    dims = range(len(shape)) if dim is None else ([dim] if isinstance(dim, int) else dim)
    return name in ("var", "std", "var_unbiased_false") and math.prod(shape[d] for d in dims) < 2


@pytest.mark.parametrize("name", sorted(MULTI_DIM))
@given(case=shape_and_dims(), keepdim=keepdims, seed=seeds)
def test_multi_dim_reductions_match_torch(name, case, keepdim, seed):
    shape, dim = case
    if _varlike_needs_two(name, shape, dim):
        dim = None
        shape = shape + (2,)
    x = array(shape, seed, low=0.05, distinct=True)  # distinct: no ties for amax/amin/inf-norm
    check(lambda L, t: MULTI_DIM[name](L, t, dim, keepdim), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "norm", "var"])
def test_reductions_of_a_zero_dim_tensor(name):
    x = np.array(1.5, np.float32)
    if name == "var":  # one element, correction 0
        check(lambda L, t: (t.var(correction=0), t.var(dim=0, correction=0)), x)
        return
    check(lambda L, t: MULTI_DIM[name](L, t, 0, False), x)
    check(lambda L, t: MULTI_DIM[name](L, t, -1, True), x)


def test_sum_and_mean_dtypes():
    ints = np.array([[1, 2], [3, 4]], np.int32)
    check(lambda L, t: (t.sum(), t.sum(0), L.sum(t > 2), t.sum(dtype=L.float32)), ints)
    check(lambda L, t: (t.sum(dim=()), t.mean(dim=()), t.mean(dtype=L.float64)), randn(2, 3, seed=1))
    with pytest.raises(RuntimeError, match="mean.*dtype"):
        mg.tensor([1, 2]).mean()


def test_dim_errors_name_the_op():
    x = mg.ones(2, 3)
    with pytest.raises(IndexError, match=r"sum: dimension 2 is out of range .*\[-2, 1\]"):
        x.sum(dim=2)
    with pytest.raises(RuntimeError, match="var: dim .* appears more than once"):
        x.var(dim=(1, -1))
    with pytest.raises(IndexError, match="max.*out of range"):
        x.max(dim=-3)


# -- prod ---------------------------------------------------------------------------------------
@given(case=shape_and_dims(max_dims=3), keepdim=keepdims, seed=seeds,
       zeros=st.integers(0, 3))
def test_prod_matches_torch_including_zeros(case, keepdim, seed, zeros):
    shape, dim = case
    x = array(shape, seed, low=0.5)
    flat = x.reshape(-1)
    flat[np.random.default_rng(seed).choice(flat.size, min(zeros, flat.size), replace=False)] = 0
    if isinstance(dim, tuple):
        dim = dim[0]
    if dim is None:
        check(lambda L, t: t.prod(), x, rtol=1e-5, atol=1e-5)
    else:
        check(lambda L, t: L.prod(t, dim, keepdim=keepdim), x, rtol=1e-5, atol=1e-5)


def test_prod_gradient_with_one_and_two_zeros_per_row():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 3.0]], np.float32)
    check(lambda L, t: (t.prod(1), t.prod(0), t.prod()), x)


def test_prod_of_integers():
    check(lambda L, t: (t.prod(), t.prod(0)), np.array([[1, 2], [3, 4]], np.int32))


# -- max / min / argmax / argmin ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min"])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), keepdim=keepdims,
       seed=seeds, data=st.data())
def test_max_min_with_dim_give_values_and_indices(name, shape, keepdim, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.round(array(shape, seed) * 2) / 2  # ties: the first index wins, as in PyTorch

    def fn(L, t):
        out = getattr(L, name)(t, dim, keepdim=keepdim)
        assert out.values is out[0] and out.indices is out[1]
        return out.values, out.indices

    check(fn, x)
    check(lambda L, t: getattr(t, name)(dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_global_max_min_split_the_gradient_among_ties(name):
    x = np.array([[1.0, 3.0, 3.0], [3.0, -2.0, -2.0]], np.float32)
    check(lambda L, t: getattr(L, name)(t), x)
    check(lambda L, t: getattr(t, name)(), x)


def test_amax_ties_over_a_dims_tuple():
    x = np.array([[[1.0, 3.0], [3.0, 0.0]], [[2.0, 2.0], [-1.0, 2.0]]], np.float32)
    check(lambda L, t: (L.amax(t, dim=(0, 2)), L.amin(t, dim=(-1, 1), keepdim=True)), x)


def test_max_of_two_tensors_is_maximum():
    a, b = randn(3, seed=1), randn(3, seed=2)
    check(lambda L, x, y: (L.max(x, y), L.min(x, y)), a, b)


def test_max_return_type_is_named_like_torch():
    out = mg.max(mg.tensor([[1.0, 5.0]]), dim=1)
    assert type(out).__name__ == "max" and out._fields == ("values", "indices")
    values, indices = mg.min(mg.tensor([[1.0, 5.0]]), 1, True)
    assert type(mg.min(mg.tensor([1.0]), 0)).__name__ == "min"
    assert values.shape == (1, 1) and indices.dtype == mg.int64


def test_max_min_of_zero_dim_and_empty_tensors():
    x = np.array(2.5, np.float32)
    check(lambda L, t: (*L.max(t, 0), *L.min(t, -1, keepdim=True), L.argmax(t), L.argmin(t, 0)), x)
    with pytest.raises(RuntimeError, match="max.*numel\\(\\) == 0"):
        mg.zeros(0, 3).max()
    with pytest.raises(IndexError, match="min.*dim 0 to have non-zero size"):
        mg.zeros(0, 3).min(dim=0)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(case=shape_and_dims(allow_none=True), keepdim=keepdims, seed=seeds)
def test_argmax_argmin_match_torch(name, case, keepdim, seed):
    shape, dim = case
    if isinstance(dim, tuple):
        dim = dim[0]
    x = np.round(array(shape, seed) * 2) / 2  # ties included
    check(lambda L, t: getattr(L, name)(t, dim=dim, keepdim=keepdim), x)
    check(lambda L, t: getattr(t, name)(dim), x)


def test_max_and_argmax_with_nan_pick_the_nan():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 2.0, 0.0]], np.float32)
    check(lambda L, t: (*t.max(1), t.argmax(1), t.argmin(1), t.amax(1)), x, check_grad=False)


# -- var / std arguments --------------------------------------------------------------------------
def test_var_std_argument_forms():
    x = randn(3, 4, seed=1)
    check(lambda L, t: (t.var(), t.var(True), t.var(False), t.std(1, True, True),
                        L.var(t, 0, unbiased=False), L.std(t, dim=(0, 1), correction=2)), x)


def test_var_std_errors():
    with pytest.raises(RuntimeError, match="either unbiased or correction"):
        mg.ones(3).var(unbiased=True, correction=1)
    with pytest.raises(RuntimeError, match="var.*floating point"):
        mg.tensor([1, 2, 3]).var()


# -- logsumexp ------------------------------------------------------------------------------------
def test_logsumexp_is_stable_and_handles_infinities():
    x = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0]],
                 np.float32)
    check(lambda L, t: L.logsumexp(t, dim=1), x, check_grad=False)
    check(lambda L, t: L.logsumexp(t, dim=1), x[[0]])
    check(lambda L, t: L.logsumexp(t, dim=0), np.array([1, 2, 3], np.int64))  # integers -> float


# -- norm -----------------------------------------------------------------------------------------
def test_norm_special_cases():
    x = np.array([[0.0, 3.0, -4.0], [0.0, 0.0, 0.0]], np.float32)
    check(lambda L, t: (t.norm(dim=1), t.norm(p=1, dim=1), t.norm(p=3, dim=1)), x)  # zero rows: grad 0
    check(lambda L, t: (t.norm(p=0), t.norm(p=0, dim=1), t.norm(p=-math.inf, dim=1)), x, check_grad=False)
    check(lambda L, t: t.norm(p=-math.inf), x[0] + 1)
    with pytest.raises(RuntimeError, match="fro.*at most 2 dims"):
        mg.ones(2, 2, 2).norm(dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="norm.*floating point"):
        mg.tensor([1, 2]).norm()


# -- cumsum, all, any, count_nonzero --------------------------------------------------------------
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), seed=seeds, data=st.data())
def test_cumsum_matches_torch(shape, seed, data):
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    x = array(shape, seed)
    check(lambda L, t: L.cumsum(t, dim), x)
    check(lambda L, t: t.cumsum(dim=dim), x)
    check(lambda L, t: t.cumsum(dim), (x > 0).astype(np.int32))  # integers sum as int64


@pytest.mark.parametrize("name", ["all", "any", "count_nonzero"])
@given(case=shape_and_dims(), seed=seeds)
def test_boolean_reductions_match_torch(name, case, seed):
    shape, dim = case
    x = np.maximum(np.round(array(shape, seed)), 0)  # plenty of zeros
    check(lambda L, t: getattr(L, name)(t, dim=dim), x, requires_grad=[False])
    check(lambda L, t: getattr(t, name)(dim), x.astype(bool))
    if name != "count_nonzero":
        check(lambda L, t: getattr(L, name)(t, dim=dim, keepdim=True), x, requires_grad=[False])


# -- fused reductions against their compositions --------------------------------------------------
def _agree(fused, composed, *arrays):
    """The fused op and its composition from primitives give the same value and gradient."""
    results = []
    for fn in (fused, composed):
        xs = [mg.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*xs)
        weights = mg.tensor(np.random.default_rng(5).standard_normal(out.shape))
        (out * weights).sum().backward()
        results.append((out.detach().numpy(), [x.grad.numpy() for x in xs]))
    (v1, g1), (v2, g2) = results
    np.testing.assert_allclose(v1, v2, rtol=1e-6, atol=1e-6)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


X64 = randn(3, 5, dtype=np.float64, seed=7) * 3


def test_logsumexp_matches_its_composition():
    def composed(x):
        m = x.amax(dim=1, keepdim=True).detach()
        return (x - m).exp().sum(dim=1).log() + m.squeeze(1)

    _agree(lambda x: x.logsumexp(1), composed, X64)


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_and_std_match_their_composition(correction):
    n = X64.shape[1]

    def var(x):
        return ((x - x.mean(dim=1, keepdim=True)) ** 2).mean(dim=1) * (n / (n - correction))

    _agree(lambda x: x.var(dim=1, correction=correction), var, X64)
    _agree(lambda x: x.std(dim=1, correction=correction), lambda x: var(x).sqrt(), X64)


@pytest.mark.parametrize("p", [1, 2, 3, math.inf])
def test_norm_matches_its_composition(p):
    def composed(x):
        if p == math.inf:
            return x.abs().amax(dim=1)
        return (x.abs() ** p).sum(dim=1) ** (1 / p)

    _agree(lambda x: x.norm(p=p, dim=1), composed, X64)


def test_prod_matches_its_composition_without_zeros():
    _agree(lambda x: x.prod(1), lambda x: x.abs().log().sum(1).exp() * x.sign().prod(1).detach(), X64)


def test_cumsum_matches_its_composition():
    mask = mg.tensor(np.tril(np.ones((5, 5))))  # y_i = sum_j [j <= i] x_j
    _agree(lambda x: x.cumsum(1), lambda x: x @ mask.T, X64)


def test_max_with_dim_matches_amax_without_ties():
    _agree(lambda x: x.max(dim=1).values, lambda x: x.amax(dim=1), X64)
