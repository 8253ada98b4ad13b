"""macrograd: deep learning from first principles that really runs.

    import macrograd as mg
    x = mg.randn(3, 4, requires_grad=True)
    (x.tanh() @ mg.ones(4)).sum().backward()
    x.grad
"""
from . import backend
from .backend import (
    Generator, bool_ as bool, float16, float32, float64, get_default_dtype, get_rng_state,
    initial_seed, int8, int16, int32, int64, manual_seed, set_default_dtype, set_rng_state, uint8,
)
from .tensor import Tensor
from .creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, logspace,
    ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like, randperm, tensor,
    zeros, zeros_like,
)
from . import autograd
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from . import ops
from .ops import *  # noqa: F401,F403  (mg.exp, mg.cat, mg.matmul, ...)
from . import nn, optim, data, io, text
from .io import load, save
from . import models

half = float16
float = float32
double = float64
long = int64
int = int32
short = int16

__version__ = "0.1.0"

# Parts with optional dependencies (the onnx, serve extras) load on first use: mg.onnx.export(...).
_LAZY_SUBPACKAGES = ("onnx", "quantization", "serve", "viz", "train", "experiments")


def __getattr__(name):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'macrograd' has no attribute {name!r}")
