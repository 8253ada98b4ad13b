"""`mg.onnx`: export macrograd models to ONNX (needs the `onnx` extra: pip install macrograd[onnx]).

    import macrograd.onnx
    macrograd.onnx.export(model, example_input, "model.onnx")

See export.py for how tracing works and ops.py for the op-by-op mapping.
"""
from .export import OPSET, export

__all__ = ["export", "OPSET"]
