"""The `macrograd` command: listing, config parsing, and clear errors for bad names, keys and values."""
import dataclasses

import pytest

from macrograd import experiments
from macrograd.cli import main
from macrograd.experiments.config import ConfigError, apply_overrides, parse_value


def test_list_shows_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("optim-playground", "mnist-mlp", "fashion-study"):
        assert name in out
    assert len(out.strip().splitlines()) == len(experiments.names())


def test_list_verbose_shows_config_keys(capsys):
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "epochs = 10" in out and "hidden = (512, 256)" in out


def test_bad_experiment_name_lists_valid_choices(capsys, tmp_path):
    assert main(["run", "mnist-mpl", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'mnist-mpl'" in err
    assert "mnist-mlp" in err and "fashion-study" in err and "optim-playground" in err
    assert not any(tmp_path.iterdir())  # nothing was run


def test_bad_set_key_lists_valid_keys(capsys, tmp_path):
    assert main(["run", "mnist-mlp", "--set", "epoch=3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--set epoch: unknown key" in err
    assert "epochs" in err and "lr" in err and "hidden" in err


@pytest.mark.parametrize("assignment, message", [
    ("epochs=three", "expected int"),
    ("epochs=2.5", "expected int"),
    ("lr=fast", "expected float"),
    ("hidden=64,x", "expected int"),
    ("epochs", "expected key=value"),
])
def test_bad_set_value_is_a_clear_error(capsys, tmp_path, assignment, message):
    assert main(["run", "mnist-mlp", "--set", assignment, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_resume_without_a_run_is_an_error(capsys, tmp_path):
    assert main(["run", "mnist-mlp", "--smoke", "--resume", "--out", str(tmp_path)]) == 2
    assert "no run to continue" in capsys.readouterr().err


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_over(capsys, tmp_path):
    assert main(["run", "mnist-mlp", "--smoke", "--out", str(tmp_path)]) == 0
    (tmp_path / "checkpoint.safetensors").unlink()
    assert main(["run", "mnist-mlp", "--smoke", "--resume", "--out", str(tmp_path)]) == 0
    assert "training starts from the beginning" in capsys.readouterr().out


def test_parse_values_by_field_type():
    assert parse_value("512, 256", tuple[int, ...], "hidden") == (512, 256)
    assert parse_value("1e4", int, "n") == 10000
    assert parse_value("3e-4", float, "lr") == pytest.approx(3e-4)
    assert parse_value("True", bool, "b") is True and parse_value("off", bool, "b") is False
    with pytest.raises(ConfigError, match="expected a boolean"):
        parse_value("maybe", bool, "b")


def test_overrides_apply_smoke_then_assignments():
    module = experiments.get("mnist-mlp")
    config = apply_overrides(module.Config(), module.SMOKE, ["epochs=1", "hidden=8,4", "optimizer=sgd"])
    assert config.epochs == 1 and config.hidden == (8, 4) and config.optimizer == "sgd"
    assert config.train_subset == module.SMOKE["train_subset"]  # from the smoke budget
    assert module.Config().epochs == 10  # the defaults are untouched


def test_every_experiment_has_the_protocol():
    for name in experiments.names():
        module = experiments.get(name)
        assert dataclasses.is_dataclass(module.Config) and callable(module.run)
        assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
        apply_overrides(module.Config(), module.SMOKE)  # every smoke key is a real config key
    with pytest.raises(ConfigError, match="unknown experiment 'nope'; valid experiments: ") as error:
        experiments.get("nope")
    assert all(name in str(error.value) for name in experiments.names())


def test_diagnose_adds_diagnostics_to_a_classifier_run(tmp_path, capsys):
    import json

    from macrograd.experiments import common

    try:
        assert main(["run", "mnist-mlp", "--smoke", "--diagnose", "--out", str(tmp_path)]) == 0
    finally:
        common.set_diagnose(False)
    records = [json.loads(line) for line in (tmp_path / "diagnostics.jsonl").read_text().splitlines()]
    assert records and (tmp_path / "diagnostics.png").stat().st_size > 0
    assert "note" not in capsys.readouterr().err


def test_diagnose_says_when_an_experiment_records_nothing(tmp_path, capsys, monkeypatch):
    """An experiment that steps no optimizer (here, one that only evaluates) gets a note."""
    import types

    from macrograd import experiments
    from macrograd.experiments import common

    evaluate_only = types.SimpleNamespace(
        Config=lambda: types.SimpleNamespace(), SMOKE={}, DESCRIPTION="",
        run=lambda config, out, resume=False: {"accuracy": 1.0})
    monkeypatch.setattr(experiments, "get", lambda name: evaluate_only)
    monkeypatch.setattr("macrograd.experiments.config.apply_overrides", lambda config, smoke, assignments: config)
    monkeypatch.setattr("macrograd.experiments.config.describe", lambda config: "")
    try:
        assert main(["run", "evaluate-only", "--diagnose", "--out", str(tmp_path)]) == 0
    finally:
        common.set_diagnose(False)
    assert "stepped no optimizer, so --diagnose recorded nothing" in capsys.readouterr().err


def test_graph_draws_a_zoo_model_as_dot(tmp_path, capsys):
    out = tmp_path / "lenet5.dot"
    assert main(["graph", "lenet5", "--collapse", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("digraph") and "conv1: Conv2d" in text and "fc3: Linear" in text
    assert main(["graph", "lenet6", "--out", str(out)]) == 2
    assert "unknown model 'lenet6'" in capsys.readouterr().err
