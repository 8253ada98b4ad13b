"""RMSprop: divide each coordinate's step by a running root-mean-square of its gradients."""
from __future__ import annotations

import numpy as np

from ..backend import xp
from .optimizer import (
    Optimizer, _check_implementation_flags, _check_nonnegative, _grad_for_update, _lerp_,
)


class RMSprop(Optimizer):
    """RMSprop (PyTorch's `torch.optim.RMSprop`, same arguments, state and state_dict).

    `capturable` and `foreach` are accepted and ignored (one NumPy implementation)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        self._check_options(defaults)
        super().__init__(params, defaults)

    def _check_options(self, options):
        _check_nonnegative(options, "lr", "learning rate")
        _check_nonnegative(options, "eps", "epsilon value")
        _check_nonnegative(options, "momentum", "momentum value")
        _check_nonnegative(options, "weight_decay", "weight_decay value")
        _check_nonnegative(options, "alpha", "alpha value")
        _check_implementation_flags(type(self).__name__, options)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = np.array(0.0, dtype=np.float32)
            state["square_avg"] = xp.zeros_like(p._data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p._data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p._data)
        return state

    def step(self, closure=None):
        """One RMSprop step for every parameter with a gradient:

        g = ±grad + wd * p;  v = alpha v + (1 - alpha) g^2;  c = v - gbar^2 with
        gbar = gbar + (1 - alpha)(g - gbar) (centered) or c = v;  d = g / (sqrt(c) + eps);
        b = momentum * b + d, p = p - lr * b (momentum > 0) or p = p - lr * d
        """
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p in self._params_with_grad(group):
                state = self._init_state(p, group)
                state["step"] += 1
                grad = _grad_for_update(p, group["weight_decay"], group["maximize"])

                square_avg = state["square_avg"]
                work = xp.empty_like(square_avg)
                square_avg *= alpha
                xp.multiply(grad, grad, out=work)
                work *= 1 - alpha
                square_avg += work
                if group["centered"]:
                    # Subtracting the squared mean turns the second moment into a variance, so
                    # a consistent gradient direction is not damped by its own magnitude.
                    grad_avg = state["grad_avg"]
                    _lerp_(grad_avg, grad, 1 - alpha, work)
                    avg = xp.multiply(grad_avg, grad_avg, out=work)
                    xp.subtract(square_avg, avg, out=avg)
                    xp.sqrt(avg, out=avg)
                else:
                    avg = xp.sqrt(square_avg, out=work)
                avg += eps

                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    xp.divide(grad, avg, out=avg)
                    buf += avg
                    p._data -= lr * buf
                else:
                    xp.divide(grad, avg, out=avg)
                    avg *= lr
                    p._data -= avg
                p._bump_version()
        return loss
