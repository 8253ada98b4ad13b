"""Training checkpoints: model, optimizer, scheduler, RNG, epoch and metrics in one safetensors file.

    save_checkpoint("ckpt.safetensors", model=model, optimizer=opt, scheduler=sched, epoch=3,
                    metrics={"val_loss": 0.21})
    info = load_checkpoint("ckpt.safetensors", model, opt, sched)   # info["epoch"] == 3

Layout. Every tensor is a safetensors tensor, named by its path in the state it came from:
    model.<state_dict key>                 e.g. model.fc1.weight
    optimizer.state.<param index>.<name>   e.g. optimizer.state.0.exp_avg
    scheduler.<...>, metrics.<...>, extra.<...> for tensors found there
Everything else (optimizer param_groups, scheduler state, the global RNG state, epoch, metrics,
extra) is one JSON string under the header metadata key "macrograd.checkpoint", where each tensor
is replaced by {"__tensor__": "<its name>"}. Tuples and dicts with non-str keys are tagged
({"__tuple__": [...]}, {"__dict__": [[k, v], ...]}) so they come back as they went in. The file
loads with any safetensors reader, and `model.*` are the torch module's state_dict keys.
"""
from __future__ import annotations

import json

import numpy as np

from .. import backend
from ..tensor import Tensor
from .atomic import atomic_write
from .serialization import FORMAT_METADATA, read_safetensors, safetensors_numpy, tensor_to_array

METADATA_KEY = "macrograd.checkpoint"
FORMAT_VERSION = 1
_TAGS = ("__tensor__", "__tuple__", "__dict__")


def _encode(value, name: str, tensors: dict):
    """`value` as JSON-able data, moving each tensor into `tensors` under its path `name`."""
    if isinstance(value, (Tensor, np.ndarray)):
        if name in tensors:
            raise ValueError(f"save_checkpoint: two tensors would both be stored as {name!r}")
        tensors[name] = tensor_to_array(value, name, "save_checkpoint")
        return {"__tensor__": name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(tag in value for tag in _TAGS):
            return {k: _encode(v, f"{name}.{k}", tensors) for k, v in value.items()}
        return {"__dict__": [[_encode(k, f"{name}.key", {}), _encode(v, f"{name}.{k}", tensors)]
                             for k, v in value.items()]}
    raise TypeError(
        f"save_checkpoint: cannot store {name} of type {type(value).__name__}; a checkpoint holds "
        f"tensors, numbers, strings, None, and lists, tuples and dicts of them"
    )


def _decode(value, tensors: dict):
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return Tensor(backend.to_device_array(tensors[value["__tensor__"]]))
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__dict__"]}
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def save_checkpoint(path, model=None, optimizer=None, scheduler=None, epoch=None, metrics=None,
                    extra=None) -> None:
    """Write a full training state to `path` (safetensors, atomically); see the module docstring."""
    tensors = {}
    if model is not None:
        for key, value in model.state_dict().items():
            tensors["model." + key] = tensor_to_array(value, key, "save_checkpoint: model.state_dict()")
    state = {
        "format_version": FORMAT_VERSION,
        "has_model": model is not None,
        "optimizer": None if optimizer is None else _encode(optimizer.state_dict(), "optimizer", tensors),
        "scheduler": None if scheduler is None else _encode(scheduler.state_dict(), "scheduler", tensors),
        "rng_state": _encode(backend.get_rng_state(), "rng_state", tensors),
        "epoch": _encode(epoch, "epoch", tensors),
        "metrics": _encode(metrics, "metrics", tensors),
        "extra": _encode(extra, "extra", tensors),
    }
    header = dict(FORMAT_METADATA)
    header[METADATA_KEY] = json.dumps(state)
    atomic_write(path, lambda tmp: safetensors_numpy().save_file(tensors, tmp, metadata=header))


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, strict=True, restore_rng=True):
    """Load a checkpoint written by save_checkpoint into `model`, `optimizer` and `scheduler`
    (each optional), restore the global RNG (unless restore_rng=False), and return the rest:
    {"epoch", "metrics", "extra", "rng_state"}."""
    arrays, metadata = read_safetensors(path, "load_checkpoint")
    if METADATA_KEY not in metadata:
        raise ValueError(
            f"load_checkpoint: {path} holds no training state (no {METADATA_KEY!r} metadata); "
            f"a plain state dict written by mg.save loads with mg.load"
        )
    try:
        state = json.loads(metadata[METADATA_KEY])
        version = state["format_version"]
    except (ValueError, KeyError, TypeError) as error:
        raise RuntimeError(f"load_checkpoint: {path} has a corrupt training-state header: {error}") from None
    if version > FORMAT_VERSION:
        raise RuntimeError(f"load_checkpoint: {path} has format version {version}; this macrograd reads up to {FORMAT_VERSION}")
    for name, target in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        stored = state["has_model"] if name == "model" else state[name] is not None
        if target is not None and not stored:
            raise ValueError(f"load_checkpoint: {path} holds no {name} state, but a {name} was given")
    if model is not None:
        model_state = {
            key[len("model."):]: Tensor(backend.to_device_array(array))
            for key, array in arrays.items() if key.startswith("model.")
        }
        if strict:
            model.load_state_dict(model_state)
        else:
            model.load_state_dict(model_state, strict=False)
    if optimizer is not None:
        optimizer.load_state_dict(_decode(state["optimizer"], arrays))
    if scheduler is not None:
        scheduler.load_state_dict(_decode(state["scheduler"], arrays))
    rng_state = _decode(state["rng_state"], arrays)
    if restore_rng:
        backend.set_rng_state(rng_state)
    return {
        "epoch": _decode(state["epoch"], arrays),
        "metrics": _decode(state["metrics"], arrays),
        "extra": _decode(state["extra"], arrays),
        "rng_state": rng_state,
    }
