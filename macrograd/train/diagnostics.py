"""Training diagnostics: is this network training well? Per layer, at every `every`-th step:

    activations   mean, std, saturated share, dead-unit share, a histogram
    gradients     mean and std of each weight's gradient, and grad:data = std(grad) / std(weight)
    updates       update:data = std(w_after - w_before) / std(w_before)  (~1e-3 is healthy)

as in Karpathy's "Building makemore" analysis: activations that are mostly saturated (tanh
outputs at +-1) or dead (ReLU units that are zero on every example of the batch) pass no
gradient back; an update:data ratio far below 1e-3 learns too slowly, far above it thrashes.

    diag = Diagnostics("run/diagnostics.jsonl", every=20)
    fit(model, optimizer, loss_fn, loader, epochs=3, callbacks=[diag])
    macrograd.viz.plot_diagnostics("run/diagnostics.jsonl", "run/diagnostics.png")

How: a forward hook on each activation module (ReLU, Tanh, GELU, ...) and each Linear/Conv
keeps a reference to its latest output (no copy, so unrecorded steps cost nothing); after the
optimizer's step (`on_step_end`) the outputs of that step's forward and the gradients are still
there, and the weights before the step were copied at the end of the step before.
"""
from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np

from .. import nn
from .callbacks import Callback

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus)
LINEAR_LAYERS = (nn.Linear, nn.Conv2d)
SATURATION = 0.97  # |tanh| above this (sigmoid outside [0.015, 0.985]) passes < 6% of the gradient
BINS = 41
# optimizers whose steps a Diagnostics callback records: watch_training (watch.py) leaves them alone
WATCHED_BY_CALLBACK: "weakref.WeakSet" = weakref.WeakSet()


def activation_stats(kind: str, y: np.ndarray) -> dict:
    """mean, std, saturated share, dead-unit share and a histogram of one layer's output y
    of shape (N, features) or (N, C, H, W) (units are the features or channels)."""
    y = np.asarray(y, dtype=np.float32)
    stats = {"kind": kind, "mean": float(y.mean()), "std": float(y.std())}
    if kind == "Tanh":
        stats["saturated"] = float((np.abs(y) > SATURATION).mean())
    elif kind == "Sigmoid":
        stats["saturated"] = float((np.abs(2 * y - 1) > SATURATION).mean())
    else:
        stats["saturated"] = 0.0
    if kind in ("ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus") and y.ndim >= 2:
        # a unit is dead when no example of the batch (and no position) activates it
        units = np.moveaxis(y, 1, 0).reshape(y.shape[1], -1)
        inactive = units <= 0 if kind in ("ReLU", "GELU", "SiLU", "LeakyReLU", "ELU") else np.abs(units) > SATURATION
        stats["dead"] = float(inactive.all(axis=1).mean())
    else:
        stats["dead"] = 0.0
    stats["hist"] = histogram(y)
    return stats


def histogram(values: np.ndarray) -> dict:
    """{"edges": [lo, hi], "counts": [...]}: BINS equal bins over the values' own range."""
    values = values.ravel()
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, _ = np.histogram(values, bins=BINS, range=(lo, hi))
    return {"edges": [lo, hi], "counts": counts.tolist()}


def _std(a) -> float:
    return float(np.asarray(a, dtype=np.float32).std())


def diagnostics_record(step, epoch, loss, layers: dict, weights: dict, before: dict) -> dict:
    """One JSON-able record: `layers` maps a name to (kind, output array) of this step's forward,
    `weights` a name to its parameter (its .grad from this step, its data after the update) and
    `before` a name to a copy of the data before the update (for update:data)."""
    params = {}
    for name, p in weights.items():
        w = p._data
        # the weights the gradient was computed at: those before this step's update
        prior = before.get(name)
        entry = {"data_std": _std(w if prior is None else prior)}
        if p.grad is not None:
            g = p.grad._data
            entry.update(grad_mean=float(g.mean()), grad_std=_std(g),
                         grad_data_ratio=_std(g) / max(entry["data_std"], 1e-12), grad_hist=histogram(g))
        if prior is not None:
            entry["update_data_ratio"] = _std(w - prior) / max(entry["data_std"], 1e-12)
        params[name] = entry
    return {"step": step, "epoch": epoch, "loss": loss,
            "layers": {name: activation_stats(kind, y) for name, (kind, y) in layers.items()}, "params": params}


def _append_json_line(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


class Diagnostics(Callback):
    """Records the diagnostics above every `every` steps (and at step 1) to `path` (JSON lines,
    one record per recorded step; `records` holds them too). `modules`: which layers to watch
    (name -> module); by default every activation module and every Linear and Conv2d."""

    order = 60

    def __init__(self, path=None, every: int = 10, modules: dict | None = None):
        if every < 1:
            raise ValueError(f"Diagnostics: every must be >= 1, got {every}")
        self.path = None if path is None else Path(path)
        self.every, self.modules = every, modules
        self.records: list[dict] = []
        self.outputs, self.handles, self.before = {}, [], {}

    # -- hooks ---------------------------------------------------------------------------------
    def on_fit_start(self, trainer):
        model = trainer.model
        watched = self.modules if self.modules is not None else {
            name: m for name, m in model.named_modules() if isinstance(m, ACTIVATIONS + LINEAR_LAYERS)}
        if not watched:
            raise ValueError("Diagnostics: the model has no activation, Linear or Conv2d module to watch; "
                             "pass modules={name: module}")
        self.kinds = {name: type(m).__name__ for name, m in watched.items()}
        WATCHED_BY_CALLBACK.add(trainer.optimizer)
        for name, module in watched.items():
            self.handles.append(module.register_forward_hook(self._keeper(name)))
        self.weights = {name: p for name, p in model.named_parameters() if p.ndim >= 2}
        self._snapshot()  # the weights before step 1
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")

    def _keeper(self, name):
        def keep(module, args, output):
            if module.training:  # the training step's forward, not an evaluation's
                self.outputs[name] = output._data
        return keep

    def _snapshot(self):
        self.before = {name: p._data.copy() for name, p in self.weights.items()}

    def _recorded(self, step: int) -> bool:
        return step == 1 or step % self.every == 0

    # -- per step ------------------------------------------------------------------------------
    def on_step_end(self, trainer, logs):
        step = trainer.step
        if self._recorded(step):
            self.record(step, trainer.epoch + 1, logs.get("loss"))
        if self._recorded(step + 1):
            self._snapshot()
        self.outputs = {}

    def record(self, step, epoch, loss) -> dict:
        layers = {name: (self.kinds[name], y) for name, y in self.outputs.items()}
        record = diagnostics_record(step, epoch, loss, layers, self.weights, self.before)
        self.records.append(record)
        if self.path is not None:
            _append_json_line(self.path, record)
        return record

    def on_fit_end(self, trainer):
        WATCHED_BY_CALLBACK.discard(trainer.optimizer)
        for handle in self.handles:
            handle.remove()
        self.handles, self.outputs, self.before = [], {}, {}


def read_diagnostics(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
