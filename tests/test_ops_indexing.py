"""Indexing against PyTorch: getitem in all its forms, __setitem__, and the indexing ops."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from oracle import check, randn


def idx(L, a):
    return L.tensor(np.asarray(a, dtype=np.int64))


# -- getitem ------------------------------------------------------------------------------------
BASIC = [
    0, -1, slice(None), slice(1, 3), slice(None, None, 2),
    (1, 2), (-1, slice(None), 0), (Ellipsis, 1), (None, 0), (slice(1, None), None, slice(None, 2)),
    (0, Ellipsis, None), (), Ellipsis,
]


@pytest.mark.parametrize("index", BASIC, ids=repr)
def test_getitem_basic(index):
    check(lambda L, x: x[index], randn(3, 4, 5))


ADVANCED = [
    [0, 2, 2],  # repeated: gradients accumulate
    [-1, 0, -1],
    ([0, 1, 1], [2, 2, 2]),
    (slice(None), [3, 0, 3]),
    (slice(1, None), [0, 0], slice(None, 3)),
    ([[0, 1], [1, 1]], slice(None), 4),
    (Ellipsis, [1, 1, -2]),
    (None, [2, 2], 1),
    ([0, 2], slice(None), [1, 1]),  # separated arrays: broadcast dims go first
]


@pytest.mark.parametrize("index", ADVANCED, ids=repr)
def test_getitem_integer_arrays(index):
    check(lambda L, x: x[index], randn(3, 4, 5))


def test_getitem_tensor_indices():
    check(lambda L, x: x[idx(L, [2, 0, 2, 2])], randn(3, 2))
    check(lambda L, x: x[idx(L, [[1, 1], [0, 2]]), 1:], randn(3, 2))
    check(lambda L, x: x[:, idx(L, 1)], randn(3, 2))  # 0-d index tensor
    check(lambda L, x: x[idx(L, [0, 1]), idx(L, [1, 1])], randn(3, 2))


def test_getitem_boolean_masks():
    mask = np.array([[True, False, True, True], [False, False, False, True], [True, True, False, False]])
    check(lambda L, x: x[L.tensor(mask)], randn(3, 4, 2))
    check(lambda L, x: x[L.tensor(mask[:, 0])], randn(3, 4))
    check(lambda L, x: x[:, L.tensor(mask[0])], randn(3, 4))
    check(lambda L, x: x[x > 0], randn(3, 4))
    check(lambda L, x: x[[True, False, True]], randn(3, 2))


def test_getitem_repeated_index_accumulates():
    x = mg.ones(3, requires_grad=True)
    x[[0, 0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 0, 1])


def test_getitem_errors_name_shape():
    with pytest.raises(IndexError, match=r"index \[5\] is invalid for a tensor of shape \(3, 2\)"):
        mg.zeros(3, 2)[5]
    with pytest.raises(IndexError, match=r"shape \(3, 2\)"):
        mg.zeros(3, 2)[[0, 3]]


def test_iteration_and_len():
    x = mg.arange(6).reshape(3, 2)
    assert [r.tolist() for r in x] == [[0, 1], [2, 3], [4, 5]]
    assert len(x) == 3


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_getitem_random_int_arrays(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    n = shape[dim]
    picks = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    index = (slice(None),) * dim + (picks,)
    check(lambda L, x: x[index], randn(*shape))


# -- setitem ------------------------------------------------------------------------------------
SET_CASES = [
    (0, 5.0), ((slice(None), 1), 2), ([0, 2], -1.0), ((1, slice(1, 3)), "tensor2"),
    ("mask", 0.0), ((Ellipsis, 0), "tensor3"),
]


@pytest.mark.parametrize("index,value", SET_CASES, ids=repr)
def test_setitem_matches_torch(index, value):
    base = randn(3, 4)
    results = []
    for L in (mg, torch):
        x = L.tensor(base)
        i = L.tensor(base > 0) if index == "mask" else index
        v = {"tensor2": L.tensor([7.0, 8.0]), "tensor3": L.tensor([1.0, 2.0, 3.0])}.get(value, value) if isinstance(value, str) else value
        x[i] = v
        results.append(x.numpy().copy())
    np.testing.assert_array_equal(*results)


def test_setitem_bumps_version_and_works_in_no_grad():
    x = mg.zeros(3, requires_grad=True)
    with mg.no_grad():
        x[1] = 4.0
    assert x.tolist() == [0, 4, 0] and x._version.value == 1
    y = mg.zeros(2, 2)
    y[:, 0] = mg.tensor([1.0, 2.0])
    assert y.tolist() == [[1, 0], [2, 0]]


def test_setitem_errors():
    x = mg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"__setitem__: cannot assign a tensor that requires grad \(shape \(3,\)\)"):
        x[0] = 1.0
    with pytest.raises(RuntimeError, match=r"cannot assign a value that requires grad"):
        mg.zeros(3)[0] = mg.tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"__setitem__: cannot assign a value of shape \(2,\).*tensor of shape \(3, 4\)"):
        mg.zeros(3, 4)[0] = mg.zeros(2)


def test_setitem_after_use_in_graph_is_caught():
    a = mg.randn(3, requires_grad=True)
    b = mg.ones(3)
    y = a * b  # Mul saved b for a's gradient
    b[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# -- gather / scatter ---------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim):
    index = np.array([[0, 1, 1], [2, 0, 0]]) if dim == 0 else np.array([[3, 3, 0], [1, 0, 2]])
    check(lambda L, x: L.gather(x, dim, idx(L, index)), randn(3, 4))
    check(lambda L, x: x.gather(dim, idx(L, index[:1, :2])), randn(3, 4))  # smaller index


def test_gather_3d_and_errors():
    index = np.random.default_rng(0).integers(0, 3, (2, 3, 2))
    check(lambda L, x: x.gather(1, idx(L, index)), randn(2, 4, 3))
    with pytest.raises(IndexError, match="gather: index 5 is out of bounds for dimension 1 with size 4"):
        mg.zeros(2, 4).gather(1, mg.tensor([[5]]))
    with pytest.raises(RuntimeError, match="gather: Index tensor must have the same number of dimensions"):
        mg.zeros(2, 4).gather(1, mg.tensor([1]))
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int64 for index"):
        mg.zeros(2, 4).gather(1, mg.tensor([[1.0]]))


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_src_and_value(dim):
    index = np.array([[0, 1, 2], [2, 0, 1]])  # no repeats along dim: the result is defined
    if dim == 0:
        index = np.array([[0, 1, 2, 0], [1, 2, 0, 2]])
    check(lambda L, x, s: L.scatter(x, dim, idx(L, index), s), randn(3, 4, seed=1), randn(*index.shape, seed=2))
    # src larger than index: only its leading corner is used (torch's own src gradient then has
    # the wrong shape, so only x's gradient is compared; test_gradcheck_shape checks src's)
    check(lambda L, x, s: L.scatter(x, dim, idx(L, index), s), randn(3, 4, seed=1), randn(3, 5, seed=2),
          requires_grad=[True, False])
    check(lambda L, x: x.scatter(dim, idx(L, index), value=2.5), randn(3, 4))
    check(lambda L, x: x.scatter(dim, idx(L, index), 2.5), randn(3, 4))


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_repeats_add_up(dim):
    index = np.array([[0, 0, 2], [2, 2, 2]])
    check(lambda L, x, s: L.scatter_add(x, dim, idx(L, index), s), randn(3, 3, seed=1), randn(2, 3, seed=2))
    check(lambda L, x, s: x.scatter_add(dim, idx(L, index[:, :2]), s), randn(3, 3, seed=1), randn(3, 3, seed=2),
          requires_grad=[True, False])
    # torch has no derivative for scatter(reduce=...): compare the values only
    check(lambda L, x, s: x.scatter(dim, idx(L, index), s, reduce="add"), randn(3, 3, seed=1), randn(2, 3, seed=2),
          requires_grad=[False, False])


def test_scatter_errors():
    with pytest.raises(RuntimeError, match=r"scatter_add\(\): Expected self.dtype to be equal to src.dtype"):
        mg.zeros(3).scatter_add(0, mg.tensor([0]), mg.ones(1, dtype=mg.float64))
    with pytest.raises(IndexError, match="scatter: index 3 is out of bounds"):
        mg.zeros(3).scatter(0, mg.tensor([3]), mg.ones(1))
    with pytest.raises(RuntimeError, match=r"scatter_add: Size does not match at dimension 0.*src shape \(1,\)"):
        mg.zeros(3).scatter_add(0, mg.tensor([0, 1]), mg.ones(1))


# -- index_select / index_add / take --------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dim):
    check(lambda L, x: L.index_select(x, dim, idx(L, [2, 0, 2])), randn(3, 4, 3))
    check(lambda L, x: x.index_select(dim, idx(L, 1)), randn(3, 4, 3))  # a 0-d index


def test_index_select_errors():
    with pytest.raises(IndexError, match=r"index_select\(\): Index is supposed to be a vector"):
        mg.zeros(3).index_select(0, mg.tensor([[0]]))
    with pytest.raises(IndexError, match="index_select: index 4 is out of bounds for dimension 0 with size 3"):
        mg.zeros(3).index_select(0, mg.tensor([4]))


@pytest.mark.parametrize("dim,alpha", [(0, 1), (1, 2.0), (-1, -0.5)])
def test_index_add(dim, alpha):
    x, n = randn(3, 4, seed=1), (3 if dim == 0 else 4)
    index = [0, n - 1, 0, 1]
    source = randn(*((4, 4) if dim == 0 else (3, 4)), seed=2)
    check(lambda L, x, s: L.index_add(x, dim, idx(L, index), s, alpha=alpha), x, source)


def test_index_add_shape_error():
    with pytest.raises(RuntimeError, match=r"index_add\(\): source shape \(2, 2\) must be \(3, 2\)"):
        mg.zeros(3, 4).index_add(1, mg.tensor([0, 1]), mg.zeros(2, 2))


def test_take():
    check(lambda L, x: L.take(x, idx(L, [[0, 5], [5, -1]])), randn(2, 3))


# -- masks --------------------------------------------------------------------------------------
def test_masked_fill_number_and_tensor_value():
    mask = np.array([[True, False, True], [False, False, True]])
    check(lambda L, x: x.masked_fill(L.tensor(mask), -1e9), randn(2, 3))
    check(lambda L, x: L.masked_fill(x, L.tensor(mask[0]), 0.0), randn(2, 3))  # broadcast mask
    check(lambda L, x, v: x.masked_fill(L.tensor(mask), v), randn(2, 3, seed=1), randn(seed=2))
    check(lambda L, x: x.masked_fill(L.tensor(mask), 1.0), randn(3))  # the mask broadens the output
    check(lambda L, x: x.masked_fill(L.tensor(mask), float("-inf")).exp(), randn(2, 3))


def test_masked_fill_gradient_zero_where_masked():
    x = mg.ones(4, requires_grad=True)
    x.masked_fill(mg.tensor([True, False, True, False]), 3.0).sum().backward()
    assert x.grad.tolist() == [0, 1, 0, 1]


def test_masked_fill_errors():
    with pytest.raises(RuntimeError, match="masked_fill only supports boolean masks, but got mask with dtype int64"):
        mg.zeros(2).masked_fill(mg.tensor([1, 0]), 1.0)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor"):
        mg.zeros(2).masked_fill(mg.tensor([True, False]), mg.zeros(2))
    with pytest.raises(RuntimeError, match=r"mask of shape \(3,\) must be broadcastable with the input of shape \(2,\)"):
        mg.zeros(2).masked_fill(mg.tensor([True, False, True]), 1.0)


def test_masked_select():
    mask = np.array([[True, False, True], [False, False, True]])
    check(lambda L, x: L.masked_select(x, L.tensor(mask)), randn(2, 3))
    check(lambda L, x: x.masked_select(L.tensor(mask[1])), randn(2, 3))
    check(lambda L, x: x.masked_select(L.tensor(mask)), randn(3))  # input broadcasts to the mask


@pytest.mark.parametrize("dim", [0, 1, -1, None])
def test_take_along_dim(dim):
    x = randn(3, 4)
    if dim is None:
        index = np.array([0, 11, 11, 5])
    else:
        index = np.argsort(x, axis=dim)[:2] if dim == 0 else np.argsort(x, axis=dim)[:, :2]
    check(lambda L, x: L.take_along_dim(x, idx(L, index), dim), x)


def test_take_along_dim_broadcasts():
    index = np.array([[[0], [2]]])  # (1, 2, 1) against input (3, 1, 4) along dim 2
    check(lambda L, x: x.take_along_dim(idx(L, index), 2), randn(3, 1, 4))
    with pytest.raises(RuntimeError, match="take_along_dim: input and indices should have the same number of dimensions"):
        mg.zeros(2, 3).take_along_dim(mg.tensor([0]), 1)


# -- in-place forms -----------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["masked_fill_", "scatter_", "scatter_add_", "index_add_"])
def test_inplace_forms(op):
    mask = np.array([[True, False, True], [False, False, True]])
    calls = {
        "masked_fill_": lambda L, h, s: h.masked_fill_(L.tensor(mask), -2.0),
        "scatter_": lambda L, h, s: h.scatter_(1, idx(L, [[2, 0, 1], [0, 1, 2]]), s),
        "scatter_add_": lambda L, h, s: h.scatter_add_(0, idx(L, [[1, 1, 0]]), s[:1]),
        "index_add_": lambda L, h, s: h.index_add_(0, idx(L, [1, 1]), s),
    }

    def fn(L, x, s):
        h = x * 1.0  # in-place ops act on a non-leaf
        out = calls[op](L, h, s)
        assert out is h
        return h

    check(fn, randn(2, 3, seed=1), randn(2, 3, seed=2))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        mg.zeros(2, 3, requires_grad=True).masked_fill_(mg.tensor(mask), 1.0)
    plain = mg.zeros(2, 3)
    plain.masked_fill_(mg.tensor(mask), 1.0)
    assert plain.tolist() == mask.astype(float).tolist()
