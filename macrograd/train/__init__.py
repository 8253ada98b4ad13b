"""Training: the `fit` loop, its callbacks, metrics and the run folder.

    from macrograd.train import fit, ProgressBar, EarlyStopping, Checkpoint
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train_loader, epochs=10,
                  val_loader=val_loader, scheduler=scheduler,
                  callbacks=[ProgressBar(), EarlyStopping("val_loss", patience=3),
                             Checkpoint("run/checkpoint.safetensors", "run/best.safetensors")])
"""
from .callbacks import Callback, Checkpoint, EarlyStopping, LRScheduler, MetricsLogger, ProgressBar, Timer
from .diagnostics import Diagnostics
from .loop import Trainer, evaluate, fit, predict
from .metrics import accuracy, confusion_matrix
from .run_folder import MetricsLog, RunFolder, read_jsonl
from .watch import TrainingWatcher, watch_training

__all__ = [
    "Callback", "Checkpoint", "Diagnostics", "EarlyStopping", "LRScheduler", "MetricsLog", "MetricsLogger",
    "ProgressBar", "RunFolder", "Timer", "Trainer", "TrainingWatcher", "accuracy", "confusion_matrix",
    "evaluate", "fit", "predict", "read_jsonl", "watch_training",
]
