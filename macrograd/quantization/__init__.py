"""`macrograd.quantization`: int8 post-training quantization of a trained classifier.

    from macrograd.quantization import quantize_model, compare, format_report
    qmodel = quantize_model(model, held_out_batches)     # per-channel int8 weights, calibrated inputs
    print(format_report(compare(model, qmodel, x_test, y_test, onnx_dir="out")))
    export_qdq(qmodel, example, "model-int8.onnx")        # QDQ ONNX (needs the onnx extra)

int8.py holds the arithmetic of quantizing, functions.py the int8 layers' Functions, modules.py
the layers, ptq.py calibration and the swap, report.py the comparison, onnx_export.py the
QDQ export.
"""
from .int8 import activation_scale, per_channel_weight, quantize
from .modules import QuantizedConv2d, QuantizedLinear
from .ptq import calibrate, quantize_model
from .report import compare, format_report, state_bytes


def export_qdq(qmodel, example_input, path=None, **options):
    """The quantized model as a QDQ ONNX file (imports onnx on use: an optional dependency)."""
    from .onnx_export import export_qdq as _export_qdq

    return _export_qdq(qmodel, example_input, path, **options)


__all__ = ["QuantizedConv2d", "QuantizedLinear", "activation_scale", "calibrate", "compare", "export_qdq",
           "format_report", "per_channel_weight", "quantize", "quantize_model", "state_bytes"]
