"""Training curves: loss and accuracy per epoch (and per step), one run or many overlaid."""
from __future__ import annotations

import math

from ._figure import pyplot, save


def _series(records, kind, key):
    """(x, y) of `key` over the records of one kind ("step" or "epoch"), skipping missing values."""
    xs, ys = [], []
    for r in records:
        if r.get("kind") == kind and isinstance(r.get(key), (int, float)) and math.isfinite(r[key]):
            xs.append(r["step"] if kind == "step" else r["epoch"])
            ys.append(r[key])
    return xs, ys


def plot_training_curves(records, path, title: str = ""):
    """Two panels from metrics.jsonl records: loss (per step, faint, and per epoch) and accuracy."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    steps_per_epoch = _steps_per_epoch(records)

    x, y = _series(records, "step", "loss")
    if x:  # per-step loss on the epoch axis, so the two resolutions share one x axis
        ax_loss.plot([s / steps_per_epoch for s in x], y, color="tab:blue", alpha=0.25, lw=0.8, label="train (step)")
    for key, color, label in (("train_loss", "tab:blue", "train"), ("val_loss", "tab:orange", "val")):
        x, y = _series(records, "epoch", key)
        if x:
            ax_loss.plot(x, y, "o-", color=color, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()

    for key, color, label in (("train_acc", "tab:blue", "train"), ("val_acc", "tab:orange", "val")):
        x, y = _series(records, "epoch", key)
        if x:
            ax_acc.plot(x, y, "o-", color=color, label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    if ax_acc.lines:
        ax_acc.legend()
    if title:
        fig.suptitle(title)
    return save(fig, path)


def _steps_per_epoch(records) -> float:
    """Steps in one epoch, read off the records (so the step curve lines up with the epochs)."""
    for r in records:
        if r.get("kind") == "epoch" and r.get("epoch") and r.get("step"):
            return r["step"] / r["epoch"]
    return 1.0


def plot_overlaid_curves(runs: dict, path, keys=("train_loss", "val_acc"), title: str = ""):
    """One panel per metric key, one line per run: `runs` maps a label to its epoch records."""
    return plot_curve_grid({"": runs}, path, keys, title)


def plot_curve_grid(rows: dict, path, keys=("train_loss", "val_acc"), title: str = ""):
    """A row of panels (one per metric key) for each group of runs: `rows` maps a row title to
    {label: epoch records}. A label keeps its colour in every row, so rows compare at a glance."""
    plt = pyplot()
    labels = list(dict.fromkeys(label for runs in rows.values() for label in runs))
    cmap = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
    colour = {label: cmap(i % cmap.N) for i, label in enumerate(labels)}
    fig, axes = plt.subplots(len(rows), len(keys), figsize=(4.6 * len(keys) + 2.2, 3.3 * len(rows) + 0.6), squeeze=False)
    for row_axes, (row_title, runs) in zip(axes, rows.items()):
        for ax, key in zip(row_axes, keys):
            for label, records in runs.items():
                x, y = _series(records, "epoch", key)
                if x:
                    style = "--" if "sched" in label else "-"
                    ax.plot(x, y, style, marker=".", color=colour[label], label=label)
            ax.set(xlabel="epoch", ylabel=key, title=f"{row_title}: {key}" if row_title else key)
            if key.endswith("loss") and ax.lines:
                ax.set_yscale("log")
        handles, row_labels = row_axes[0].get_legend_handles_labels()
        row_axes[-1].legend(handles, row_labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return save(fig, path)
