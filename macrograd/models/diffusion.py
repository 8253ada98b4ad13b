"""Denoising diffusion (Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020):
noise schedules, the training loss, the ancestral (DDPM) and DDIM (Song, Meng, Ermon, ICLR 2021)
samplers, classifier-free guidance (Ho & Salimans, 2022) and an exponential moving average of the
weights.

The forward process adds Gaussian noise in T small steps, q(x_t | x_{t-1}) = N(sqrt(1-b_t) x_{t-1}, b_t I),
so that with a_t = 1 - b_t and abar_t = prod_{s<=t} a_s it has the closed form

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

A network eps_theta(x_t, t) learns to predict eps (loss |eps - eps_theta|^2). Sampling runs the
process backwards: from x_t, x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t), and

    DDPM: x_{t-1} = mu~(x_t, x0_hat) + sqrt(b~_t) z,  mu~ = sqrt(abar_{t-1}) b_t / (1-abar_t) x0_hat
                                                         + sqrt(a_t) (1-abar_{t-1}) / (1-abar_t) x_t,
          b~_t = (1-abar_{t-1}) / (1-abar_t) b_t   (the variance of the posterior q(x_{t-1} | x_t, x_0));
    DDIM: x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z  for any s < t,
          sigma = eta sqrt((1-abar_s)/(1-abar_t)) sqrt(1 - abar_t/abar_s):
          eta = 1 over all steps is DDPM exactly; eta = 0 is deterministic and works with few steps.

Time steps are 0-based here: index t = 0..T-1 is the paper's t = 1..T. Samplers work on NumPy
arrays and call the network through `eps_fn(x, t) -> eps` (see `model_eps`), so that they are
independent of the network and can be tested with any function.
"""
from __future__ import annotations

import copy
import math

import numpy as np

SCHEDULES = ("linear", "cosine")


class NoiseSchedule:
    """b_t and everything derived from it, in float64 NumPy (T numbers; precision is free)."""

    def __init__(self, betas):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not len(betas) or betas.min() <= 0 or betas.max() >= 1:
            raise ValueError(f"NoiseSchedule: betas must be a 1-D array in (0, 1), got shape {betas.shape}")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bar = np.cumprod(self.alphas)
        self.alpha_bar_prev = np.concatenate([[1.0], self.alpha_bar[:-1]])
        # b~_t: the variance of q(x_{t-1} | x_t, x_0); 0 at the first step (x_0 is then known)
        self.posterior_variance = betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)

    @property
    def T(self) -> int:
        return len(self.betas)

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "NoiseSchedule":
        """b_t rising linearly from beta_start to beta_end (Ho et al.'s schedule for T = 1000)."""
        return cls(np.linspace(beta_start, beta_end, T))

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """abar_t = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2) (Nichol & Dhariwal, 2021):
        noise is added more slowly at the start, so fewer steps are wasted on pure noise."""
        f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return cls(np.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 1e-8, max_beta))

    @classmethod
    def make(cls, name: str, T: int = 1000) -> "NoiseSchedule":
        if name not in SCHEDULES:
            raise ValueError(f"NoiseSchedule.make: schedule must be one of {SCHEDULES}, got {name!r}")
        return getattr(cls, name)(T)

    def q_moments(self, x0, t):
        """Mean and variance of q(x_t | x_0): sqrt(abar_t) x0 and (1 - abar_t) (broadcast per example)."""
        ab = self._per_example(self.alpha_bar, t, np.ndim(x0))
        return np.sqrt(ab) * x0, 1.0 - ab

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t (N,) int, in x0's dtype."""
        ab = self._per_example(self.alpha_bar, t, x0.ndim)
        return (np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * noise).astype(x0.dtype)

    @staticmethod
    def _per_example(values, t, ndim):
        t = np.asarray(t)
        if t.ndim == 0:  # one time step for the whole batch
            return values[t]
        return values[t].reshape(t.shape + (1,) * (ndim - t.ndim))


# -- training -------------------------------------------------------------------------------------
def diffusion_loss(model, schedule: NoiseSchedule, x0, rng: np.random.Generator, y=None, p_uncond: float = 0.1):
    """|eps - eps_theta(x_t, t, y)|^2 averaged, t ~ U{0..T-1}, eps ~ N(0, I), x0 a float32 NumPy batch.
    With labels y, each is replaced by the null class (index model.num_classes) with probability
    p_uncond, so the one network learns the unconditional eps too (for classifier-free guidance)."""
    from ..creation import tensor
    from ..nn import functional as F

    n = len(x0)
    t = rng.integers(0, schedule.T, n)
    noise = rng.standard_normal(x0.shape, dtype=np.float32)
    x_t = schedule.q_sample(x0, t, noise)
    if y is not None:
        y = np.where(rng.random(n) < p_uncond, model.num_classes, y)
        y = tensor(y.astype(np.int64))
    return F.mse_loss(model(tensor(x_t), tensor(t.astype(np.int64)), y), tensor(noise))


# -- the network as eps_fn, with classifier-free guidance -----------------------------------------------
def model_eps(model, y=None, guidance: float = 1.0):
    """eps_fn(x, t) for the samplers: the network in eval mode without autograd.

    y: class per sample (None = unconditional, the null class). guidance w: eps = eps_u + w (eps_c - eps_u)
    (w = 1: plain conditional; w > 1 pushes samples towards what makes them look like class y;
    eps_c and eps_u are computed in one batch of twice the size)."""
    from ..autograd import no_grad
    from ..creation import tensor

    def eps_fn(x, t):
        n = len(x)
        t_batch = np.full(n, t, dtype=np.int64)
        model.eval()
        with no_grad():
            if y is None or not getattr(model, "num_classes", 0):
                return model(tensor(x), tensor(t_batch)).numpy()
            labels = np.asarray(y, dtype=np.int64)
            if guidance == 1.0:
                return model(tensor(x), tensor(t_batch), tensor(labels)).numpy()
            both = model(tensor(np.concatenate([x, x])), tensor(np.concatenate([t_batch, t_batch])),
                         tensor(np.concatenate([labels, np.full(n, model.num_classes, np.int64)]))).numpy()
            cond, uncond = both[:n], both[n:]
            return uncond + guidance * (cond - uncond)

    return eps_fn


# -- samplers -------------------------------------------------------------------------------------------
def _x0_from_eps(x, eps, alpha_bar, clip):
    x0 = (x - math.sqrt(1.0 - alpha_bar) * eps) / math.sqrt(alpha_bar)
    return np.clip(x0, -1.0, 1.0) if clip else x0


def ddpm_sample(eps_fn, schedule: NoiseSchedule, shape, rng: np.random.Generator, clip: bool = True, x_T=None):
    """Ancestral sampling over all T steps: x_{t-1} = mu~(x_t, x0_hat) + sqrt(b~_t) z.
    Draws x_T (unless given) and then one z per step except the last from rng."""
    x = rng.standard_normal(shape, dtype=np.float32) if x_T is None else np.asarray(x_T, np.float32)
    s = schedule
    for t in reversed(range(s.T)):
        x0 = _x0_from_eps(x, eps_fn(x, t), s.alpha_bar[t], clip)
        coef_x0 = math.sqrt(s.alpha_bar_prev[t]) * s.betas[t] / (1.0 - s.alpha_bar[t])
        coef_xt = math.sqrt(s.alphas[t]) * (1.0 - s.alpha_bar_prev[t]) / (1.0 - s.alpha_bar[t])
        x = coef_x0 * x0 + coef_xt * x
        if t > 0:
            x = x + math.sqrt(s.posterior_variance[t]) * rng.standard_normal(shape, dtype=np.float32)
        x = x.astype(np.float32)
    return x


def ddim_timesteps(T: int, steps: int) -> np.ndarray:
    """`steps` time indices spread evenly over 0..T-1, descending (the last is 0)."""
    if not 1 <= steps <= T:
        raise ValueError(f"ddim_timesteps: steps must be in 1..{T}, got {steps}")
    return np.unique(np.linspace(0, T - 1, steps).round().astype(np.int64))[::-1]


def ddim_sample(eps_fn, schedule: NoiseSchedule, shape, rng: np.random.Generator, steps: int = 50, eta: float = 0.0,
                clip: bool = True, x_T=None):
    """DDIM over `steps` time steps: x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z.
    eta = 0: deterministic given x_T; eta = 1 with steps = T: the ancestral sampler (same rng draws).
    eps_hat is recomputed from the (clipped) x0_hat so that x0_hat and eps_hat stay consistent."""
    x = rng.standard_normal(shape, dtype=np.float32) if x_T is None else np.asarray(x_T, np.float32)
    s = schedule
    times = ddim_timesteps(s.T, steps)
    for i, t in enumerate(times):
        ab_t = s.alpha_bar[t]
        ab_s = s.alpha_bar[times[i + 1]] if i + 1 < len(times) else 1.0
        x0 = _x0_from_eps(x, eps_fn(x, int(t)), ab_t, clip)
        eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1.0 - ab_t)
        sigma = eta * math.sqrt((1.0 - ab_s) / (1.0 - ab_t)) * math.sqrt(1.0 - ab_t / ab_s)
        x = math.sqrt(ab_s) * x0 + math.sqrt(max(1.0 - ab_s - sigma ** 2, 0.0)) * eps
        if i + 1 < len(times):  # the last step lands on x_0 with sigma = 0: no draw
            x = x + sigma * rng.standard_normal(shape, dtype=np.float32)
        x = x.astype(np.float32)
    return x


# -- EMA ----------------------------------------------------------------------------------------------
class EMA:
    """An exponential moving average of a model's weights, kept in a copy of the model:
    theta_ema <- d theta_ema + (1 - d) theta, with d = min(decay, (1 + n) / (10 + n)) after n updates
    (the warm-up keeps the average from being dominated by the random initial weights in short runs).
    Sample from `ema.model`: averaged weights give smoother, better samples than the last step's."""

    def __init__(self, model, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA: decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    def update(self, model) -> float:
        """One averaging step towards `model`'s current weights; returns the decay used."""
        from ..autograd import no_grad

        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        with no_grad():
            for ema_p, p in zip(self.model.parameters(), model.parameters()):
                ema_p.mul_(d).add_(p.detach(), alpha=1.0 - d)
        self.updates += 1
        return d

    def state_dict(self):
        return self.model.state_dict()
