"""Tensor and the creation functions against PyTorch: dtypes, shapes, values, seeding,
properties, conversions and repr."""
import numpy as np
import pytest
import torch

import macrograd as mg

LIBS = [mg, torch]


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def same(fn, values=True):
    """fn(L) must give the same shape and dtype (and values) in both libraries."""
    ours, theirs = fn(mg), fn(torch)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype), (ours.dtype, theirs.dtype)
    if values:
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    return ours


# -- creation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda L: L.tensor([1.0, 2.5]),
    lambda L: L.tensor([[1, 2], [3, 4]]),
    lambda L: L.tensor([True, False]),
    lambda L: L.tensor(3),
    lambda L: L.tensor(2.5),
    lambda L: L.tensor([1, 2], dtype=L.float64),
    lambda L: L.tensor(np.zeros((2, 2), np.float64)),  # NumPy's dtype is kept
    lambda L: L.tensor(np.arange(3, dtype=np.int32)),
    lambda L: L.tensor([]),
    lambda L: L.zeros(2, 3),
    lambda L: L.zeros((2, 3)),
    lambda L: L.zeros([4], dtype=L.int64),
    lambda L: L.ones(3, dtype=L.float64),
    lambda L: L.ones(()),
    lambda L: L.full((2, 2), 7),
    lambda L: L.full((2,), 1.5),
    lambda L: L.full((2,), True),
    lambda L: L.full((2,), 3, dtype=L.float32),
    lambda L: L.arange(5),
    lambda L: L.arange(2, 9, 3),
    lambda L: L.arange(0, 1, 0.1),
    lambda L: L.arange(5.0),
    lambda L: L.arange(10, 0, -3),
    lambda L: L.arange(0, 5, dtype=L.float64),
    lambda L: L.linspace(-1, 1, 7),
    lambda L: L.linspace(0, 10, 1),
    lambda L: L.eye(3),
    lambda L: L.eye(2, 4, dtype=L.int64),
    lambda L: L.zeros_like(L.tensor([1, 2])),
    lambda L: L.ones_like(L.ones(2, 3, dtype=L.float64)),
    lambda L: L.full_like(L.tensor([1, 2]), 2.7),
    lambda L: L.full_like(L.zeros(2), 2.7, dtype=L.float64),
    lambda L: L.zeros_like(L.zeros(2), dtype=L.int64),
], ids=range(33))
def test_creation_matches_torch(make):
    same(make)


@pytest.mark.parametrize("make", [
    lambda L: L.rand(2, 3), lambda L: L.randn(4), lambda L: L.randn(2, 2, dtype=L.float64),
    lambda L: L.randint(0, 10, (3, 2)), lambda L: L.randint(5, (4,)), lambda L: L.randperm(6),
    lambda L: L.empty(2, 3), lambda L: L.empty(3, dtype=L.int64), lambda L: L.randn_like(L.zeros(2, 3)),
    lambda L: L.rand_like(L.zeros(2, dtype=L.float64)), lambda L: L.empty_like(L.zeros(3)),
    lambda L: L.randint(0, 3, (2,), dtype=L.int32),
], ids=range(12))
def test_random_and_empty_shapes_and_dtypes(make):
    same(make, values=False)


def test_random_value_ranges():
    assert 0 <= mg.rand(1000).numpy().min() and mg.rand(1000).numpy().max() < 1
    r = mg.randint(3, 7, (1000,)).numpy()
    assert r.min() == 3 and r.max() == 6
    assert sorted(mg.randperm(10).tolist()) == list(range(10))
    n = mg.randn(20000).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05


def test_requires_grad_in_factories():
    for L in LIBS:
        assert L.zeros(2, requires_grad=True).requires_grad
        assert L.randn(2, requires_grad=True).is_leaf
        assert L.tensor([1.0], requires_grad=True).requires_grad


def test_creation_errors():
    for L in LIBS:
        with pytest.raises(RuntimeError, match="negative"):
            L.zeros(2, -1)
    with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -1: \[2, -1\]"):
        mg.zeros(2, -1)
    with pytest.raises(RuntimeError, match="randn: random floats need a floating point dtype, got int64"):
        mg.randn_like(mg.tensor([1, 2]))
    with pytest.raises(TypeError, match="cannot make a tensor from str"):
        mg.tensor("abc")


def test_default_dtype_switch():
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.tensor([1.0]).dtype == mg.float64 and mg.zeros(1).dtype == mg.float64
        assert mg.tensor([1]).dtype == mg.int64
    finally:
        mg.set_default_dtype(mg.float32)
    assert mg.tensor([1.0]).dtype == mg.float32
    with pytest.raises(TypeError, match="only floating point dtypes"):
        mg.set_default_dtype(mg.int64)


# -- seeding ------------------------------------------------------------------------------------
def test_manual_seed_reproducible():
    mg.manual_seed(42)
    a = (mg.rand(3), mg.randn(2, 2), mg.randint(0, 100, (5,)), mg.randperm(5))
    mg.manual_seed(42)
    b = (mg.rand(3), mg.randn(2, 2), mg.randint(0, 100, (5,)), mg.randperm(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    mg.manual_seed(43)
    assert not np.array_equal(mg.rand(3).numpy(), a[0].numpy())
    assert mg.initial_seed() == 43


def test_generator_is_independent_of_the_global_stream():
    g1, g2 = mg.Generator().manual_seed(7), mg.Generator().manual_seed(7)
    first = mg.randn(4, generator=g1)
    mg.randn(100)  # draws from the global stream do not disturb g2
    np.testing.assert_array_equal(first.numpy(), mg.randn(4, generator=g2).numpy())
    np.testing.assert_array_equal(
        mg.randperm(5, generator=mg.Generator().manual_seed(1)).numpy(),
        mg.randperm(5, generator=mg.Generator().manual_seed(1)).numpy(),
    )
    state = g1.get_state()
    x = mg.rand(3, generator=g1)
    g1.set_state(state)
    np.testing.assert_array_equal(x.numpy(), mg.rand(3, generator=g1).numpy())


def test_rng_state_roundtrip():
    state = mg.get_rng_state()
    x = mg.randn(3)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(x.numpy(), mg.randn(3).numpy())


# -- properties ---------------------------------------------------------------------------------
def test_properties_match_torch():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for L in LIBS:
        x = L.tensor(a, requires_grad=True)
        assert tuple(x.shape) == (2, 3, 4) and x.ndim == 3 and x.dim() == 3 and x.numel() == 24
        assert tuple(x.size()) == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4 and len(x) == 2
        assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
        assert x.is_floating_point() and not L.tensor([1]).is_floating_point()
        assert tuple(x.mT.shape) == (2, 4, 3)
    same(lambda L: L.tensor(a[0]).T)
    same(lambda L: L.tensor(a).mT)


def test_T_and_mT_are_differentiable():
    for L in LIBS:
        x = L.ones(2, 3, requires_grad=True)
        (x.T * L.tensor([[1.0, 2.0]] * 3)).sum().backward()
        assert x.grad.tolist() == [[1.0] * 3, [2.0] * 3]


# -- conversions --------------------------------------------------------------------------------
def test_numpy_item_tolist():
    for L in LIBS:
        x = L.tensor([[1.5, 2.0]])
        arr = x.numpy()
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
        arr[0, 0] = 9.0  # shares memory, as in PyTorch
        assert x[0, 0].item() == 9.0
        assert x.tolist() == [[9.0, 2.0]] and L.tensor(3).tolist() == 3
        assert L.tensor([4]).item() == 4 and isinstance(L.tensor([4]).item(), int)
        assert isinstance(L.tensor(2.5).item(), float)
        with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
            L.ones(2, requires_grad=True).numpy()
        with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
            L.ones(2).item()
        assert float(L.tensor([2.5])) == 2.5 and int(L.tensor(3)) == 3


def test_detach_and_clone():
    for L in LIBS:
        x = L.tensor([1.0, 2.0], requires_grad=True)
        c = x.clone()
        assert c.requires_grad and not c.is_leaf
        (c * c).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]
        d = x.detach()
        assert not d.requires_grad
        c2 = L.tensor([1.0]).clone()
        assert not c2.requires_grad and c2.is_leaf


def test_clone_copies_memory():
    x = mg.tensor([1.0, 2.0])
    c = x.clone()
    c[0] = 5.0
    assert x.tolist() == [1.0, 2.0]


def test_requires_grad_and_zero():
    for L in LIBS:
        x = L.tensor([1.0, 2.0])
        assert x.requires_grad_() is x and x.requires_grad
        x.requires_grad_(False)
        assert not x.requires_grad
        y = L.tensor([3.0, 4.0])
        assert y.zero_() is y and y.tolist() == [0.0, 0.0]
        assert L.ones(2).fill_(3.0).tolist() == [3.0, 3.0]


@pytest.mark.parametrize("convert", [
    lambda t, L: t.to(L.float64), lambda t, L: t.float(), lambda t, L: t.double(), lambda t, L: t.long(),
    lambda t, L: t.int(), lambda t, L: t.bool(), lambda t, L: t.to(L.tensor([1])), lambda t, L: t.half(),
    lambda t, L: t.to(dtype=L.int64), lambda t, L: t.type_as(L.zeros(1, dtype=L.float64)),
], ids=range(10))
def test_dtype_conversions(convert):
    a = np.array([1.7, -1.7, 0.0, 2.5], np.float32)
    same(lambda L: convert(L.tensor(a), L))


def test_to_same_dtype_returns_self_and_float_cast_is_differentiable():
    for L in LIBS:
        x = L.tensor([1.0, 2.0], requires_grad=True)
        assert x.to(L.float32) is x and x.float() is x
        y = x.double()
        assert y.dtype == L.float64 and y.requires_grad
        (y * 3).sum().backward()
        assert x.grad.dtype == L.float32 and x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("make", [
    lambda L: L.tensor([1.0, 2.0]), lambda L: L.tensor([1, 2]), lambda L: L.tensor([True, False]),
    lambda L: L.tensor([1.0, 2.0], requires_grad=True), lambda L: L.tensor([1.5], requires_grad=True) * 2,
    lambda L: L.tensor([[1.0, 2.0], [3.0, 4.0]]), lambda L: L.tensor([1, 2], dtype=L.int32),
    lambda L: L.tensor([0.5], dtype=L.float64), lambda L: L.tensor(3.5), lambda L: L.tensor([1.25, -2.0, 3.0]),
], ids=range(10))
def test_repr_like_torch(make):
    ours, theirs = repr(make(mg)), repr(make(torch))
    theirs = theirs.replace("torch.", "macrograd.")
    theirs = theirs.replace("Backward0", "Backward")
    assert ours == theirs


def test_bool_and_index_conversions():
    for L in LIBS:
        assert bool(L.tensor([1.0])) and not bool(L.tensor(0))
        with pytest.raises(RuntimeError, match="Boolean value of Tensor with .* is ambiguous"):
            bool(L.ones(2))
        assert [10, 20, 30][L.tensor(1)] == 20
