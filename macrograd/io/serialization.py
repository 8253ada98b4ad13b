"""`save` / `load`: state dicts (name -> Tensor) as safetensors files.

    mg.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(mg.load("model.safetensors"))

The keys are the module's state_dict keys, so the file also loads into the same torch module:
`torch_model.load_state_dict(safetensors.torch.load_file("model.safetensors"))`. Files are written
atomically (see atomic.py). Unlike torch.save, which pickles anything, only tensors go in: a
safetensors file cannot run code when loaded. Training state goes through save_checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..tensor import Tensor
from .atomic import atomic_write

def safetensors_numpy():
    """The safetensors NumPy API, imported on first use: safetensors is an optional dependency
    (macrograd[train]), so `import macrograd` works without it."""
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "macrograd.io needs the safetensors package: pip install safetensors "
            "(it comes with pip install 'macrograd[train]')"
        ) from None
    return safetensors.numpy


# torch's safetensors loaders (e.g. transformers) check this tag; it changes nothing else.
FORMAT_METADATA = {"format": "pt"}


def tensor_to_array(value, key: str, op: str) -> np.ndarray:
    """The NumPy array to store for one state dict entry (a Tensor or an ndarray)."""
    if isinstance(value, Tensor):
        array = backend.to_numpy(value._data)
    elif isinstance(value, np.ndarray):
        array = value
    else:
        raise TypeError(
            f"{op}: the value for key {key!r} is a {type(value).__name__}, not a Tensor; a "
            f"safetensors state dict holds only tensors (store other values with "
            f"macrograd.io.save_checkpoint(..., extra=...))"
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{op}: the tensor for key {key!r} has dtype {array.dtype}, which safetensors cannot store")
    # (not np.ascontiguousarray: it turns 0-d tensors into 1-d ones)
    return array if array.flags.c_contiguous else array.copy(order="C")


def save(obj, f, metadata=None) -> None:
    """Write a state dict (a dict of str -> Tensor) to the safetensors file `f`, atomically.
    `metadata` is an optional dict of str -> str stored in the file's header."""
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"mg.save: expected a state dict (a dict of name -> Tensor), got {type(obj).__name__}; "
            f"save one tensor as mg.save({{'tensor': t}}, path) and a training state with "
            f"macrograd.io.save_checkpoint"
        )
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"mg.save: state dict keys must be str, got {key!r} ({type(key).__name__})")
        arrays[key] = tensor_to_array(value, key, "mg.save")
    header = dict(FORMAT_METADATA)
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"mg.save: metadata must map str to str, got {key!r}: {type(value).__name__}")
        header[key] = value
    atomic_write(f, lambda tmp: safetensors_numpy().save_file(arrays, tmp, metadata=header))


def read_safetensors(f, op: str):
    """(arrays, metadata) of a safetensors file; a clear error naming the file if it is not one."""
    path = os.fspath(f)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path}")
    safe_open = safetensors_numpy().safe_open
    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # SafetensorError and friends: a damaged header or data section
        raise RuntimeError(
            f"{op}: {path} is not a valid safetensors file (truncated or corrupt?): {error}"
        ) from None
    return arrays, metadata


def load(f, map_location=None):
    """Read a safetensors file written by `save` (or by safetensors.torch.save_file) into a dict
    of name -> Tensor. `map_location` is accepted for torch compatibility (tensors go to the
    backend's device)."""
    arrays, _ = read_safetensors(f, "mg.load")
    return {key: Tensor(backend.to_device_array(array)) for key, array in arrays.items()}
