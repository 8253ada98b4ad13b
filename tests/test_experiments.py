"""Every experiment runs end to end through the `macrograd` entry point on its --smoke budget,
writing a complete run folder with finite metrics; mnist-mlp also works with no data at all."""
import json
import math

import pytest

from macrograd.cli import main
from macrograd.train import read_jsonl
from experiment_helpers import data_folder  # noqa: F401 (data_folder is autouse)


def finite_numbers(record):
    return all(math.isfinite(v) for v in record.values() if isinstance(v, (int, float)) and not isinstance(v, bool))


def check_classifier_folder(out, epochs):
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "confusion_matrix.png",
                 "misclassified.png", "checkpoint.safetensors", "best.safetensors"):
        assert (out / name).stat().st_size > 0, name
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(1, epochs + 1))
    assert any(r["kind"] == "step" for r in records) and all(finite_numbers(r) for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["test_acc"] <= 1.0 and math.isfinite(summary["test_loss"])
    return summary


def test_mnist_mlp_smoke_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "mnist-mlp", "--smoke", "--out", str(out), "--set", "epochs=1", "--set", "seed=1"]) == 0
    first = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "epoch"]
    summary = check_classifier_folder(out, epochs=1)
    assert json.loads((out / "config.json").read_text())["seed"] == 1
    assert summary["data"] == "full MNIST" and "test_acc" in capsys.readouterr().out
    # --resume with the smoke budget's 2 epochs runs epoch 2 only, after epoch 1's lines
    assert main(["run", "mnist-mlp", "--smoke", "--out", str(out), "--set", "seed=1", "--resume"]) == 0
    check_classifier_folder(out, epochs=2)
    resumed = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "epoch"]
    assert resumed[0] == first[0] and resumed[1]["step"] == 2 * first[0]["step"]


def test_mnist_mlp_falls_back_to_the_shipped_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user cache either
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    out = tmp_path / "run"
    assert main(["run", "mnist-mlp", "--smoke", "--out", str(out)]) == 0
    summary = check_classifier_folder(out, epochs=2)
    assert "sample shipped with macrograd" in summary["data"]
    assert "NOTE: using the small MNIST sample" in capsys.readouterr().out


def test_optim_playground_smoke(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "optim-playground", "--smoke", "--out", str(out)]) == 0
    for name in ("config.json", "metrics.jsonl", "summary.json", "rosenbrock.png", "beale.png", "losses.png",
                 "final_points.safetensors"):
        assert (out / name).stat().st_size > 0, name
    records = read_jsonl(out / "metrics.jsonl")
    assert {(r["surface"], r["optimizer"]) for r in records} == {
        (s, o) for s in ("rosenbrock", "beale") for o in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")}
    assert all(finite_numbers(r) for r in records)
    summary = json.loads((out / "summary.json").read_text())
    # 20 steps already bring every optimizer below the starting loss
    from macrograd.experiments.optim_playground import SURFACES

    for key, result in summary.items():
        surface = key.split("/")[0]
        function, start = SURFACES[surface][:2]
        assert result["final_loss"] < function(*start)


def test_fashion_study_smoke(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "fashion-study", "--smoke", "--out", str(out)]) == 0
    summary = check_classifier_folder(out, epochs=1)
    for study in ("init", "norm", "dropout", "optim"):
        assert (out / f"study_{study}.png").stat().st_size > 0
    table = (out / "results.md").read_text()
    assert table.count("| init |") == 1 and table.count("| optim |") == 1  # max_variants=1 in smoke
    assert "Final run" in table
    assert len(summary["rows"]) == 4 and all(finite_numbers(r) for r in summary["rows"])


def test_fashion_study_rejects_an_unknown_study(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown study 'dropuot'; valid studies: init, norm, dropout, optim"):
        main(["run", "fashion-study", "--smoke", "--out", str(tmp_path), "--set", "studies=init,dropuot"])
