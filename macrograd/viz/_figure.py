"""Shared plumbing for every plot: matplotlib with the Agg backend (files, no window), and save.

Importing matplotlib is slow and needs no display, so it happens here, once, on first use.
"""
from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend: plots go to PNG files, never to a screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi: int = 100, tight: bool = True) -> Path:
    """Write the figure as a PNG and free it (figures are not garbage-collected by pyplot).
    tight=False when the caller has already laid the figure out (layout is the slow part)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
