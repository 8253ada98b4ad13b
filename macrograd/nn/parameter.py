"""`Parameter`: a tensor that a Module owns and trains.

Assigning a Parameter to a Module attribute registers it (see module.py), so that
`model.parameters()` finds it for the optimizer and `state_dict()` saves it.
"""
from __future__ import annotations

from .. import backend
from ..backend import xp
from ..tensor import Tensor, array_from_data


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered when set on a Module.

    `Parameter(t)` shares t's memory, as in PyTorch: it wraps the same array, it does not copy."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = xp.empty((0,), dtype=backend.get_default_dtype())
        elif isinstance(data, Tensor):
            array = data._data
        else:
            array = array_from_data(data)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self._data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            result.grad = Tensor(self.grad._data.copy())
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        # Pickle as (class, (array, requires_grad)): the graph and version counter are not state.
        return (_rebuild_parameter, (type(self), backend.to_numpy(self._data), self.requires_grad))


def _rebuild_parameter(cls, array, requires_grad):
    return cls(backend.to_device_array(array), requires_grad=requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute
    (PyTorch's `nn.Buffer`): `self.mask = nn.Buffer(mg.ones(3), persistent=False)`."""

    def __init__(self, data=None, *, persistent=True):
        array = xp.empty((0,), dtype=backend.get_default_dtype()) if data is None else (
            data._data if isinstance(data, Tensor) else array_from_data(data)
        )
        super().__init__(array)
        self.persistent = persistent
