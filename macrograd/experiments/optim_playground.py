"""optim-playground: six optimizers race down two classic test surfaces.

Each optimizer moves one 2-element parameter p = (x, y); the loss is computed with macrograd ops
and differentiated with backward(), exactly as a network's would be:

    Rosenbrock  f = (1 - x)^2 + 100 (y - x^2)^2                     minimum 0 at (1, 1)
    Beale       f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2   minimum 0 at (3, 0.5)

Rosenbrock's long curved valley punishes plain SGD (tiny steps along the floor) and rewards
momentum; Beale's flat plateaus and steep walls show adaptive methods' per-coordinate scaling.
AdamW's decoupled weight decay (0.01) pulls p towards the origin, so it settles short of the minimum.
Writes <surface>.png (trajectories on the contour plot), losses.png, metrics.jsonl, summary.json and
final_points.safetensors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DESCRIPTION = "SGD, momentum, Nesterov, RMSprop, Adam, AdamW on Rosenbrock and Beale, drawn on the contours"

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def rosenbrock(x, y):
    """Works on macrograd Tensors and on NumPy arrays alike (for the contour grid)."""
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


# surface -> (function, start, minimum, plot extent, learning rate per optimizer)
SURFACES = {
    "rosenbrock": (rosenbrock, (-1.5, 2.0), (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0),
                   {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "rmsprop": 1e-2, "adam": 5e-2, "adamw": 5e-2}),
    "beale": (beale, (1.0, 1.5), (3.0, 0.5), (-1.0, 4.0, -1.5, 2.0),
              {"sgd": 1e-2, "momentum": 3e-3, "nesterov": 3e-3, "rmsprop": 1e-2, "adam": 5e-2, "adamw": 5e-2}),
}


@dataclass
class Config:
    surfaces: tuple[str, ...] = ("rosenbrock", "beale")
    optimizers: tuple[str, ...] = OPTIMIZERS
    steps: int = 1000
    lr_scale: float = 1.0  # multiplies every learning rate in SURFACES


SMOKE = {"steps": 20}


def make_optimizer(name: str, params, lr: float):
    from .. import optim

    return {
        "sgd": lambda: optim.SGD(params, lr=lr),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9),
        "nesterov": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr),
        "adam": lambda: optim.Adam(params, lr=lr),
        "adamw": lambda: optim.AdamW(params, lr=lr),
    }[name]()


def descend(function, start, optimizer_name: str, lr: float, steps: int):
    """Run one optimizer from `start`; returns the visited points (steps+1, 2) and losses (steps+1,)."""
    from ..nn import Parameter
    from ..creation import tensor

    p = Parameter(tensor(start))
    optimizer = make_optimizer(optimizer_name, [p], lr)
    points, losses = [p.detach().numpy().copy()], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = function(p[0], p[1])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        points.append(p.detach().numpy().copy())
    losses.append(function(*points[-1].astype(np.float64)))
    return np.array(points), np.array(losses), p


def run(config: Config, out, resume: bool = False) -> dict:
    """Each descent takes about a second, so --resume simply runs again (the result is deterministic)."""
    from ..io import save
    from ..train import MetricsLog, RunFolder
    from ..viz import plot_trajectories
    from ..viz.contour import plot_loss_panels

    for name in config.surfaces:
        if name not in SURFACES:
            raise ValueError(f"optim-playground: unknown surface {name!r}; valid: {', '.join(SURFACES)}")
    for name in config.optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"optim-playground: unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    log = MetricsLog(run_folder.metrics_path).open()
    summary, final_points, loss_curves = {}, {}, {}
    for surface in config.surfaces:
        function, start, minimum, extent, lrs = SURFACES[surface]
        trajectories = {}
        for name in config.optimizers:
            lr = lrs[name] * config.lr_scale
            points, losses, p = descend(function, start, name, lr, config.steps)
            for step in range(0, config.steps + 1, max(config.steps // 200, 1)):  # ~200 lines per descent
                log.log({"kind": "step", "surface": surface, "optimizer": name, "step": step,
                         "loss": float(losses[step]), "x": float(points[step, 0]), "y": float(points[step, 1])})
            label = f"{name} (lr {lr:g})"
            trajectories[label] = points
            loss_curves.setdefault(surface, {})[name] = losses
            distance = float(np.hypot(*(points[-1] - np.array(minimum))))
            summary[f"{surface}/{name}"] = {"lr": lr, "final_loss": float(losses[-1]), "distance_to_minimum": distance,
                                            "final_point": points[-1].tolist()}
            final_points[f"{surface}.{name}"] = p.detach()
            print(f"{surface:10s} {name:9s} lr {lr:<8g} final loss {losses[-1]:.3e}  distance to minimum {distance:.4f}")
        plot_trajectories(lambda X, Y, f=function: f(X, Y), extent, trajectories, run_folder.file(f"{surface}.png"),
                          minimum=minimum, title=f"{surface}: {config.steps} steps from {start}")
    log.close()
    plot_loss_panels(loss_curves, run_folder.file("losses.png"), title="loss per step")
    save(final_points, run_folder.file("final_points.safetensors"))
    run_folder.write_json("summary.json", summary)
    best = min(summary, key=lambda k: summary[k]["final_loss"])
    return {"best": best, "best_final_loss": summary[best]["final_loss"]}
