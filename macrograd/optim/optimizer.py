"""`Optimizer`: the base class that holds parameter groups and per-parameter state.

An optimizer owns a list of `param_groups`, each a dict with its `params` (a list of tensors)
and its hyperparameters (`lr`, `momentum`, ...). Options missing from a group come from
`defaults`. Per-parameter state (moment estimates, step counts) lives in `self.state[param]`
as raw backend arrays, so a step is plain in-place NumPy arithmetic on `param._data`: no graph
is built, nothing is allocated that the update does not need.

`state_dict()` follows PyTorch's layout exactly, so checkpoints read the same in both libraries:

    {'state': {0: {'step': tensor(10.), 'exp_avg': tensor(...), ...}, ...},
     'param_groups': [{'lr': 0.001, ..., 'params': [0, 1]}]}
"""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy

import numpy as np

from ..autograd import enable_grad
from ..backend import xp
from ..nn.module import RemovableHandle
from ..tensor import Tensor


class _RequiredParameter:
    """Marks a hyperparameter that has no default: every group must give it."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(value) -> str:
    return "macrograd.Tensor" if isinstance(value, Tensor) else type(value).__name__


# Hooks around every optimizer's step (torch.optim.optimizer.register_optimizer_step_post_hook):
# tools that watch a whole training run (train.diagnostics.watch_training) use them to see each
# update of optimizers they were never handed.
_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs before every optimizer's `step`; it may return a new
    `(args, kwargs)` pair."""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs after every optimizer's `step`."""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


def _record_step_call(step):
    """Wrap an optimizer's `step` so that LR schedulers can tell whether it ran before them, and
    so that the step hooks run around it."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        self._opt_called = True
        own_pre, own_post = self.__dict__.get("_step_pre_hooks"), self.__dict__.get("_step_post_hooks")
        if not (_global_step_pre_hooks or _global_step_post_hooks or own_pre or own_post):
            return step(self, *args, **kwargs)  # the common case: no hook bookkeeping
        for hook in [*_global_step_pre_hooks.values(), *(own_pre or {}).values()]:
            result = hook(self, args, kwargs)
            if result is not None:
                args, kwargs = result
        out = step(self, *args, **kwargs)
        # PyTorch's order: global pre-hooks, own pre-hooks, step, own post-hooks, global post-hooks
        for hook in [*(own_post or {}).values(), *_global_step_post_hooks.values()]:
            hook(self, args, kwargs)
        return out

    return wrapper


class Optimizer:
    """Base class of all optimizers. Subclasses implement `step()` and `_check_options()`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every concrete `step` records that it ran; see lr_scheduler.LRScheduler.step's warning.
        if "step" in cls.__dict__:
            cls.step = _record_step_call(cls.__dict__["step"])

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {_typename(params)}"
            )
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- options ---------------------------------------------------------------------------------
    def _check_options(self, options: dict) -> None:
        """Raise ValueError for invalid hyperparameters (checked for defaults and every group)."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing ones come from `defaults`),
        e.g. to start training a frozen layer part way through fine-tuning."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        param_group = dict(param_group)  # never edit the caller's dict
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)

        # named_parameters() gives (name, tensor) pairs; keep the names for the state_dict.
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names
        param_group["params"] = params

        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is {_typename(param)}"
                )
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            param_group.setdefault(name, default)
        self._check_options(param_group)

        ids = [id(p) for p in params]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error",
                stacklevel=3,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- the step --------------------------------------------------------------------------------
    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs before this optimizer's `step`; it may return a new
        `(args, kwargs)` pair."""
        hooks = self.__dict__.setdefault("_step_pre_hooks", OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs after this optimizer's `step`."""
        hooks = self.__dict__.setdefault("_step_post_hooks", OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def step(self, closure=None):
        """Update every parameter that has a gradient. `closure` re-evaluates the loss."""
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure):
        """Run the closure (which computes a loss and calls backward) with grad mode on."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict):
        """The parameters of a group that got a gradient; those without one are skipped."""
        return [p for p in group["params"] if p.grad is not None]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set `.grad` to None (the default, cheaper) or fill it with zeros.

        With None, the next `step` skips parameters that get no new gradient; with zeros it
        still updates them (momentum and weight decay keep acting)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad._data.fill(0)

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's layout: parameters are replaced by their index
        (counted across groups in order), state arrays are returned as Tensors (sharing
        memory with the optimizer, as in PyTorch: copy them if you keep stepping)."""
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            index_of[id(p)]: {key: _to_tensor(value) for key, value in s.items()}
            for p, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state from `state_dict()` (values may be Tensors or NumPy arrays). The
        arrays are copied, cast to each parameter's dtype; 'step' counters stay float32."""
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group ({len(saved['params'])} saved, {len(group['params'])} here)"
                )
        param_of = {
            index: p
            for group, saved in zip(self.param_groups, saved_groups)
            for index, p in zip(saved["params"], group["params"])
        }
        state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            if index not in param_of:
                raise KeyError(f"load_state_dict: state for parameter {index}, which no group holds")
            param = param_of[index]
            state[param] = {key: _to_state_array(key, value, param) for key, value in values.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"


def _to_tensor(value):
    """State arrays leave the optimizer as Tensors (sharing memory); anything else as it is."""
    if isinstance(value, np.ndarray) or (xp is not np and isinstance(value, xp.ndarray)):
        return Tensor(value)
    return value


def _to_state_array(key, value, param):
    """Turn a saved state value (Tensor, array or number) back into the array the update uses."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value._data
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch tensor
        value = value.detach().numpy()
    if key == "step":
        # Step counters live on the host as float32 scalars, like PyTorch's (exact to 2^24 steps).
        return np.array(float(value), dtype=np.float32)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return xp.array(value, dtype=param._data.dtype, copy=True)


def _grad_for_update(param, weight_decay: float, maximize: bool):
    """g = ±grad + weight_decay * param: the gradient every optimizer starts from.

    Read-only: without maximize or weight decay it is `param.grad`'s own array. Always an
    array (never a NumPy scalar, even for 0-d parameters), so updates can write in place."""
    grad = param.grad._data
    if weight_decay == 0:
        return xp.negative(grad, out=xp.empty_like(grad)) if maximize else grad
    decayed = xp.multiply(param._data, weight_decay, out=xp.empty_like(param._data))
    if maximize:
        decayed -= grad
    else:
        decayed += grad
    return decayed


def _lerp_(start, end, weight: float, scratch):
    """start += weight * (end - start), in place; `scratch` is a work array of start's shape.

    Written the way PyTorch's lerp kernel rounds: from `end` when the weight is past one half."""
    xp.subtract(end, start, out=scratch)
    if weight < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1 - weight
        xp.subtract(end, scratch, out=start)


def _check_nonnegative(options: dict, key: str, label: str) -> None:
    value = options[key]
    if isinstance(value, Tensor):
        # PyTorch allows a Tensor lr for CUDA graphs; here a Python number does the same job.
        raise TypeError(f"{key} as a Tensor is not supported in macrograd; pass a float (got {value!r})")
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label}: {value}")


def _check_implementation_flags(name: str, options: dict) -> None:
    """PyTorch's foreach/fused/capturable pick among its kernels; macrograd has one, so they are
    accepted and ignored. Differentiating through the step is a different algorithm: refuse it."""
    if options.get("differentiable"):
        raise NotImplementedError(f"{name}: differentiable=True is not supported in macrograd")
