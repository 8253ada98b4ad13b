"""The VAE: the model against its torch twin, the ELBO against a direct computation in float64
(Bernoulli and Gaussian log-likelihoods written out, the closed-form KL against Monte Carlo), and
the reparameterisation trick's gradients."""
import math

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.models.vae import conv_vae, kl_divergence, negative_elbo, reconstruction_nll
from twin_helpers import assert_close, assert_grads_match, load_into_twin, randn


def test_conv_vae_matches_torch_twin_encode_decode_and_grads():
    model, twin = conv_vae(latent_dim=5, channels=4), conv_vae(latent_dim=5, channels=4, nn=torch.nn)
    load_into_twin(model, twin)
    x = (np.random.default_rng(1).random((3, 1, 28, 28)) < 0.3).astype(np.float32)
    eps = randn(3, 5, seed=2)

    def elbo(lib, net, xs):
        mu, logvar = net.encode(xs)
        z = mu + (0.5 * logvar).exp() * lib.tensor(eps)  # the reparameterisation with a shared eps
        return negative_elbo(net.decode(z), xs, mu, logvar, beta=2.0, reduction="none"), mu, logvar

    out_m, mu_m, lv_m = elbo(mg, model, mg.tensor(x))
    out_t, mu_t, lv_t = elbo(torch, twin, torch.tensor(x))
    assert_close(mu_m, mu_t, what="mu")
    assert_close(lv_m, lv_t, what="logvar")
    assert_close(out_m, out_t, what="-ELBO per image")
    out_m.sum().backward()
    out_t.sum().backward()
    assert_grads_match(model, twin, what="vae")


def test_forward_shapes_and_sampling_noise():
    model = conv_vae(latent_dim=3, channels=4)
    x = mg.tensor(randn(2, 1, 28, 28))
    logits, mu, logvar = model(x)
    assert logits.shape == (2, 1, 28, 28) and mu.shape == (2, 3) and logvar.shape == (2, 3)
    again, _, _ = model(x)
    assert not np.allclose(logits.detach().numpy(), again.detach().numpy()), "z must be resampled on each call"


def test_bernoulli_elbo_against_direct_computation():
    rng = np.random.default_rng(0)
    logits, mu, logvar = randn(4, 1, 6, 6, seed=1), randn(4, 3, seed=2), randn(4, 3, seed=3) * 0.5
    x = (rng.random((4, 1, 6, 6)) < 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    log_lik = (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(4, -1).sum(1)
    var = np.exp(logvar.astype(np.float64))
    kl = 0.5 * (mu.astype(np.float64) ** 2 + var - np.log(var) - 1).sum(1)
    ours = negative_elbo(mg.tensor(logits), mg.tensor(x), mg.tensor(mu), mg.tensor(logvar), reduction="none")
    np.testing.assert_allclose(ours.numpy(), -log_lik + kl, rtol=1e-5)
    beta = negative_elbo(mg.tensor(logits), mg.tensor(x), mg.tensor(mu), mg.tensor(logvar), beta=4.0)
    np.testing.assert_allclose(beta.item(), (-log_lik + 4 * kl).mean(), rtol=1e-5)
    total = negative_elbo(mg.tensor(logits), mg.tensor(x), mg.tensor(mu), mg.tensor(logvar), reduction="sum")
    np.testing.assert_allclose(total.item(), (-log_lik + kl).sum(), rtol=1e-5)


def test_gaussian_likelihood_against_log_density():
    logits, x = randn(2, 1, 4, 4, seed=4), np.random.default_rng(5).random((2, 1, 4, 4)).astype(np.float32)
    sigma = 0.3
    mean = 1 / (1 + np.exp(-logits.astype(np.float64)))
    log_density = (-0.5 * ((x - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)).reshape(2, -1).sum(1)
    ours = reconstruction_nll(mg.tensor(logits), mg.tensor(x), "gaussian", sigma)
    np.testing.assert_allclose(ours.numpy(), -log_density, rtol=1e-5)


def test_closed_form_kl_against_monte_carlo():
    mu, logvar = np.array([[0.5, -1.0]], np.float32), np.array([[0.3, -0.7]], np.float32)
    std = np.exp(0.5 * logvar.astype(np.float64))
    z = mu + std * np.random.default_rng(0).standard_normal((400_000, 2))
    log_q = (-0.5 * ((z - mu) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)
    log_p = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(1)
    monte_carlo = (log_q - log_p).mean()
    closed = kl_divergence(mg.tensor(mu), mg.tensor(logvar)).item()
    assert abs(closed - monte_carlo) < 0.01, (closed, monte_carlo)


def test_reparameterisation_gradients():
    model = conv_vae(latent_dim=4, channels=2)
    mu = mg.tensor(randn(3, 4, seed=6), requires_grad=True)
    logvar = mg.tensor(randn(3, 4, seed=7), requires_grad=True)
    mg.manual_seed(11)
    z = model.reparameterize(mu, logvar)
    z.sum().backward()
    std = np.exp(0.5 * logvar.detach().numpy())
    eps = (z.detach().numpy() - mu.detach().numpy()) / std
    np.testing.assert_allclose(mu.grad.numpy(), np.ones((3, 4)), rtol=1e-6)
    np.testing.assert_allclose(logvar.grad.numpy(), 0.5 * std * eps, rtol=1e-4, atol=1e-6)


def test_loss_gradients_match_torch():
    logits, x = randn(2, 1, 4, 4, seed=8), np.random.default_rng(9).random((2, 1, 4, 4)).astype(np.float32)
    mu, logvar = randn(2, 3, seed=10), randn(2, 3, seed=11)
    for likelihood in ("bernoulli", "gaussian"):
        grads = []
        for lib in (mg, torch):
            ts = [lib.tensor(a, requires_grad=True) for a in (logits, mu, logvar)]
            negative_elbo(ts[0], lib.tensor(x), ts[1], ts[2], likelihood, 0.2, beta=0.5).backward()
            grads.append([t.grad.numpy() for t in ts])
        for ours, theirs in zip(*grads):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_errors_name_the_problem():
    logits = mg.tensor(randn(2, 1, 4, 4))
    with pytest.raises(ValueError, match="likelihood must be one of"):
        reconstruction_nll(logits, logits, "poisson")
    with pytest.raises(ValueError, match=r"reconstruction_nll: logits \(2, 1, 4, 4\) and x \(2, 16\)"):
        reconstruction_nll(logits, mg.tensor(randn(2, 16)))
    with pytest.raises(ValueError, match="reduction must be"):
        negative_elbo(logits, logits, mg.tensor(randn(2, 3)), mg.tensor(randn(2, 3)), reduction="max")
    with pytest.raises(ValueError, match="multiple of 4"):
        conv_vae(image_size=30)
