"""Training checkpoints for `fit`: one safetensors file with everything a resumed run needs.

macrograd.io.save_checkpoint stores the model, optimizer, scheduler, global RNG, epoch and
metrics; the trainer adds, under `extra`, what only the loop knows: the optimizer step count,
the metrics history, each callback's state (best score, patience counter) and the state of the
DataLoader's own generator, which decides the next epoch's shuffling order.

(train sits below io in DESIGN.md's layer list; checkpoints are the one place it reaches for io,
and only lazily, inside these two functions.)
"""
from __future__ import annotations


def save_training_checkpoint(path, trainer) -> None:
    from ..io import save_checkpoint

    state = trainer.training_state()
    save_checkpoint(path, model=trainer.model, optimizer=trainer.optimizer, scheduler=trainer.scheduler,
                    epoch=state.pop("epoch"), metrics=trainer.history[-1] if trainer.history else None,
                    extra=state)


def load_training_checkpoint(path, trainer) -> None:
    """Restore model, optimizer, scheduler, RNG and the loop's state; the loop continues after
    the checkpoint's epoch."""
    from ..io import load_checkpoint

    info = load_checkpoint(path, model=trainer.model, optimizer=trainer.optimizer, scheduler=trainer.scheduler)
    trainer.load_training_state({"epoch": info["epoch"], **info["extra"]})
