"""How every model family here is written: once, against an `nn` namespace.

Each family file has one function `classes(nn)` whose body defines the family's modules on
`nn.Module`, `nn.Conv2d`, ... and returns them. Called with macrograd.nn (the default) it gives
macrograd's models; called with torch.nn it gives their PyTorch twins, the same code line for
line, hence the same state_dict keys. The tests load our weights into the twin and compare
outputs: the strongest check that a model is what its paper describes is that the reference
library computes the same numbers from it.

Forward passes only use modules, Tensor methods (x.flatten(1), x + y), `nn.functional` and the
library's `cat`, which `library(nn)` finds (torch for torch.nn, macrograd for macrograd.nn).
"""
from __future__ import annotations

import functools
import importlib
import types

from .. import nn as _mgnn


def family(define):
    """Decorator for a family's `classes(nn)`: one set of classes per namespace (built once,
    so isinstance works across calls); `nn=None` means macrograd.nn."""
    cached = functools.lru_cache(maxsize=None)(define)

    @functools.wraps(define)
    def classes(nn=None) -> types.SimpleNamespace:
        built = cached(_mgnn if nn is None else nn)
        if nn is None or nn is _mgnn:
            # macrograd's classes live at module level of the family file (`ResNet = classes().ResNet`):
            # give them that qualified name so pickle can find them.
            for name, cls in vars(built).items():
                cls.__qualname__ = name
        return built

    return classes


def library(nn):
    """The top-level package of an nn namespace: macrograd for macrograd.nn, torch for torch.nn."""
    return importlib.import_module(nn.__name__.rpartition(".")[0])


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of divisor, never below 90% of value
    (the rule of MobileNet/EfficientNet; keeps widths friendly to the GEMM)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded
