"""Training diagnostics for code that was never written to record them.

    with watch_training("runs/gan", every=20) as watcher:
        any_training_code()          # its own loop, its own optimizers, several models...
    watcher.files                    # [runs/gan/diagnostics-Generator.jsonl, ...-Discriminator.jsonl]

`macrograd run NAME --diagnose` wraps every experiment in this. The `Diagnostics` callback needs
the model and the fit loop; this watcher needs neither. It listens through global hooks, as
PyTorch's `register_module_forward_hook` and `register_optimizer_step_post_hook` allow:

  - every module call: the outermost module called (a "root": the model, or each of a GAN's two
    nets) names the layers inside it by their module path; activation, Linear and Conv2d layers
    in training mode leave their latest output;
  - every optimizer step: before a recorded step the weights are copied, after it one record is
    written for that optimizer - its parameters' gradients and update:data ratios, and the
    layers of the roots that own its parameters - in the same format as `Diagnostics`, to one
    JSON-lines file per optimizer, named after those roots.

Steps are counted per optimizer; step 1 and every `every`-th are recorded. An optimizer already
watched by a `Diagnostics` callback is left to it. Runs in forked worker processes (sweeps) write
files of their own, with the process id in the name.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..nn.module import register_module_forward_hook, register_module_forward_pre_hook
from ..optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from ..tensor import Tensor
from .diagnostics import ACTIVATIONS, LINEAR_LAYERS, WATCHED_BY_CALLBACK, _append_json_line, diagnostics_record


class _OptimizerLog:
    """What the watcher knows of one optimizer: its step count, file, roots and named weights."""

    def __init__(self, path: Path, roots: dict, weights: dict):
        self.path, self.weights = path, weights
        self.roots = roots  # root name -> root module, those owning this optimizer's parameters
        self.steps = 0
        self.before: dict = {}

    def layer_names(self) -> dict:
        """id(module) -> its module path (prefixed by the root's name when there are several)."""
        prefixed = len(self.roots) > 1
        return {id(m): ".".join(part for part in (root_name if prefixed else "", name) if part) or root_name
                for root_name, root in self.roots.items() for name, m in root.named_modules()}


class TrainingWatcher:
    """Records training diagnostics for every optimizer stepping while it is active (a context
    manager; see the module docstring)."""

    def __init__(self, folder, every: int = 10):
        if every < 1:
            raise ValueError(f"watch_training: every must be >= 1, got {every}")
        self.folder, self.every = Path(folder), every
        self.files: list[Path] = []
        self.roots: list = []  # outermost modules called, in order of first call
        self.depth = 0  # how many module calls are open
        self.outputs: dict = {}  # id(module) -> (module, latest training-mode output array)
        self.logs: dict = {}  # id(optimizer) -> _OptimizerLog
        self.handles: list = []
        self.pid = os.getpid()

    # -- on and off ----------------------------------------------------------------------------
    def __enter__(self):
        self.handles = [register_module_forward_pre_hook(self._enter_module),
                        register_module_forward_hook(self._leave_module),
                        register_optimizer_step_pre_hook(self._before_step),
                        register_optimizer_step_post_hook(self._after_step)]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles, self.outputs = [], {}

    # -- module calls --------------------------------------------------------------------------
    def _enter_module(self, module, args):
        if self.depth == 0 and all(root is not module for root in self.roots):
            self.roots.append(module)
        self.depth += 1

    def _leave_module(self, module, args, output):
        self.depth = max(0, self.depth - 1)
        if module.training and isinstance(module, ACTIVATIONS + LINEAR_LAYERS) and isinstance(output, Tensor):
            self.outputs[id(module)] = (module, output._data)  # a reference: unrecorded steps copy nothing

    def _root_names(self) -> list[str]:
        """A name per root: its class name, numbered when two roots share one."""
        names, seen = [], {}
        for root in self.roots:
            base = type(root).__name__
            seen[base] = seen.get(base, 0) + 1
            names.append(base if seen[base] == 1 else f"{base}{seen[base]}")
        return names

    # -- optimizer steps -----------------------------------------------------------------------
    def _log_for(self, optimizer) -> _OptimizerLog:
        log = self.logs.get(id(optimizer))
        if log is None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            ids = {id(p) for p in params}
            owners = {root_name: root for root, root_name in zip(self.roots, self._root_names())
                      if any(id(p) in ids for p in root.parameters())}
            names = {}
            for root_name, root in owners.items():
                for name, p in root.named_parameters():
                    names.setdefault(id(p), f"{root_name}.{name}" if len(owners) > 1 else name)
            # weights (matrices and filters) as in Diagnostics; all parameters when there are none
            chosen = [p for p in params if p.ndim >= 2] or params
            weights = {names.get(id(p), f"param{i}"): p for i, p in enumerate(chosen)}
            log = _OptimizerLog(self._new_file("-".join(owners) or "params"), owners, weights)
            self.logs[id(optimizer)] = log
        return log

    def _new_file(self, label: str) -> Path:
        stem = f"diagnostics-{label}" + (f"-pid{os.getpid()}" if os.getpid() != self.pid else "")
        path, n = self.folder / f"{stem}.jsonl", 1
        while path in self.files or path.exists():
            n += 1
            path = self.folder / f"{stem}-{n}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        self.files.append(path)
        return path

    def _recorded(self, step: int) -> bool:
        return step == 1 or step % self.every == 0

    def _before_step(self, optimizer, args, kwargs):
        self.depth = 0  # no forward is open while the weights change (even if one raised)
        if optimizer in WATCHED_BY_CALLBACK:
            return None
        log = self._log_for(optimizer)
        if self._recorded(log.steps + 1):
            log.before = {name: p._data.copy() for name, p in log.weights.items()}
        return None

    def _after_step(self, optimizer, args, kwargs):
        if optimizer in WATCHED_BY_CALLBACK:
            return
        log = self._log_for(optimizer)
        log.steps += 1
        names = log.layer_names()
        if self._recorded(log.steps):
            layers = {names[key]: (type(module).__name__, y) for key, (module, y) in self.outputs.items()
                      if key in names}
            _append_json_line(log.path, diagnostics_record(log.steps, None, None, layers, log.weights, log.before))
            log.before = {}
        # this optimizer's layers have been seen: forget their outputs (other models keep theirs)
        self.outputs = {k: v for k, v in self.outputs.items() if k not in names}


def watch_training(folder, every: int = 10) -> TrainingWatcher:
    """A context manager that records diagnostics of every optimizer step inside it (see above)."""
    return TrainingWatcher(folder, every)
