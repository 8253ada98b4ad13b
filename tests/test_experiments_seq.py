"""char-rnn and translate-seq2seq run end to end on their smoke budgets (imported directly, not
through the registry), write complete run folders, record the PyTorch reference next to
macrograd's loss, and resume."""
import dataclasses
import json
import math

import pytest

from macrograd.experiments import char_rnn, translate_seq2seq
from macrograd.train import read_jsonl
from experiment_helpers import data_folder, smoke  # noqa: F401 (data_folder is autouse)


def test_modules_follow_the_experiment_contract():
    for module in (char_rnn, translate_seq2seq):
        assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
        assert set(module.SMOKE) <= {f.name for f in dataclasses.fields(module.Config)}
        assert callable(module.run)


def test_char_rnn_smoke_with_the_torch_reference(tmp_path, capsys):
    out = tmp_path / "run"
    summary = char_rnn.run(smoke(char_rnn, cells=("lstm",), torch_reference=True), out)
    assert summary["torch_reference"] == "ran"
    for cell in ("lstm",):
        result = summary[cell]
        assert math.isfinite(result["val_loss"]) and result["val_loss"] < 4.6  # below uniform over ~84 chars
        # the same weights, batches and optimizer: the two libraries agree far inside 0.02 nats
        assert abs(result["val_loss"] - result["torch_val_loss"]) < 1e-3
        assert result["val_loss_difference"] == pytest.approx(result["val_loss"] - result["torch_val_loss"])
        records = read_jsonl(out / f"{cell}_metrics.jsonl")
        assert [r["step"] for r in records if r["kind"] == "eval"] == [3, 6]
        assert (out / f"{cell}.safetensors").stat().st_size > 0
    for name in ("config.json", "summary.json", "curves.png", "samples.md"):
        assert (out / name).stat().st_size > 0, name
    samples = (out / "samples.md").read_text()
    assert "## lstm, temperature 0.5" in samples and "## lstm, temperature 1.0" in samples
    assert "val" in capsys.readouterr().out

    # resume: finished cells are read back, not trained again
    again = char_rnn.run(smoke(char_rnn, cells=("lstm",), torch_reference=True), out, resume=True)
    assert again["lstm"]["val_loss"] == summary["lstm"]["val_loss"]
    assert "done in an earlier run" in capsys.readouterr().out


def test_char_rnn_without_the_reference_and_bad_cells(tmp_path):
    summary = char_rnn.run(smoke(char_rnn, cells=("rnn",)), tmp_path / "run")
    assert "torch_val_loss" not in summary["rnn"] and summary["torch_reference"].startswith("not run")
    with pytest.raises(ValueError, match=r"char-rnn: cells must be among \('rnn', 'lstm', 'gru'\), got \['lstm2'\]"):
        char_rnn.run(smoke(char_rnn, cells=("lstm2",)), tmp_path / "bad")


def test_translate_seq2seq_smoke_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    summary = translate_seq2seq.run(smoke(translate_seq2seq, epochs=1), out)
    for name in ("attention", "no-attention"):
        result = summary[name]
        assert 0.0 <= result["bleu_greedy"] <= 100.0 and 0.0 <= result["bleu_beam2"] <= 100.0
        assert math.isfinite(result["best_val_loss"]) and result["best_epoch"] == 1
    assert summary["test_pairs"] == 16 and summary["beam_pairs"] == 4
    for name in ("config.json", "summary.json", "curves.png", "attention.png", "examples.md",
                 "attention.safetensors", "no-attention_checkpoint.safetensors"):
        assert (out / name).stat().st_size > 0, name
    examples = (out / "examples.md").read_text()
    assert examples.count("- **de**:") == 3 and "attention (beam 2):" in examples

    # a longer run resumes from the epoch-1 checkpoint and trains only epoch 2
    (out / "attention_result.json").unlink()
    capsys.readouterr()
    longer = translate_seq2seq.run(smoke(translate_seq2seq, epochs=2, variants=("attention",)), out, resume=True)
    assert "resuming after epoch 1" in capsys.readouterr().out
    epochs = [r["epoch"] for r in read_jsonl(out / "attention_metrics.jsonl") if r["kind"] == "epoch"]
    assert epochs == [1, 2] and longer["attention"]["best_val_loss"] <= summary["attention"]["best_val_loss"] + 0.5
    assert json.loads((out / "config.json").read_text())["epochs"] == 2


def test_translate_seq2seq_rejects_unknown_variants(tmp_path):
    with pytest.raises(ValueError, match="variants must be 'attention' and/or 'no-attention', got \\['luong'\\]"):
        translate_seq2seq.run(smoke(translate_seq2seq, variants=("luong",)), tmp_path)


def test_bleu_and_detokenize():
    assert translate_seq2seq.detokenize(["i", "don't", "know", ",", "tom", "."]) == "i don't know, tom."
    assert translate_seq2seq.bleu(["The cat sat on the mat."], ["the cat sat on the mat."]) == pytest.approx(100.0)
    assert translate_seq2seq.bleu(["dog"], ["the cat sat on the mat."]) == 0.0
