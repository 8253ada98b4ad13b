"""vae: a convolutional VAE on binarised MNIST (Bernoulli likelihood) or on grey MNIST (Gaussian
likelihood), with the beta-VAE option. Reports the test negative ELBO in nats per image (an upper
bound on -log p(x); Kingma & Welling report about 100 nats for a 20-D latent space after long
training), and draws reconstructions, samples from the prior, latent interpolations and - from a
second, 2-D VAE - the latent manifold: decoder means on a grid of the prior's quantiles.

    macrograd run vae                                   # 20-D latent, Bernoulli, beta = 1
    macrograd run vae --set likelihood=gaussian         # grey images, N(sigmoid(logits), 0.1^2)
    macrograd run vae --set beta=4                      # beta-VAE

Binarisation: training images are re-binarised each time they are drawn (dynamic binarisation,
a pixel is 1 with probability its grey value); the test set is binarised once with a fixed seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder

DESCRIPTION = "convolutional VAE on binarised MNIST: test -ELBO in nats, samples, interpolations, 2-D manifold"


@dataclass
class Config:
    latent_dim: int = 20
    channels: int = 32  # the first conv's width (the second has twice as many)
    likelihood: str = "bernoulli"  # "bernoulli" (binarised MNIST) or "gaussian" (grey values)
    sigma: float = 0.1  # the Gaussian likelihood's fixed standard deviation
    beta: float = 1.0  # the KL weight (beta-VAE when > 1); the reported -ELBO always uses beta = 1
    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    train_subset: int = 0  # 0 = all 60,000 training images
    test_subset: int = 0  # 0 = all 10,000 test images
    manifold_epochs: int = 2  # epochs of the extra 2-D VAE drawn as the manifold (0 = none)
    manifold_channels: int = 16
    time_limit_min: float = 0.0  # stop at the first epoch end past this (0 = none); the 2-D VAE shares it
    log_every: int = 20
    seed: int = 0


SMOKE = {"epochs": 1, "channels": 8, "train_subset": 256, "test_subset": 128, "manifold_epochs": 1,
         "manifold_channels": 4, "log_every": 1}


def data_for(config, rng):
    """(train images, test images, source): binarised (test fixed) or grey, (N, 1, 28, 28)."""
    from .generative_common import binarize, mnist_images

    x_train, _, source = mnist_images("mnist", True, config.train_subset)
    x_test, _, _ = mnist_images("mnist", False, config.test_subset)
    if config.likelihood == "bernoulli":
        x_test = binarize(x_test, np.random.default_rng(12345))  # one fixed binarisation
    return x_train, x_test, source


def train_vae(model, x_train, config, rng, log, epochs, deadline, tag=""):
    """Adam on the (beta-)negative ELBO; returns the per-epoch history."""
    from .. import optim
    from ..creation import tensor
    from ..models.vae import negative_elbo
    from .generative_common import binarize

    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    history, step = [], 0
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_train))
        total, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = x_train[order[start:start + config.batch_size]]
            if config.likelihood == "bernoulli":
                batch = binarize(batch, rng)
            x = tensor(batch)
            logits, mu, logvar = model(x)
            loss = negative_elbo(logits, x, mu, logvar, config.likelihood, config.sigma, config.beta)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
            step += 1
            if step % config.log_every == 0:
                log({f"{tag}step": step, f"{tag}train_loss": loss.item(), "epoch": epoch + 1})
        history.append({"epoch": epoch + 1, f"{tag}train_loss": total / seen})
        log(history[-1])
        print(f"{tag or 'vae '}epoch {epoch + 1}: train loss {total / seen:.2f}")
        if deadline.passed():
            print(f"time limit of {config.time_limit_min} min reached after epoch {epoch + 1}")
            break
    return history


def evaluate_nelbo(model, x_test, config, batch_size: int = 500, seed: int = 0) -> dict:
    """Test -ELBO (beta = 1) in nats per image, with its reconstruction and KL parts; one
    reparameterised sample of z per image, drawn from a fixed seed."""
    from ..autograd import no_grad
    from ..creation import tensor
    from ..models.vae import kl_divergence, reconstruction_nll

    backend.manual_seed(seed)
    model.eval()
    recon, kl = [], []
    with no_grad():
        for start in range(0, len(x_test), batch_size):
            x = tensor(x_test[start:start + batch_size])
            logits, mu, logvar = model(x)
            recon.append(reconstruction_nll(logits, x, config.likelihood, config.sigma).numpy())
            kl.append(kl_divergence(mu, logvar).numpy())
    recon, kl = np.concatenate(recon).astype(np.float64), np.concatenate(kl).astype(np.float64)
    return {"test_nelbo": float((recon + kl).mean()), "test_recon_nll": float(recon.mean()),
            "test_kl": float(kl.mean())}


def decoder_mean(model, z):
    """sigmoid(decoder logits) for latent codes z (numpy (N, d)) -> numpy (N, 1, 28, 28)."""
    from ..autograd import no_grad
    from ..creation import tensor

    with no_grad():
        return model.decode(tensor(np.asarray(z, dtype=np.float32))).sigmoid().numpy()


def draw(model, x_test, run_folder, latent_dim, rng):
    """reconstructions.png, samples.png, interpolations.png."""
    from ..autograd import no_grad
    from ..creation import tensor
    from .generative_common import save_grid

    model.eval()
    originals = x_test[:10]
    with no_grad():
        mu, _ = model.encode(tensor(originals))
    recon = decoder_mean(model, mu.numpy())
    save_grid(np.concatenate([originals, recon]), run_folder.file("reconstructions.png"), columns=10,
              title="test images (top) and reconstructions from the posterior mean (bottom)")
    samples = decoder_mean(model, rng.standard_normal((100, latent_dim)))
    save_grid(samples, run_folder.file("samples.png"), columns=10, title="samples: decoder means for z ~ N(0, I)")
    # interpolate between posterior means of pairs of test digits, linearly in z
    with no_grad():
        ends, _ = model.encode(tensor(x_test[10:20]))
    ends = ends.numpy()
    weights = np.linspace(0.0, 1.0, 10, dtype=np.float32)[None, :, None]
    path = (1 - weights) * ends[0::2, None] + weights * ends[1::2, None]  # (5, 10, d)
    save_grid(decoder_mean(model, path.reshape(-1, latent_dim)), run_folder.file("interpolations.png"),
              columns=10, title="latent interpolations between pairs of test digits")


def draw_manifold(model, path, n: int = 20):
    """Decoder means on an n x n grid of z = (Phi^-1(u), Phi^-1(v)), u, v in (0, 1): the 2-D manifold."""
    from statistics import NormalDist

    from .generative_common import save_grid

    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.5 / n, 1 - 0.5 / n, n)], dtype=np.float32)
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])  # columns: z1 rising; rows: z2 falling (top = largest)
    grid = np.stack([z1.ravel(), z2.ravel()], 1)
    save_grid(decoder_mean(model, grid), path, columns=n, zoom=1,
              title="2-D latent manifold: decoder means on the prior's quantile grid")


def run(config: Config, out, resume: bool = False) -> dict:
    from ..io import save
    from ..models.vae import LIKELIHOODS, conv_vae
    from ..train import MetricsLog
    from .generative_common import Deadline, plot_losses

    if config.likelihood not in LIKELIHOODS:
        raise ValueError(f"vae: likelihood must be one of {LIKELIHOODS}, got {config.likelihood!r}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x_train, x_test, source = data_for(config, rng)
    print(f"{source}: {len(x_train)} train, {len(x_test)} test images ({config.likelihood})")
    log = MetricsLog(run_folder.metrics_path).open()
    deadline = Deadline(config.time_limit_min)

    model = conv_vae(config.latent_dim, channels=config.channels)
    history = train_vae(model, x_train, config, rng, log.log, config.epochs, deadline)
    seconds = deadline.elapsed()
    result = evaluate_nelbo(model, x_test, config)
    print(f"test -ELBO {result['test_nelbo']:.2f} nats (recon {result['test_recon_nll']:.2f}, KL {result['test_kl']:.2f})")
    save(model.state_dict(), run_folder.file("model.safetensors"))
    draw(model, x_test, run_folder, config.latent_dim, rng)

    summary = {**result, "epochs_run": len(history), "final_train_loss": history[-1]["train_loss"],
               "train_seconds": round(seconds, 1), "latent_dim": config.latent_dim, "likelihood": config.likelihood,
               "beta": config.beta, "data": source}
    run_folder.write_json("summary.json", summary)  # now, so that a long manifold stage cannot lose it
    plot_losses(log.records, ["train_loss"], run_folder.file("curves.png"),
                title=f"VAE training loss (-ELBO with beta={config.beta}, nats per image)")
    if config.latent_dim == 2:
        draw_manifold(model, run_folder.file("manifold.png"))
    elif config.manifold_epochs > 0:
        # the 2-D VAE for the picture shares the time limit: at least one epoch, more while time is left
        flat = Config(**{**config.__dict__, "latent_dim": 2, "channels": config.manifold_channels})
        small = conv_vae(2, channels=config.manifold_channels)
        train_vae(small, x_train, flat, rng, log.log, config.manifold_epochs, deadline, tag="manifold_")
        summary["manifold_test_nelbo"] = evaluate_nelbo(small, x_test, flat)["test_nelbo"]
        draw_manifold(small, run_folder.file("manifold.png"))
        run_folder.write_json("summary.json", summary)
    log.close()
    return summary
