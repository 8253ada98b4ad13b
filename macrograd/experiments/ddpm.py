"""ddpm: a class-conditional denoising diffusion model (eps-prediction U-Net with sinusoidal time
embedding and residual blocks, EMA weights, classifier-free guidance) on MNIST or on the emoji,
sampled with DDIM in few steps. Measures the Frechet distance on a LeNet-5 classifier's features
(not Inception FID) and the share of samples that the classifier assigns to the requested class.

    macrograd run ddpm                                        # MNIST, 10 classes
    macrograd run ddpm --set dataset=emoji                    # emoji by category; "Food & Drink" -> hot dogs?
    macrograd run ddpm --set schedule=cosine --set guidance=3

image_size < the data's size averages pixel blocks (28 -> 14 for MNIST, 32 -> 16 for the emoji):
four times cheaper, for machines where the full size does not fit the budget; samples are
upsampled back (pixel repetition) before the classifier sees them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder

DESCRIPTION = "class-conditional DDPM (U-Net, EMA, CFG, DDIM) on MNIST or emoji: Frechet distance, class agreement"
DATASETS = ("mnist", "fashion-mnist", "emoji")
FOOD = "Food & Drink"


@dataclass
class Config:
    dataset: str = "mnist"
    image_size: int = 0  # 0 = the data's own (28 MNIST, 32 emoji); or half of it
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    schedule: str = "linear"  # "linear" or "cosine"
    T: int = 1000
    steps: int = 6000  # optimizer steps
    batch_size: int = 64
    lr: float = 5e-4
    p_uncond: float = 0.1  # share of labels replaced by the null class in training
    ema_decay: float = 0.999
    guidance: float = 2.0  # w in eps_u + w (eps_c - eps_u); 1 = no guidance
    sample_steps: int = 25  # DDIM steps for the samples and the metrics
    n_eval: int = 500  # generated images for the metrics (n_eval / 10 per class)
    train_subset: int = 0
    classifier_epochs: int = 2  # LeNet-5 epochs on MNIST / Fashion-MNIST
    emoji_classifier_epochs: int = 15  # on the 3,407 training emoji
    classifier_dir: str = ""  # where evaluation classifiers are cached ("" = the run folder's parent)
    time_limit_min: float = 0.0  # stop training at the first step past this (0 = no limit)
    log_every: int = 20
    seed: int = 0


SMOKE = {"base_channels": 8, "T": 50, "steps": 3, "batch_size": 8, "sample_steps": 2, "n_eval": 20,
         "train_subset": 256, "classifier_epochs": 1, "log_every": 1, "image_size": 14}


def pool(images, size):
    """Average k x k pixel blocks: (N, C, H, W) -> (N, C, size, size)."""
    n, c, h, w = images.shape
    if size in (0, h):
        return images
    k = h // size
    if k * size != h:
        raise ValueError(f"ddpm: image_size {size} must divide the data's size {h}")
    return images.reshape(n, c, size, k, size, k).mean(axis=(3, 5))


def upsample(images, side):
    """Pixel repetition back to side x side (for the classifier)."""
    k = side // images.shape[-1]
    return images if k == 1 else images.repeat(k, axis=2).repeat(k, axis=3)


def load(config):
    """(train images in [0, 1] at full size, labels, class names, eval images, eval labels, source)."""
    from .generative_common import emoji_images, mnist_images

    if config.dataset == "emoji":
        x, y, names, _ = emoji_images(32, config.train_subset)
        order = np.random.default_rng(0).permutation(len(x))  # 10% held out for the classifier's accuracy
        held, train = order[: len(x) // 10], order[len(x) // 10:]
        return x, y, names, x[held], y[held], "emoji (3,786 Noto emoji, 32x32 on white)", train
    x, y, source = mnist_images(config.dataset, True, config.train_subset)
    x_test, y_test, _ = mnist_images(config.dataset, False)
    return x, y, [str(i) for i in range(10)], x_test, y_test, source, None


def evaluator_for(config, run_folder, x, y, x_eval, y_eval, classifier_train_idx):
    from pathlib import Path

    from .generative_metrics import Evaluator, cached_classifier, mnist_evaluator

    cache = config.classifier_dir or run_folder.path.parent
    if config.dataset != "emoji":
        return mnist_evaluator(config.dataset, cache, config.train_subset, epochs=config.classifier_epochs)
    tag = f"-{config.train_subset}" if config.train_subset else ""
    classifier, accuracy = cached_classifier(Path(cache) / f"classifier-emoji{tag}.safetensors",
                                             x[classifier_train_idx], y[classifier_train_idx], 10,
                                             config.emoji_classifier_epochs, x_eval, y_eval)
    return Evaluator(classifier, x), accuracy


def run(config: Config, out, resume: bool = False) -> dict:
    from ..io import save
    from ..models.diffusion import EMA, NoiseSchedule, ddim_sample, diffusion_loss, model_eps
    from ..models.diffusion_unet import diffusion_unet
    from ..optim import Adam
    from ..train import MetricsLog, read_jsonl
    from .generative_common import Deadline, plot_losses, save_grid

    if config.dataset not in DATASETS:
        raise ValueError(f"ddpm: dataset must be one of {DATASETS}, got {config.dataset!r}")
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    backend.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x, y, names, x_eval, y_eval, source, classifier_idx = load(config)
    side = x.shape[-1]
    x_small = pool(x, config.image_size) * 2 - 1  # the model works on [-1, 1]
    print(f"{source}: {len(x)} training images at {x_small.shape[-1]}x{x_small.shape[-1]}")

    schedule = NoiseSchedule.make(config.schedule, config.T)
    model = diffusion_unet(x.shape[1], config.base_channels, config.channel_mults, config.num_res_blocks,
                           num_classes=len(names))
    ema = EMA(model, config.ema_decay)
    optimizer = Adam(model.parameters(), lr=config.lr)
    log = MetricsLog(run_folder.metrics_path).open()
    deadline = Deadline(config.time_limit_min)
    running, step = None, 0
    for step in range(1, config.steps + 1):
        idx = rng.integers(0, len(x_small), config.batch_size)
        model.train()
        loss = diffusion_loss(model, schedule, x_small[idx], rng, y[idx], config.p_uncond)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update(model)
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % config.log_every == 0:
            log.log({"step": step, "loss": value, "loss_smooth": running})
        if step % 500 == 0:
            print(f"step {step}: loss {running:.4f} ({deadline.elapsed() / 60:.1f} min)", flush=True)
        if deadline.passed():
            print(f"time limit of {config.time_limit_min} min reached at step {step}")
            break
    seconds = deadline.elapsed()
    log.close()
    save(ema.state_dict(), run_folder.file("ema.safetensors"))
    plot_losses(read_jsonl(run_folder.metrics_path), ["loss", "loss_smooth"], run_folder.file("curves.png"),
                title=f"DDPM eps-prediction loss ({config.dataset})")

    # samples: one row per class, DDIM with guidance, from the EMA weights
    def sample(labels, guidance, seed):
        shape = (len(labels),) + x_small.shape[1:]
        out_ = ddim_sample(model_eps(ema.model, labels, guidance), schedule, shape, np.random.default_rng(seed),
                           steps=config.sample_steps)
        return (out_ + 1) / 2

    per_class = 10
    grid_labels = np.repeat(np.arange(len(names)), per_class)
    save_grid(sample(grid_labels, config.guidance, 1), run_folder.file("samples.png"), columns=per_class,
              title=f"DDPM samples, DDIM {config.sample_steps} steps, guidance {config.guidance}")
    start_eval = deadline.elapsed()
    evaluator, accuracy = evaluator_for(config, run_folder, x, y, x_eval, y_eval, classifier_idx)
    eval_labels = np.arange(config.n_eval) % len(names)
    generated = upsample(sample(eval_labels, config.guidance, 2), side)
    summary = {"frechet_distance": evaluator.frechet(generated),
               "class_agreement": evaluator.agreement(generated, eval_labels),
               "classifier_acc": accuracy, "n_eval": config.n_eval, "guidance": config.guidance,
               "sample_steps": config.sample_steps, "steps": step, "train_seconds": round(seconds, 1),
               "image_size": x_small.shape[-1], "dataset": config.dataset, "data": source,
               "note": "Frechet distance on LeNet-5 penultimate features, not Inception FID"}
    if config.dataset == "emoji":
        food = names.index(FOOD)
        food_samples = sample(np.full(64, food), config.guidance, 3)
        save_grid(food_samples, run_folder.file("hotdogs.png"), columns=8,
                  title=f"'{FOOD}' samples (guidance {config.guidance})")
        summary["food_agreement"] = evaluator.agreement(upsample(food_samples, side), np.full(64, food))
    else:
        no_guidance = upsample(sample(eval_labels, 1.0, 2), side)
        summary["class_agreement_no_guidance"] = evaluator.agreement(no_guidance, eval_labels)
        summary["frechet_distance_no_guidance"] = evaluator.frechet(no_guidance)
    summary["eval_seconds"] = round(deadline.elapsed() - start_eval, 1)
    print({k: v for k, v in summary.items() if k not in ("data", "note")})
    run_folder.write_json("summary.json", summary)
    return summary
