import numpy as np

from oracle import check, randn


def test_mlp_expression_matches_torch():
    check(lambda L, x, w, b: (x @ w + b).tanh().sum(dim=1), randn(4, 5, seed=1), randn(5, 3, seed=2), randn(3, seed=3))


def test_broadcast_mul_div():
    check(lambda L, a, b: a * b / (b * b + 1), randn(2, 1, 3, seed=1), randn(4, 1, seed=2))


def test_broadcast_error_names_the_op_and_shapes():
    import pytest

    import macrograd as mg

    with pytest.raises(RuntimeError, match=r"Mul: .*input shapes \(2, 3\), \(4,\)"):
        mg.ones(2, 3) * mg.ones(4)


def test_repr_of_zero_dim_tensors_of_every_kind():
    import macrograd as mg

    assert repr(mg.tensor(2)) == "tensor(2)"
    assert repr(mg.tensor(True)) == "tensor(True)"
    assert repr(mg.tensor(3.5)) == "tensor(3.5000)"
