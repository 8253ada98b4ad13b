"""Automatic differentiation: `Function` (an op and a graph node), grad mode, the backward walk,
and `gradcheck`, a finite-difference checker for your own ops."""
from .function import Function, sum_to
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .engine import run_backward
from .gradcheck import gradcheck

__all__ = [
    "Function", "sum_to", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "run_backward", "gradcheck",
]
