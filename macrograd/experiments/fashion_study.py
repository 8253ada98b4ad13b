"""fashion-study: how the choices inside an MLP change its training on Fashion-MNIST.

Four studies, each changing one thing against a fixed baseline and drawing every variant's
curves on one figure:

    init      weight initialisation x activation: zeros, N(0, 0.01), N(0, 1), Xavier, Kaiming
              with sigmoid, tanh and ReLU (SGD with momentum, which lets a bad start show)
    norm      no normalisation, BatchNorm, LayerNorm (SGD with momentum at a high rate)
    dropout   0, 0.2, 0.5 (Adam; a small training set and many epochs, so overfitting shows)
    optim     SGD, momentum, Nesterov, RMSprop, Adam, AdamW, each with and without a cosine schedule

To keep the whole study to minutes on two cores, every study trains on the same fixed subset
of the training set (`train_subset` images, `epochs` epochs) and reads validation accuracy on
`val_size` held-out training images. A final run trains the best combination on the whole
training set and reports its test accuracy (the only time the test set is used).

Writes one PNG per study (study_<name>.png), results.md (the table), summary.json, and the final
model's curves, confusion matrix, misclassified examples and checkpoint.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from .. import backend
from ..train import RunFolder
from .common import (FASHION_CLASSES, load_images, loaders, make_mlp, make_optimizer, make_schedule,
                     train_classifier)

DESCRIPTION = "Fashion-MNIST MLP study: init x activation, normalization, dropout, optimizers/schedules"

STUDIES = ("init", "norm", "dropout", "optim")

# the learning rate each optimizer gets in the studies (each a usual good value for that optimizer)
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "rmsprop": 1e-3, "adam": 1e-3, "adamw": 1e-3}
# weight decay in the studies: none, except AdamW's decoupled decay (what tells it apart from Adam)
WEIGHT_DECAY = {"adamw": 0.05}


@dataclass
class Config:
    studies: tuple[str, ...] = STUDIES
    hidden: tuple[int, ...] = (128, 128, 128)  # deep enough for initialisation to matter
    train_subset: int = 10000
    val_size: int = 5000
    epochs: int = 10
    dropout_epochs: int = 20  # the dropout study needs longer to show overfitting
    batch_size: int = 128
    max_variants: int = 0  # > 0 keeps only the first variants of each study (for --smoke)
    # the final run: the best combination on the whole training set
    final_hidden: tuple[int, ...] = (512, 256)
    final_train_subset: int = 0  # 0 = all training images (minus the validation set)
    final_epochs: int = 12
    final_dropout: float = 0.2
    final_lr: float = 1e-3
    test_subset: int = 0
    log_every: int = 10
    seed: int = 0


SMOKE = {"hidden": (16,), "train_subset": 256, "val_size": 128, "epochs": 1, "dropout_epochs": 1, "max_variants": 1,
         "final_hidden": (16,), "final_epochs": 1, "final_train_subset": 256, "test_subset": 256,
         "log_every": 1}


@dataclass
class Variant:
    """One training run of a study: the label on the plot and the choices it makes."""

    label: str
    init: str = "kaiming"
    activation: str = "relu"
    norm: str = "none"
    dropout: float = 0.0
    optimizer: str = "momentum"
    schedule: str = "none"
    lr: float | None = None  # None: LEARNING_RATES[optimizer]


def variants(study: str) -> list[Variant]:
    if study == "init":
        names = {"zeros": "zeros", "normal0.01": "N(0,0.01)", "normal1": "N(0,1)", "xavier": "Xavier", "kaiming": "Kaiming"}
        return [Variant(f"{names[i]} {a}", init=i, activation=a)
                for a in ("sigmoid", "tanh", "relu") for i in names]
    if study == "norm":
        return [Variant(f"{n}", norm=n, lr=0.1) for n in ("none", "batchnorm", "layernorm")]
    if study == "dropout":
        return [Variant(f"dropout {p}", dropout=p, optimizer="adam") for p in (0.0, 0.2, 0.5)]
    if study == "optim":
        return [Variant(f"{o}{' +cosine sched' if s == 'cosine' else ''}", optimizer=o, schedule=s)
                for o in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw") for s in ("none", "cosine")]
    raise ValueError(f"fashion-study: unknown study {study!r}; valid studies: {', '.join(STUDIES)}")


def run(config: Config, out, resume: bool = False) -> dict:
    from ..train import MetricsLog, read_jsonl

    for study in config.studies:
        variants(study)  # fail early on a typo, before minutes of training
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    images = load_images("fashion-mnist", config.train_subset, config.val_size, config.test_subset, config.seed)
    print(images.describe())
    # rows.jsonl keeps each finished variant's row, so --resume skips what is already done
    done = {(r["study"], r["variant"]): r for r in read_jsonl(run_folder.file("rows.jsonl"))} if resume else {}
    row_log = MetricsLog(run_folder.file("rows.jsonl")).open(truncate_after_epoch=0 if resume else None)
    rows, start = [], time.perf_counter()
    for study in config.studies:
        chosen = variants(study)[: config.max_variants or None]
        epochs = config.dropout_epochs if study == "dropout" else config.epochs
        curves = {}
        for variant in chosen:
            tag = f"{study}-{_slug(variant.label)}"
            if (study, variant.label) in done:
                row = done[(study, variant.label)]
            else:
                print(f"[{study}] {variant.label}")
                row = {"study": study, **train_variant(variant, images, config, epochs, run_folder, tag, resume)}
                row_log.log(row)
            curves[variant.label] = read_jsonl(run_folder.file(f"metrics-{tag}.jsonl"))
            rows.append(row)
        plot_study(study, curves, run_folder.file(f"study_{study}.png"),
                   f"fashion-study: {study} ({len(images.x_train)} training images, {epochs} epochs)")
    row_log.close()
    study_seconds = time.perf_counter() - start
    final = train_final(config, run_folder, resume)
    table = results_table(rows, final, config, len(images.x_train))
    run_folder.write_text("results.md", table)
    print(table)
    summary = {"test_acc": final["test_acc"], "test_loss": final["test_loss"], "final": final, "study_seconds": round(study_seconds, 1),
               "rows": rows, "data": images.source}
    run_folder.write_json("summary.json", summary)
    return {"test_acc": final["test_acc"], "study_seconds": summary["study_seconds"],
            "final_train_seconds": final["train_seconds"], "data": images.source}


def plot_study(study: str, curves: dict, path, title: str):
    """The study's curves; the init study gets one row per activation (15 lines in one panel
    cannot be read), coloured by initialisation; the optim study one row per schedule."""
    from ..viz import plot_curve_grid

    keys = ("train_loss", "val_loss", "val_acc")
    if study == "init":
        rows = {}
        for label, records in curves.items():
            init, activation = label.rsplit(" ", 1)
            rows.setdefault(activation, {})[init] = records
        return plot_curve_grid(rows, path, keys, title)
    if study == "optim":  # one row without a schedule, one with: 12 lines in a panel is too many
        rows = {"constant lr": {}, "cosine schedule": {}}
        for label, records in curves.items():
            name, *sched = label.split(" ", 1)
            rows["cosine schedule" if sched else "constant lr"][name] = records
        return plot_curve_grid({k: v for k, v in rows.items() if v}, path, keys, title)
    return plot_curve_grid({"": curves}, path, keys, title)


def train_variant(variant: Variant, images, config: Config, epochs: int, run_folder, tag: str, resume: bool) -> dict:
    """Train one variant from the same seed, returning its row of the table."""
    backend.manual_seed(config.seed)
    train_loader, val_loader, _ = loaders(images, config.batch_size, config.seed)
    model = make_mlp((images.x_train.shape[1], *config.hidden, 10), variant.activation, variant.norm,
                     variant.dropout, variant.init)
    lr = variant.lr if variant.lr is not None else LEARNING_RATES[variant.optimizer]
    optimizer = make_optimizer(variant.optimizer, model.parameters(), lr, WEIGHT_DECAY.get(variant.optimizer, 0.0))
    scheduler, interval = make_schedule(variant.schedule, optimizer, epochs, len(train_loader))
    checkpoint = run_folder.file(f"checkpoint-{tag}.safetensors")
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader, epochs=epochs,
                                        run=run_folder, resume=resume and checkpoint.exists(), progress=False,
                                        metrics_name=f"metrics-{tag}.jsonl", checkpoint_name=checkpoint.name,
                                        best_name=f"best-{tag}.safetensors", log_every=config.log_every)
    checkpoint.unlink(missing_ok=True)  # the per-variant files are only for resuming; keep the folder small
    run_folder.file(f"best-{tag}.safetensors").unlink(missing_ok=True)
    last = history[-1]
    best = max(history, key=lambda h: h["val_acc"])
    return {"variant": variant.label, **{k: v for k, v in dataclasses.asdict(variant).items() if k != "label"},
            "lr": lr, "weight_decay": WEIGHT_DECAY.get(variant.optimizer, 0.0), "final_train_loss": last["train_loss"], "final_val_loss": last["val_loss"],
            "final_val_acc": last["val_acc"], "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
            "seconds": round(seconds, 1)}


def train_final(config: Config, run_folder, resume: bool) -> dict:
    """The best combination (Kaiming, ReLU, BatchNorm, dropout, AdamW with a cosine schedule) on all
    training images; its test accuracy is the study's headline number."""
    from .mnist_mlp import finish

    backend.manual_seed(config.seed)
    images = load_images("fashion-mnist", config.final_train_subset, config.val_size, config.test_subset, config.seed)
    train_loader, val_loader, test_loader = loaders(images, config.batch_size, config.seed)
    model = make_mlp((images.x_train.shape[1], *config.final_hidden, 10), "relu", "batchnorm", config.final_dropout, "kaiming")
    optimizer = make_optimizer("adamw", model.parameters(), config.final_lr, weight_decay=0.05)
    scheduler, interval = make_schedule("cosine", optimizer, config.final_epochs, len(train_loader))
    print(f"[final] {images.describe()}")
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader,
                                        epochs=config.final_epochs, run=run_folder, resume=resume,
                                        log_every=config.log_every)
    summary = finish(run_folder, model, test_loader, history, seconds, images.source, FASHION_CLASSES,
                     "Fashion-MNIST MLP (best combination, all training images)")
    summary.pop("confusion_matrix")
    return summary


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")


def _fmt(value, digits=4):
    return f"{value:.{digits}f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def results_table(rows, final, config: Config, n_train: int) -> str:
    """The Markdown table of every variant, then the final run."""
    lines = [f"# fashion-study results", "",
             f"Each study row: an MLP {'-'.join(map(str, (784, *config.hidden, 10)))} trained on a fixed subset of "
             f"{n_train} Fashion-MNIST training images ({config.epochs} epochs; the dropout study "
             f"{config.dropout_epochs}), batch {config.batch_size}, validation on {config.val_size} held-out training "
             f"images. Same seed for every row.", "",
             "| study | variant | optimizer | lr | final train loss | final val loss | final val acc | best val acc (epoch) | time (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['variant']} | {r['optimizer']}{' +cosine' if r['schedule'] == 'cosine' else ''} | "
                     f"{r['lr']:g}{' wd ' + format(r['weight_decay'], 'g') if r.get('weight_decay') else ''} | {_fmt(r['final_train_loss'])} | {_fmt(r['final_val_loss'])} | "
                     f"{_fmt(r['final_val_acc'])} | {_fmt(r['best_val_acc'])} ({r['best_epoch']}) | {r['seconds']} |")
    lines += ["", "## Final run (the whole training set minus the validation images)", "",
              f"MLP {'-'.join(map(str, (784, *config.final_hidden, 10)))}, Kaiming init, ReLU, BatchNorm, dropout "
              f"{config.final_dropout}, AdamW (lr {config.final_lr:g}, weight decay 0.05) with a cosine schedule, "
              f"{config.final_epochs} epochs; weights of the best validation epoch ({final['best_epoch']}).", "",
              "| test accuracy | test loss | best val acc | train time (s) |", "| --- | --- | --- | --- |",
              f"| {_fmt(final['test_acc'])} | {_fmt(final['test_loss'])} | {_fmt(final['best_val_acc'])} | {final['train_seconds']} |", ""]
    return "\n".join(lines)
