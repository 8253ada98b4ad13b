"""matmul (every 1-D/2-D/batched/broadcast combination) and einsum against PyTorch."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from op_strategies import array
from oracle import check, randn

seeds = st.integers(0, 2**16)
small = st.integers(1, 4)


# -- matmul -------------------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    """Two shapes matmul accepts: vectors, matrices, stacks with broadcasting batch dims."""
    n, k, m = draw(small), draw(small), draw(small)
    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = tuple(draw(st.lists(small, min_size=2, max_size=2)))
    batch_a = tuple(1 if draw(st.booleans()) else b for b in batch)[2 - max(rank_a - 2, 0):]
    batch_b = tuple(1 if draw(st.booleans()) else b for b in batch)[2 - max(rank_b - 2, 0):]
    a = (k,) if rank_a == 1 else batch_a + (n, k)
    b = (k,) if rank_b == 1 else batch_b + (k, m)
    return a, b


@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_matches_torch_for_every_rank(shapes, seed):
    a, b = array(shapes[0], seed), array(shapes[1], seed + 1)
    check(lambda L, x, y: x @ y, a, b, rtol=1e-5, atol=1e-5)
    check(lambda L, x, y: L.matmul(x, y), a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa, sb", [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3,)), ((3,), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((5, 1, 2, 3), (6, 3, 4)), ((1, 2, 3), (5, 3, 4)), ((6, 1, 2, 3), (1, 7, 3, 4)),
])
def test_matmul_named_cases(sa, sb):
    check(lambda L, x, y: x @ y, randn(*sa, seed=1), randn(*sb, seed=2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("need", [(True, False), (False, True)])
def test_matmul_gradient_of_one_side_only(need):
    check(lambda L, x, y: x @ y, randn(4, 2, 3, seed=1), randn(3, 5, seed=2), requires_grad=list(need),
          rtol=1e-5, atol=1e-5)


def test_matmul_of_integers_and_float64():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    check(lambda L, x, y: x @ y, a, b)
    check(lambda L, x, y: x @ y, randn(2, 3, dtype=np.float64, seed=1), randn(3, dtype=np.float64, seed=2))


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_gradients_match_torch(x_shape, bias):
    """F.linear is one fused Linear node (x W^T + b over the folded rows of x)."""
    arrays = [randn(*x_shape, seed=1), randn(3, 4, seed=2)] + ([randn(3, seed=3)] if bias else [])
    check(lambda L, x, w, *b: L.nn.functional.linear(x, w, *b), *arrays, rtol=1e-5, atol=1e-5)
    x = mg.tensor(arrays[0], requires_grad=True)
    assert type(mg.nn.functional.linear(x, *map(mg.tensor, arrays[1:])).grad_fn).__name__ == "Linear"


@pytest.mark.parametrize("need", [(True, False, False), (False, True, True), (False, False, True)])
def test_linear_gradient_of_some_inputs_only(need):
    check(lambda L, x, w, b: L.nn.functional.linear(x, w, b), randn(2, 5, 4, seed=1), randn(3, 4, seed=2),
          randn(3, seed=3), requires_grad=list(need), rtol=1e-5, atol=1e-5)


def test_linear_weight_gradient_is_c_ordered_and_composition_cases_still_work():
    x, w = mg.randn(6, 4), mg.randn(3, 4, requires_grad=True)
    mg.nn.functional.linear(x, w).sum().backward()
    assert w.grad._data.flags.c_contiguous
    # A 1-D weight and a broadcasting bias take the composition x @ W^T + b, as in PyTorch.
    check(lambda L, x, w: L.nn.functional.linear(x, w), randn(2, 4, seed=1), randn(4, seed=2))
    check(lambda L, x, w, b: L.nn.functional.linear(x, w, b), randn(2, 4, seed=1), randn(3, 4, seed=2),
          randn(1, seed=3), rtol=1e-5, atol=1e-5)


def test_mm_bmm_mv_dot_outer():
    check(lambda L, x, y: L.mm(x, y), randn(2, 3, seed=1), randn(3, 4, seed=2))
    check(lambda L, x, y: x.bmm(y), randn(5, 2, 3, seed=1), randn(5, 3, 4, seed=2))
    check(lambda L, x, y: L.mv(x, y), randn(2, 3, seed=1), randn(3, seed=2))
    check(lambda L, x, y: x.dot(y), randn(3, seed=1), randn(3, seed=2))
    check(lambda L, x, y: L.outer(x, y), randn(3, seed=1), randn(4, seed=2))
    check(lambda L, x, y: y.T @ x, randn(3, 2, seed=1), randn(3, 4, seed=2))


@pytest.mark.parametrize("fn, match", [
    (lambda: mg.ones(2, 3) @ mg.ones(4, 2), r"matmul: shapes \(2, 3\) and \(4, 2\) cannot be multiplied"),
    (lambda: mg.ones(3) @ mg.ones(4), r"\(3,\) and \(4,\)"),
    (lambda: mg.ones(2, 2, 3) @ mg.ones(3, 3, 4), r"batch dimensions \(2,\) and \(3,\)"),
    (lambda: mg.matmul(mg.tensor(2.0), mg.ones(2)), "at least 1D"),
    (lambda: mg.ones(2, 3) @ mg.ones(3, dtype=mg.float64), "same dtype.*float32.*float64"),
    (lambda: mg.mm(mg.ones(3), mg.ones(3, 2)), r"mm: expects 2-D tensors, got shapes \(3,\)"),
    (lambda: mg.bmm(mg.ones(2, 2, 3), mg.ones(3, 3, 4)), "bmm: batch sizes differ"),
    (lambda: mg.dot(mg.ones(2, 3), mg.ones(3)), "dot: expects 1-D"),
])
def test_matmul_errors_name_the_shapes(fn, match):
    with pytest.raises(RuntimeError, match=match):
        fn()


# -- einsum -------------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                          # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),    # attention scores
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,j,k->ijk", [(2,), (3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ba,b", [(2, 3), (2,)]),
    ("ii->i", [(3, 3)]),                                   # diagonal
    ("ii", [(3, 3)]),                                      # trace
    ("iij->ij", [(3, 3, 2)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("...ij->...ji", [(2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("...i->i", [(2, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),     # ellipsis broadcasting
    ("...ij,jk", [(2, 3, 4), (4, 5)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),                       # size-1 broadcasting of a letter
    ("ij,jk->ik", [(2, 1), (3, 4)]),
    ("a b, b c -> a c", [(2, 3), (3, 4)]),                 # spaces
    ("AB,Bc->Ac", [(2, 3), (3, 4)]),                       # capital letters
]


@pytest.mark.parametrize("equation, shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum_matches_torch(equation, shapes):
    arrays = [randn(*s, seed=i) for i, s in enumerate(shapes)]
    check(lambda L, *xs: L.einsum(equation, *xs), *arrays, rtol=1e-5, atol=1e-5)
    check(lambda L, *xs: L.einsum(equation, list(xs)), *arrays, rtol=1e-5, atol=1e-5)


def test_einsum_with_the_same_operand_twice():
    check(lambda L, x: L.einsum("ij,ij->i", x, x), randn(3, 4, seed=1))


@given(b=small, n=small, k=small, m=small, seed=seeds)
def test_einsum_agrees_with_matmul(b, n, k, m, seed):
    a, c = array((b, n, k), seed), array((k, m), seed + 1)
    check(lambda L, x, y: L.einsum("bnk,km->bnm", x, y) - x @ y, a, c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, shapes, match", [
    ("ij->k", [(2, 3)], "output subscript k does not appear"),
    ("ij", [(3,)], r"number of subscripts in the equation \(2\) does not match the number of dimensions \(1\)"),
    ("ij,jk", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1"),
    ("i", [(2,), (2,)], "names 1 operand"),
    ("i->ii", [(2,)], "appears more than once in the output"),
    ("i$", [(2,)], "invalid subscript"),
    ("ii->i", [(2, 3)], "repeated for operand 0"),
    ("......i", [(2,)], "more than one ellipsis"),
])
def test_einsum_errors(equation, shapes, match):
    with pytest.raises(RuntimeError, match=match):
        mg.einsum(equation, *[mg.ones(*s) for s in shapes])


def test_einsum_rejects_mixed_dtypes_and_sublists():
    with pytest.raises(RuntimeError, match="same dtype"):
        mg.einsum("i,i->", mg.ones(2), mg.ones(2, dtype=mg.float64))
    with pytest.raises(TypeError, match="equation string"):
        mg.einsum(mg.ones(2), [0])
