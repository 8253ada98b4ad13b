"""Finite-difference gradient checks (float64) of every Function in the elementwise, activation,
compare, reduce and linalg files; and a check that gradcheck itself catches a wrong backward."""
import inspect
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

import macrograd as mg
from macrograd.autograd import Function, gradcheck
from macrograd.autograd.gradcheck import GradcheckError
from macrograd.ops import activation, compare, elementwise, linalg, reduce
from op_strategies import broadcast_pair


def t(shape, seed, low=None, positive=False, distinct=False, scale=1.0):
    """A float64 tensor that requires grad, kept away from the kinks the op may have:
    |x| >= low, x > 0, or all values distinct (no ties for max/min)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if distinct:
        x = (rng.permutation(n) + rng.uniform(0.2, 0.8, n)) / max(n, 1) * 4 - 2
    else:
        x = rng.standard_normal(n) * scale
    if low is not None:
        x = np.sign(x + (x == 0)) * (np.abs(x) + low)
    if positive:
        x = np.abs(x) + 0.5
    return mg.tensor(x.reshape(shape), dtype=mg.float64, requires_grad=True)


COND = mg.tensor([[True, False, True], [False, False, True]])

# Function class name -> list of (function of the inputs, inputs) that exercise it.
CASES = {
    # elementwise
    "Add": [(lambda a, b: a + b, (t((2, 3), 1), t((3,), 2)))],
    "Sub": [(lambda a, b: a - b, (t((2, 1), 1), t((3,), 2)))],
    "Mul": [(lambda a, b: a * b, (t((2, 3), 1), t((2, 1), 2)))],
    "Div": [(lambda a, b: a / b, (t((2, 3), 1), t((3,), 2, low=0.5)))],
    "Pow": [(lambda a, b: a ** b, (t((2, 3), 1, positive=True), t((3,), 2))),
            (lambda b: 2.0 ** b, (t((3,), 3),))],
    "PowScalar": [(lambda a: a ** 3, (t((2, 3), 1),)), (lambda a: a ** 2, (t((4,), 2),)),
                  (lambda a: a ** -1.5, (t((4,), 3, positive=True),)), (lambda a: a ** 0, (t((2,), 4),))],
    "RoundedDiv": [(lambda a, b: mg.div(a, b, rounding_mode="floor") + mg.div(a, b, rounding_mode="trunc"),
                    (t((5,), 1, scale=3), t((5,), 2, low=0.5)))],
    "Remainder": [(lambda a, b: a % b, (mg.tensor([2.3, -1.7, 5.1, 0.4], dtype=mg.float64, requires_grad=True),
                                        mg.tensor([0.9, 1.3, -2.2, 0.7], dtype=mg.float64, requires_grad=True)))],
    "Fmod": [(lambda a, b: mg.fmod(a, b), (mg.tensor([2.3, -1.7, 5.1, 0.4], dtype=mg.float64, requires_grad=True),
                                           mg.tensor([0.9, 1.3, -2.2, 0.7], dtype=mg.float64, requires_grad=True)))],
    "Neg": [(lambda a: -a, (t((2, 3), 1),))],
    "Abs": [(lambda a: a.abs(), (t((2, 3), 1, low=0.1),))],
    "Exp": [(lambda a: a.exp(), (t((2, 3), 1),))],
    "Log": [(lambda a: a.log(), (t((2, 3), 1, positive=True),)), (lambda a: mg.log2(a) + mg.log10(a), (t((3,), 2, positive=True),))],
    "Log1p": [(lambda a: a.log1p(), (t((2, 3), 1, positive=True),))],
    "Sqrt": [(lambda a: a.sqrt(), (t((2, 3), 1, positive=True),))],
    "Rsqrt": [(lambda a: a.rsqrt(), (t((2, 3), 1, positive=True),))],
    "Sin": [(lambda a: a.sin(), (t((2, 3), 1),))],
    "Cos": [(lambda a: a.cos(), (t((2, 3), 1),))],
    "Tanh": [(lambda a: a.tanh(), (t((2, 3), 1),))],
    "Sigmoid": [(lambda a: a.sigmoid(), (t((2, 3), 1, scale=4),))],
    "Clamp": [(lambda a: a.clamp(-0.5, 0.5), (t((3, 4), 1, distinct=True),))],
    # float64 -> float32 rounds too coarsely for eps = 1e-6: see the test with a coarse step below
    "ToDtype": [(lambda a: elementwise.ToDtype.apply(a, dtype=np.dtype(np.float64)), (t((3,), 1),))],
    "Clone": [(lambda a: a.clone(), (t((2, 3), 1),))],
    "Step": [(lambda a: a.floor() + a.ceil() + a.round() + a.trunc() + a.sign(), (t((5,), 1, low=0.1, scale=3),))],
    # activation
    "Erf": [(lambda a: a.erf(), (t((2, 3), 1),))],
    "Relu": [(lambda a: a.relu(), (t((2, 3), 1, low=0.1),))],
    "LeakyRelu": [(lambda a: mg.leaky_relu(a, 0.2), (t((2, 3), 1, low=0.1),))],
    "Elu": [(lambda a: mg.elu(a, alpha=0.7), (t((2, 3), 1, low=0.1),))],
    "Gelu": [(lambda a: mg.gelu(a), (t((2, 3), 1, scale=2),))],
    "GeluTanh": [(lambda a: mg.gelu(a, approximate="tanh"), (t((2, 3), 1, scale=2),))],
    "Silu": [(lambda a: mg.silu(a), (t((2, 3), 1, scale=2),))],
    "Softplus": [(lambda a: mg.softplus(a, beta=2.0, threshold=3.0), (mg.tensor([-3.0, -0.5, 0.2, 1.0, 2.5], dtype=mg.float64, requires_grad=True),))],
    "Hardtanh": [(lambda a: mg.hardtanh(a, -0.5, 0.5) + mg.relu6(a * 4), (t((3, 4), 1, distinct=True),))],
    # compare
    "Where": [(lambda a, b: mg.where(COND, a, b), (t((2, 3), 1), t((3,), 2)))],
    "Extreme": [(lambda a, b: mg.maximum(a, b) + mg.minimum(a, b) * 2, (t((2, 3), 1), t((3,), 2)))],
    # reduce
    "Sum": [(lambda a: a.sum(dim=(0, 2), keepdim=True), (t((2, 3, 2), 1),)), (lambda a: a.sum(), (t((2, 3), 2),))],
    "Mean": [(lambda a: a.mean(dim=-1), (t((2, 3), 1),))],
    "Prod": [(lambda a: a.prod(1), (mg.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 0.5]], dtype=mg.float64, requires_grad=True),)),
             (lambda a: a.prod(), (t((2, 3), 2, low=0.3),))],
    "Extremum": [(lambda a: a.amax(dim=(0, 2)) + a.amin(dim=1, keepdim=True).sum() + a.max(), (t((2, 3, 2), 1, distinct=True),))],
    "TakeAlongDim": [(lambda a: a.max(dim=1).values + a.min(1).values * 3, (t((3, 4), 1, distinct=True),))],
    "Var": [(lambda a: a.var(dim=1) + a.var(correction=0), (t((2, 4), 1),))],
    "Std": [(lambda a: a.std(dim=(0, 1), keepdim=True), (t((2, 3, 2), 1),))],
    "LogSumExp": [(lambda a: a.logsumexp(dim=1), (t((2, 4), 1, scale=3),))],
    "VectorNorm": [(lambda a: a.norm(dim=1) + a.norm(p=1, dim=1) + a.norm(p=3, dim=1), (t((2, 4), 1, low=0.1),))],
    "CumSum": [(lambda a: a.cumsum(dim=-1), (t((2, 4), 1),))],
    # linalg
    "MatMul": [(lambda a, b: a @ b, (t((3,), 1), t((3,), 2))), (lambda a, b: a @ b, (t((2, 1, 2, 3), 1), t((3, 3, 2), 2))),
               (lambda a, b: a @ b, (t((2, 3), 1), t((3,), 2))), (lambda a, b: a @ b, (t((3,), 1), t((2, 3, 2), 2)))],
    "Linear": [(lambda x, w, b: mg.nn.functional.linear(x, w, b), (t((2, 3), 1), t((4, 3), 2), t((4,), 3))),
               (lambda x, w: mg.nn.functional.linear(x, w), (t((2, 2, 3), 1), t((4, 3), 2))),
               (lambda x, w, b: mg.nn.functional.linear(x, w, b), (t((3,), 1), t((4, 3), 2), t((4,), 3)))],
    "Einsum": [(lambda a, b: mg.einsum("ij,jk->ik", a, b), (t((2, 3), 1), t((3, 2), 2))),
               (lambda a: mg.einsum("ii->i", a), (t((3, 3), 1),)),
               (lambda a, b: mg.einsum("...ij,...jk", a, b), (t((2, 1, 2, 3), 1), t((3, 3, 2), 2))),
               (lambda a, b: mg.einsum("ij,ij->j", a, b), (t((1, 3), 1), t((2, 3), 2)))],
}


def _function_classes():
    for module in (elementwise, activation, compare, reduce, linalg):
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Function) and obj is not Function and obj.__module__ == module.__name__:
                yield name


def test_every_function_class_has_a_gradcheck_case():
    missing = sorted(set(_function_classes()) - set(CASES))
    assert not missing, f"Functions without a gradcheck case: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    for fn, inputs in CASES[name]:
        out = fn(*inputs)
        assert out.grad_fn is not None  # the op really recorded a node
        assert gradcheck(fn, inputs)


def test_each_case_reaches_its_function_class():
    """A case that silently took another path would check nothing: walk each case's graph."""
    for name, cases in CASES.items():
        found = False
        for fn, inputs in cases:
            stack, seen = [fn(*inputs).grad_fn], set()
            while stack:
                node = stack.pop()
                if node is None or node in seen:
                    continue
                seen.add(node)
                found |= type(node).__name__ == name
                stack.extend(parent for parent, _ in node.parents)
        assert found, f"no case for {name} builds a {name} node"


def test_float32_cast_passes_gradcheck_with_a_coarse_step():
    x = t((4,), 1)
    assert gradcheck(lambda a: a.to(mg.float32), (x,), eps=1e-2, atol=1e-4)


@given(pair=broadcast_pair(max_dims=3), seed=st.integers(0, 1000),
       op=st.sampled_from(["add", "sub", "mul", "div", "maximum", "where"]))
def test_binary_ops_gradcheck_under_broadcasting(pair, seed, op):
    a, b = t(pair[0], seed), t(pair[1], seed + 1, low=0.5)
    fns = {
        "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y, "maximum": lambda x, y: mg.maximum(x, y + 0.1234),
        "where": lambda x, y: mg.where(x > 0, x, y),
    }
    assert gradcheck(fns[op], (a, b))


# -- gradcheck catches a wrong backward -----------------------------------------------------------
class WrongExp(Function):
    """y = e^x with a deliberately wrong backward: dx = dy * y * 1.1"""

    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y * 1.1


class ForgetsBroadcast(Function):
    """y = a + b with b broadcast over rows, but backward takes db from the first row only
    instead of summing over the rows (right shape, wrong values)"""

    def forward(ctx, a, b):
        return a + b

    def backward(ctx, dy):
        return dy, dy[:1]


def test_gradcheck_fails_readably_on_a_wrong_backward():
    x = t((2, 3), 1)
    with pytest.raises(GradcheckError, match=r"gradcheck failed: d output 0\[.*\] / d input 0\[.*\]: "
                                             r"backward gives .*, finite differences give .*"):
        gradcheck(lambda a: WrongExp.apply(a), (x,))
    assert gradcheck(lambda a: WrongExp.apply(a), (x,), raise_exception=False) is False
    # the message names the numbers: backward is 1.1 times the true e^x
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda a: WrongExp.apply(a), (x,))
    match = re.search(r"backward gives ([-\d.e+]+), finite differences give ([-\d.e+]+)", str(info.value))
    given_, true = float(match.group(1)), float(match.group(2))
    assert given_ == pytest.approx(1.1 * true, rel=1e-4)


def test_gradcheck_fails_on_a_wrong_gradient_for_the_second_input():
    a, b = t((2, 3), 1), t((1, 3), 2)
    with pytest.raises(GradcheckError, match="d input 1"):
        gradcheck(lambda x, y: ForgetsBroadcast.apply(x, y) * mg.tensor([[1.0, 2.0, 3.0]], dtype=mg.float64), (a, b))


def test_gradcheck_needs_float64_and_an_input_that_requires_grad():
    with pytest.raises(GradcheckError, match="float64"):
        gradcheck(lambda a: a.exp(), (mg.randn(3, requires_grad=True),))
    with pytest.raises(GradcheckError, match="no input requires grad"):
        gradcheck(lambda a: a.exp(), (mg.randn(3, dtype=mg.float64),))
