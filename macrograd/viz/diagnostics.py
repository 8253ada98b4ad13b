"""The picture of training diagnostics (train/diagnostics.py): one PNG of six panels.

    top:    activation histograms | weight-gradient histograms | dead / saturated share over steps
    bottom: activation std over steps | grad:data ratio over steps | log10 update:data over steps

The histograms are of one recorded step (the first by default: initialisation problems show
there); the other panels follow every recorded step. The update:data panel has the usual guide
line at 1e-3.
"""
from __future__ import annotations

import numpy as np

from ._figure import pyplot, save

NON_ACTIVATIONS = ("Linear", "Conv2d")


def _records(records_or_path):
    if isinstance(records_or_path, (list, tuple)):
        return list(records_or_path)
    from ..train.diagnostics import read_diagnostics

    return read_diagnostics(records_or_path)


def _curve(ax, xs, hist, label):
    lo, hi = hist["edges"]
    counts = np.asarray(hist["counts"], dtype=float)
    centers = lo + (np.arange(len(counts)) + 0.5) * (hi - lo) / len(counts)
    ax.plot(centers, counts / max(counts.sum(), 1), label=label)


MAX_LINES = 12  # per panel; a deep net's layers are thinned evenly (first and last always kept)


def _spread(names: list, most: int = MAX_LINES) -> list:
    """At most `most` of `names`, evenly spaced from the first to the last."""
    if len(names) <= most:
        return names
    return [names[i] for i in np.linspace(0, len(names) - 1, most).round().astype(int)]


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:  # a panel with nothing to draw (no such layers) has none
        ax.legend(fontsize=7)


def plot_diagnostics(records_or_path, path, title: str | None = None, step_index: int = 0):
    """Draw the six panels from Diagnostics records (or its .jsonl file) to `path` (for deep nets,
    MAX_LINES layers and weights per panel, evenly spaced through the network)."""
    records = _records(records_or_path)
    if not records:
        raise ValueError("plot_diagnostics: no diagnostics records to draw")
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(17, 8.5))
    steps = [r["step"] for r in records]
    shown = records[step_index]
    layers = _spread([n for n, s in shown["layers"].items() if s["kind"] not in NON_ACTIVATIONS]
                     or list(shown["layers"]))
    weights = _spread(list(shown["params"]))

    ax = axes[0, 0]
    for name in layers:
        s = shown["layers"][name]
        _curve(ax, None, s["hist"], f"{name} ({s['kind']}): mean {s['mean']:+.2f}, std {s['std']:.2f}, "
                                    f"saturated {100 * s['saturated']:.0f}%, dead {100 * s['dead']:.0f}%")
    ax.set(title=f"activation distribution at step {shown['step']}", xlabel="activation", ylabel="share")
    _legend(ax)

    ax = axes[0, 1]
    for name in weights:
        p = shown["params"][name]
        if "grad_hist" in p:
            _curve(ax, None, p["grad_hist"], f"{name}: std {p['grad_std']:.1e}, grad:data {p['grad_data_ratio']:.1e}")
    ax.set(title=f"weight-gradient distribution at step {shown['step']}", xlabel="gradient", ylabel="share")
    _legend(ax)

    ax = axes[0, 2]
    for name in layers:
        ax.plot(steps, [100 * r["layers"].get(name, {}).get("dead", np.nan) for r in records], label=f"{name} dead")
        if any(r["layers"].get(name, {}).get("saturated", 0) for r in records):
            ax.plot(steps, [100 * r["layers"].get(name, {}).get("saturated", np.nan) for r in records], "--",
                    label=f"{name} saturated")
    ax.set(title="dead units / saturated activations", xlabel="step", ylabel="%", ylim=(-2, 102))
    _legend(ax)

    ax = axes[1, 0]
    for name in layers:
        ax.plot(steps, [r["layers"].get(name, {}).get("std", np.nan) for r in records], label=name)
    ax.set(title="activation std", xlabel="step")
    _legend(ax)

    ax = axes[1, 1]
    for name in weights:
        ax.plot(steps, [r["params"][name].get("grad_data_ratio", np.nan) for r in records], label=name)
    ax.set(title="gradient:data ratio  std(grad) / std(weight)", xlabel="step", yscale="log")
    _legend(ax)

    ax = axes[1, 2]
    for name in weights:
        ratios = [r["params"][name].get("update_data_ratio", np.nan) for r in records]
        ax.plot(steps, np.log10(np.maximum(ratios, 1e-12)), label=name)
    ax.axhline(-3, color="k", linestyle=":", label="1e-3 (rule of thumb)")
    ax.set(title="update:data ratio  log10 std(update) / std(weight)", xlabel="step")
    _legend(ax)

    if title:
        fig.suptitle(title)
    return save(fig, path)
