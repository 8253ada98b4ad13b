"""The vision experiments on their --smoke budgets (run by importing each module and calling run,
as `macrograd run NAME --smoke` does): mnist-lenet, backbones, cnn-inside (loading the smoke
LeNet's weights); and the shift measurements of cnn-inside checked on their own: a stride-1
conv of a shifted real digit equals the shifted conv maps exactly away from the borders."""
import json
import math

import numpy as np
import pytest

import macrograd as mg
from macrograd.experiments import backbones, inside_cnn, mnist_lenet
from macrograd.train import read_jsonl
from experiment_helpers import data_folder, smoke  # noqa: F401 (data_folder is autouse)


def test_mnist_lenet_then_cnn_inside_on_its_weights(tmp_path):
    out = tmp_path / "lenet"
    summary = mnist_lenet.run(smoke(mnist_lenet), out)
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "best.safetensors"):
        assert (out / name).stat().st_size > 0, name
    assert [r["epoch"] for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "epoch"] == [1]
    assert 0.0 <= summary["test_acc"] <= 1.0 and math.isfinite(summary["test_loss"])

    inside = tmp_path / "inside"
    result = inside_cnn.run(smoke(inside_cnn, checkpoint=str(out / "best.safetensors")), inside)
    for name in ("filters.png", "feature_maps.png", "gradcam.png", "shifts.png", "results.md", "summary.json"):
        assert (inside / name).stat().st_size > 0, name
    assert not (inside / "lenet").exists()  # loaded, not trained
    # the measured facts: exact conv equivariance in the interior, exact for even shifts after
    # 2x2 pooling, broken for odd ones; global averaging changes far less than the raw maps
    assert result["conv1_interior_max_rel_error"] < 1e-6
    assert result["pool1_even_shift_max_rel_error"] < 1e-6
    assert result["pool1_odd_shift_min_rel_error"] > 1e-3
    four = result["invariance"][4]
    assert four["conv1"] > 5 * four["gap1"] and four["pool2"] < four["conv1"]
    assert result["invariance"][0]["same_prediction"] == 1.0
    assert "| 4 |" in (inside / "results.md").read_text()


def test_backbones_smoke(tmp_path):
    out = tmp_path / "bb"
    summary = backbones.run(smoke(backbones), out)
    assert [r["net"] for r in summary["results"]] == ["mlp", "lenet5"]
    for r in summary["results"]:
        assert r["params"] > 0 and r["macs"] > 0 and r["train_s_per_epoch"] > 0
        assert r["latency_b1_ms"] > 0 and r["latency_b256_ms"] > 0 and 0 <= r["test_acc"] <= 1
        assert (out / r["net"] / "result.json").exists()
    assert summary["results"][1]["macs"] == 416520 and summary["results"][1]["params"] == 61706  # LeNet-5
    table = (out / "results.md").read_text()
    assert "| LeNet-5 (ReLU, max-pool) | 61,706 | 0.42 |" in table
    assert (out / "accuracy_vs_compute.png").stat().st_size > 1000
    assert json.loads((out / "summary.json").read_text())["best_net"] in ("mlp", "lenet5")
    # resume skips the finished nets and gives the same table
    again = backbones.run(smoke(backbones), out, resume=True)
    assert again["results"] == summary["results"]


def test_backbones_every_net_builds_and_bad_names_fail():
    x = mg.randn(2, 1, 28, 28)
    for name in backbones.NETS:
        with mg.no_grad():
            assert backbones.build(name).eval()(x).shape == (2, 10), name
    with pytest.raises(ValueError, match="backbones: unknown net 'resnet9'"):
        backbones.run(smoke(backbones, nets=("resnet9",)), "/nonexistent/never-written")
    with pytest.raises(ValueError, match="backbones: augment must be one of"):
        backbones.train_transform("rotate", 0.0)


def test_shift_and_interior():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    moved = inside_cnn.shift(x, 1, -2, fill=-1)
    np.testing.assert_array_equal(moved[0, 0], [-1, -1, -1, -1])
    np.testing.assert_array_equal(moved[0, 1:, :2], x[0, :3, 2:])
    np.testing.assert_array_equal(moved[0, 1:, 2:], -1)
    np.testing.assert_array_equal(inside_cnn.interior(8, 2, 1), [False, False, False, True, True, True, True, False])


def test_conv_equivariance_is_exact_on_real_digits_and_fails_for_a_wrong_shift():
    from macrograd.experiments.common import load_images

    digits = load_images("mnist", train_subset=64, val_size=16, test_subset=16).x_test.reshape(-1, 1, 28, 28)
    mg.manual_seed(0)
    model = mg.models.lenet5(activation="relu")
    rows = inside_cnn.equivariance(model, digits, float(digits.min()), max_shift=2)
    assert max(r["conv1_interior"] for r in rows) < 1e-6
    assert all(r["conv1_whole_map"] > 1e-3 for r in rows)  # the borders do differ
    # a canary: against maps shifted one pixel too far the interior error is large
    base = inside_cnn.representations(model, digits)["conv1"]
    moved = inside_cnn.representations(model, inside_cnn.shift(digits, 0, 2, float(digits.min())))["conv1"]
    mask = inside_cnn.interior(28, 3, 2)
    assert inside_cnn.relative_error(moved[..., mask], inside_cnn.shift(base, 0, 3)[..., mask]) > 0.1
