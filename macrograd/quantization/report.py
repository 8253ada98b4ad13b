"""Int8 against float32: accuracy, model size and latency, in macrograd and in onnxruntime.

    report = compare(model, qmodel, x_test, y_test, onnx_dir="out/")   # a dict of numbers
    print(format_report(report))
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..autograd import no_grad
from ..creation import tensor


def state_bytes(model) -> int:
    """Bytes of the model's parameters and buffers as stored (int8 weights count 1 byte each)."""
    tensors = {id(t): t for _, t in list(model.named_parameters()) + list(model.named_buffers())}
    return sum(t._data.nbytes for t in tensors.values())


def accuracy(model, x, y, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    with no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(tensor(x[i:i + batch_size])).numpy().argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(x)


def latency_ms(run, x, repeats: int = 20) -> float:
    """The median wall time of run(x), in milliseconds (after one warm-up call)."""
    run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # comparable numbers on a shared machine
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(model, qmodel, x_test, y_test, onnx_dir=None, batch_size: int = 64, repeats: int = 20) -> dict:
    """Accuracy on (x_test, y_test), size, and the latency of one batch of `batch_size`, for the
    float32 and int8 models; with onnx_dir, both are also exported (model-fp32.onnx,
    model-int8.onnx) and measured in onnxruntime."""
    batch = x_test[:batch_size]
    report = {
        "float32": {"accuracy": accuracy(model, x_test, y_test), "bytes": state_bytes(model)},
        "int8": {"accuracy": accuracy(qmodel, x_test, y_test), "bytes": state_bytes(qmodel)},
        "batch_size": batch_size, "test_examples": len(x_test),
    }
    for key, m in (("float32", model), ("int8", qmodel)):
        def run(x, m=m):
            with no_grad():
                return m(tensor(x)).numpy()
        report[key]["macrograd_ms"] = latency_ms(run, batch, repeats)
    if onnx_dir is not None:
        from ..onnx import export
        from .onnx_export import export_qdq

        onnx_dir = Path(onnx_dir)
        onnx_dir.mkdir(parents=True, exist_ok=True)
        paths = {"float32": onnx_dir / "model-fp32.onnx", "int8": onnx_dir / "model-int8.onnx"}
        export(model, tensor(batch), paths["float32"])
        export_qdq(qmodel, tensor(batch), paths["int8"])
        for key, path in paths.items():
            session = _session(path)
            name = session.get_inputs()[0].name
            outputs = np.concatenate([session.run(None, {name: x_test[i:i + 1000]})[0] for i in range(0, len(x_test), 1000)])
            report[key].update(onnx_bytes=os.path.getsize(path), onnx_accuracy=float((outputs.argmax(1) == y_test).mean()),
                               onnxruntime_ms=latency_ms(lambda x: session.run(None, {name: x}), batch, repeats))
    return report


def format_report(report: dict) -> str:
    """A Markdown table of the report."""
    rows = [("accuracy (macrograd)", "accuracy", "{:.2%}"), ("weights + buffers", "bytes", "{:,} B"),
            (f"latency, batch {report['batch_size']} (macrograd)", "macrograd_ms", "{:.2f} ms"),
            ("accuracy (onnxruntime)", "onnx_accuracy", "{:.2%}"), ("ONNX file", "onnx_bytes", "{:,} B"),
            (f"latency, batch {report['batch_size']} (onnxruntime, 1 thread)", "onnxruntime_ms", "{:.3f} ms")]
    lines = ["| | float32 | int8 |", "| --- | ---: | ---: |"]
    for label, key, fmt in rows:
        if key in report["float32"]:
            lines.append(f"| {label} | {fmt.format(report['float32'][key])} | {fmt.format(report['int8'][key])} |")
    return "\n".join(lines)
