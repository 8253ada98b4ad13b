"""`python -m macrograd.quantization CHECKPOINT [--out DIR]`: quantize a served MNIST classifier
(a serving checkpoint, e.g. from `python -m macrograd.serve.train_demo`) to int8, calibrating on
1,000 held-out validation images, and print accuracy, size and latency against float32 on the
10,000 test images; DIR receives model-fp32.onnx and model-int8.onnx (QDQ).

(An entry point, so it may use the layers above this package: the serving checkpoint and data.)
"""
from __future__ import annotations

import argparse
import json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m macrograd.quantization", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", default="quantized")
    parser.add_argument("--calibration", type=int, default=1000, help="held-out images for the activation ranges")
    args = parser.parse_args(argv)

    from ..serve.model import load_served_model
    from ..serve.train_demo import digit_data
    from . import compare, format_report, quantize_model

    model = load_served_model(args.checkpoint).model
    _, _, x_val, _, x_test, y_test, _, _, source = digit_data()
    calibration = [x_val[i:i + 250] for i in range(0, args.calibration, 250)]
    qmodel = quantize_model(model, calibration)
    report = compare(model, qmodel, x_test, y_test, onnx_dir=args.out)
    print(f"{source}: {len(x_test)} test images, calibration on {args.calibration} held-out images\n")
    print(format_report(report))
    with open(f"{args.out}/report.json", "w") as f:
        json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
