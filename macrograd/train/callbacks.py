"""Callbacks: the optional parts of training, each one small and switched on by listing it.

`fit` calls every callback at five moments (start of fit, start of epoch, end of step, end of
epoch, end of fit), passing the `Trainer` (model, optimizer, epoch, step, history, ...) and the
fresh numbers (`logs`). A callback with state (the best score so far, a patience counter)
returns it from `state_dict()` so that a resumed run continues exactly where it stopped.

Callbacks run in order of their `order` attribute (ties keep the listed order): the LR scheduler
first, so the epoch's logs show the rate that was used; the checkpoint last, so it saves the
state at the very end of the epoch, after everyone else has updated theirs.
"""
from __future__ import annotations

import math
import sys
import time

from .run_folder import MetricsLog


class Callback:
    order = 50

    def on_fit_start(self, trainer): ...
    def on_epoch_start(self, trainer): ...
    def on_step_end(self, trainer, logs: dict): ...
    def on_epoch_end(self, trainer, logs: dict): ...
    def on_fit_end(self, trainer): ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class LRScheduler(Callback):
    """Steps an `optim.lr_scheduler` once per epoch (default) or once per optimizer step (OneCycleLR).
    ReduceLROnPlateau gets the monitored metric, as in PyTorch: `scheduler.step(val_loss)`."""

    order = 0

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "step"):
            raise ValueError(f"LRScheduler: interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        self.needs_metric = type(scheduler).__name__ == "ReduceLROnPlateau"

    def on_step_end(self, trainer, logs):
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer, logs):
        if self.interval != "epoch":
            return
        if self.needs_metric:
            if self.monitor not in logs:
                raise KeyError(f"LRScheduler: ReduceLROnPlateau monitors {self.monitor!r}, not in {sorted(logs)}")
            self.scheduler.step(logs[self.monitor])
        else:
            self.scheduler.step()


class ProgressBar(Callback):
    """A tqdm bar per epoch with the live running loss and accuracy, and one summary line per epoch."""

    def __init__(self, refresh_every: int = 10, file=None, leave: bool = False):
        self.refresh_every = refresh_every
        self.file = file if file is not None else sys.stderr
        self.leave = leave
        self.bar = None

    def on_epoch_start(self, trainer):
        from tqdm.auto import tqdm

        total = _length(trainer.train_loader)
        self.bar = tqdm(total=total, desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}",
                        file=self.file, leave=self.leave, dynamic_ncols=True, mininterval=0.5)

    def on_step_end(self, trainer, logs):
        self.bar.update(1)
        if trainer.step_in_epoch % self.refresh_every == 0:
            shown = {"loss": f"{trainer.running_loss:.4f}"}
            if getattr(trainer, "track_accuracy", True):  # fit(track_accuracy=False), e.g. segmentation: no "acc=nan"
                shown["acc"] = f"{trainer.running_acc:.4f}"
            self.bar.set_postfix(shown, refresh=False)

    def on_epoch_end(self, trainer, logs):
        self.bar.close()
        shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in logs.items() if k not in ("kind", "step"))
        print(shown, file=self.file, flush=True)


def _length(loader):
    try:
        return len(loader)
    except TypeError:
        return None


class MetricsLogger(Callback):
    """Writes metrics to a JSON-lines file: every `every` steps a step record, and each epoch's record.

    Step records:  {"kind": "step", "epoch": 1, "step": 120, "loss": 0.31, "acc": 0.91, "lr": 0.001}
    Epoch records: {"kind": "epoch", "epoch": 1, "step": 469, "train_loss": ..., "val_acc": ..., "lr": ...}
    """

    def __init__(self, path, every: int = 10):
        self.log = MetricsLog(path)
        self.every = every

    def on_fit_start(self, trainer):
        # A resumed run drops what the interrupted run logged after its last checkpoint.
        self.log.open(truncate_after_epoch=trainer.epoch if trainer.resumed else None)

    def on_step_end(self, trainer, logs):
        if trainer.step % self.every == 0:
            self.log.log({"kind": "step", "epoch": trainer.epoch + 1, **logs})

    def on_epoch_end(self, trainer, logs):
        self.log.log(logs)

    def on_fit_end(self, trainer):
        self.log.close()

    @property
    def records(self):
        return self.log.records


class _Monitor:
    """Shared by EarlyStopping and Checkpoint: is this epoch's `monitor` value the best so far?"""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf

    def improved(self, logs) -> bool:
        if self.monitor not in logs:
            raise KeyError(f"{type(self).__name__}: monitored metric {self.monitor!r} is not among "
                           f"this epoch's metrics {sorted(logs)}; pass a val_loader to fit or monitor a train metric")
        value = logs[self.monitor]
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback, _Monitor):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs."""

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 3, min_delta: float = 0.0):
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.patience = patience
        self.bad_epochs = 0
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, logs):
        if self.improved(logs):
            self.best, self.bad_epochs = logs[self.monitor], 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.stopped_epoch = trainer.epoch + 1
                trainer.stop_training = True

    def state_dict(self):
        return {"best": self.best, "bad_epochs": self.bad_epochs, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.bad_epochs, self.stopped_epoch = state["best"], state["bad_epochs"], state["stopped_epoch"]


class Checkpoint(Callback, _Monitor):
    """Each epoch, saves the full training state to `path` (what --resume reads), and, when
    `monitor` improves, the model's weights to `best_path` (a plain safetensors state dict)."""

    order = 100

    def __init__(self, path, best_path=None, monitor: str = "val_loss", mode: str = "min"):
        _Monitor.__init__(self, monitor, mode)
        self.path, self.best_path = path, best_path
        self.best_epoch = None

    def on_epoch_end(self, trainer, logs):
        if self.best_path is not None and self.improved(logs):
            from ..io import save

            self.best, self.best_epoch = logs[self.monitor], trainer.epoch + 1
            save(trainer.model.state_dict(), self.best_path)
        if self.path is not None:
            trainer.epoch_done = trainer.epoch + 1  # the state saved is "after this many epochs"
            trainer.save_checkpoint(self.path)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class Timer(Callback):
    """Wall time per epoch in the logs (`time_s`), and the total in `trainer.wall_time`."""

    order = 10

    def on_epoch_start(self, trainer):
        self.start = time.perf_counter()

    def on_epoch_end(self, trainer, logs):
        logs["time_s"] = round(time.perf_counter() - self.start, 3)
