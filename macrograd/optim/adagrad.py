"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients so far."""
from __future__ import annotations

import numpy as np

from ..backend import xp
from .optimizer import Optimizer, _check_implementation_flags, _check_nonnegative, _grad_for_update


class Adagrad(Optimizer):
    """Adagrad (PyTorch's `torch.optim.Adagrad`, same arguments, state and state_dict).

    State is created for every parameter at construction, as in PyTorch, so a state_dict
    taken before the first step already holds 'step' and 'sum'."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        self._check_options(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_options(self, options):
        _check_nonnegative(options, "lr", "learning rate")
        _check_nonnegative(options, "lr_decay", "lr_decay value")
        _check_nonnegative(options, "weight_decay", "weight_decay value")
        _check_nonnegative(options, "initial_accumulator_value", "initial_accumulator_value value")
        _check_nonnegative(options, "eps", "epsilon value")
        _check_implementation_flags(type(self).__name__, options)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = np.array(0.0, dtype=np.float32)
            state["sum"] = xp.full_like(p._data, group["initial_accumulator_value"])
        return state

    def step(self, closure=None):
        """One Adagrad step for every parameter with a gradient (t counts its steps):

        g = ±grad + wd * p;  s = s + g^2;  p = p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
        """
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                state = self._init_state(p, group)  # parameters added later start here
                state["step"] += 1
                t = float(state["step"])
                grad = _grad_for_update(p, group["weight_decay"], group["maximize"])
                clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])

                state_sum = state["sum"]
                work = xp.multiply(grad, grad, out=xp.empty_like(state_sum))
                state_sum += work
                std = xp.sqrt(state_sum, out=work)
                std += group["eps"]
                xp.divide(grad, std, out=work)
                work *= clr
                p._data -= work
                p._bump_version()
        return loss
