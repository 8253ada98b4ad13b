"""The oracle: run one expression in macrograd and in PyTorch and compare everything.

    check(lambda L, a, b: L.nn.functional.softmax(a @ b, dim=-1), randn(4, 5), randn(5, 3))

`fn(L, *tensors)` receives the library module (macrograd or torch) and the inputs made from the
same NumPy arrays. Float inputs require grad; the output is multiplied by a random cotangent
(not ones: that catches gradients that are right only on average) and backpropagated.
The forward values and the gradient of every float input must agree.
"""
from __future__ import annotations

import numpy as np
import torch

import macrograd as mg

SEED_COTANGENT = 1234


def randn(*shape, dtype=np.float32, seed=None):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _to_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    if isinstance(t, mg.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


def run(lib, fn, arrays, requires_grad, float64=False):
    tensors = []
    for a, needs in zip(arrays, requires_grad):
        a = np.array(a, copy=True)
        if float64 and a.dtype == np.float32:
            a = a.astype(np.float64)
        needs = needs and a.dtype.kind == "f"
        tensors.append(lib.tensor(a, requires_grad=needs))
    outs = _as_list(fn(lib, *tensors))
    rng = np.random.default_rng(SEED_COTANGENT)
    total = None
    for out in outs:
        if isinstance(out, (mg.Tensor, torch.Tensor)) and out.requires_grad:
            # float32 numbers whatever the output's dtype, so that a float64 reference run
            # (check(..., reference_float64=True)) gets exactly the same cotangent
            weights = rng.standard_normal(tuple(out.shape)).astype(np.float32).astype(_to_numpy(out).dtype)
            term = (out * lib.tensor(weights)).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    grads = [None if t.grad is None else _to_numpy(t.grad) for t in tensors]
    return [_to_numpy(o) for o in outs], grads, tensors


def check(fn, *arrays, rtol=1e-5, atol=1e-6, requires_grad=None, check_grad=True, reference_float64=False):
    """Assert that fn gives the same outputs and input gradients in macrograd and torch.

    reference_float64: torch computes in float64 from the same float32 inputs and cotangent, and
    macrograd's float32 results must be within the tolerance of that exact-to-float32 answer
    (for sums of many terms, where torch's own float32 rounding exceeds atol)."""
    if requires_grad is None:
        requires_grad = [True] * len(arrays)
    mg_outs, mg_grads, _ = run(mg, fn, arrays, requires_grad)
    torch_outs, torch_grads, _ = run(torch, fn, arrays, requires_grad)
    if reference_float64:
        torch_dtypes = [o.dtype for o in torch_outs]
        torch_outs, torch_grads, _ = run(torch, fn, arrays, requires_grad, float64=True)
    else:
        torch_dtypes = [o.dtype for o in torch_outs]
    assert len(mg_outs) == len(torch_outs), f"{len(mg_outs)} outputs vs torch's {len(torch_outs)}"
    for i, (ours, theirs, dtype) in enumerate(zip(mg_outs, torch_outs, torch_dtypes)):
        assert ours.shape == theirs.shape, f"output {i}: shape {ours.shape} vs torch {theirs.shape}"
        assert ours.dtype == dtype, f"output {i}: dtype {ours.dtype} vs torch {dtype}"
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"output {i}")
    if check_grad:
        for i, (ours, theirs) in enumerate(zip(mg_grads, torch_grads)):
            if theirs is None:
                assert ours is None or not np.any(ours), f"input {i}: macrograd has a grad, torch none"
                continue
            assert ours is not None, f"input {i}: torch has a gradient, macrograd none"
            assert ours.shape == theirs.shape, f"grad {i}: shape {ours.shape} vs torch {theirs.shape}"
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"grad of input {i}")
    return mg_outs
