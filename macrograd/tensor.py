"""`Tensor`: an n-dimensional array that remembers how it was made, so gradients can flow back.

A Tensor wraps one backend array (`_data`) and, when it came out of an op that needs a
gradient, the graph node that made it (`grad_fn`). Arithmetic, comparison and the op methods
(`x.exp()`, `x.sum(dim=1)`, ...) are attached by `macrograd.ops` (see ops/tensor_methods.py),
so this file holds only what a tensor *is*: data, dtype, gradient state and conversions.
"""
from __future__ import annotations

import numpy as np

from . import autograd, backend
from .autograd import function as _function
from .autograd.function import VersionCounter
from .backend import xp


def array_from_data(data, dtype=None):
    """Turn Python data, NumPy arrays or Tensors into a fresh backend array, with PyTorch's
    dtype inference: Python floats become the default float dtype, ints int64, bools bool."""
    if isinstance(data, Tensor):
        array = data._data.copy()
    elif isinstance(data, (np.ndarray, np.generic)) or (xp is not np and isinstance(data, xp.ndarray)):
        array = xp.array(data, copy=True)
    else:
        array = np.array(data)
        if array.dtype == np.float64:
            array = array.astype(backend.get_default_dtype())
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype == object or array.dtype.kind in "USO":
            raise TypeError(f"tensor(): cannot make a tensor from {type(data).__name__} data {data!r:.80}")
        array = backend.to_device_array(array)
    if dtype is not None:
        array = array.astype(np.dtype(dtype), copy=False)
    return array


class Tensor:
    """An array with autograd. Make one with `mg.tensor(data)` or the creation functions."""

    __slots__ = ("_data", "_requires_grad", "grad", "grad_fn", "_version", "_hooks", "__weakref__")
    # Make NumPy hand mixed expressions (ndarray + Tensor) over to Tensor's reflected operators.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        if not isinstance(data, np.ndarray) and not (xp is not np and isinstance(data, xp.ndarray)):
            data = xp.asarray(data) if isinstance(data, np.generic) else array_from_data(data)
        self._data = data
        self.grad = None
        self.grad_fn = None
        self._version = VersionCounter()
        self._hooks = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    # -- autograd state ------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool):
        if value and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (this one is {self.dtype})"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use detach() to get "
                "a tensor that does not require grad"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires grad, adding into `leaf.grad`.

        `gradient` is dL/d(self); it may be left out only when self holds a single element."""
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): higher-order gradients are not supported")
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "backward() needs a tensor computed from inputs with requires_grad=True"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs, but this tensor has "
                    f"shape {tuple(self.shape)}; pass backward(gradient=...) of that shape"
                )
            seed = xp.ones_like(self._data)
        else:
            seed = gradient._data if isinstance(gradient, Tensor) else xp.asarray(gradient)
            if seed.shape != self._data.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {tuple(seed.shape)} but the tensor has shape "
                    f"{tuple(self.shape)}; they must match"
                )
            seed = seed.astype(self._data.dtype, copy=False)
        autograd.run_backward(self, seed, retain_graph=bool(retain_graph))

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            self._hooks = (self._hooks or []) + [hook]
            owner, attribute = self, "_hooks"
        else:
            self.grad_fn.hooks = (self.grad_fn.hooks or []) + [hook]
            owner, attribute = self.grad_fn, "hooks"
        return _HookHandle(owner, attribute, hook)

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in `.grad` after backward."""
        import weakref

        if self.grad_fn is not None:
            self.grad_fn.retained_output = weakref.ref(self)

    def detach(self) -> "Tensor":
        """The same data, cut out of the graph (shares memory and the in-place version counter)."""
        out = Tensor(self._data)
        out._version = self._version
        return out

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """The data as a tensor outside autograd. Unlike detach(), changes to it are not tracked."""
        return Tensor(self._data)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else xp.asarray(value)

    # -- shape and type ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    def size(self, dim=None):
        return self._data.shape if dim is None else self._data.shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def device(self) -> str:
        return "cpu" if xp is np else "cuda"

    @property
    def is_cuda(self) -> bool:
        return xp is not np

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def element_size(self) -> int:
        return self._data.itemsize

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    # -- conversion ----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return backend.to_numpy(self._data)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar (item())"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return bool(self._data.reshape(()).item())

    def __array__(self, dtype=None, copy=None):
        array = backend.to_numpy(self._data)
        return array if dtype is None else array.astype(dtype)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False) -> "Tensor":
        """`to(dtype)`, `to(device)` or `to(other_tensor)`; on one device only the dtype can change."""
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str) or arg is None:
                device = arg
            else:
                dtype = arg
        if device is not None and str(device).split(":")[0] not in ("cpu", self.device):
            raise RuntimeError(f"to(): device {device!r} is not available (this tensor is on {self.device})")
        if dtype is None or np.dtype(dtype) == self.dtype:
            return self.clone() if copy else self
        return self.type(dtype)

    def cpu(self) -> "Tensor":
        return self

    def float(self) -> "Tensor":
        return self.to(backend.float32)

    def double(self) -> "Tensor":
        return self.to(backend.float64)

    def half(self) -> "Tensor":
        return self.to(backend.float16)

    def long(self) -> "Tensor":
        return self.to(backend.int64)

    def int(self) -> "Tensor":
        return self.to(backend.int32)

    def bool(self) -> "Tensor":
        return self.to(backend.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    # -- in-place changes outside autograd -----------------------------------------------------
    def _bump_version(self):
        self._version.value += 1

    def _check_inplace_allowed(self, op: str):
        if self.requires_grad and self.grad_fn is None and autograd.is_grad_enabled():
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation. "
                f"Wrap the update in `with mg.no_grad():`"
            )

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        self._check_inplace_allowed("fill_")
        self._data[...] = value._data if isinstance(value, Tensor) else value
        self._bump_version()
        return self

    def copy_(self, source) -> "Tensor":
        self._check_inplace_allowed("copy_")
        array = source._data if isinstance(source, Tensor) else xp.asarray(source)
        try:
            self._data[...] = xp.broadcast_to(array, self._data.shape)
        except ValueError:
            raise RuntimeError(
                f"copy_: source of shape {tuple(array.shape)} cannot be broadcast to {tuple(self.shape)}"
            ) from None
        self._bump_version()
        return self

    def uniform_(self, a=0.0, b=1.0, generator=None) -> "Tensor":
        rng = backend.rng_of(generator)
        return self._fill_random(rng.uniform(a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0, generator=None) -> "Tensor":
        rng = backend.rng_of(generator)
        return self._fill_random(rng.normal(mean, std, self.shape))

    def bernoulli_(self, p=0.5, generator=None) -> "Tensor":
        rng = backend.rng_of(generator)
        return self._fill_random(rng.random(self.shape) < p)

    def _fill_random(self, values) -> "Tensor":
        self._check_inplace_allowed("random fill")
        self._data[...] = backend.to_device_array(np.asarray(values))
        self._bump_version()
        return self

    # -- identity ------------------------------------------------------------------------------
    __hash__ = object.__hash__  # tensors are hashable by identity; == is elementwise

    def __repr__(self):
        array = backend.to_numpy(self._data)
        # Like PyTorch: whole floats print as "1.", others with 4 fixed decimals ("0.5000").
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else np.empty(0)
        fixed = bool(finite.size) and not np.all(finite == np.round(finite))
        body = np.array2string(
            array, separator=", ", precision=4, threshold=200, edgeitems=3, prefix="tensor(",
            floatmode="fixed" if fixed else "maxprec",
        )
        extras = []
        if self._data.dtype not in (backend.get_default_dtype(), backend.int64, backend.bool_):
            extras.append(f"dtype=macrograd.{self._data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


class _HookHandle:
    """Returned by register_hook; `handle.remove()` takes the hook away again."""

    def __init__(self, owner, attribute, hook):
        self.owner, self.attribute, self.hook = owner, attribute, hook

    def remove(self):
        hooks = getattr(self.owner, self.attribute) or []
        setattr(self.owner, self.attribute, [h for h in hooks if h is not self.hook])


_function.Tensor = Tensor
