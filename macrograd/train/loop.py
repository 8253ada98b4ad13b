"""The training loop. One optimisation step is five lines:

    optimizer.zero_grad()
    outputs = model(inputs)
    loss = loss_fn(outputs, targets)
    loss.backward()
    optimizer.step()

Everything else (progress bar, evaluation, LR schedule, logging, early stopping, checkpoints)
is bookkeeping around those five lines, kept in callbacks (callbacks.py) so that the loop itself
reads top to bottom.

Resuming: a checkpoint holds the model, optimizer, scheduler, callbacks' state, the global RNG
and the DataLoader's generator, the epoch and the metrics history, all taken at the end of an
epoch. Loading it and running the remaining epochs gives bit-identical weights to a run that
was never interrupted, because every source of change (weights, optimizer moments, learning
rate, dropout masks, shuffling order) continues from exactly the same state.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import no_grad
from .callbacks import LRScheduler
from .metrics import RunningMean, as_numpy


class Trainer:
    """The state of one `fit` call, handed to every callback.

    model, optimizer, loss_fn, train_loader, val_loader, scheduler, epochs,
    epoch (0-based, the epoch running now), step (optimizer steps so far, over all epochs),
    history (one dict per finished epoch), stop_training (a callback sets it to stop early)."""

    def __init__(self, model, optimizer, loss_fn, train_loader, *, epochs, val_loader=None,
                 scheduler=None, scheduler_interval="epoch", callbacks=(), track_accuracy=True):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.train_loader, self.val_loader = train_loader, val_loader
        self.epochs = epochs
        self.scheduler = scheduler
        callbacks = list(callbacks)
        if scheduler is not None:
            callbacks.append(LRScheduler(scheduler, interval=scheduler_interval))
        self.callbacks = sorted(callbacks, key=lambda c: c.order)  # sorted() is stable
        self.track_accuracy = track_accuracy
        self.epoch = 0
        self.epoch_done = 0
        self.step = 0
        self.step_in_epoch = 0
        self.history: list[dict] = []
        self.stop_training = False
        self.resumed = False
        self.running_loss = math.nan
        self.running_acc = math.nan

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        self._call("on_fit_start")
        for self.epoch in range(self.epoch, self.epochs):
            if self.stop_training:
                break
            self._call("on_epoch_start")
            logs = self.train_one_epoch()
            if self.val_loader is not None:
                val = evaluate(self.model, self.val_loader, self.loss_fn, self.track_accuracy)
                logs.update({f"val_{k}": v for k, v in val.items()})
            self.history.append(logs)
            self._call("on_epoch_end", logs)
        self._call("on_fit_end")
        return self.history

    def train_one_epoch(self) -> dict:
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        model.train()
        lr = current_lr(optimizer)  # the rate this epoch runs with (a scheduler may change it after)
        loss_mean, correct, seen = RunningMean(), 0, 0
        self.step_in_epoch = 0
        for inputs, targets in self.train_loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()

            # bookkeeping: running means for the progress bar and the logs
            n = len(targets)
            loss_value = loss.item()
            loss_mean.update(loss_value, n)
            logs = {"step": self.step + 1, "loss": loss_value, "lr": current_lr(optimizer)}
            if self.track_accuracy:
                batch_correct = int((as_numpy(outputs).argmax(axis=-1) == as_numpy(targets)).sum())
                correct, seen = correct + batch_correct, seen + n
                logs["acc"] = batch_correct / n
                self.running_acc = correct / seen
            self.running_loss = loss_mean.value
            self.step += 1
            self.step_in_epoch += 1
            self._call("on_step_end", logs)
        logs = {"kind": "epoch", "epoch": self.epoch + 1, "step": self.step, "lr": lr,
                "train_loss": loss_mean.value}
        if self.track_accuracy:
            logs["train_acc"] = correct / max(seen, 1)
        return logs

    def _call(self, event, *args):
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    # -- checkpoints ---------------------------------------------------------------------------
    def training_state(self) -> dict:
        """What a resumed run needs besides the model, optimizer, scheduler and global RNG
        (which the checkpoint stores itself; see checkpoint.py)."""
        return {
            "epoch": self.epoch_done,
            "step": self.step,
            "history": self.history,
            "callbacks": self._callback_states(),
            "loader_rng": _loader_generator_state(self.train_loader),
        }

    def load_training_state(self, state: dict) -> None:
        self.epoch = self.epoch_done = state["epoch"]
        self.step = state["step"]
        self.history = list(state["history"])
        for key, callback in self._callbacks_by_key().items():
            if callback.state_dict():  # a callback with state must find it in the checkpoint
                if key not in state["callbacks"]:
                    raise ValueError(f"resume: the checkpoint holds no state for callback {key}; it has "
                                     f"{sorted(state['callbacks'])}. Resume with the same callbacks")
                callback.load_state_dict(state["callbacks"][key])
        _set_loader_generator_state(self.train_loader, state["loader_rng"])
        self.stop_training = any(getattr(c, "stopped_epoch", None) for c in self.callbacks)
        self.resumed = True

    def _callbacks_by_key(self) -> dict:
        """Callbacks named by class and position among their class: "EarlyStopping0", "Checkpoint0"."""
        keys, counts = {}, {}
        for callback in self.callbacks:
            name = type(callback).__name__
            keys[f"{name}{counts.get(name, 0)}"] = callback
            counts[name] = counts.get(name, 0) + 1
        return keys

    def _callback_states(self) -> dict:
        return {key: c.state_dict() for key, c in self._callbacks_by_key().items() if c.state_dict()}

    def save_checkpoint(self, path) -> None:
        from .checkpoint import save_training_checkpoint

        save_training_checkpoint(path, self)

    def load_checkpoint(self, path) -> None:
        from .checkpoint import load_training_checkpoint

        load_training_checkpoint(path, self)


def fit(model, optimizer, loss_fn, train_loader, *, epochs: int, val_loader=None, scheduler=None,
        scheduler_interval: str = "epoch", callbacks=(), resume_from=None, track_accuracy: bool = True):
    """Train `model` for `epochs` epochs and return the history (one dict of metrics per epoch).

    val_loader: evaluated after each epoch (val_loss, val_acc).
    scheduler: an lr_scheduler, stepped each epoch (or each step with scheduler_interval="step").
    callbacks: ProgressBar(), MetricsLogger(path), EarlyStopping(...), Checkpoint(...), ...
    resume_from: a checkpoint written by Checkpoint; training continues after its epoch.
    """
    trainer = Trainer(model, optimizer, loss_fn, train_loader, epochs=epochs, val_loader=val_loader,
                      scheduler=scheduler, scheduler_interval=scheduler_interval, callbacks=callbacks,
                      track_accuracy=track_accuracy)
    if resume_from is not None:
        trainer.load_checkpoint(resume_from)
    trainer.fit()
    return trainer.history


def evaluate(model, loader, loss_fn, track_accuracy: bool = True) -> dict:
    """Mean loss (and accuracy) of `model` over `loader`, in eval mode and without a graph."""
    was_training = model.training
    model.eval()
    loss_mean, correct, seen = RunningMean(), 0, 0
    with no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            n = len(targets)
            loss_mean.update(loss_fn(outputs, targets).item(), n)
            if track_accuracy:
                correct += int((as_numpy(outputs).argmax(axis=-1) == as_numpy(targets)).sum())
                seen += n
    model.train(was_training)
    result = {"loss": loss_mean.value}
    if track_accuracy:
        result["acc"] = correct / max(seen, 1)
    return result


def predict(model, loader):
    """(outputs, targets) over the whole loader as NumPy arrays, in eval mode without a graph."""
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    with no_grad():
        for x, y in loader:
            outputs.append(as_numpy(model(x)))
            targets.append(as_numpy(y))
    model.train(was_training)
    return np.concatenate(outputs), np.concatenate(targets)


def current_lr(optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _loader_generator(loader):
    """The generator that decides a DataLoader's shuffling order, if it has its own."""
    for owner in (loader, getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if generator is not None and hasattr(generator, "get_state"):
            return generator
    return None


def _loader_generator_state(loader):
    generator = _loader_generator(loader)
    return None if generator is None else generator.get_state()


def _set_loader_generator_state(loader, state):
    generator = _loader_generator(loader)
    if state is not None and generator is not None:
        generator.set_state(state)
    elif (state is None) != (generator is None):
        raise ValueError("resume: the checkpoint and this DataLoader disagree on whether the loader has its own generator")
