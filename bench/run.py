"""Run the benchmark workloads in macrograd and PyTorch, in one process, and compare.

    python -m bench.run                      every workload, results in bench/results/
    python -m bench.run --only mlp --steps 30
    python -m bench.run --threads 1

For each workload both libraries build the same model (bench/workloads.py), warm up, and
then take turns: one round is a few steps of macrograd followed by the same number of steps
of PyTorch (alternating, so that a noisy neighbour or CPU frequency change hits both). The
report gives the median time per step of each, their ratio (macrograd / torch, lower is
better for macrograd), and the peak memory one step allocates.

Peak memory is measured in a separate, untimed step: macrograd's with tracemalloc (NumPy
reports every array allocation to it), PyTorch's from its own CPU allocator's counter as the
profiler records it (`profile_memory=True`). Both are the peak of bytes allocated above the
level at the start of the step: the transient memory of one step, excluding the weights.

Threads: PyTorch gets `torch.set_num_threads(n)`; NumPy's BLAS is limited to the same n
through threadpoolctl when it is installed (otherwise its own default is reported).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.workloads import WORKLOADS, by_name, missing  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


# -- the machine --------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def limit_blas_threads(limit=None):
    """Limit NumPy's BLAS pool to `limit` threads, from now until `.restore_original_limits()`
    of the returned limiter (None without threadpoolctl), and say how many threads it uses.

    NumPy must be imported first: threadpoolctl only sees libraries already loaded."""
    try:
        import threadpoolctl
    except ImportError:
        return None, "unknown (threadpoolctl not installed)"
    limiter = threadpoolctl.threadpool_limits(limits=limit, user_api="blas") if limit else None
    info = [f"{p['internal_api']} {p['num_threads']}" for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"]
    return limiter, ", ".join(info) or "none found"


def machine(threads: int, blas: str) -> dict:
    import torch

    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "numpy_blas_threads": blas,
        "requested_threads": threads,
        # Other work on the machine skews the timings of both libraries: say how busy it was.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


# -- timing and memory ---------------------------------------------------------------------------
def _clock(step, n: int) -> float:
    """Seconds per step over n consecutive steps."""
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def peak_macrograd(step) -> int:
    """Peak bytes NumPy allocated above the level at the start of one step (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def peak_torch(step) -> int | None:
    """Peak bytes torch's CPU allocator held above the level at the start of one step, read
    from the profiler's memory events ("Total Allocated" after each allocation and free)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        events = json.loads(Path(path).read_text()).get("traceEvents", [])
    memory = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e.get("ts", 0))
    if not memory:
        return None
    first = memory[0]["args"]
    base = first["Total Allocated"] - first["Bytes"]
    return int(max(e["args"]["Total Allocated"] for e in memory) - base)


def run_workload(workload, mg, torch, *, steps: int, warmup: int, rounds: int, scale: int, memory: bool) -> dict:
    """Time one workload in both libraries; the result row of the report."""
    gone = missing(mg, workload)
    if gone:
        return {"name": workload.name, "description": workload.description,
                "status": "not available yet", "missing": gone}
    mg.manual_seed(0)
    torch.manual_seed(0)
    steps_of = {"macrograd": workload.setup(mg, scale), "torch": workload.setup(torch, scale)}
    for step in steps_of.values():
        for _ in range(warmup):
            step()
    per_round = max(1, steps // rounds)
    times = {lib: [] for lib in steps_of}
    for _ in range(rounds):
        for lib, step in steps_of.items():  # alternate the two libraries round by round
            times[lib].append(_clock(step, per_round))
    row = {"name": workload.name, "description": workload.description, "status": "ok",
           "steps": per_round * rounds, "rounds": rounds}
    for lib in steps_of:
        row[f"{lib}_ms"] = 1000 * statistics.median(times[lib])
    row["ratio"] = row["macrograd_ms"] / row["torch_ms"]
    if memory:
        row["macrograd_peak_mb"] = peak_macrograd(steps_of["macrograd"]) / 2**20
        peak = peak_torch(steps_of["torch"])
        row["torch_peak_mb"] = None if peak is None else peak / 2**20
    return row


# -- the report ----------------------------------------------------------------------------------
def _fmt(value, spec=".2f"):
    return "n/a" if value is None else format(value, spec)


def markdown(rows: list, info: dict) -> str:
    lines = [
        "# macrograd vs PyTorch",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, NumPy {info['numpy']}, "
        f"PyTorch {info['torch']}.",
        f"Threads: torch {info['torch_threads']}, NumPy BLAS {info['numpy_blas_threads']}. "
        f"Load average at the start: {_fmt(info.get('load_average_1min'), '.1f')}.",
        "Time: median per full step (zero_grad, forward, loss, backward, optimizer step; inference: "
        "one forward under no_grad), alternating the libraries round by round after warm-up. "
        "Ratio = macrograd / torch (lower is better).",
        "Peak memory: bytes allocated above the start-of-step level during one step; macrograd by "
        "tracemalloc (NumPy allocations), torch by its CPU allocator's counter (profiler memory events).",
        "",
        "| workload | macrograd ms | torch ms | ratio | macrograd peak MB | torch peak MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | {row['status']} ({', '.join(row['missing'])}) | | | | |")
            continue
        lines.append(
            f"| {row['name']} | {_fmt(row['macrograd_ms'])} | {_fmt(row['torch_ms'])} | "
            f"{_fmt(row['ratio'])}x | {_fmt(row.get('macrograd_peak_mb'), '.1f')} | "
            f"{_fmt(row.get('torch_peak_mb'), '.1f')} |"
        )
    lines += ["", "Workloads:", ""] + [f"- {row['name']}: {row['description']}" for row in rows]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="macrograd bench", description="macrograd vs PyTorch, per training step.")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="workloads whose name contains any of these (e.g. mlp W3)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per library")
    parser.add_argument("--rounds", type=int, default=10, help="alternations (steps are split over them)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both libraries")
    parser.add_argument("--scale", type=int, default=1, help="divide batch sizes by this (tiny runs)")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak memory step")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for results.md and results.json")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    import macrograd as mg

    workloads = by_name(args.only)
    if not workloads:
        print(f"bench: no workload matches {args.only}; there are: {[w.name for w in WORKLOADS]}", file=sys.stderr)
        return 2
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    limiter, blas = limit_blas_threads(args.threads)
    info = machine(args.threads, blas)
    rows = []
    try:
        for workload in workloads:
            row = run_workload(workload, mg, torch, steps=args.steps, warmup=args.warmup,
                               rounds=min(args.rounds, args.steps), scale=args.scale, memory=args.memory)
            rows.append(row)
            if row["status"] == "ok":
                print(f"{row['name']:24s} macrograd {row['macrograd_ms']:9.2f} ms  torch {row['torch_ms']:9.2f} ms"
                      f"  ratio {row['ratio']:6.2f}x", flush=True)
            else:
                print(f"{row['name']:24s} {row['status']} (needs {', '.join(row['missing'])})", flush=True)
    finally:  # leave both thread pools as they were (tests call main in-process)
        torch.set_num_threads(torch_threads)
        if limiter is not None:
            limiter.restore_original_limits()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(markdown(rows, info))
    (args.out / "results.json").write_text(json.dumps({"machine": info, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out / 'results.md'} and {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
