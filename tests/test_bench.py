"""The benchmark runner (bench/run.py) on a tiny workload: it writes the table and the JSON.

No timing assertions: benchmarks are measured, not tested."""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root holds bench/

import macrograd as mg  # noqa: E402
from bench import run, workloads  # noqa: E402


def test_runner_writes_table_and_json(tmp_path, capsys):
    status = run.main(["--only", "W1 mlp", "--steps", "1", "--rounds", "1", "--warmup", "0",
                       "--scale", "64", "--threads", "1", "--out", str(tmp_path)])
    assert status == 0
    report = json.loads((tmp_path / "results.json").read_text())
    (row,) = report["results"]
    assert row["name"] == "W1 mlp" and row["status"] == "ok" and row["steps"] == 1
    assert row["macrograd_ms"] > 0 and row["torch_ms"] > 0
    assert row["ratio"] == row["macrograd_ms"] / row["torch_ms"]
    assert row["macrograd_peak_mb"] > 0
    assert report["machine"]["torch_threads"] == 1 and report["machine"]["numpy"]
    table = (tmp_path / "results.md").read_text()
    assert "| W1 mlp |" in table and "Threads: torch 1" in table and "tracemalloc" in table


def test_unknown_workload_name_is_refused(tmp_path, capsys):
    assert run.main(["--only", "nonesuch", "--out", str(tmp_path)]) == 2
    assert "no workload matches" in capsys.readouterr().err


def test_missing_layers_are_reported_not_faked():
    class Lib:  # a library with no nn.LSTM
        nn = type("nn", (), {"Embedding": object})

    lstm = workloads.by_name(["W4"])[0]
    row = run.run_workload(lstm, Lib, torch, steps=1, warmup=0, rounds=1, scale=1, memory=False)
    assert row["status"] == "not available yet" and row["missing"] == ["nn.LSTM"]
    assert "not available yet (nn.LSTM)" in run.markdown([row], run.machine(1, "n/a"))


def test_both_libraries_run_the_same_model():
    """The builders give the same architecture in both libraries (same parameter shapes)."""
    for build in (workloads.mlp, workloads.gpt):
        shapes = [[tuple(p.shape) for p in build(L).parameters()] for L in (mg, torch)]
        assert shapes[0] == shapes[1]


def test_blas_threads_are_limited_while_timing_and_restored(tmp_path, monkeypatch):
    import threadpoolctl

    def blas():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before, seen = blas(), []

    def setup(L, scale=1):
        def step():
            seen.extend(blas())
        return step

    probe = workloads.Workload("probe", "records BLAS threads", setup)
    monkeypatch.setattr(run, "by_name", lambda names: [probe])
    assert run.main(["--steps", "1", "--rounds", "1", "--warmup", "0", "--threads", "1",
                     "--no-memory", "--out", str(tmp_path)]) == 0
    assert seen and set(seen) == {1}
    assert blas() == before


def test_macrograd_bench_command_runs_the_runner(tmp_path):
    from macrograd.cli import main

    status = main(["bench", "--only", "W1 mlp", "--steps", "1", "--rounds", "1", "--warmup", "0",
                   "--scale", "64", "--threads", "1", "--no-memory", "--out", str(tmp_path)])
    assert status == 0
    assert "W1 mlp" in (tmp_path / "results.md").read_text()
