"""Optimizer trajectories drawn over the contour plot of a 2-D loss surface."""
from __future__ import annotations

import numpy as np

from ._figure import pyplot, save


def plot_trajectories(surface, extent, trajectories: dict, path, minimum=None, title: str = ""):
    """surface(X, Y) -> Z on NumPy grids; extent = (xmin, xmax, ymin, ymax);
    trajectories maps a label to an (steps, 2) array of visited points."""
    plt = pyplot()
    xmin, xmax, ymin, ymax = extent
    X, Y = np.meshgrid(np.linspace(xmin, xmax, 300), np.linspace(ymin, ymax, 300))
    Z = surface(X, Y)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    # log-spaced levels: these valleys are flat at the bottom and steep at the walls
    levels = np.logspace(np.log10(max(Z.min(), 1e-3)), np.log10(Z.max()), 25)
    ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.7, alpha=0.6)
    cmap = plt.get_cmap("tab10")
    for i, (label, points) in enumerate(trajectories.items()):
        points = np.asarray(points)
        ax.plot(points[:, 0], points[:, 1], "-", color=cmap(i), lw=1.4, label=label)
        ax.plot(points[-1, 0], points[-1, 1], "o", color=cmap(i), ms=5)
    start = next(iter(trajectories.values()))[0] if trajectories else None
    if start is not None:
        ax.plot(start[0], start[1], "ks", ms=6, label="start")
    if minimum is not None:
        ax.plot(minimum[0], minimum[1], "r*", ms=12, label="minimum")
    ax.set(xlim=(xmin, xmax), ylim=(ymin, ymax), xlabel="x", ylabel="y", title=title)
    ax.legend(fontsize=8, loc="best")
    return save(fig, path)


def plot_loss_panels(panels: dict, path, title: str = ""):
    """One log-scale panel per surface; `panels` maps a surface to {label: losses per step}."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (surface, curves) in zip(axes[0], panels.items()):
        for i, (label, losses) in enumerate(curves.items()):
            ax.plot(np.maximum(np.asarray(losses), 1e-12), color=cmap(i), lw=1.2, label=label)
        ax.set(yscale="log", xlabel="step", ylabel="loss", title=surface)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, path)
