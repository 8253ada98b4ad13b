"""Diffusion: the schedules' closed forms against iterating the forward process, the posterior
variance against Gaussian conditioning, DDIM (eta = 1, all steps) against the ancestral sampler,
DDIM (eta = 0) determinism, classifier-free guidance, EMA, the loss, and the U-Net against its
torch twin."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from macrograd.models.diffusion import (
    EMA, NoiseSchedule, ddim_sample, ddim_timesteps, ddpm_sample, diffusion_loss, model_eps,
)
from macrograd.models.diffusion_unet import SinusoidalEmbedding, diffusion_unet
from twin_helpers import assert_close, assert_grads_match, load_into_twin, randn

SCHEDULES = [NoiseSchedule.linear(100, 1e-3, 0.05), NoiseSchedule.cosine(100)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["linear", "cosine"])
def test_closed_form_moments_against_iterating_the_forward_process(schedule):
    x0 = np.array([1.5, -0.5, 0.0])
    # exact moment recursion of x_t = sqrt(1 - b_t) x_{t-1} + sqrt(b_t) eps
    mean, var = x0.copy(), np.zeros(3)
    # and a Monte Carlo run of the same process
    rng = np.random.default_rng(0)
    x = np.repeat(x0[None], 20_000, 0)
    for t in range(schedule.T):
        b = schedule.betas[t]
        mean, var = math.sqrt(1 - b) * mean, (1 - b) * var + b
        x = math.sqrt(1 - b) * x + math.sqrt(b) * rng.standard_normal(x.shape)
        closed_mean, closed_var = schedule.q_moments(x0, t)
        np.testing.assert_allclose(closed_mean, mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(closed_var, var, rtol=1e-10)
        if t in (0, schedule.T // 2, schedule.T - 1):
            np.testing.assert_allclose(x.mean(0), closed_mean, atol=0.03)  # 4 standard errors
            np.testing.assert_allclose(x.var(0), closed_var, rtol=0.05, atol=1e-4)


def test_q_sample_is_the_closed_form():
    s = SCHEDULES[0]
    x0, noise, t = randn(4, 2, 3), randn(4, 2, 3, seed=1), np.array([0, 5, 50, 99])
    ab = s.alpha_bar[t][:, None, None]
    np.testing.assert_allclose(s.q_sample(x0, t, noise), np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise, rtol=1e-6)
    assert s.q_sample(x0, t, noise).dtype == np.float32


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["linear", "cosine"])
def test_posterior_variance_by_gaussian_conditioning(schedule):
    """Var(x_{t-1} | x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0."""
    for t in range(1, schedule.T):
        v_prev, v_t = 1 - schedule.alpha_bar[t - 1], 1 - schedule.alpha_bar[t]
        cov = math.sqrt(schedule.alphas[t]) * v_prev
        assert math.isclose(schedule.posterior_variance[t], v_prev - cov * cov / v_t, rel_tol=1e-9)
    assert schedule.posterior_variance[0] == 0


def test_schedule_definitions():
    lin = NoiseSchedule.linear(1000)
    assert lin.betas[0] == 1e-4 and math.isclose(lin.betas[-1], 0.02) and lin.T == 1000
    cos = NoiseSchedule.cosine(1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):  # index t is the paper's t + 1
        assert math.isclose(cos.alpha_bar[t], f(t + 1) / f(0), rel_tol=1e-9)
    with pytest.raises(ValueError, match="betas must be a 1-D array in \\(0, 1\\)"):
        NoiseSchedule(np.array([0.1, 1.2]))
    with pytest.raises(ValueError, match="schedule must be one of"):
        NoiseSchedule.make("quadratic")


def _toy_eps(x, t):
    """Any smooth function of (x, t) will do: the samplers must not care what the network is."""
    return (0.4 * np.tanh(x) + 0.1 * math.sin(t) * x[::-1]).astype(np.float32)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=["linear", "cosine"])
def test_ddim_eta1_all_steps_is_the_ancestral_sampler(schedule, clip):
    shape = (3, 1, 4, 4)
    ancestral = ddpm_sample(_toy_eps, schedule, shape, np.random.default_rng(7), clip=clip)
    ddim = ddim_sample(_toy_eps, schedule, shape, np.random.default_rng(7), steps=schedule.T, eta=1.0, clip=clip)
    np.testing.assert_allclose(ddim, ancestral, rtol=1e-4, atol=1e-4)
    # and it is a different path from eta = 0 (the noise matters)
    assert not np.allclose(ddim_sample(_toy_eps, schedule, shape, np.random.default_rng(7), steps=schedule.T,
                                       clip=clip), ancestral, atol=1e-2)


def test_ddim_eta1_with_the_unet_is_the_ancestral_sampler():
    net = diffusion_unet(1, 8, (1, 2), num_classes=3)
    s = NoiseSchedule.linear(10, 1e-3, 0.3)
    eps = model_eps(net, [0, 2], guidance=2.0)
    a = ddpm_sample(eps, s, (2, 1, 8, 8), np.random.default_rng(3))
    b = ddim_sample(eps, s, (2, 1, 8, 8), np.random.default_rng(3), steps=10, eta=1.0)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@given(steps=st.integers(1, 100), seed=st.integers(0, 100))
def test_ddim_eta0_is_deterministic_given_the_start(steps, seed):
    s = SCHEDULES[1]
    x_T = np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float32)
    first = ddim_sample(_toy_eps, s, x_T.shape, np.random.default_rng(0), steps=steps, x_T=x_T)
    again = ddim_sample(_toy_eps, s, x_T.shape, np.random.default_rng(999), steps=steps, x_T=x_T)
    np.testing.assert_array_equal(first, again)
    assert np.all(np.abs(first) <= 1.0 + 1e-6)  # the last step returns the clipped x0_hat


def test_ddim_timesteps():
    assert list(ddim_timesteps(1000, 4)) == [999, 666, 333, 0]
    assert list(ddim_timesteps(5, 5)) == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match=r"steps must be in 1\.\.10, got 11"):
        ddim_timesteps(10, 11)


def test_classifier_free_guidance_combination():
    net = diffusion_unet(1, 8, (1,), num_classes=4)
    x, y = randn(3, 1, 6, 6), np.array([0, 1, 3])
    with mg.no_grad():
        cond = net(mg.tensor(x), mg.tensor(np.full(3, 5)), mg.tensor(y)).numpy()
        uncond = net(mg.tensor(x), mg.tensor(np.full(3, 5)), mg.tensor(np.full(3, 4))).numpy()
        default = net(mg.tensor(x), mg.tensor(np.full(3, 5))).numpy()
    np.testing.assert_allclose(default, uncond, rtol=1e-6)  # y=None is the null class
    np.testing.assert_allclose(model_eps(net, y, 1.0)(x, 5), cond, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model_eps(net, y, 0.0)(x, 5), uncond, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model_eps(net, y, 3.0)(x, 5), uncond + 3 * (cond - uncond), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model_eps(net, None)(x, 5), uncond, rtol=1e-5, atol=1e-6)


def test_diffusion_loss_is_the_eps_mse():
    net = diffusion_unet(1, 8, (1,), num_classes=2)
    s = SCHEDULES[0]
    x0, y = randn(4, 1, 4, 4), np.array([0, 1, 1, 0])
    loss = diffusion_loss(net, s, x0, np.random.default_rng(5), y, p_uncond=0.5)
    rng = np.random.default_rng(5)  # replay the draws in the documented order
    t = rng.integers(0, s.T, 4)
    noise = rng.standard_normal(x0.shape, dtype=np.float32)
    y_used = np.where(rng.random(4) < 0.5, 2, y)
    with mg.no_grad():
        eps = net(mg.tensor(s.q_sample(x0, t, noise)), mg.tensor(t), mg.tensor(y_used)).numpy()
    np.testing.assert_allclose(loss.item(), ((eps - noise) ** 2).mean(), rtol=1e-5)


def test_ema_is_the_warmed_up_average():
    net = mg.nn.Linear(2, 1)
    ema = EMA(net, decay=0.5)
    history = [net.weight.detach().numpy().copy()]
    expected = history[0].copy()
    for n in range(4):
        with mg.no_grad():
            net.weight.add_(mg.ones(1, 2))
        d = ema.update(net)
        assert d == min(0.5, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * net.weight.detach().numpy()
    np.testing.assert_allclose(ema.model.weight.detach().numpy(), expected, rtol=1e-6)
    assert not ema.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay must be in"):
        EMA(net, decay=1.0)


def test_sinusoidal_embedding_formula():
    t = np.array([0, 3, 999])
    out = SinusoidalEmbedding(8)(mg.tensor(t)).numpy()
    freqs = 10000.0 ** (-np.arange(4) / 4)
    np.testing.assert_allclose(out, np.concatenate([np.sin(t[:, None] * freqs), np.cos(t[:, None] * freqs)], 1),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="dim must be even"):
        SinusoidalEmbedding(7)


@pytest.mark.parametrize("size,mults,blocks", [(28, (1, 2), 1), (7, (1, 2, 2), 2)])
def test_unet_matches_torch_twin(size, mults, blocks):
    net = diffusion_unet(2, 8, mults, blocks, num_classes=3)
    twin = diffusion_unet(2, 8, mults, blocks, num_classes=3, nn=torch.nn)
    load_into_twin(net, twin)
    x, t, y = randn(2, 2, size, size), np.array([3, 700]), np.array([1, 3])
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out_m, out_t = net(xm, mg.tensor(t), mg.tensor(y)), twin(xt, torch.tensor(t), torch.tensor(y))
    assert out_m.shape == (2, 2, size, size)
    assert_close(out_m, out_t, what="eps")
    cot = randn(*out_t.shape, seed=3)
    (out_m * mg.tensor(cot)).sum().backward()
    (out_t * torch.from_numpy(cot)).sum().backward()
    assert_close(xm.grad, xt.grad, tol=2e-4, what="input grad")
    assert_grads_match(net, twin)
