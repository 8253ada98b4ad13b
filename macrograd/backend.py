"""The array backend: which array library computes, the default dtype, and the global RNG.

Everything above this layer asks this module for ``xp`` (NumPy, or CuPy when
``MACROGRAD_DEVICE=cuda`` and CuPy is installed) instead of importing NumPy itself,
so that one switch moves the whole library to a GPU.
"""
from __future__ import annotations

import os

import numpy as np

xp = np
if os.environ.get("MACROGRAD_DEVICE", "cpu").lower() == "cuda":  # pragma: no cover - GPU only
    try:
        import cupy

        xp = cupy
    except ImportError as error:
        raise ImportError("MACROGRAD_DEVICE=cuda needs CuPy: pip install cupy-cuda12x") from error

# dtypes are NumPy dtype objects, so `mg.float32 == np.float32` holds and arrays convert freely.
float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

# float32 is the default, as in PyTorch: NumPy's float64 default doubles memory and halves speed.
_default_dtype = float32


def get_default_dtype() -> np.dtype:
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype that float data and float factories get (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating point dtypes are allowed, got {dtype}")
    _default_dtype = dtype


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


# One global generator, seeded by manual_seed, so that every random op draws from the same stream
# and a run is reproducible with one call.
_rng = np.random.default_rng()
_seed = None


def manual_seed(seed: int):
    """Seed the global random generator (weights init, dropout, shuffling, rand/randn)."""
    global _rng, _seed
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)
    if xp is not np:  # pragma: no cover - GPU only
        xp.random.seed(_seed)
    return _rng


def initial_seed():
    return _seed


def rng() -> np.random.Generator:
    """The global generator; draw from it on the CPU and move to the device afterwards."""
    return _rng


def get_rng_state() -> dict:
    """The generator's full state (a plain dict), for training checkpoints."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


def to_device_array(array):
    """Move a NumPy array to the backend (a no-op on the CPU)."""
    return array if xp is np else xp.asarray(array)


def to_numpy(array):
    """Move a backend array to NumPy (a no-op on the CPU)."""
    return array if isinstance(array, np.ndarray) or xp is np else xp.asnumpy(array)


class Generator:
    """A random generator of its own (PyTorch's `torch.Generator`), e.g. for a DataLoader's
    shuffling, so that the order of batches does not depend on how many weights were drawn."""

    def __init__(self, device="cpu"):
        self.rng = np.random.default_rng()
        self._seed = None

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def rng_of(generator) -> np.random.Generator:
    """The NumPy generator behind an optional `generator=` argument (the global one if None)."""
    return _rng if generator is None else generator.rng
