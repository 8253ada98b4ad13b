"""Adam and AdamW: per-coordinate steps from bias-corrected running moments of the gradient.

AdamW differs only in where weight decay acts: it shrinks the parameter directly
(p = p - lr * wd * p) instead of adding wd * p to the gradient, so the decay is not rescaled
by the adaptive denominator (Loshchilov & Hutter, "Decoupled Weight Decay Regularization").
"""
from __future__ import annotations


import numpy as np

from ..backend import xp
from .optimizer import (
    Optimizer, _check_implementation_flags, _check_nonnegative, _grad_for_update, _lerp_,
)


class Adam(Optimizer):
    """Adam (PyTorch's `torch.optim.Adam`, same arguments, state and state_dict).

    `foreach`, `fused` and `capturable` are accepted and ignored (one NumPy implementation)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._check_options(defaults)
        super().__init__(params, defaults)

    def _check_options(self, options):
        _check_nonnegative(options, "lr", "learning rate")
        _check_nonnegative(options, "eps", "epsilon value")
        betas = options["betas"]
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _check_nonnegative(options, "weight_decay", "weight_decay value")
        _check_implementation_flags(type(self).__name__, options)

    def _init_state(self, p, amsgrad: bool) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = np.array(0.0, dtype=np.float32)
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
            if amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(p._data)
        return state

    def step(self, closure=None):
        """One Adam step for every parameter with a gradient (t counts this parameter's steps):

        g = ±grad (+ wd * p, or p = p * (1 - lr * wd) when decoupled);  m = m + (1 - b1) (g - m);
        v = b2 v + (1 - b2) g^2;  v_max = max(v_max, v) (amsgrad);
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        """
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, eps, (beta1, beta2) = group["lr"], group["eps"], group["betas"]
            weight_decay, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
            for p in self._params_with_grad(group):
                state = self._init_state(p, group["amsgrad"])
                state["step"] += 1
                t = float(state["step"])

                if decoupled and weight_decay != 0:
                    p._data *= 1 - lr * weight_decay
                grad = _grad_for_update(p, 0 if decoupled else weight_decay, group["maximize"])

                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                work = xp.empty_like(exp_avg)  # the one scratch array this update needs
                _lerp_(exp_avg, grad, 1 - beta1, work)
                exp_avg_sq *= beta2
                xp.multiply(grad, grad, out=work)
                work *= 1 - beta2
                exp_avg_sq += work
                if group["amsgrad"]:
                    # The denominator uses the largest second moment so far, so steps never grow
                    # because v shrank (AMSGrad, "On the Convergence of Adam and Beyond").
                    xp.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    second_moment = state["max_exp_avg_sq"]
                else:
                    second_moment = exp_avg_sq

                # Bias corrections undo the zero initialisation of m and v (in float64 scalars,
                # then applied once, exactly where PyTorch applies them).
                step_size = lr / (1 - beta1**t)
                bias_correction2_sqrt = (1 - beta2**t) ** 0.5
                denom = xp.sqrt(second_moment, out=work)
                denom /= bias_correction2_sqrt
                denom += eps
                xp.divide(exp_avg, denom, out=work)
                work *= -step_size
                p._data += work
                p._bump_version()
        return loss


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (PyTorch's `torch.optim.AdamW`), default wd 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
