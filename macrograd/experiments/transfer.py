"""transfer: how much a network pretrained on one dataset helps on another when labels are scarce,
and which of its layers are worth taking. LeNet-5 is pretrained on all of Fashion-MNIST, then
trained on n labelled MNIST digits (n = 50 ... 5,000, a stratified seeded subset) in four ways:

- scratch:        random init, every weight trained (the baseline);
- finetune:       the pretrained body, a new classifier on top, every weight trained;
- frozen:         the pretrained body frozen, only the new classifier trained;
- frozen-random:  the same classifier on a frozen *random* body: the control that tells what
                  "frozen" owes to the pretraining and what to training fewer weights.

The body is `cut`: "conv" (the default) takes the two conv layers (conv1, conv2: 2,572 weights)
and puts a new 400-120-84-10 classifier on them; "fc2" takes everything below the last layer and
puts a new 84 -> 10 linear head on it (frozen = a linear probe). Features get more specific to
the source the higher they sit (Yosinski et al., "How transferable are features in deep neural
networks?", 2014): clothing-shaped fc features help digits less than edge-and-stroke conv ones.

Every run takes the same number of optimizer steps whatever n (batches drawn from the n images
again and again), so the number of labels is the only thing that changes along a curve, and each
point is the mean over `seeds` draws of the labelled subset (and of the new layers). The plot is
test accuracy (all 10,000 MNIST test digits) against n, log scale.

    macrograd run transfer                                        # 9 min on a shared core (load 5)
    macrograd run transfer --set cut=fc2 --set methods=finetune,frozen       # transfer the fc layers too
    macrograd run transfer --set source=mnist --set target=fashion-mnist     # the other direction
    macrograd run transfer --set pretrained_dir=/work/runs/transfer/pretrained   # reuse a pretraining

The pretrained weights are cached in `pretrained_dir` (default: `pretrained/` in the run folder)
with the settings that made them; a re-run, or another run pointing there, loads them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..train import RunFolder
from .backbones import as_images
from .common import load_images, loaders, make_optimizer, make_schedule, train_classifier

DESCRIPTION = ("LeNet-5 pretrained on Fashion-MNIST, then MNIST with 50-5000 labels: fine-tune vs frozen "
               "body vs scratch (vs a frozen random body); accuracy-vs-labels plot")
DATASETS = ("mnist", "fashion-mnist")
METHODS = ("scratch", "finetune", "frozen", "frozen-random")
# the layers each cut keeps from the pretrained net (the rest is new and always trained)
CUTS = {"fc2": ("conv1.", "conv2.", "fc1.", "fc2."), "conv": ("conv1.", "conv2.")}
# what the pretraining's result depends on: a cached checkpoint made with other values is not reused
PRETRAIN_KEYS = ("source", "pretrain_epochs", "pretrain_subset", "pretrain_lr", "batch_size", "optimizer", "seed")


@dataclass
class Config:
    source: str = "fashion-mnist"  # pretrained on this (all of its training images but val_size)
    target: str = "mnist"  # then trained on a few labels of this
    labels: tuple[int, ...] = (50, 100, 500, 1000, 5000)  # labelled target images (stratified)
    methods: tuple[str, ...] = METHODS
    seeds: int = 3  # repeats per (method, labels): a fresh labelled subset and head each time
    epochs: int = 4  # per target run, each of steps_per_epoch steps
    steps_per_epoch: int = 100  # so every run takes epochs * steps_per_epoch steps whatever the labels
    batch_size: int = 64  # (the whole subset when it is smaller)
    optimizer: str = "adam"
    lr: float = 2e-3  # one-cycle peak for the target runs (every method)
    schedule: str = "onecycle"
    pretrain_epochs: int = 3
    pretrain_lr: float = 2e-3
    pretrain_subset: int = 0  # 0 = every source training image but the validation ones
    val_size: int = 5000  # source images held out to pick the best pretraining epoch
    test_subset: int = 0  # 0 = all 10,000 target test images
    pretrained_dir: str = ""  # "" = <run folder>/pretrained
    cut: str = "conv"  # what is transferred: "conv" conv1 and conv2 (fc1-fc3 new); "fc2" all but fc3
    log_every: int = 20
    seed: int = 0


SMOKE = {"labels": (20, 50), "seeds": 1, "epochs": 1, "steps_per_epoch": 4, "pretrain_epochs": 1,
         "pretrain_subset": 300, "val_size": 100, "test_subset": 200, "log_every": 1}


def check(config: Config) -> None:
    """Fail at once, naming the option, on a value the run cannot use."""
    for option in ("source", "target"):
        if getattr(config, option) not in DATASETS:
            raise ValueError(f"transfer: {option} must be one of {DATASETS}, got {getattr(config, option)!r}")
    if config.source == config.target:
        raise ValueError(f"transfer: source and target must differ, both are {config.source!r}")
    if config.cut not in CUTS:
        raise ValueError(f"transfer: cut must be one of {tuple(CUTS)}, got {config.cut!r}")
    for method in config.methods:
        if method not in METHODS:
            raise ValueError(f"transfer: methods must be among {METHODS}, got {method!r}")
    if not config.methods:
        raise ValueError("transfer: methods must name at least one method")
    if not config.labels or min(config.labels) < 10:
        raise ValueError(f"transfer: labels must be counts of at least 10 (one per class), got {config.labels}")
    for option in ("seeds", "epochs", "steps_per_epoch", "batch_size", "pretrain_epochs"):
        if getattr(config, option) < 1:
            raise ValueError(f"transfer: {option} must be at least 1, got {getattr(config, option)}")


# -- the labelled subset --------------------------------------------------------------------------
def labelled_subset(labels, n: int, seed: int) -> np.ndarray:
    """Indices of n examples with the classes as equal as n allows: n // K of each of the K
    classes, plus one more for the first n % K classes of a seeded class order.

    For one seed the subsets are nested (the 100-label set holds the 50-label set): each class's
    examples are taken in one seeded order, so a larger n only adds to them. That makes a curve
    over n measure more labels, not a different draw of labels."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    k = len(classes)
    rng = np.random.default_rng(seed)
    rank = rng.permutation(k)  # which classes get the remainder: the same for every n
    counts = n // k + (rank < n % k)
    picked = []
    for cls, count in zip(classes, counts):
        members = np.flatnonzero(labels == cls)
        if count > len(members):
            raise ValueError(f"transfer: {n} labels need {count} examples of class {cls}, "
                             f"which has only {len(members)}")
        picked.append(np.random.default_rng([seed, int(cls)]).permutation(members)[:count])
    return np.sort(np.concatenate(picked))


def few_label_loader(x, y, config: Config, seed: int):
    """Batches of min(batch_size, n) drawn from the n labelled images: steps_per_epoch batches
    per epoch (whole permutations back to back), from a seeded generator (checkpointable)."""
    from .. import data
    from ..creation import tensor

    batch = min(config.batch_size, len(x))
    dataset = data.TensorDataset(tensor(x), tensor(y))
    generator = backend.Generator().manual_seed(seed)
    sampler = data.RandomSampler(dataset, num_samples=config.steps_per_epoch * batch, generator=generator)
    return data.DataLoader(dataset, batch_size=batch, sampler=sampler)


# -- pretraining ----------------------------------------------------------------------------------
def new_lenet():
    from ..models import lenet5

    return lenet5(num_classes=10, in_channels=1, image_size=28, activation="relu")


def pretrained(config: Config, folder: RunFolder) -> tuple[dict, dict]:
    """(LeNet-5 state dict trained on the source, a record of how it was made), read from the
    cache in `folder` when its settings match, else trained there (best validation epoch kept)."""
    from ..io import load
    from ..nn import CrossEntropyLoss
    from ..train import evaluate

    settings = {key: getattr(config, key) for key in PRETRAIN_KEYS}
    record_file = folder.file("pretrain.json")
    if record_file.exists():
        record = folder.read_json("pretrain.json")
        if record["settings"] == settings and folder.best_path.exists():
            print(f"pretrained weights from {folder.best_path} (source test acc {record['source_test_acc']:.4f})")
            return load(folder.best_path), record
        if record["settings"] != settings:
            raise ValueError(f"transfer: pretrained_dir {folder.path} holds weights made with {record['settings']}, "
                             f"not {settings}; point pretrained_dir at another folder")
    backend.manual_seed(config.seed)
    images = as_images(load_images(config.source, config.pretrain_subset, config.val_size, config.test_subset,
                                   config.seed))
    print(f"pretraining on {images.describe()}", flush=True)
    train_loader, val_loader, test_loader = loaders(images, config.batch_size, config.seed)
    model = new_lenet()
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.pretrain_lr)
    scheduler, interval = make_schedule("onecycle", optimizer, config.pretrain_epochs, len(train_loader))
    history, seconds = train_classifier(model, optimizer, scheduler, interval, train_loader, val_loader,
                                        epochs=config.pretrain_epochs, run=folder, log_every=config.log_every)
    model.load_state_dict(load(folder.best_path))
    record = {"settings": settings, "source_test_acc": evaluate(model, test_loader, CrossEntropyLoss())["acc"],
              "best_val_acc": max(h["val_acc"] for h in history), "seconds": round(seconds, 1),
              "data": images.source}
    folder.write_json("pretrain.json", record)
    return model.state_dict(), record


# -- one target run -------------------------------------------------------------------------------
def prepare(method: str, weights: dict, cut: str = "fc2"):
    """The model for `method` and the parameters its optimizer trains. The layers of `cut` are
    the body (pretrained for finetune and frozen, kept fixed for frozen and frozen-random); the
    layers above are new. The head (fc3) is always new: the source's classes mean nothing here."""
    body = CUTS[cut]
    model = new_lenet()  # random everywhere; the pretrained body is loaded over it
    if method in ("finetune", "frozen"):
        model.load_state_dict({k: v for k, v in weights.items() if k.startswith(body)}, strict=False)
    if method in ("frozen", "frozen-random"):
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(not name.startswith(body))
    return model, [p for p in model.parameters() if p.requires_grad]


def run_one(method: str, n: int, seed: int, config: Config, target, weights: dict, test_loader, out,
            resume: bool) -> dict:
    """Train `method` on n labelled target images (subset `seed`) and score it on the test set."""
    from ..nn import CrossEntropyLoss
    from ..train import evaluate

    folder = RunFolder(out)
    if resume and folder.file("result.json").exists():
        return folder.read_json("result.json")
    index = labelled_subset(target.y_train, n, config.seed + seed)
    backend.manual_seed(config.seed + seed)  # the new head's init (and scratch's whole net)
    model, trainable = prepare(method, weights, config.cut)
    loader = few_label_loader(target.x_train[index], target.y_train[index], config, config.seed + seed)
    optimizer = make_optimizer(config.optimizer, trainable, config.lr)
    scheduler, interval = make_schedule(config.schedule, optimizer, config.epochs, len(loader))
    resume = resume and folder.checkpoint_path.exists()
    history, seconds = train_classifier(model, optimizer, scheduler, interval, loader, None, epochs=config.epochs,
                                        run=folder, resume=resume, progress=False, log_every=config.log_every)
    test = evaluate(model, test_loader, CrossEntropyLoss())  # the last weights: no labels to spare for validation
    result = {"method": method, "labels": n, "seed": seed, "trainable_params": sum(p.numel() for p in trainable),
              "final_train_acc": history[-1]["train_acc"], "test_loss": test["loss"], "test_acc": test["acc"],
              "seconds": round(seconds, 1)}
    folder.write_json("result.json", result)
    return result


def aggregate(results) -> list[dict]:
    """Mean and standard deviation of test accuracy over seeds, per (method, labels)."""
    rows = []
    for method in dict.fromkeys(r["method"] for r in results):
        for n in sorted({r["labels"] for r in results if r["method"] == method}):
            accs = np.array([r["test_acc"] for r in results if r["method"] == method and r["labels"] == n])
            rows.append({"method": method, "labels": n, "mean_acc": float(accs.mean()),
                         "std_acc": float(accs.std()), "runs": len(accs)})
    return rows


def table(rows, config: Config, record: dict) -> str:
    """Markdown: one row per label count, one column per method (mean +- std over seeds)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["method"], r["labels"]): r for r in rows}
    lines = [
        f"LeNet-5 pretrained on {config.source} (test acc {100 * record['source_test_acc']:.2f}%), "
        f"then {config.target} "
        f"(transferred: {', '.join(layer.rstrip('.') for layer in CUTS[config.cut])}) "
        f"with n labels: {config.epochs * config.steps_per_epoch} steps of batch min({config.batch_size}, n), "
        f"{config.optimizer} lr {config.lr} ({config.schedule}); test accuracy on "
        f"{config.test_subset or 10000:,} {config.target} test images, mean +- std over {config.seeds} seeds.",
        "",
        "| labels | " + " | ".join(methods) + " |",
        "| ---: |" + " ---: |" * len(methods),
    ]
    for n in sorted({r["labels"] for r in rows}):
        cells = [f"{100 * cell[m, n]['mean_acc']:.1f} +- {100 * cell[m, n]['std_acc']:.1f}%" if (m, n) in cell else "-"
                 for m in methods]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_accuracy_vs_labels(rows, path, title: str = ""):
    """Test accuracy against the number of labels (log x), one line per method, a band of
    +- one standard deviation over seeds."""
    from ..viz._figure import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        n = np.array([r["labels"] for r in mine])
        mean = 100 * np.array([r["mean_acc"] for r in mine])
        std = 100 * np.array([r["std_acc"] for r in mine])
        (line,) = ax.plot(n, mean, "o-", label=method)
        ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["labels"] for r in rows}), [f"{n:,}" for n in sorted({r["labels"] for r in rows})])
    ax.minorticks_off()
    ax.set(xlabel="labelled training images", ylabel="test accuracy (%)", title=title or "accuracy vs labels")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def run(config: Config, out, resume: bool = False) -> dict:
    check(config)
    run_folder = RunFolder(out)
    run_folder.write_json("config.json", config)
    start = time.perf_counter()
    cache = RunFolder(config.pretrained_dir or run_folder.file("pretrained"))
    weights, record = pretrained(config, cache)

    # the target's whole training set is the pool the labelled subsets come from (no validation:
    # with 50 labels there are none to spare, so every run keeps its last weights)
    target = as_images(load_images(config.target, 0, 0, config.test_subset, config.seed))
    print(f"target: {target.describe()}", flush=True)
    _, _, test_loader = loaders(target, config.batch_size, config.seed)
    results = []
    for n in config.labels:
        for method in config.methods:
            for seed in range(config.seeds):
                result = run_one(method, n, seed, config, target, weights, test_loader,
                                 run_folder.file(f"runs/{method}-{n}-seed{seed}"), resume)
                print(f"{method:>13} n={n:<5} seed {seed}: test acc {result['test_acc']:.4f}", flush=True)
                results.append(result)
        rows = aggregate(results)
        run_folder.write_text("results.md", table(rows, config, record))  # progress after each label count
    plot_accuracy_vs_labels(rows, run_folder.file("accuracy_vs_labels.png"),
                            title=f"{config.source} -> {config.target}: test accuracy vs labels")
    summary = {
        "source": config.source,
        "target": config.target,
        "source_test_acc": record["source_test_acc"],
        "accuracy": {f"{r['method']}@{r['labels']}": r["mean_acc"] for r in rows},
        "table": rows,
        "results": results,
        "seconds": round(time.perf_counter() - start, 1),
        "data": target.source,
    }
    run_folder.write_json("summary.json", summary)
    return summary
