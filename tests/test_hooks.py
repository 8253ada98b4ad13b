"""Module and tensor hooks against PyTorch: forward pre-hooks, forward hooks, full backward hooks
and pre-hooks, tensor hooks, and handle.remove() for each.

Each test runs the same code on both libraries (L = macrograd or torch) and compares what the
hooks saw and what they changed."""
import numpy as np
import pytest
import torch

import macrograd as mg

LIBS = (mg, torch)
rng = np.random.default_rng(0)
W1 = rng.standard_normal((5, 4)).astype(np.float32)
B1 = rng.standard_normal(5).astype(np.float32)
W2 = rng.standard_normal((3, 5)).astype(np.float32)
B2 = rng.standard_normal(3).astype(np.float32)
X = rng.standard_normal((6, 4)).astype(np.float32)
COTANGENT = rng.standard_normal((6, 5)).astype(np.float32)


def arr(t):
    if t is None:
        return None
    return t.detach().numpy()


def linear(L):
    layer = L.nn.Linear(4, 5)
    layer.load_state_dict({"weight": L.tensor(W1), "bias": L.tensor(B1)})
    return layer


def mlp(L):
    model = L.nn.Sequential(L.nn.Linear(4, 5), L.nn.Tanh(), L.nn.Linear(5, 3))
    model.load_state_dict({"0.weight": L.tensor(W1), "0.bias": L.tensor(B1),
                           "2.weight": L.tensor(W2), "2.bias": L.tensor(B2)})
    return model


def assert_all_close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def both(fn):
    """fn(L) for macrograd and torch: a list of arrays (or None) each; compared here."""
    got, want = fn(mg), fn(torch)
    assert_all_close(got, want)
    return got


# -- forward hooks ------------------------------------------------------------------------------

def test_forward_pre_hook_replaces_input_and_remove():
    def run(L):
        layer = linear(L)
        handle = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        doubled = layer(L.tensor(X))
        handle.remove()
        plain = layer(L.tensor(X))
        return [arr(doubled), arr(plain)]

    doubled, plain = both(run)
    assert not np.allclose(doubled, plain)


def test_forward_pre_hook_returning_a_single_tensor_is_wrapped():
    both(lambda L: [arr(_with_pre_hook(L, lambda m, args: args[0] + 1))])


def _with_pre_hook(L, hook):
    layer = linear(L)
    layer.register_forward_pre_hook(hook)
    return layer(L.tensor(X))


def test_forward_hook_sees_input_and_output_and_replaces_output():
    def run(L):
        layer = linear(L)
        seen = []

        def hook(module, args, output):
            seen.append((arr(args[0]), arr(output)))
            return output.relu()

        handle = layer.register_forward_hook(hook)
        x = L.tensor(X, requires_grad=True)
        y = layer(x)
        (y * L.tensor(COTANGENT[:, :1].repeat(5, 1))).sum().backward()
        handle.remove()
        after = layer(L.tensor(X))
        return [seen[0][0], seen[0][1], arr(y), arr(x.grad), arr(after), np.array(len(seen))]

    got = both(run)
    assert (got[2] >= 0).all() and (got[4] < 0).any()


def test_forward_hooks_with_kwargs():
    def run(L):
        layer = linear(L)
        layer.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] - 1,), kwargs), with_kwargs=True)
        layer.register_forward_hook(lambda m, args, kwargs, out: out * 3, with_kwargs=True)
        return [arr(layer(L.tensor(X)))]

    both(run)


# -- full backward hooks ---------------------------------------------------------------------------

def _record_backward(L, make_model, x_requires_grad=True, replace=None):
    """Run make_model(L) with a full backward hook on every submodule; return everything the
    hooks saw (grad_input, grad_output per module, in call order) and the leaf gradients."""
    model = make_model(L)
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append(list(grad_input) + list(grad_output))
        if replace is not None:
            return replace(grad_input)

    modules = [module for _, module in model.named_modules()]
    handles = [m.register_full_backward_hook(hook) for m in modules]
    x = L.tensor(X, requires_grad=x_requires_grad)
    out = model(x)
    (out * L.tensor(COTANGENT[:, : out.shape[1]])).sum().backward()
    flat = [arr(g) for entry in seen for g in entry]
    grads = [arr(p.grad) for p in model.parameters()] + [arr(x.grad)]
    for handle in handles:
        handle.remove()
    return flat + grads + [np.array([len(entry) for entry in seen])]


def test_full_backward_hook_linear_matches_torch():
    both(lambda L: _record_backward(L, linear))


def test_full_backward_hook_sequential_matches_torch():
    got = both(lambda L: _record_backward(L, mlp))
    assert len(got[-1]) == 4  # Linear, Tanh, Linear and the Sequential itself


def test_full_backward_hook_when_no_input_needs_a_gradient():
    # grad_input is (None,), called when the output gradient is known (PyTorch warns there).
    with pytest.warns(UserWarning):
        want = _record_backward(torch, linear, x_requires_grad=False)
    got = _record_backward(mg, linear, x_requires_grad=False)
    assert_all_close(got, want)
    assert got[0] is None


def test_full_backward_hook_replaces_grad_input():
    both(lambda L: _record_backward(L, linear, replace=lambda gi: (gi[0] * 10,)))
    # The replacement flows on: in a Sequential, doubling Tanh's grad_input doubles the first
    # Linear's gradients.
    def run(L):
        model = mlp(L)
        model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
        x = L.tensor(X, requires_grad=True)
        (model(x) * L.tensor(COTANGENT[:, :3])).sum().backward()
        return [arr(p.grad) for p in model.parameters()] + [arr(x.grad)]

    doubled = both(run)
    plain = _record_backward(mg, mlp)[-6:-1]
    np.testing.assert_allclose(doubled[0], 2 * plain[0], rtol=1e-5)
    np.testing.assert_allclose(doubled[2], plain[2], rtol=1e-5)  # the last Linear is before the hook


def test_full_backward_hook_wrong_number_of_grads_raises():
    for L in LIBS:
        layer = linear(L)
        layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        out = layer(L.tensor(X, requires_grad=True))
        with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
            out.sum().backward()


def test_full_backward_hook_handle_remove():
    calls = []
    layer = linear(mg)
    handle = layer.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    layer(mg.tensor(X, requires_grad=True)).sum().backward()
    handle.remove()
    layer(mg.tensor(X, requires_grad=True)).sum().backward()
    assert calls == [1]
    assert not layer._backward_hooks


def test_full_backward_pre_hook_sees_and_replaces_grad_output():
    def run(L):
        model = mlp(L)
        seen = []

        def pre_hook(module, grad_output):
            seen.append(arr(grad_output[0]))
            return (grad_output[0] * -3,)

        handle = model[2].register_full_backward_pre_hook(pre_hook)
        x = L.tensor(X, requires_grad=True)
        (model(x) * L.tensor(COTANGENT[:, :3])).sum().backward()
        first = [arr(p.grad) for p in model.parameters()] + [arr(x.grad)]
        handle.remove()
        model.zero_grad()
        x = L.tensor(X, requires_grad=True)
        (model(x) * L.tensor(COTANGENT[:, :3])).sum().backward()
        return seen + first + [arr(p.grad) for p in model.parameters()] + [np.array(len(seen))]

    got = both(run)
    np.testing.assert_allclose(got[1 + 2], -3 * got[1 + 5 + 2], rtol=1e-5)  # 2.weight scaled by -3


def test_full_backward_pre_hook_wrong_number_raises():
    for L in LIBS:
        layer = linear(L)
        layer.register_full_backward_pre_hook(lambda m, go: ())
        out = layer(L.tensor(X, requires_grad=True))
        with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0, but expected 1"):
            out.sum().backward()


def test_backward_hooks_with_tuple_output_and_non_tensor_argument():
    # grad_input has one entry per positional argument (None for the float, zeros for a tensor
    # that needs no gradient); grad_output one per output, None for an output without one.
    def run(L):
        class Split(L.nn.Module):
            def forward(self, a, scale, b):
                return a * scale + b, a.sum(dim=1) * b.sum(dim=1), a * 0

        module = Split()
        seen = []
        module.register_full_backward_hook(lambda m, gi, go: seen.append(list(gi) + list(go)))
        a = L.tensor(X, requires_grad=True)
        b = L.tensor(X[::-1].copy())
        first, second, _unused = module(a, 2.5, b)
        ((first * L.tensor(X)).sum() + (second * L.tensor(X[:, 0])).sum()).backward()
        return [arr(g) for g in seen[0]] + [arr(a.grad)]

    got = both(run)
    assert got[1] is None and not got[2].any() and got[5] is None


def test_module_without_hooks_adds_no_nodes():
    layer = linear(mg)
    out = layer(mg.tensor(X, requires_grad=True))
    assert type(out.grad_fn).__name__ == "Linear"  # the layer's own (fused) op
    handle = layer.register_full_backward_hook(lambda *a: None)
    assert type(layer(mg.tensor(X, requires_grad=True)).grad_fn).__name__ == "GatePass"
    handle.remove()
    assert type(layer(mg.tensor(X, requires_grad=True)).grad_fn).__name__ == "Linear"


def test_backward_hooks_skipped_under_no_grad():
    calls = []
    layer = linear(mg)
    layer.register_full_backward_hook(lambda *a: calls.append(1))
    with mg.no_grad():
        out = layer(mg.tensor(X, requires_grad=True))
    assert out.grad_fn is None and not out.requires_grad and calls == []


# -- tensor hooks ----------------------------------------------------------------------------------

def test_tensor_register_hook_modifies_gradient_and_remove():
    def run(L):
        x = L.tensor(X, requires_grad=True)
        h = x * 2
        seen = []
        handle_h = h.register_hook(lambda g: seen.append(arr(g)) or g * 3)
        handle_x = x.register_hook(lambda g: g + 1)
        (h.tanh() * L.tensor(COTANGENT[:, :1])).sum().backward()
        first = arr(x.grad)
        handle_h.remove()
        handle_x.remove()
        x.grad = None
        h = x * 2
        (h.tanh() * L.tensor(COTANGENT[:, :1])).sum().backward()
        return seen + [first, arr(x.grad)]

    seen, first, second = both(run)
    np.testing.assert_allclose(first, 3 * second + 1, rtol=1e-5)
