"""The `macrograd` command.

    macrograd list                                  the experiments, with a line on each
    macrograd run mnist-mlp                         train, writing runs/mnist-mlp/
    macrograd run mnist-mlp --set epochs=3 --set lr=3e-4 --out runs/short
    macrograd run mnist-mlp --resume                continue the run in runs/mnist-mlp (its checkpoint)
    macrograd run fashion-study --smoke             the same code on a tiny budget (seconds)
    macrograd bench [--only mlp ...]                macrograd vs PyTorch, from a source checkout
    macrograd graph resnet20 --collapse 1           draw a zoo model's computational graph
    macrograd serve model.safetensors               an HTTP inference server for a classifier
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def run_diagnosed(module, config, out: Path, args) -> dict:
    """Run the experiment inside `watch_training`, which records diagnostics for every optimizer
    (classifiers trained through experiments.common record their own, named per run), then draw
    each diagnostics file and list them in summary.json."""
    import json

    from .train import RunFolder, watch_training
    from .viz.diagnostics import plot_diagnostics

    with watch_training(out, every=getattr(config, "log_every", 10) or 10):
        summary = module.run(config, out=out, resume=args.resume)
    files = sorted(Path(out).glob("**/diagnostics*.jsonl"))
    drawn = []
    for path in files:
        picture = path.with_suffix(".png")
        if path.stat().st_size and not picture.exists():
            plot_diagnostics(path, picture, title=f"{args.name}: {path.stem}")
        if picture.exists():
            drawn.append(str(picture.relative_to(out)))
    if not files:
        print(f"macrograd: note: {args.name} stepped no optimizer, so --diagnose recorded nothing", file=sys.stderr)
        return summary
    summary = {**summary, "diagnostics": [str(p.relative_to(out)) for p in files], "diagnostics_plots": drawn}
    if (Path(out) / "summary.json").exists():
        saved = json.loads((Path(out) / "summary.json").read_text())
        RunFolder(out).write_json("summary.json", {**saved, "diagnostics": summary["diagnostics"],
                                                   "diagnostics_plots": drawn})
    print(f"diagnostics: {len(files)} file(s), drawn as {', '.join(drawn)}")
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="macrograd", description="Run macrograd's experiments.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="list the experiments")
    listing.add_argument("-v", "--verbose", action="store_true", help="also show each config's keys and defaults")
    run = commands.add_parser("run", help="run an experiment, writing a run folder")
    run.add_argument("name", metavar="NAME", help="the experiment (see `macrograd list`)")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="change a config value (repeatable), e.g. --set epochs=3")
    run.add_argument("--smoke", action="store_true", help="a tiny budget (seconds), for tests")
    run.add_argument("--out", type=Path, default=None, help="the run folder (default: runs/NAME)")
    run.add_argument("--resume", action="store_true", help="continue the run in the run folder (its checkpoint, or its finished parts)")
    run.add_argument("--diagnose", action="store_true",
                     help="record per-layer training diagnostics (diagnostics*.jsonl and .png in the run folder)")
    commands.add_parser("bench", add_help=False, help="time training steps against PyTorch (bench/run.py)")
    graph = commands.add_parser("graph", help="draw a zoo model's computational graph (Graphviz)")
    graph.add_argument("model", metavar="MODEL", help="a zoo model (macrograd.models.list_models())")
    graph.add_argument("--out", type=Path, default=None, help="SVG/PNG/PDF/DOT by suffix (default: MODEL.svg)")
    graph.add_argument("--collapse", type=int, default=None, metavar="DEPTH",
                       help="draw modules DEPTH levels down as single boxes")
    graph.add_argument("--input-shape", default=None, metavar="N,C,H,W", help="example input (default 1,1,28,28)")
    commands.add_parser("serve", add_help=False, help="serve a trained classifier over HTTP (macrograd serve CHECKPOINT)")
    return parser


def run_bench(argv) -> int:
    """`macrograd bench ARGS` is `python -m bench.run ARGS`. bench/ sits beside the package in a
    source checkout (it needs PyTorch, a test-only dependency, so it is not installed)."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "bench" / "run.py").exists():
        print("macrograd: error: bench/ is not here; run `macrograd bench` from a source checkout "
              "installed with `pip install -e \".[test]\"`", file=sys.stderr)
        return 2
    sys.path.insert(0, str(checkout))
    from bench.run import main as bench_main

    return bench_main(argv)


def draw_zoo_graph(args) -> int:
    from .viz.graph import GraphvizNotFoundError, draw_model

    out = args.out or Path(f"{args.model}.svg")
    shape = tuple(int(n) for n in args.input_shape.split(",")) if args.input_shape else None
    try:
        draw_model(args.model, input_shape=shape, collapse=args.collapse, path=out)
    except GraphvizNotFoundError as error:  # the DOT text was written; say how to render it
        print(f"macrograd: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"macrograd: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    """Entry point of the `macrograd` command; returns the exit status."""
    from . import experiments
    from .experiments.config import ConfigError, apply_overrides, describe

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return run_bench(argv[1:])
    if argv[:1] == ["serve"]:  # its own options: macrograd serve --help
        from .serve import main as serve_main

        return serve_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "graph":
        return draw_zoo_graph(args)
    try:
        if args.command == "list":
            for name in experiments.names():
                module = experiments.get(name)
                print(f"{name:18s} {module.DESCRIPTION}")
                if args.verbose:
                    print(describe(module.Config()))
            return 0
        module = experiments.get(args.name)
        config = apply_overrides(module.Config(), module.SMOKE if args.smoke else None, args.assignments)
    except ConfigError as error:
        print(f"macrograd: error: {error}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else Path("runs") / args.name
    # Each experiment resumes from what its run folder holds (a training checkpoint, the finished
    # runs of a sweep, the finished tasks of a study): the folder must exist with its config.
    if args.resume and not (out / "config.json").exists():
        print(f"macrograd: error: --resume: no run to continue in {out} (no config.json)", file=sys.stderr)
        return 2
    print(f"macrograd run {args.name}{' (smoke)' if args.smoke else ''} -> {out}")
    print(describe(config))
    start = time.perf_counter()
    from .experiments import common

    common.set_diagnose(args.diagnose)
    if args.diagnose:
        summary = run_diagnosed(module, config, out, args)
    else:
        summary = module.run(config, out=out, resume=args.resume)
    print(f"done in {time.perf_counter() - start:.1f}s; summary in {out / 'summary.json'}")
    for key, value in summary.items():
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":  # python -m macrograd.cli
    sys.exit(main())
