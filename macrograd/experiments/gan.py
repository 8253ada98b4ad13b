"""gan: DCGAN on MNIST or Fashion-MNIST with the non-saturating loss and DCGAN's stabilisers
(Adam lr 2e-4 with beta1 = 0.5, batch norm, LeakyReLU in D, N(0, 0.02) init), plus one-sided
label smoothing (real targets 0.9). Logs both losses and D's outputs, draws a grid from fixed
noise after every epoch (and every `sample_every` steps), and at the end measures the Frechet
distance on a LeNet-5 classifier's features (not Inception FID; see generative_metrics).

    macrograd run gan                                  # MNIST
    macrograd run gan --set dataset=fashion-mnist
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder

DESCRIPTION = "DCGAN (non-saturating loss) on MNIST / Fashion-MNIST: loss curves, sample grids, Frechet distance"
DATASETS = ("mnist", "fashion-mnist")


@dataclass
class Config:
    dataset: str = "mnist"
    latent_dim: int = 64
    width: int = 32  # G's last hidden and D's first conv width (the other layer has twice as many)
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    label_smoothing: float = 0.1  # one-sided: real targets 1 - this
    train_subset: int = 0
    n_eval: int = 2000  # generated images for the Frechet distance
    classifier_epochs: int = 2
    classifier_dir: str = ""  # where the evaluation classifier is cached ("" = the run folder's parent)
    sample_every: int = 200  # steps between sample grids (besides one per epoch); 0 = per epoch only
    time_limit_min: float = 0.0  # stop at the first step past this (0 = no limit)
    log_every: int = 10
    seed: int = 0


SMOKE = {"epochs": 1, "width": 8, "train_subset": 256, "n_eval": 64, "classifier_epochs": 1, "sample_every": 2,
         "log_every": 1}


def generate(generator, z, batch_size: int = 500) -> np.ndarray:
    """G(z) mapped from [-1, 1] to [0, 1], in eval mode (batch-norm running statistics)."""
    from ..autograd import no_grad
    from ..creation import tensor

    generator.eval()
    out = []
    with no_grad():
        for start in range(0, len(z), batch_size):
            out.append(generator(tensor(z[start:start + batch_size])).numpy())
    generator.train()
    return (np.concatenate(out) + 1) / 2


def run(config: Config, out, resume: bool = False) -> dict:
    from .. import optim
    from ..creation import tensor
    from ..io import save
    from ..models.gan import dcgan_discriminator, dcgan_generator, dcgan_init_
    from ..nn import functional as F
    from ..train import MetricsLog, read_jsonl
    from .generative_common import Deadline, mnist_images, plot_losses, save_grid
    from .generative_metrics import mnist_evaluator

    if config.dataset not in DATASETS:
        raise ValueError(f"gan: dataset must be one of {DATASETS}, got {config.dataset!r}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    images, _, source = mnist_images(config.dataset, True, config.train_subset)
    images = images * 2 - 1  # G ends in tanh: train on [-1, 1]
    print(f"{source}: {len(images)} training images")

    G = dcgan_init_(dcgan_generator(config.latent_dim, 1, config.width))
    D = dcgan_init_(dcgan_discriminator(1, config.width))
    opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    fixed_z = rng.standard_normal((64, config.latent_dim)).astype(np.float32)
    log = MetricsLog(run_folder.metrics_path).open()
    deadline = Deadline(config.time_limit_min)
    real_target = 1.0 - config.label_smoothing
    step, stopped = 0, False
    for epoch in range(config.epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            real = tensor(images[order[start:start + config.batch_size]])
            n = real.shape[0]
            z = tensor(rng.standard_normal((n, config.latent_dim)).astype(np.float32))
            fake = G(z)
            # D: real -> 1 (smoothed), fake -> 0; the fake is detached so only D learns here
            d_real, d_fake = D(real), D(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(d_real, tensor(np.full(n, real_target, np.float32)))
                      + F.binary_cross_entropy_with_logits(d_fake, tensor(np.zeros(n, np.float32))))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            # G, non-saturating: maximise log D(G(z)), i.e. BCE of D's logit on the fake against 1
            loss_g = F.binary_cross_entropy_with_logits(D(fake), tensor(np.ones(n, np.float32)))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            step += 1
            if step % config.log_every == 0:
                log.log({"step": step, "epoch": epoch + 1, "loss_d": loss_d.item(), "loss_g": loss_g.item(),
                         "d_real": float(d_real.sigmoid().mean().item()),
                         "d_fake": float(d_fake.sigmoid().mean().item())})
            if config.sample_every and step % config.sample_every == 0:
                save_grid(generate(G, fixed_z), run_folder.file(f"samples_step{step:05d}.png"), columns=8,
                          title=f"DCGAN {config.dataset}, step {step}")
            if deadline.passed():
                print(f"time limit of {config.time_limit_min} min reached at step {step} (epoch {epoch + 1})")
                stopped = True
                break
        save_grid(generate(G, fixed_z), run_folder.file(f"samples_epoch{epoch + 1:02d}.png"), columns=8,
                  title=f"DCGAN {config.dataset}, epoch {epoch + 1}{' (partial)' if stopped else ''}")
        print(f"epoch {epoch + 1}: step {step}, loss_d {loss_d.item():.3f}, loss_g {loss_g.item():.3f}")
        if stopped:
            break
    seconds = deadline.elapsed()
    log.close()
    save(G.state_dict(), run_folder.file("generator.safetensors"))
    save(D.state_dict(), run_folder.file("discriminator.safetensors"))
    samples = generate(G, fixed_z)
    save_grid(samples, run_folder.file("samples.png"), columns=8, title=f"DCGAN samples ({config.dataset})")
    plot_losses(read_jsonl(run_folder.metrics_path), ["loss_d", "loss_g"], run_folder.file("curves.png"),
                title=f"DCGAN losses ({config.dataset})")

    cache = config.classifier_dir or run_folder.path.parent
    evaluator, accuracy = mnist_evaluator(config.dataset, cache, config.train_subset,
                                          epochs=config.classifier_epochs)
    generated = generate(G, rng.standard_normal((config.n_eval, config.latent_dim)).astype(np.float32))
    counts = np.bincount(evaluator.predict(generated), minlength=10)
    summary = {"frechet_distance": evaluator.frechet(generated), "classifier_test_acc": accuracy,
               "predicted_class_shares": (counts / counts.sum()).round(4).tolist(), "steps": step,
               "epochs_run": epoch + 1, "train_seconds": round(seconds, 1), "dataset": config.dataset, "data": source,
               "note": "Frechet distance on LeNet-5 penultimate features, not Inception FID"}
    print(f"Frechet distance (LeNet-5 features) {summary['frechet_distance']:.3f}")
    run_folder.write_json("summary.json", summary)
    return summary
