"""The autograd engine against PyTorch: backward's options, accumulation, grad mode, graph
bookkeeping, hooks, and the errors (with their messages) where PyTorch raises too."""
import re

import numpy as np
import pytest
import torch

import macrograd as mg
from oracle import randn

LIBS = [mg, torch]


def both(fn):
    """Run fn(L) for macrograd and torch; return the two results as NumPy-friendly values."""
    return [fn(L) for L in LIBS]


def assert_same(pair):
    ours, theirs = pair
    if isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same((a, b))
    elif ours is None or theirs is None:
        assert ours is None and theirs is None
    elif isinstance(ours, (mg.Tensor, torch.Tensor)):
        np.testing.assert_allclose(np.asarray(ours.detach()), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    else:
        assert ours == theirs


# -- backward options ---------------------------------------------------------------------------
def test_backward_with_gradient_argument():
    a, g = randn(2, 3, seed=1), randn(2, 3, seed=2)

    def run(L):
        x = L.tensor(a, requires_grad=True)
        (x.tanh() * 3).backward(gradient=L.tensor(g))
        return x.grad

    assert_same(both(run))


def test_backward_gradient_shape_must_match():
    x = mg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape \(2, 3\)"):
        (x * 2).backward(mg.ones(3))


def test_retain_graph_allows_second_backward_and_accumulates():
    def run(L):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward()
        return first, x.grad

    ours, theirs = both(run)
    assert_same((ours, theirs))
    np.testing.assert_allclose(ours[1].numpy(), 2 * ours[0].numpy(), rtol=1e-6)


def test_gradients_accumulate_across_backward_calls_and_zero():
    def run(L):
        x = L.tensor([0.5, -1.0], requires_grad=True)
        (x * x).sum().backward()
        (x * 3).sum().backward()
        total = x.grad.clone()
        x.grad.zero_()
        (x * 2).sum().backward()
        return total, x.grad

    assert_same(both(run))


def test_backward_on_a_leaf_seeds_its_grad():
    def run(L):
        x = L.tensor(2.0, requires_grad=True)
        x.backward()
        return x.grad

    assert_same(both(run))


def test_long_chain_has_no_recursion_limit():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10_000, rtol=1e-3)


# -- the errors ---------------------------------------------------------------------------------
def test_second_backward_through_freed_graph():
    for L in LIBS:
        x = L.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time.*retain_graph=True"):
            y.backward()


def test_backward_on_non_scalar_needs_gradient():
    for L in LIBS:
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
            (L.ones(2, 3, requires_grad=True) * 2).backward()


def test_backward_on_tensor_without_grad():
    for L in LIBS:
        with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
            (L.ones(2) * 2).sum().backward()


@pytest.mark.parametrize("how", ["add_", "no_grad_iadd", "mul_", "setitem_no_grad"])
def test_inplace_change_of_saved_tensor_names_the_version(how):
    for L in LIBS:
        x = L.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()  # Exp saves its output for backward
        if how == "add_":
            y.add_(1)
        elif how == "mul_":
            y.mul_(2)
        elif how == "no_grad_iadd":
            with L.no_grad():
                y += 1
        else:
            with L.no_grad():
                y[0] = 5.0
        with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*is at version 1; expected version 0 instead"):
            y.sum().backward()


def test_inplace_on_leaf_requiring_grad():
    for L in LIBS:
        x = L.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            x.add_(1)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            x *= 2
        with L.no_grad():  # allowed outside autograd: an optimizer step
            x.sub_(0.5)
        assert x.tolist() == [0.5, 0.5, 0.5]


def test_inplace_op_records_history_like_torch():
    a, w = randn(3, seed=1), randn(3, seed=2)

    def run(L):
        x, v = L.tensor(a, requires_grad=True), L.tensor(w, requires_grad=True)
        h = x * 2
        h.mul_(v)  # MulBackward needs h's old value for v's gradient
        h += x
        h.sum().backward()
        return h, x.grad, v.grad, h.is_leaf

    assert_same(both(run))


# -- grad mode ------------------------------------------------------------------------------------
def test_no_grad_enable_grad_set_grad_enabled_as_contexts():
    for L in LIBS:
        x = L.ones(2, requires_grad=True)
        with L.no_grad():
            assert not (x * 2).requires_grad
            with L.enable_grad():
                assert (x * 2).requires_grad
            assert not L.is_grad_enabled()
        assert L.is_grad_enabled()
        with L.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert (x * 2).requires_grad
        L.set_grad_enabled(False)  # a plain call switches at once
        assert not L.is_grad_enabled()
        L.set_grad_enabled(True)
        assert L.is_grad_enabled()


def test_grad_mode_decorators():
    for L in LIBS:
        x = L.ones(2, requires_grad=True)

        @L.no_grad()
        def f(t):
            return t * 2

        @L.no_grad
        def g(t):
            return t * 2

        @L.set_grad_enabled(False)
        def h(t):
            return t * 2

        assert L.is_grad_enabled()  # decorating changed nothing
        assert not f(x).requires_grad and not g(x).requires_grad and not h(x).requires_grad

        @L.enable_grad()
        def k(t):
            return t * 2

        with L.no_grad():
            assert k(x).requires_grad
        assert f.__name__ == "f"


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with mg.no_grad():
            raise ValueError
    assert mg.is_grad_enabled()


# -- graph bookkeeping --------------------------------------------------------------------------
def test_requires_grad_propagation_is_leaf_and_grad_fn_names():
    for L in LIBS:
        x = L.ones(2, requires_grad=True)
        c = L.ones(2)
        assert x.is_leaf and c.is_leaf and x.grad_fn is None
        y = x * c
        assert y.requires_grad and not y.is_leaf
        assert not (c * 2).requires_grad and (c * 2).is_leaf
        names = [type(t.grad_fn).__name__ if L is torch else t.grad_fn.name()
                 for t in (x + c, x * c, x / 2.0, x.exp(), x.tanh(), x.sum())]
        assert [re.sub(r"\d+$", "", n) for n in names] == [
            "AddBackward", "MulBackward", "DivBackward", "ExpBackward", "TanhBackward", "SumBackward"]
    assert repr((mg.ones(1, requires_grad=True) * 2).grad_fn) == "<MulBackward>"


def test_integer_tensors_cannot_require_grad():
    for L in LIBS:
        with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
            L.tensor([1, 2]).requires_grad_()


def test_requires_grad_flag_only_on_leaves():
    for L in LIBS:
        y = L.ones(2, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
            y.requires_grad = False


def test_detach_shares_data_and_cuts_the_graph():
    for L in LIBS:
        x = L.ones(3, requires_grad=True)
        y = x * 2
        d = y.detach()
        assert not d.requires_grad and d.is_leaf and d.grad_fn is None
        with L.no_grad():
            d[0] = 7.0  # shares memory with y
        assert y[0].item() == 7.0
        z = (x * d).sum()  # d is a constant here
        z.backward()
        assert x.grad.tolist() == [7.0, 2.0, 2.0]


def test_detached_leaf_gets_no_grad():
    x = mg.ones(2, requires_grad=True)
    (x.detach() * x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_diamond_graph_sums_both_paths():
    a = randn(3, seed=4)

    def run(L):
        x = L.tensor(a, requires_grad=True)
        h = x.tanh()  # used twice
        y = (h * h.exp() + h / 3).sum()
        y.backward()
        return y, x.grad

    assert_same(both(run))


def test_leaf_used_many_times():
    def run(L):
        x = L.tensor([1.0, -2.0], requires_grad=True)
        (x * x * x + x).sum().backward()
        return x.grad

    assert_same(both(run))


def test_no_grad_reaches_unused_branch():
    x = mg.ones(2, requires_grad=True)
    w = mg.ones(2, requires_grad=True)
    _unused = w * 3
    (x * 2).sum().backward()
    assert w.grad is None and x.grad.tolist() == [2.0, 2.0]


# -- saved arrays -------------------------------------------------------------------------------
def test_saved_arrays_are_freed_after_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    y = e * x
    assert e.grad_fn.saved and y.grad_fn.saved
    y.sum().backward()
    assert e.grad_fn.saved == () and y.grad_fn.saved == ()
    assert e.grad_fn.freed


def test_retain_graph_keeps_saved_arrays():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp() * x
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved and not y.grad_fn.freed


def test_nothing_saved_without_grad():
    x = mg.tensor([1.0, 2.0])
    assert (x.exp()).grad_fn is None
    with mg.no_grad():
        assert (mg.ones(2, requires_grad=True).exp()).grad_fn is None


# -- hooks and retain_grad ------------------------------------------------------------------------
def test_register_hook_sees_and_replaces_gradients():
    def run(L):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seen = []
        h = x * 2
        h.register_hook(lambda g: seen.append(g.clone()))
        h2 = h.exp()
        handle = h2.register_hook(lambda g: g * 10)
        h2.sum().backward(retain_graph=True)
        first = x.grad.clone()
        handle.remove()
        x.grad = None
        h2.sum().backward()
        return seen, first, x.grad

    assert_same(both(run))


def test_leaf_hook_sees_the_total_gradient_once():
    def run(L):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        calls = []
        x.register_hook(lambda g: calls.append(g.clone()))
        (x * 2 + x * x).sum().backward()
        return calls, x.grad

    ours, theirs = both(run)
    assert len(ours[0]) == len(theirs[0]) == 1
    assert_same((ours, theirs))


def test_leaf_hook_can_replace_gradient():
    def run(L):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: g * 0 + 5)
        (x * 3).sum().backward()
        return x.grad

    assert_same(both(run))


def test_register_hook_needs_grad():
    for L in LIBS:
        with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
            L.ones(2).register_hook(lambda g: g)


def test_retain_grad():
    def run(L):
        x = L.tensor([1.0, -1.0], requires_grad=True)
        h = x * 3
        h.retain_grad()
        u = x.exp()  # not retained
        (h * h + u).sum().backward()
        return h.grad, x.grad

    assert_same(both(run))
    x = mg.ones(2, requires_grad=True)
    h = x * 1
    (h * 2).sum().backward()
    assert h.grad is None  # only retained non-leaves keep .grad


def test_gradient_dtype_follows_leaf():
    for L in LIBS:
        x = L.ones(2, dtype=L.float64, requires_grad=True)
        (x.to(L.float32) * 2).sum().backward()
        assert x.grad.dtype == L.float64


# -- the engine's own safety net ----------------------------------------------------------------
def test_wrong_gradient_shape_from_a_function_is_caught():
    class Bad(mg.autograd.Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, dy):
            return dy[:1]  # wrong shape: would broadcast silently

    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Function BadBackward returned an invalid gradient - got shape \(1,\) but expected shape \(3,\)"):
        Bad.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"BadBackward returned an invalid gradient"):
        (Bad.apply(x) * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"BadBackward returned an invalid gradient"):
        Bad.apply(x * 1).sum().backward()


def test_custom_function_needs_input_grad():
    class Scale(mg.autograd.Function):
        """y = a * b;  da = dy * b,  db = dy * a"""

        def forward(ctx, a, b):
            ctx.save(a, b)
            return a * b

        def backward(ctx, dy):
            a, b = ctx.saved
            return (dy * b if ctx.needs_input_grad[0] else None, dy * a if ctx.needs_input_grad[1] else None)

    a, b = mg.tensor([2.0], requires_grad=True), mg.tensor([3.0])
    out = Scale.apply(a, b)
    assert out.grad_fn.needs_input_grad == (True, False)
    out.sum().backward()
    assert a.grad.tolist() == [3.0] and b.grad is None


def test_fan_out_accumulation_does_not_alias_gradients():
    # h feeds an Add whose backward hands the same array to both parents; the summed gradients
    # of a and b must stay independent when the engine adds into its own buffers in place.
    def run(L):
        a = L.tensor([1.0, 2.0], requires_grad=True)
        b = L.tensor([3.0, -1.0], requires_grad=True)
        h = a + b
        y = (h + h * 2 + a * 5 + b.exp() + h.tanh()).sum()
        y.backward()
        return a.grad, b.grad

    assert_same(both(run))


def test_unbind_pieces_accumulate_into_one_gradient():
    a = randn(5, 3, seed=3)

    def run(L):
        x = L.tensor(a, requires_grad=True)
        pieces = x.unbind(0)
        total = pieces[0] * 0
        for i, p in enumerate(pieces):
            total = total + p * (i + 1) + pieces[0]
        total.sum().backward()
        return x.grad

    assert_same(both(run))


def test_fresh_gradients_become_grad_without_aliasing():
    """Linear's dW is its own new array, so the engine hands it to .grad without a copy; a
    weight used twice sums into it, and a leaf hook that keeps what it saw keeps a copy."""
    x, w = randn(4, 3, seed=5), randn(2, 3, seed=6)

    def run(L):
        xt, wt = L.tensor(x), L.tensor(w, requires_grad=True)
        F = L.nn.functional
        (F.linear(xt, wt) * L.tensor(randn(4, 2, seed=7))).sum().backward()
        first = wt.grad.clone()
        wt.grad = None
        (F.linear(xt, wt) + F.linear(xt * 2, wt)).sum().backward()  # two partial dW
        return first, wt.grad

    assert_same(both(run))
    w_t = mg.tensor(w, requires_grad=True)
    seen = []
    w_t.register_hook(lambda g: seen.append(g))
    mg.nn.functional.linear(mg.tensor(x), w_t).sum().backward()
    kept = seen[0].numpy().copy()
    w_t.grad.zero_()
    assert np.array_equal(seen[0].numpy(), kept) and kept.any()


def test_slice_gradients_accumulate_into_one_sum():
    """x[index] adds dy into x's gradient sum at index (engine._accumulate_at): overlapping
    slices, a dense use before and after, on a leaf and on an intermediate, match torch."""
    import torch

    data = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)

    def run(L, x):
        h = x * 2.0
        a, b, c = h.split(2, dim=2)
        loss = (h[:, 1:3, 2:5] * 3.0).sum() + (a * b).sum() + (c ** 2).sum() + h.sum()
        return loss + (x[0] * x[0, :, 1:2]).sum() + x[1:, 2].sum()

    x = mg.tensor(data, requires_grad=True)
    run(mg, x).backward()
    xt = torch.tensor(data, requires_grad=True)
    run(torch, xt).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
