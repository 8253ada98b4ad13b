"""The training loop: fit equals the five-line loop, callbacks (early stopping, checkpoints, LR
schedules, JSON-lines metrics), and resume-equals-uninterrupted, bit for bit."""
import json
import math

import numpy as np
import pytest

import macrograd as mg
from macrograd import nn, optim
from macrograd.data import DataLoader, TensorDataset
from macrograd.io import load
from macrograd.train import (Callback, Checkpoint, EarlyStopping, MetricsLogger, ProgressBar, Timer, accuracy,
                             confusion_matrix, evaluate, fit, read_jsonl)


def blobs(n=192, seed=0):
    """Three Gaussian blobs in 2-D: a problem a small MLP learns in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=np.float32)
    x = centers[y] + rng.normal(0, 0.8, (n, 2)).astype(np.float32)
    return mg.tensor(x), mg.tensor(y)


def setup(seed=0, loader_seed=1, lr=0.01, epochs=4):
    """A model with dropout, Adam, a StepLR schedule and a loader shuffled by its own generator:
    every kind of state a resumed run must restore."""
    mg.manual_seed(seed)
    x, y = blobs()
    train = DataLoader(TensorDataset(x[:128], y[:128]), batch_size=16, shuffle=True,
                       generator=mg.Generator().manual_seed(loader_seed))
    val = DataLoader(TensorDataset(x[128:], y[128:]), batch_size=64)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler, train, val


def weights(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_fit_is_the_five_line_loop():
    model, optimizer, _, train, _ = setup()
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=2)
    fitted = weights(model)

    model, optimizer, _, train, _ = setup()
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(2):
        for inputs, targets in train:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    for key, value in weights(model).items():
        np.testing.assert_array_equal(fitted[key], value)
    assert [h["epoch"] for h in history] == [1, 2] and history[-1]["step"] == 16
    assert history[-1]["train_loss"] == pytest.approx(np.mean(losses[8:]))  # equal-size batches


def test_fit_learns_and_evaluates():
    model, optimizer, scheduler, train, val = setup(lr=0.05)
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=6, val_loader=val, scheduler=scheduler)
    assert history[-1]["val_acc"] > 0.85 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert [h["lr"] for h in history] == pytest.approx([0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
    assert model.training  # evaluation put the model back in training mode
    again = evaluate(model, val, nn.CrossEntropyLoss())
    assert again["acc"] == pytest.approx(history[-1]["val_acc"]) and again["loss"] == pytest.approx(history[-1]["val_loss"])


def test_early_stopping_stops_after_patience_epochs():
    model, optimizer, _, train, val = setup(lr=0.0)  # lr 0: val_loss never improves after epoch 1
    stopper = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=10, val_loader=val, callbacks=[stopper])
    assert len(history) == 3 and stopper.stopped_epoch == 3 and stopper.bad_epochs == 2


def test_early_stopping_waits_while_improving():
    model, optimizer, _, train, val = setup(lr=0.05)
    stopper = EarlyStopping(monitor="train_loss", patience=1)
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=3, val_loader=val, callbacks=[stopper])
    assert len(history) == 3 and stopper.stopped_epoch is None


class Snapshots(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, trainer, logs):
        self.states.append(weights(trainer.model))


def test_checkpoint_keeps_the_best_epochs_weights(tmp_path):
    model, optimizer, scheduler, train, val = setup(lr=0.2)  # a high rate: val_loss goes up and down
    snapshots = Snapshots()
    checkpoint = Checkpoint(tmp_path / "last.safetensors", tmp_path / "best.safetensors", monitor="val_loss", mode="min")
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=6, val_loader=val,
                  callbacks=[checkpoint, snapshots])
    best_index = int(np.argmin([h["val_loss"] for h in history]))
    assert checkpoint.best_epoch == best_index + 1 and checkpoint.best == history[best_index]["val_loss"]
    best = load(tmp_path / "best.safetensors")
    for key, value in snapshots.states[best_index].items():
        np.testing.assert_array_equal(best[key].numpy(), value)
    assert (tmp_path / "last.safetensors").exists()


def test_monitoring_a_missing_metric_is_a_clear_error():
    model, optimizer, _, train, _ = setup()
    with pytest.raises(KeyError, match="monitored metric 'val_loss' is not among"):
        fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=1, callbacks=[EarlyStopping("val_loss")])
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        EarlyStopping(mode="best")


class Interrupt(Callback):
    """Stands in for Ctrl-C in the middle of an epoch."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, trainer, logs):
        if trainer.step == self.at_step:
            raise KeyboardInterrupt


def run_with_resume_support(folder, epochs, seed=0, loader_seed=1, extra=(), resume=False):
    model, optimizer, scheduler, train, val = setup(seed=seed, loader_seed=loader_seed)
    callbacks = [MetricsLogger(folder / "metrics.jsonl", every=3), EarlyStopping("val_loss", patience=50),
                 Checkpoint(folder / "checkpoint.safetensors", folder / "best.safetensors", "val_acc", "max"),
                 *extra]
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=epochs, val_loader=val, scheduler=scheduler,
                  callbacks=callbacks, resume_from=folder / "checkpoint.safetensors" if resume else None)
    return model, optimizer, history


def test_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    whole.mkdir(), interrupted.mkdir()
    model_a, optimizer_a, history_a = run_with_resume_support(whole, epochs=4)

    # Interrupted in the middle of epoch 3 (8 steps per epoch), after epoch 2's checkpoint was written.
    with pytest.raises(KeyboardInterrupt):
        run_with_resume_support(interrupted, epochs=4, extra=[Interrupt(at_step=20)])
    # Resumed by a fresh process: other seeds everywhere, so only the checkpoint can make it match.
    mg.manual_seed(123)
    model_b, optimizer_b, history_b = run_with_resume_support(interrupted, epochs=4, seed=7, loader_seed=9, resume=True)

    for key, value in weights(model_a).items():
        np.testing.assert_array_equal(weights(model_b)[key], value)
    state_a, state_b = optimizer_a.state_dict(), optimizer_b.state_dict()
    for index, param_state in state_a["state"].items():
        for name, value in param_state.items():
            np.testing.assert_array_equal(np.asarray(value.numpy()), np.asarray(state_b["state"][index][name].numpy()))
    assert state_a["param_groups"] == state_b["param_groups"]  # the same learning rate after the schedule

    def without_time(records):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in records]

    assert without_time(history_b) == without_time(history_a)
    # metrics.jsonl reads as an uninterrupted run's: the interrupted epoch's lines were dropped
    assert without_time(read_jsonl(interrupted / "metrics.jsonl")) == without_time(read_jsonl(whole / "metrics.jsonl"))


def test_resume_of_a_finished_run_trains_no_further(tmp_path):
    model_a, _, history_a = run_with_resume_support(tmp_path, epochs=2)
    model_b, _, history_b = run_with_resume_support(tmp_path, epochs=2, seed=5, resume=True)
    for key, value in weights(model_a).items():
        np.testing.assert_array_equal(weights(model_b)[key], value)
    assert len(history_b) == 2


def test_metrics_logger_writes_finite_json_lines(tmp_path):
    model, optimizer, scheduler, train, val = setup()
    logger = MetricsLogger(tmp_path / "metrics.jsonl", every=2)
    fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=2, val_loader=val, scheduler=scheduler,
        callbacks=[logger, Timer()])
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == list(range(2, 17, 2)) and len(epochs) == 2
    for r in records:
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, (int, float)))
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s"} <= set(epochs[0])
    assert {"loss", "acc", "lr", "epoch"} <= set(steps[0])


def test_per_step_schedule_steps_once_per_batch():
    model, optimizer, _, train, _ = setup()
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=2, steps_per_epoch=len(train))
    fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=2, scheduler=scheduler, scheduler_interval="step")
    assert scheduler.last_epoch == 2 * len(train)


def test_reduce_on_plateau_gets_the_monitored_metric():
    # lr 1e-7: val_loss moves by less than the plateau threshold, so patience=0 cuts the rate each epoch
    model, optimizer, _, train, val = setup(lr=1e-7)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=3, val_loader=val, scheduler=scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-8)


def test_progress_bar_prints_each_epoch(capsys):
    import io

    model, optimizer, _, train, val = setup()
    stream = io.StringIO()
    fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=2, val_loader=val, callbacks=[ProgressBar(file=stream)])
    text = stream.getvalue()
    assert "epoch 1" in text and "epoch 2" in text and "val_acc" in text


def test_accuracy_and_confusion_matrix():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5], [0.0, 0.1, 0.2]], dtype=np.float32)
    targets = np.array([0, 1, 2, 2])
    assert accuracy(mg.tensor(logits), mg.tensor(targets)) == 0.75
    matrix = confusion_matrix(logits.argmax(1), targets, 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    assert matrix.sum() == 4
