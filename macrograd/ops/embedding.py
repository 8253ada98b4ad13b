"""(being written)"""
from __future__ import annotations

TENSOR_METHODS = ()
