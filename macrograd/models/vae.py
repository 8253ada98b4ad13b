"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014), with
the beta-VAE weight on the KL term (Higgins et al., ICLR 2017).

The idea: an encoder q(z|x) = N(mu(x), diag sigma(x)^2) and a decoder p(x|z) are trained together
to maximise the evidence lower bound

    log p(x) >= ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)).

The expectation is estimated with one sample drawn by the reparameterisation trick,
z = mu + sigma * eps with eps ~ N(0, I), so the gradient flows through mu and sigma; the KL
between two Gaussians has a closed form, 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1).

    model = conv_vae(latent_dim=20)                  # 1x28x28 images
    logits, mu, logvar = model(x)                    # decoder logits (N, 1, 28, 28)
    loss = negative_elbo(logits, x, mu, logvar)      # nats per image, averaged over the batch

Encoder: two stride-2 4x4 convs (28 -> 14 -> 7), a Linear to (mu, log sigma^2). Decoder: the
mirror image with ConvTranspose2d. The decoder outputs logits: with the Bernoulli likelihood
they are the log-odds of each pixel being on; with the Gaussian one, sigmoid(logits) is the mean.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

from ._family import family, library

LIKELIHOODS = ("bernoulli", "gaussian")


@family
def classes(nn):
    """The convolutional VAE on the namespace `nn` (macrograd.nn or torch.nn)."""
    lib = library(nn)

    class ConvVAE(nn.Module):
        """q(z|x) by a conv encoder, p(x|z) by a transposed-conv decoder (logits out)."""

        def __init__(self, latent_dim=20, in_channels=1, channels=32, image_size=28):
            super().__init__()
            if image_size % 4:
                raise ValueError(f"ConvVAE: image_size must be a multiple of 4, got {image_size}")
            self.latent_dim, self.channels, self.side = latent_dim, channels, image_size // 4
            flat = 2 * channels * self.side ** 2
            self.encoder = nn.Sequential(
                nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten())
            self.to_stats = nn.Linear(flat, 2 * latent_dim)  # mu and log sigma^2 side by side
            self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(channels, in_channels, 4, stride=2, padding=1))

        def encode(self, x):
            """(mu, logvar) of q(z|x), each (N, latent_dim)."""
            stats = self.to_stats(self.encoder(x))
            return stats[:, :self.latent_dim], stats[:, self.latent_dim:]

        def reparameterize(self, mu, logvar):
            """z = mu + sigma * eps, eps ~ N(0, I): a sample whose gradient reaches mu and sigma."""
            std = (0.5 * logvar).exp()
            return mu + std * lib.randn_like(std)

        def decode(self, z):
            """Decoder logits (N, C, H, W) for latent codes z (N, latent_dim)."""
            h = self.from_latent(z).reshape(z.shape[0], 2 * self.channels, self.side, self.side)
            return self.decoder(h)

        def forward(self, x):
            mu, logvar = self.encode(x)
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    return SimpleNamespace(ConvVAE=ConvVAE)


def conv_vae(latent_dim=20, in_channels=1, channels=32, image_size=28, nn=None):
    """The convolutional VAE for in_channels x image_size x image_size images."""
    return classes(nn).ConvVAE(latent_dim, in_channels, channels, image_size)


def kl_divergence(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dims: 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1); (N,)."""
    return 0.5 * (mu * mu + logvar.exp() - logvar - 1).sum(1)


def reconstruction_nll(logits, x, likelihood="bernoulli", sigma=0.1):
    """-log p(x|z) summed over pixels, (N,).

    bernoulli: -sum[x log p + (1-x) log(1-p)], p = sigmoid(logits) (x binary, or in [0, 1]);
    gaussian:  sum[(x - mean)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2], mean = sigmoid(logits)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"reconstruction_nll: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if logits.shape != x.shape:
        raise ValueError(f"reconstruction_nll: logits {tuple(logits.shape)} and x {tuple(x.shape)} differ in shape")
    F = _functional(logits)
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        diff = x - logits.sigmoid()
        per_pixel = diff * diff / (2 * sigma ** 2) + (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    return per_pixel.flatten(1).sum(1)


def negative_elbo(logits, x, mu, logvar, likelihood="bernoulli", sigma=0.1, beta=1.0, reduction="mean"):
    """-ELBO = -log p(x|z) + beta * KL(q(z|x) || p(z)) in nats per image (beta = 1: the true bound).
    reduction: "mean" over the batch, "sum", or "none" (per image)."""
    per_image = reconstruction_nll(logits, x, likelihood, sigma) + beta * kl_divergence(mu, logvar)
    if reduction == "none":
        return per_image
    if reduction == "sum":
        return per_image.sum()
    if reduction == "mean":
        return per_image.mean()
    raise ValueError(f"negative_elbo: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _functional(tensor):
    """nn.functional of the library the tensor belongs to (the loss runs on both)."""
    if type(tensor).__module__.startswith("torch"):
        import torch.nn.functional as F  # only ever reached with torch tensors, i.e. in tests
        return F
    from ..nn import functional as F
    return F


ConvVAE = classes().ConvVAE
