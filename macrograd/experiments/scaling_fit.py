"""Fitting scaling laws: L(N) = (N_c / N)^alpha + L_inf, the same form in data size D, and the
compute-optimal frontier of a set of runs.

The law is fitted by nonlinear least squares on log L (a run at 3.0 nats and one at 1.5 weigh the
same in relative error) with scipy.optimize.curve_fit, parametrised as (alpha, log N_c, L_inf) so
that N_c of 1e5 or 1e9 is an O(10) number for the optimiser. The 95% confidence intervals are
estimate +- t(0.975, n - 3) * standard error, the errors from the covariance of the fit.

    fit = fit_power_law(n_params, losses)           # {"alpha": ..., "alpha_ci": (lo, hi), ...}
    pure = fit_pure_power_law(n_params, losses)     # Kaplan et al.'s form, L_inf = 0
    frontier = compute_frontier(computes, losses)   # lowest loss reachable at each budget

With a few points from a narrow range, L_inf and alpha trade off against each other: the
three-parameter fit may put L_inf at its bound 0 with a wide interval on alpha. Kaplan et al.
(2020) fit the pure power law L = (N_c / N)^alpha_N, a straight line in log-log that two points
already determine, so its interval is the one to read when L_inf is not resolved.
"""
from __future__ import annotations

import math

import numpy as np


def count_non_embedding_params(model) -> int:
    """Parameters outside the embedding tables (Kaplan et al.'s N): all parameters, counted once
    even when tied, less those of every nn.Embedding (the token and the position tables; the tied
    output layer is the token table, so it is not counted either)."""
    from ..nn import Embedding

    embedding_ids = {id(p) for m in model.modules() if isinstance(m, Embedding) for p in m.parameters()}
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or id(p) in embedding_ids:
            continue
        seen.add(id(p))
        total += p.numel()
    return int(total)


def _points(fit: str, x, losses, parameters: int):
    """x and losses as float64 1-D arrays, checked: equal lengths, positive, and one point more
    than the fit's parameters (a degree of freedom left for the error estimate)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{fit}: x and losses must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) < parameters + 1:
        raise ValueError(f"{fit}: need at least {parameters + 1} points for {parameters} parameters and an error "
                         f"estimate, got {len(x)}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"{fit}: x and losses must be positive")
    return x, y


def power_law(x, alpha, x_c, l_inf):
    """L(x) = (x_c / x)^alpha + L_inf."""
    return (np.asarray(x, dtype=np.float64) / x_c) ** (-alpha) + l_inf


def fit_power_law(x, losses, confidence: float = 0.95) -> dict:
    """Least-squares fit of log L = log((x_c / x)^alpha + L_inf) to the points (x, losses).

    Returns {"alpha", "x_c", "l_inf", "alpha_ci", "l_inf_ci", "x_c_ci", "stderr", "n_points",
    "rms_log_residual"}. Needs at least 4 points (3 parameters and one degree of freedom left
    for the error estimate)."""
    from scipy import optimize, stats

    x, y = _points("fit_power_law", x, losses, parameters=3)
    log_x, log_y = np.log(x), np.log(y)

    def model(log_x, alpha, log_x_c, l_inf):
        return np.log(np.exp(alpha * (log_x_c - log_x)) + l_inf)

    # start: L_inf a little under the best loss, alpha from the slope of log(L - L_inf) in log x
    l0 = 0.9 * y.min()
    slope = np.polyfit(log_x, np.log(y - l0), 1)[0]
    alpha0 = float(np.clip(-slope, 0.01, 3.0))
    log_x_c0 = float(np.mean(log_x + np.log(y - l0) / alpha0))
    params, cov = optimize.curve_fit(
        model, log_x, log_y, p0=[alpha0, log_x_c0, l0],
        bounds=([1e-4, -np.inf, 0.0], [10.0, np.inf, y.min()]), maxfev=20000)
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, np.inf))
    t = stats.t.ppf(0.5 + confidence / 2, len(x) - 3)
    alpha, log_x_c, l_inf = (float(v) for v in params)
    residual = log_y - model(log_x, *params)
    return {
        "alpha": alpha, "x_c": _exp(log_x_c), "l_inf": l_inf,
        "alpha_ci": (alpha - t * stderr[0], alpha + t * stderr[0]),
        "x_c_ci": (_exp(log_x_c - t * stderr[1]), _exp(log_x_c + t * stderr[1])),
        "l_inf_ci": (l_inf - t * stderr[2], l_inf + t * stderr[2]),
        "stderr": {"alpha": float(stderr[0]), "log_x_c": float(stderr[1]), "l_inf": float(stderr[2])},
        "confidence": confidence, "n_points": int(len(x)),
        "rms_log_residual": float(np.sqrt(np.mean(residual ** 2))),
    }


def fit_pure_power_law(x, losses, confidence: float = 0.95) -> dict:
    """Least squares of log L = alpha (log x_c - log x), the straight line of L = (x_c / x)^alpha in
    log-log (Kaplan et al. 2020's form, no irreducible term). Returns {"alpha", "x_c", "alpha_ci",
    "n_points", "rms_log_residual"}; the interval is alpha +- t(n - 2) * the slope's standard error."""
    from scipy import stats

    x, y = _points("fit_pure_power_law", x, losses, parameters=2)
    line = stats.linregress(np.log(x), np.log(y))
    alpha = -float(line.slope)
    t = stats.t.ppf(0.5 + confidence / 2, len(x) - 2)
    residual = np.log(y) - (line.intercept + line.slope * np.log(x))
    return {"alpha": alpha, "x_c": _exp(line.intercept / alpha) if alpha else math.inf,
            "alpha_ci": (alpha - t * line.stderr, alpha + t * line.stderr), "l_inf": 0.0,
            "confidence": confidence, "n_points": int(len(x)),
            "rms_log_residual": float(np.sqrt(np.mean(residual ** 2)))}


def _exp(v: float) -> float:
    """exp that gives inf instead of raising (an unconstrained x_c has an interval of +- infinity)."""
    return math.exp(v) if v < 700 else math.inf


def training_compute(n_params, tokens_seen) -> float:
    """C = 6 N D: forward (2 N) plus backward (4 N) floating-point operations per token seen."""
    return 6.0 * float(n_params) * float(tokens_seen)


def compute_frontier(computes, losses) -> list:
    """For each distinct compute budget C of the runs (ascending), the lowest loss among runs with
    compute <= C: a list of (C, best loss, index of the run reaching it), non-increasing in loss.
    Runs that share a budget (a data sweep at a fixed model and step count) give one entry."""
    computes = np.asarray(computes, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if computes.shape != losses.shape or computes.ndim != 1:
        raise ValueError(f"compute_frontier: computes and losses must be 1-D of the same length, "
                         f"got {computes.shape} and {losses.shape}")
    frontier, best, best_i = [], math.inf, -1
    for i in np.argsort(computes, kind="stable"):
        if losses[i] < best:
            best, best_i = float(losses[i]), int(i)
        if frontier and frontier[-1][0] == computes[i]:
            frontier.pop()  # the same budget again: keep one entry, with the best loss so far
        frontier.append((float(computes[i]), best, best_i))
    return frontier


__all__ = ["count_non_embedding_params", "power_law", "fit_power_law", "fit_pure_power_law", "training_compute",
           "compute_frontier"]
