"""The scaling-laws sweep at smoke size: two tiny models and two data sizes trained in parallel,
then a resumed sweep that trains nothing again (result.json files untouched)."""
import dataclasses
import json

import pytest

from macrograd.experiments import scaling_laws
from experiment_helpers import DATA


def test_scaling_laws_smoke_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(DATA))  # inherited by the worker processes
    config = dataclasses.replace(scaling_laws.Config(), **{
        **scaling_laws.SMOKE, "sizes": ("1x8", "1x16"), "data_sizes": (2000, 0), "data_model": "1x16",
        "max_iters": 2, "workers": 2})
    summary = scaling_laws.run(config, tmp_path)
    ids = sorted(r["id"] for r in summary["results"])
    assert ids == ["L1-E16-D2000", "L1-E16-Dall", "L1-E8-Dall"]  # the shared run is trained once
    assert summary["trained_now"] == 3 and summary["skipped"] == 0
    results = {i: json.loads((tmp_path / "runs" / i / "result.json").read_text()) for i in ids}
    assert results["L1-E16-D2000"]["train_tokens"] == 2000
    assert results["L1-E8-Dall"]["non_embedding_params"] < results["L1-E16-Dall"]["non_embedding_params"]
    assert all(r["compute"] == 6 * r["non_embedding_params"] * 2 * 4 * 16 for r in results.values())
    assert "error" in summary["size_fit"]  # 2 points: too few to fit, reported rather than raised
    assert [f["compute"] for f in summary["frontier"]] == sorted({r["compute"] for r in results.values()})
    for name in ("results.md", "scaling.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert "0.076" in (tmp_path / "results.md").read_text()
    stamps = {i: results[i]["finished_at"] for i in ids}

    again = scaling_laws.run(config, tmp_path, resume=True)
    assert again["trained_now"] == 0 and again["skipped"] == 3
    assert {i: json.loads((tmp_path / "runs" / i / "result.json").read_text())["finished_at"] for i in ids} == stamps
    assert [r["val_loss"] for r in again["results"]] == [r["val_loss"] for r in summary["results"]]


def test_scaling_laws_specs_and_errors():
    specs = scaling_laws.run_specs(scaling_laws.Config())
    sizes = [s for s in specs if "size" in s["sweeps"]]
    assert len(sizes) >= 6 and len([s for s in specs if "data" in s["sweeps"]]) >= 5
    span = max(12 * s["n_layer"] * s["n_embd"] ** 2 for s in sizes) / min(12 * s["n_layer"] * s["n_embd"] ** 2 for s in sizes)
    assert span >= 30
    with pytest.raises(ValueError, match="scaling-laws: model size must be"):
        scaling_laws.parse_size("2-48")
    with pytest.raises(ValueError, match="not a multiple of head_dim"):
        scaling_laws.run_specs(dataclasses.replace(scaling_laws.Config(), sizes=("1x20",)))
