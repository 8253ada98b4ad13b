"""generative-compare: the VAE, the DCGAN and the class-conditional DDPM side by side on MNIST, on the
same metrics (Frechet distance on LeNet-5 features from the same number of samples - not Inception
FID - and the classifier's view of which digits each model makes) and one sample grid.

Each model comes from a finished run folder of its own experiment (`vae_run=runs/vae` ...), or,
when that is empty, is trained here with that experiment's defaults shortened by the budgets below.

    macrograd run generative-compare --set vae_run=runs/vae --set gan_run=runs/gan --set ddpm_run=runs/ddpm
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend
from ..train import RunFolder

DESCRIPTION = "VAE vs DCGAN vs DDPM on MNIST: Frechet distance (LeNet-5 features), class shares, sample grids"


@dataclass
class Config:
    vae_run: str = ""  # a finished `vae` run folder; "" = train one here
    gan_run: str = ""
    ddpm_run: str = ""
    vae_epochs: int = 3  # budgets when training here
    gan_epochs: int = 2
    ddpm_steps: int = 3000
    train_subset: int = 0
    n_eval: int = 500
    classifier_epochs: int = 2
    classifier_dir: str = ""
    seed: int = 0


SMOKE = {"vae_epochs": 1, "gan_epochs": 1, "ddpm_steps": 2, "train_subset": 256, "n_eval": 40, "classifier_epochs": 1}


def _ensure(kind, given, out, config):
    """The run folder of `kind`: the one given, or a fresh run of that experiment under out/kind."""
    from . import ddpm, gan, vae

    if given:
        return Path(given)
    module = {"vae": vae, "gan": gan, "ddpm": ddpm}[kind]
    changes = {"vae": {"epochs": config.vae_epochs, "manifold_epochs": 0},
               "gan": {"epochs": config.gan_epochs, "sample_every": 0},
               "ddpm": {"steps": config.ddpm_steps}}[kind]
    small = getattr(module, "SMOKE") if config.train_subset and config.train_subset <= 1024 else {}
    settings = {**small, **changes, "train_subset": config.train_subset, "seed": config.seed}
    if kind != "vae":
        settings["classifier_dir"] = config.classifier_dir or str(out)
        settings["classifier_epochs"] = config.classifier_epochs
    fields = module.Config.__dataclass_fields__
    settings = {k: v for k, v in settings.items() if k in fields}
    path = Path(out) / kind
    module.run(module.Config(**settings), path)
    return path


def _config(path, module):
    saved = json.loads((Path(path) / "config.json").read_text())
    fields = module.Config.__dataclass_fields__
    return module.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in fields})


def run(config: Config, out, resume: bool = False) -> dict:
    from ..io import load
    from ..models.diffusion import NoiseSchedule, ddim_sample, model_eps
    from ..models.diffusion_unet import diffusion_unet
    from ..models.gan import dcgan_generator
    from ..models.vae import conv_vae
    from . import ddpm, gan, vae
    from .generative_common import save_grid
    from .generative_metrics import mnist_evaluator

    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n = config.n_eval
    samples, rows = {}, {}

    vae_path = _ensure("vae", config.vae_run, run_folder.path, config)
    vc = _config(vae_path, vae)
    model = conv_vae(vc.latent_dim, channels=vc.channels)
    model.load_state_dict(load(vae_path / "model.safetensors"))
    samples["VAE"] = vae.decoder_mean(model, rng.standard_normal((n, vc.latent_dim)))
    rows["VAE"] = {"test_nelbo": json.loads((vae_path / "summary.json").read_text()).get("test_nelbo")}

    gan_path = _ensure("gan", config.gan_run, run_folder.path, config)
    gc = _config(gan_path, gan)
    G = dcgan_generator(gc.latent_dim, 1, gc.width)
    G.load_state_dict(load(gan_path / "generator.safetensors"))
    samples["DCGAN"] = gan.generate(G, rng.standard_normal((n, gc.latent_dim)).astype(np.float32))

    ddpm_path = _ensure("ddpm", config.ddpm_run, run_folder.path, config)
    dc = _config(ddpm_path, ddpm)
    net = diffusion_unet(1, dc.base_channels, dc.channel_mults, dc.num_res_blocks, num_classes=10)
    net.load_state_dict(load(ddpm_path / "ema.safetensors"))
    labels = np.arange(n) % 10
    size = dc.image_size or 28
    x = ddim_sample(model_eps(net, labels, dc.guidance), NoiseSchedule.make(dc.schedule, dc.T), (n, 1, size, size),
                    np.random.default_rng(config.seed), steps=dc.sample_steps)
    samples["DDPM"] = ddpm.upsample((x + 1) / 2, 28)

    # Reference rows: real training images (the floor set by n samples: the evaluator's statistics
    # come from test images) and, when the DDPM works at a lower resolution, the same images
    # block-averaged to it and upsampled back (what the resolution alone costs).
    from .generative_common import mnist_images

    real = mnist_images("mnist", True, n)[0]
    samples["real training images"] = real
    if size != 28:
        samples[f"real, {size}x{size} and back"] = ddpm.upsample(ddpm.pool(real, size), 28)
    evaluator, accuracy = mnist_evaluator("mnist", config.classifier_dir or run_folder.path, config.train_subset,
                                          epochs=config.classifier_epochs)
    for name, images in samples.items():
        predicted = evaluator.predict(images)
        shares = np.bincount(predicted, minlength=10) / len(predicted)
        rows.setdefault(name, {}).update({
            "frechet_distance": evaluator.frechet(images),
            "class_shares": shares.round(3).tolist(),
            # how evenly the models cover the ten digits: exp(entropy) of the predicted classes, 10 = even
            "effective_classes": float(np.exp(-(shares[shares > 0] * np.log(shares[shares > 0])).sum())),
        })
    rows["DDPM"]["class_agreement"] = evaluator.agreement(samples["DDPM"], labels)
    grid = np.concatenate([samples[name][:20] for name in ("VAE", "DCGAN", "DDPM")])
    save_grid(grid, run_folder.file("compare.png"), columns=10,
              title=f"MNIST samples: VAE, DCGAN, DDPM (Frechet distance on LeNet-5 features, n={n})")
    lines = ["| model | Frechet distance (LeNet-5 features) | effective classes | class agreement | test -ELBO (nats) |",
             "| --- | --- | --- | --- | --- |"]
    for name, row in rows.items():
        agree = f"{row['class_agreement']:.3f}" if "class_agreement" in row else \
            "n/a (unconditional)" if name in ("VAE", "DCGAN") else "n/a"
        nelbo = f"{row['test_nelbo']:.1f}" if row.get("test_nelbo") is not None else "n/a"
        lines.append(f"| {name} | {row['frechet_distance']:.3f} | {row['effective_classes']:.2f} | {agree} | {nelbo} |")
    table = "\n".join(lines) + "\n"
    run_folder.write_text("compare.md", table)
    print(table)
    summary = {"models": rows, "classifier_test_acc": accuracy, "n_eval": n,
               "runs": {"vae": str(vae_path), "gan": str(gan_path), "ddpm": str(ddpm_path)},
               "note": "Frechet distance on LeNet-5 penultimate features, not Inception FID"}
    run_folder.write_json("summary.json", summary)
    return summary
