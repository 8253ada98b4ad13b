"""Every Function in ops/shape.py and ops/indexing.py passes a finite-difference gradient check
in float64 (mg.autograd.gradcheck), including inputs whose gradients torch cannot compare."""
import inspect

import numpy as np
import pytest

import macrograd as mg
from macrograd.autograd import Function, gradcheck
from macrograd.autograd.engine import topological_order
from macrograd.ops import indexing, shape


def x64(*dims, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(dims), dtype=mg.float64, requires_grad=True)


def ix(values):
    return mg.tensor(np.asarray(values, dtype=np.int64))


MASK = mg.tensor([[True, False, True], [False, False, True]])

# (Function class it exercises, fn, inputs)
CASES = {
    "Reshape": [(lambda x: x.reshape(3, 2) * mg.arange(6.0, dtype=mg.float64).reshape(3, 2), (x64(2, 3),))],
    "Permute": [(lambda x: x.permute(2, 0, 1), (x64(2, 3, 2),))],
    "Expand": [(lambda x: x.expand(2, 3, 3), (x64(3, 1),))],
    "Contiguous": [(lambda x: x.T.contiguous(), (x64(2, 3),))],
    "Cat": [(lambda a, b: mg.cat([a, b, a], dim=1), (x64(2, 1), x64(2, 3, seed=1)))],
    "Stack": [(lambda a, b: mg.stack([a, b], dim=-1), (x64(2, 2), x64(2, 2, seed=1)))],
    "Flip": [(lambda x: x.flip((0, 1)), (x64(2, 3),))],
    "Roll": [(lambda x: x.roll((1, -1), (0, 1)), (x64(2, 3),)), (lambda x: x.roll(2), (x64(2, 3),))],
    "Tile": [(lambda x: x.repeat(2, 1, 2), (x64(2, 2),)), (lambda x: x.tile((2,)), (x64(2, 2),))],
    "Triangle": [(lambda x: x.tril(-1), (x64(3, 3),)), (lambda x: x.triu(1), (x64(2, 3, 3),))],
    "ConstantPad": [(lambda x: mg.pad(x, (1, -1, 2, 0), value=3.0), (x64(2, 3),))],
    "IndexPad": [(lambda x: mg.pad(x, (2, 1), mode=m), (x64(1, 4),)) for m in ("reflect", "replicate", "circular")]
    + [(lambda x: mg.pad(x, (1, 1, 1, 2), mode="reflect"), (x64(1, 3, 3),))],
    "GetItem": [
        (lambda x: x[1:, ::2], (x64(3, 4),)),
        (lambda x: x[[0, 0, 2], -1], (x64(3, 4),)),
        (lambda x: x[MASK], (x64(2, 3),)),
        (lambda x: x.split(2, dim=1)[1], (x64(2, 3),)),
        (lambda x: x.unbind(0)[1], (x64(2, 3),)),
    ],
    "Gather": [(lambda x: x.gather(1, ix([[0, 0], [2, 1]])), (x64(2, 3),))],
    "Scatter": [(lambda x, s: x.scatter(1, ix([[2, 0]]), s), (x64(2, 3), x64(2, 3, seed=1)))],
    "ScatterAdd": [(lambda x, s: x.scatter_add(0, ix([[1, 1, 0]]), s), (x64(2, 3), x64(2, 4, seed=1)))],
    "IndexSelect": [(lambda x: x.index_select(1, ix([2, 0, 2])), (x64(2, 3),))],
    "IndexAdd": [(lambda x, s: x.index_add(0, ix([1, 1]), s, alpha=-2.0), (x64(2, 3), x64(2, 3, seed=1)))],
    "MaskedFill": [(lambda x, v: x.masked_fill(MASK, v), (x64(2, 3), x64(seed=1))),
                   (lambda x: x.masked_fill(MASK[0], 2.0), (x64(3),))],
    "TakeAlongDim": [(lambda x: x.take_along_dim(ix([[[1], [0]]]), 2), (x64(3, 1, 2),)),
                     (lambda x: mg.take_along_dim(x, ix([5, 0, 5])), (x64(2, 3),))],
}


def _functions(module):
    return sorted(name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and issubclass(obj, Function) and obj.__module__ == module.__name__)


def test_every_function_is_covered():
    assert sorted(_functions(shape) + _functions(indexing)) == sorted(CASES)


@pytest.mark.parametrize("name,case", [(n, c) for n, cs in CASES.items() for c in cs],
                         ids=[f"{n}-{i}" for n, cs in CASES.items() for i in range(len(cs))])
def test_gradcheck(name, case):
    fn, inputs = case
    nodes = topological_order(fn(*inputs).grad_fn)
    assert name in {type(node).__name__ for node in nodes}  # the case really exercises that Function
    assert gradcheck(fn, inputs)


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(Function):
        def forward(ctx, x):
            return x * x

        def backward(ctx, dy):
            return dy * 3  # should be 2x

    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(lambda x: Wrong.apply(x), (x64(3),))
    assert gradcheck(lambda x: Wrong.apply(x), (x64(3),), raise_exception=False) is False


def test_gradcheck_needs_float64():
    with pytest.raises(AssertionError, match="finite differences need float64 inputs"):
        gradcheck(lambda x: x * 2, (mg.ones(2, requires_grad=True),))
