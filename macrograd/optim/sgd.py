"""SGD: stochastic gradient descent, optionally with (Nesterov) momentum and weight decay."""
from __future__ import annotations

from .optimizer import Optimizer, _check_nonnegative, _grad_for_update, _check_implementation_flags


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's `torch.optim.SGD`, same arguments and state).

    `foreach`, `fused` and `differentiable` are accepted so PyTorch code and checkpoints carry
    over; macrograd has one NumPy implementation, and `differentiable=True` is not supported."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        self._check_options(defaults)
        super().__init__(params, defaults)

    def _check_options(self, options):
        _check_nonnegative(options, "lr", "learning rate")
        _check_nonnegative(options, "momentum", "momentum value")
        _check_nonnegative(options, "weight_decay", "weight_decay value")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_implementation_flags(type(self).__name__, options)

    def step(self, closure=None):
        """One SGD step for every parameter with a gradient:

        g = ±grad + weight_decay * p;  b = g at the first step, else momentum * b + (1 - dampening) * g;
        d = g + momentum * b (nesterov) or b (momentum != 0) or g;  p = p - lr * d
        """
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            for p in self._params_with_grad(group):
                grad = _grad_for_update(p, group["weight_decay"], group["maximize"])
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # The buffer starts as the first gradient itself, not as zeros.
                        buf = state["momentum_buffer"] = grad.copy()
                    else:
                        buf *= momentum
                        # Without dampening, add grad itself: (1 - 0) * grad would allocate a
                        # copy of every gradient on every step for nothing.
                        buf += grad if dampening == 0 else (1 - dampening) * grad
                    grad = grad + momentum * buf if group["nesterov"] else buf
                p._data -= lr * grad
                p._bump_version()
        return loss
