"""emoji-classify and transfer on their --smoke budgets (run by importing each module and calling
run, as `macrograd run NAME --smoke` does), and their helpers on their own: balanced accuracy,
the per-class grid selection, the augmentation pipeline, the stratified nested label sampler,
the frozen / fine-tuned model setups and the pretrained-weights cache."""
import json
import math

import numpy as np
import pytest

import macrograd as mg
from macrograd.experiments import emoji_classify, transfer
from experiment_helpers import data_folder, smoke  # noqa: F401 (data_folder is autouse)


# -- emoji-classify -------------------------------------------------------------------------------
def test_emoji_classify_smoke(tmp_path):
    out = tmp_path / "emoji"
    summary = emoji_classify.run(smoke(emoji_classify), out)
    assert [r["augment"] for r in summary["results"]] == ["crop+flip+jitter", "none"]
    assert summary["augment"] == "crop+flip+jitter"
    for r in summary["results"]:
        folder = out / f"augment-{r['augment']}"
        for name in ("metrics.jsonl", "best.safetensors", "curves.png", "confusion_matrix.png", "test_grid.png",
                     "result.json"):
            assert (folder / name).stat().st_size > 0, (r["augment"], name)
        assert 0 <= r["test_acc"] <= 1 and 0 <= r["test_balanced_acc"] <= 1 and math.isfinite(r["test_loss"])
        matrix = np.array(r["confusion_matrix"])
        assert matrix.shape == (10, 10) and matrix.sum() == summary["test_images"]
        assert r["test_acc"] == pytest.approx(np.trace(matrix) / matrix.sum())
    majority = summary["majority_baseline"]
    assert majority["class"] == "People & Body" and 0.4 < majority["test_acc"] < 0.8
    present = np.count_nonzero(np.array(summary["results"][0]["confusion_matrix"]).sum(axis=1))
    assert majority["balanced_acc"] == pytest.approx(1 / present)  # a constant answer: 1/K
    assert summary["train_images"] + summary["val_images"] + summary["test_images"] == 400
    for name in ("config.json", "summary.json", "results.md", "augment_curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert "| crop+flip+jitter |" in (out / "results.md").read_text()
    # resume reads finished settings back instead of training them again
    again = emoji_classify.run(smoke(emoji_classify), out, resume=True)
    assert again["results"] == json.loads((out / "summary.json").read_text())["results"]


def test_emoji_splits_keep_skin_tones_together_and_are_disjoint():
    data = emoji_classify.load_splits(smoke(emoji_classify, max_images=0, size=16))
    from macrograd.data import load_emoji

    emoji = load_emoji()
    train_index, test_index = emoji.split(0.15, 0)
    assert np.array_equal(data.test_index, test_index)
    sizes = [len(data.images.x_train), len(data.images.x_val), len(data.images.x_test)]
    assert sum(sizes) == len(emoji) and min(sizes) > 300
    x = data.images.x_train
    assert x.shape[1:] == (3, 16, 16) and 0 <= x.min() <= x.max() <= 1
    # no emoji group (skin-tone variants) on two sides
    test_groups = {emoji.groups[i] for i in test_index}
    assert not test_groups & {emoji.groups[i] for i in train_index}
    assert len(data.mean) == 3 and all(s > 0 for s in data.std)


def test_balanced_accuracy_and_recall():
    matrix = np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]])  # class 2 absent from the targets
    np.testing.assert_allclose(emoji_classify.per_class_recall(matrix)[:2], [0.8, 0.5])
    assert np.isnan(emoji_classify.per_class_recall(matrix)[2])
    assert emoji_classify.balanced_accuracy(matrix) == pytest.approx(0.65)
    constant = np.array([[0, 90], [0, 10]])  # always class 1: 10% accuracy... and 50% balanced
    assert emoji_classify.balanced_accuracy(constant) == pytest.approx(0.5)


def test_grid_indices_take_each_class_in_turn():
    labels = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    picked = emoji_classify.grid_indices(labels, 2, seed=0)
    assert list(labels[picked]) == [0, 0, 1, 1, 2, 2]
    assert len(set(picked)) == 6
    assert np.array_equal(picked, emoji_classify.grid_indices(labels, 2, seed=0))


def test_train_transform_pipeline():
    from macrograd.data import transforms as T

    images = np.random.default_rng(0).random((6, 3, 16, 16), dtype=np.float32)
    normalize = T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    plain = emoji_classify.train_transform("none", 16, 0.1, normalize).apply_batch(images)
    np.testing.assert_allclose(plain, (images - 0.5) / 0.25, rtol=1e-6)
    mg.manual_seed(0)
    a = emoji_classify.train_transform("crop+flip+jitter", 16, 0.1, normalize).apply_batch(images)
    mg.manual_seed(0)
    b = emoji_classify.train_transform("crop+flip+jitter", 16, 0.1, normalize).apply_batch(images)
    assert a.shape == images.shape and np.array_equal(a, b) and not np.allclose(a, plain)
    # the crop pads with white: a pixel from the padding is 1.0 before normalising
    mg.manual_seed(1)
    cropped = emoji_classify.train_transform("crop+flip", 16, 0.1, T.Normalize(0.0, 1.0)).apply_batch(
        np.zeros((64, 3, 16, 16), dtype=np.float32))
    assert cropped.max() == 1.0 and cropped.min() == 0.0


@pytest.mark.parametrize("change, option", [({"augment": ("rotate",)}, "augment"), ({"augment": ()}, "augment"),
                                            ({"size": 48}, "size"), ({"net": "vgg"}, "net"),
                                            ({"net": "lenet5", "size": 64}, "lenet5"),
                                            ({"val_fraction": 1.0}, "val_fraction")])
def test_emoji_bad_config_names_the_option(change, option):
    with pytest.raises(ValueError, match=f"emoji-classify: .*{option}"):
        emoji_classify.run(smoke(emoji_classify, **change), "/nonexistent/never-written")


# -- transfer -------------------------------------------------------------------------------------
def test_transfer_smoke_then_cached_pretraining(tmp_path):
    out = tmp_path / "transfer"
    summary = transfer.run(smoke(transfer), out)
    assert summary["source"] == "fashion-mnist" and summary["target"] == "mnist"
    assert len(summary["results"]) == 2 * len(transfer.METHODS)
    expected = {(m, n) for m in transfer.METHODS for n in (20, 50)}
    assert {(r["method"], r["labels"]) for r in summary["table"]} == expected
    for r in summary["results"]:
        assert 0 <= r["test_acc"] <= 1 and math.isfinite(r["test_loss"])
        assert (out / "runs" / f"{r['method']}-{r['labels']}-seed0" / "result.json").exists()
    trainable = {r["method"]: r["trainable_params"] for r in summary["results"]}
    head = (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)  # cut="conv": a new fc1-fc3 classifier
    assert trainable["frozen"] == trainable["frozen-random"] == head
    assert trainable["scratch"] == trainable["finetune"] == 61706
    for name in ("accuracy_vs_labels.png", "results.md", "summary.json", "config.json",
                 "pretrained/best.safetensors", "pretrained/pretrain.json"):
        assert (out / name).stat().st_size > 0, name
    assert "| 50 |" in (out / "results.md").read_text()

    # a second run pointing at the cache does not pretrain again (no new metrics are written)
    cache = out / "pretrained"
    stamp = (cache / "metrics.jsonl").stat().st_mtime_ns
    other = transfer.run(smoke(transfer, pretrained_dir=str(cache), labels=(10,), methods=("frozen",)),
                         tmp_path / "again")
    assert (cache / "metrics.jsonl").stat().st_mtime_ns == stamp
    assert other["source_test_acc"] == summary["source_test_acc"]
    assert not (tmp_path / "again" / "pretrained").exists()
    # ... and refuses weights made with other settings
    with pytest.raises(ValueError, match="transfer: pretrained_dir"):
        transfer.run(smoke(transfer, pretrained_dir=str(cache), pretrain_epochs=2), tmp_path / "third")


def test_labelled_subset_is_stratified_seeded_and_nested():
    labels = np.random.default_rng(0).integers(0, 10, 2000)
    for n in (10, 50, 55, 123):
        picked = transfer.labelled_subset(labels, n, seed=3)
        counts = np.bincount(labels[picked], minlength=10)
        assert len(picked) == n == len(set(picked)) and counts.max() - counts.min() <= 1, n
    assert np.array_equal(transfer.labelled_subset(labels, 50, 3), transfer.labelled_subset(labels, 50, 3))
    assert not np.array_equal(transfer.labelled_subset(labels, 50, 3), transfer.labelled_subset(labels, 50, 4))
    small, large = transfer.labelled_subset(labels, 55, 3), transfer.labelled_subset(labels, 123, 3)
    assert set(small) <= set(large)  # more labels add to the set, never redraw it
    with pytest.raises(ValueError, match="transfer: 3000 labels need"):
        transfer.labelled_subset(labels, 3000, 0)


@pytest.mark.parametrize("cut, new", [("fc2", {"fc3"}), ("conv", {"fc1", "fc2", "fc3"})])
def test_prepare_loads_the_body_and_freezes_what_it_should(cut, new):
    mg.manual_seed(0)
    weights = transfer.new_lenet().state_dict()
    for method in transfer.METHODS:
        mg.manual_seed(1)
        model, trainable = transfer.prepare(method, weights, cut)
        state = model.state_dict()
        for layer in ("conv1", "conv2", "fc1", "fc2", "fc3"):
            same = np.array_equal(state[f"{layer}.weight"].numpy(), weights[f"{layer}.weight"].numpy())
            assert same == (method in ("finetune", "frozen") and layer not in new), (method, layer)
        names = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
        assert names == (new if method.startswith("frozen") else {"conv1", "conv2", "fc1", "fc2", "fc3"}), method
        assert len(trainable) == sum(p.requires_grad for p in model.parameters())


def test_few_label_loader_gives_the_same_steps_for_any_n():
    config = transfer.Config(batch_size=8, steps_per_epoch=5)
    for n in (3, 8, 40):
        loader = transfer.few_label_loader(np.zeros((n, 1, 28, 28), np.float32), np.zeros(n, np.int64), config, 0)
        batches = [len(y) for _, y in loader]
        assert batches == [min(8, n)] * 5, n


@pytest.mark.parametrize("change, option", [({"source": "cifar"}, "source"), ({"target": "fashion-mnist"}, "differ"),
                                            ({"methods": ("linear",)}, "methods"), ({"labels": (5,)}, "labels"),
                                            ({"seeds": 0}, "seeds"), ({"cut": "fc1"}, "cut")])
def test_transfer_bad_config_names_the_option(change, option):
    with pytest.raises(ValueError, match=f"transfer: .*{option}"):
        transfer.run(smoke(transfer, **change), "/nonexistent/never-written")


def test_colour_image_grid(tmp_path):
    from macrograd.viz import plot_image_grid
    from macrograd.viz.image_grid import tile

    images = np.random.default_rng(0).random((3, 3, 8, 8), dtype=np.float32)
    mosaic = tile(images.transpose(0, 2, 3, 1), columns=2, pad=1)
    assert mosaic.shape == (18, 18, 3)
    np.testing.assert_array_equal(mosaic[:8, :8], images[0].transpose(1, 2, 0))  # colours kept as they are
    assert mosaic[8, 0, 0] == 1.0  # a white background
    assert plot_image_grid(images, ["a", "b", "c"], tmp_path / "grid.png").stat().st_size > 0
