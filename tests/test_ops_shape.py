"""Shape ops against PyTorch: forward values, dtypes and every input gradient (tests/oracle.py)."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from oracle import check, randn


# -- cat / stack ------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_cat(dim):
    shapes = {0: [(2, 3), (4, 3), (1, 3)], 1: [(2, 1), (2, 3), (2, 2)]}[dim % 2]
    check(lambda L, a, b, c: L.cat([a, b, c], dim=dim), *(randn(*s, seed=i) for i, s in enumerate(shapes)))


def test_cat_promotes_dtypes_and_skips_empty_1d():
    a, b = np.arange(6).reshape(2, 3), randn(1, 3)
    for lib in (mg, torch):
        out = lib.cat([lib.tensor(a), lib.tensor(b)])
        assert str(out.dtype).split(".")[-1] == "float32"
        assert lib.cat([lib.zeros(0), lib.ones(2, 3)]).shape == (2, 3)
    check(lambda L, x: L.cat([L.zeros(0), x, x], 1), randn(2, 2))


def test_cat_single_and_tuple():
    check(lambda L, a: L.cat((a,), 0) * 2, randn(3))


def test_cat_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"cat: Sizes of tensors must match except in dimension 0; got shapes \(2, 3\), \(2, 4\)"):
        mg.cat([mg.zeros(2, 3), mg.zeros(2, 4)])
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        mg.cat([mg.tensor(1.0), mg.tensor(2.0)])
    with pytest.raises(RuntimeError, match="non-empty"):
        mg.cat([])
    with pytest.raises(IndexError, match="out of range"):
        mg.cat([mg.zeros(2), mg.zeros(2)], dim=2)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim):
    check(lambda L, a, b: L.stack([a, b * 2], dim=dim), randn(2, 3, seed=1), randn(2, 3, seed=2))


def test_stack_of_scalars_and_errors():
    check(lambda L, a, b: L.stack([a, b]), randn(), randn())
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got shapes \(2,\), \(3,\)"):
        mg.stack([mg.zeros(2), mg.zeros(3)])


def test_hstack_vstack():
    check(lambda L, a, b: L.hstack([a, b]), randn(3, seed=1), randn(2, seed=2))
    check(lambda L, a, b: L.vstack([a, b]), randn(3, seed=1), randn(3, seed=2))


# -- split family: every piece has its own node ------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5, [1, 4], [2, 0, 3]])
def test_split(size):
    check(lambda L, x: L.split(x, size, dim=1), randn(2, 5, 3))
    check(lambda L, x: x.split(size, -2), randn(2, 5, 3))


def test_split_only_some_pieces_used():
    check(lambda L, x: x.split(2)[1] * 3, randn(5, 2))


def test_split_errors():
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly to 5"):
        mg.zeros(5).split([2, 2])


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 6, 7])
def test_chunk(chunks):
    out = check(lambda L, x: L.chunk(x, chunks, dim=0), randn(6, 2))
    assert len(out) == len(torch.chunk(torch.zeros(6, 2), chunks))


def test_tensor_split():
    check(lambda L, x: L.tensor_split(x, 3, dim=1), randn(2, 7))
    check(lambda L, x: x.tensor_split([1, 4], dim=1), randn(2, 7))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind(dim):
    check(lambda L, x: L.unbind(x, dim), randn(3, 2, 4))


def test_unbind_pieces_have_own_nodes():
    x = mg.randn(3, 2, requires_grad=True)
    a, b, c = x.unbind()
    assert len({id(a.grad_fn), id(b.grad_fn), id(c.grad_fn)}) == 3
    (a * 2 + c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [0, 0], [1, 1]])


@pytest.mark.parametrize("dim,start,length", [(0, 0, 2), (1, 1, 3), (-1, -3, 2), (0, 3, 0)])
def test_narrow(dim, start, length):
    check(lambda L, x: L.narrow(x, dim, start, length), randn(3, 4))


def test_narrow_and_select_errors():
    with pytest.raises(RuntimeError, match=r"narrow: start \(2\) \+ length \(3\) exceeds dimension size \(4\)"):
        mg.zeros(4).narrow(0, 2, 3)
    with pytest.raises(IndexError, match="select\\(\\): index 5 out of range"):
        mg.zeros(2, 3).select(1, 5)


def test_select():
    check(lambda L, x: x.select(1, -1), randn(2, 3, 4))


# -- pad ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pad", [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1), (-1, 2), (2, -1, 0, -1)])
def test_pad_constant(pad):
    check(lambda L, x: L.nn.functional.pad(x, pad) if L is torch else L.pad(x, pad), randn(2, 3, 4))
    check(lambda L, x: (L.nn.functional.pad if L is torch else L.pad)(x, pad, value=-1.5), randn(2, 3, 4))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 0, 1, 3), (0, 0, 2, 2)])
def test_pad_modes(mode, pad):
    fn = lambda L, x: (L.nn.functional.pad if L is torch else L.pad)(x, pad, mode=mode)
    check(fn, randn(2, 4, 5))  # (N, C, W) or (C, H, W)


def test_pad_replicate_4d():
    fn = lambda L, x: (L.nn.functional.pad if L is torch else L.pad)(x, (3, 1, 2, 4), mode="replicate")
    check(fn, randn(1, 2, 3, 2))


def test_pad_errors():
    with pytest.raises(RuntimeError, match=r"pad: padding size should be less than the corresponding input dimension.*\(3, 0\).*\(2, 3\)"):
        mg.pad(mg.zeros(2, 3), (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="padding length must be even"):
        mg.pad(mg.zeros(2, 3), (1,))
    with pytest.raises(NotImplementedError, match="mode 'symmetric'"):
        mg.pad(mg.zeros(2, 3), (1, 1), mode="symmetric")


# -- flip / roll / repeat / tile ---------------------------------------------------------------
@pytest.mark.parametrize("dims", [(0,), (1,), (0, 2), (-1,), [0, 1, 2]])
def test_flip(dims):
    check(lambda L, x: L.flip(x, dims), randn(2, 3, 4))


def test_fliplr_flipud():
    check(lambda L, x: x.fliplr() * x.flipud(), randn(3, 3))


@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), ((1, 2), (0, 1)), (3, None), (7, -1)])
def test_roll(shifts, dims):
    check(lambda L, x: L.roll(x, shifts, dims), randn(3, 4))


@pytest.mark.parametrize("sizes", [(2, 1), (1, 3), (2, 2), (3, 1, 2), (2, 0)])
def test_repeat_is_torch_not_numpy(sizes):
    check(lambda L, x: x.repeat(*sizes), randn(2, 3))
    check(lambda L, x: x.repeat(sizes), randn(2, 3))


def test_repeat_error():
    with pytest.raises(RuntimeError, match=r"Number of dimensions of repeat dims \(1\) can not be smaller than number of dimensions of tensor \(2"):
        mg.zeros(2, 3).repeat(2)


@pytest.mark.parametrize("dims", [(2,), (2, 1), (1, 2, 3)])
def test_tile(dims):
    check(lambda L, x: L.tile(x, dims), randn(2, 3))


def test_repeat_interleave():
    check(lambda L, x: x.repeat_interleave(2, dim=1), randn(2, 3))
    check(lambda L, x: L.repeat_interleave(x, 3), randn(2, 2))


# -- tril / triu --------------------------------------------------------------------------------
@pytest.mark.parametrize("diagonal", [0, 1, -1, 5, -5])
def test_tril_triu(diagonal):
    check(lambda L, x: L.tril(x, diagonal=diagonal), randn(3, 4))
    check(lambda L, x: x.triu(diagonal), randn(2, 4, 3))


def test_tril_needs_2d():
    with pytest.raises(RuntimeError, match=r"tril: input tensor must have at least 2 dimensions"):
        mg.tril(mg.zeros(3))


# -- movedim / contiguous / *_as ----------------------------------------------------------------
@pytest.mark.parametrize("source,destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([1], [-1])])
def test_movedim(source, destination):
    check(lambda L, x: L.movedim(x, source, destination), randn(2, 3, 4))
    check(lambda L, x: x.moveaxis(source, destination), randn(2, 3, 4))


def test_movedim_error():
    with pytest.raises(RuntimeError, match="movedim: Invalid source or destination dims"):
        mg.zeros(2, 3).movedim((0, 1), 0)


def test_contiguous():
    x = mg.randn(3, 4, requires_grad=True)
    assert x.contiguous() is x
    y = x.T.contiguous()
    assert y._data.flags.c_contiguous and y.shape == (4, 3)
    check(lambda L, x: x.T.contiguous().view(-1), randn(3, 4))


def test_view_as_reshape_as():
    check(lambda L, x, y: x.view_as(y) + y, randn(2, 6, seed=1), randn(3, 4, seed=2))
    check(lambda L, x, y: x.reshape_as(y) * y, randn(12, seed=1), randn(3, 4, seed=2))


# -- hypothesis: random shapes and dims --------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@given(shapes, st.data())
def test_cat_stack_split_random(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = data.draw(st.integers(1, 3))
    arrays = [randn(*shape, seed=i) for i in range(n)]
    check(lambda L, *xs: L.cat(xs, dim), *arrays)
    check(lambda L, *xs: L.stack(xs, dim), *arrays)
    size = data.draw(st.integers(1, 4))
    check(lambda L, x: L.split(x, size, dim), arrays[0])


@given(shapes, st.data())
def test_flip_roll_movedim_random(shape, data):
    ndim = len(shape)
    dims = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    shifts = data.draw(st.lists(st.integers(-5, 5), min_size=len(dims), max_size=len(dims)))
    destination = data.draw(st.permutations(range(ndim)))[: len(dims)]
    x = randn(*shape)
    check(lambda L, x: L.flip(x, dims), x)
    check(lambda L, x: L.roll(x, shifts, dims), x)
    check(lambda L, x: L.movedim(x, dims, destination), x)


@given(shapes, st.data())
def test_repeat_random(shape, data):
    extra = data.draw(st.integers(0, 2))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=len(shape) + extra, max_size=len(shape) + extra))
    # up to 3^5 copies summed in backward: compared with torch's float64 answer, since torch's
    # float32 sum is itself off by more than atol on such cases (hypothesis found one)
    check(lambda L, x: x.repeat(*sizes), randn(*shape), reference_float64=True)


@pytest.mark.parametrize("op", [
    lambda L, x: L.flip(x, (0,)), lambda L, x: L.roll(x, 1, 0), lambda L, x: x.repeat(1, 1),
    lambda L, x: L.tril(x), lambda L, x: L.cat([x], 0), lambda L, x: L.stack([x]),
    lambda L, x: x.T.contiguous(),
], ids=range(7))
def test_copying_ops_do_not_share_memory_like_torch(op):
    for L in (mg, torch):
        x = L.ones(2, 2)
        y = op(L, x)
        y.add_(1)
        assert x.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_views_share_memory_like_torch():
    for L in (mg, torch):
        x = L.zeros(2, 3)
        x.narrow(1, 1, 1).add_(1)
        x.split(1)[0].mul_(0)
        x.unbind(1)[2].add_(5)
        x.select(0, 1).add_(1)
        assert x.tolist() == [[0.0, 0.0, 5.0], [1.0, 2.0, 6.0]]
