"""`gradcheck`: compare the gradients backward computes with central finite differences.

For every input element x_j and output element y_i it compares the analytic Jacobian
J[i, j] = dy_i/dx_j (one backward per output element) with (f(x + eps e_j) - f(x - eps e_j)) / 2 eps,
in float64 so that the finite differences are accurate. Use it on your own Functions.
"""
from __future__ import annotations

import numpy as np


class GradcheckError(AssertionError):
    pass


def _as_tuple(value):
    return value if isinstance(value, (tuple, list)) else (value,)


def _position(flat_index, shape) -> str:
    """A flat index as a readable position: 7 in shape (2, 4) -> [1, 3]."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check `fn(*inputs)` (Tensors in, a Tensor or a tuple of Tensors out) against finite
    differences for every input that requires grad. Returns True, or raises GradcheckError
    naming the worst mismatch (or returns False when raise_exception=False)."""
    from ..tensor import Tensor  # the checker sits above the tensor layer it exercises
    from .grad_mode import no_grad

    inputs = _as_tuple(inputs)
    for index, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise GradcheckError(
                f"gradcheck: input {index} is {x.dtype}; finite differences need float64 inputs "
                f"(make them with dtype=mg.float64)"
            )
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise GradcheckError("gradcheck: no input requires grad, so there is nothing to check")

    def outputs_of(values):
        return [o for o in _as_tuple(fn(*values)) if isinstance(o, Tensor) and o.dtype.kind == "f"]

    outputs = outputs_of(inputs)
    worst = None  # (score, message)
    for out_index, out in enumerate(outputs):
        out_size = out.numel()
        for i in checked:
            x = inputs[i]
            analytic = np.zeros((out_size, x.numel()))
            for k in range(out_size):
                seed = np.zeros(out_size)
                seed[k] = 1.0
                for t in inputs:
                    if isinstance(t, Tensor):
                        t.grad = None
                fresh = outputs_of(inputs)[out_index]
                if fresh.requires_grad:
                    fresh.backward(Tensor(seed.reshape(fresh.shape)))
                if x.grad is not None:
                    analytic[k] = x.grad.numpy().ravel()
            numeric = np.zeros_like(analytic)
            # Perturb x's array in place, element by element (a multi-index, not a reshaped
            # view, so that a non-contiguous input is perturbed too), then restore it.
            for j, position in enumerate(np.ndindex(*x.shape)):
                original = x._data[position]
                with no_grad():
                    x._data[position] = original + eps
                    plus = outputs_of(inputs)[out_index].numpy().ravel().copy()
                    x._data[position] = original - eps
                    minus = outputs_of(inputs)[out_index].numpy().ravel().copy()
                x._data[position] = original
                numeric[:, j] = (plus - minus) / (2 * eps)
            error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if error.size and error.max() > 0:
                k, j = np.unravel_index(np.argmax(error), error.shape)
                score = error[k, j]
                message = (
                    f"gradcheck failed: d output {out_index}{_position(k, out.shape)} / "
                    f"d input {i}{_position(j, x.shape)}: backward gives "
                    f"{analytic[k, j]:.6g}, finite differences give {numeric[k, j]:.6g} "
                    f"(|difference| {abs(analytic[k, j] - numeric[k, j]):.3g} > "
                    f"atol {atol} + rtol {rtol} * |numeric|)"
                )
                if worst is None or score > worst[0]:
                    worst = (score, message)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    if worst is not None:
        if raise_exception:
            raise GradcheckError(worst[1])
        return False
    return True
