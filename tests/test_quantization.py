"""int8 post-training quantization: the rounding against torch's quantize_per_channel, the int8
layers against their dequantised float formula, a trained MNIST classifier's accuracy and size,
and the QDQ ONNX file in onnxruntime against the NumPy int8 path."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import macrograd as mg
from macrograd import models, nn
from macrograd.quantization import (compare, export_qdq, format_report, per_channel_weight, quantize,
                                    quantize_model, state_bytes)
from digit_classifier import trained_digit_classifier


def assert_same_int8_outputs(got, want):
    """onnxruntime and NumPy sum in different orders, so a hidden value that lands next to a
    rounding boundary (x / s = k + 0.5) can round to the neighbouring integer in one of them: that
    example's outputs then differ by about one quantum. Nearly all rows must agree to 1e-4, all
    rows closely, and the predicted classes everywhere but on such rare rows."""
    rows_equal = np.isclose(got, want, rtol=1e-4, atol=1e-4).all(axis=1)
    assert rows_equal.mean() >= 0.95, f"{(~rows_equal).sum()} of {len(rows_equal)} rows differ"
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.98


def run_onnx(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_per_channel_weights_match_torch():
    w = np.random.default_rng(0).normal(size=(6, 3, 3, 3)).astype(np.float32)
    w[2] *= 0.01  # a channel of small weights keeps its own resolution
    q, scale = per_channel_weight(w, axis=0)
    np.testing.assert_allclose(scale, np.abs(w).reshape(6, -1).max(1) / 127, rtol=1e-6)
    want = torch.quantize_per_channel(torch.tensor(w), torch.tensor(scale, dtype=torch.float64),
                                      torch.zeros(6, dtype=torch.int64), 0, torch.qint8).int_repr().numpy()
    np.testing.assert_array_equal(q, want)
    assert q.dtype == np.int8 and np.abs(q).reshape(6, -1).max(1).tolist() == [127] * 6
    # activations: clipped at the int8 range when the input exceeds the calibrated maximum
    assert quantize(np.array([1.0, -300.0, 300.0], np.float32), np.float32(1.0)).tolist() == [1, -128, 127]


def dequantised_reference(layer, x):
    """The float formula the int8 layer computes: q(x) s_x  (*)  q_w s_w  + b."""
    s_x = layer.input_scale.item()
    x_dq = quantize(x, s_x).astype(np.float32) * s_x
    w_dq = layer.weight_q.numpy().astype(np.float32) * layer.weight_scale.numpy().reshape(-1, *[1] * (layer.weight_q.ndim - 1))
    return x_dq, w_dq


def test_int8_layers_compute_their_formula():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))
    x = np.random.default_rng(1).normal(size=(3, 2, 8, 8)).astype(np.float32)
    q = quantize_model(net, [x])
    conv, linear = q[0], q[3]
    x_dq, w_dq = dequantised_reference(conv, x)
    want = torch.nn.functional.conv2d(torch.tensor(x_dq), torch.tensor(w_dq), torch.tensor(conv.bias.numpy()),
                                      stride=2, padding=1).numpy()
    with mg.no_grad():
        got_conv = conv(mg.tensor(x)).numpy()
        hidden = q[2](q[1](mg.tensor(got_conv))).numpy()
        got = linear(mg.tensor(hidden)).numpy()
    np.testing.assert_allclose(got_conv, want, rtol=1e-5, atol=1e-5)
    h_dq, w_dq = dequantised_reference(linear, hidden)
    np.testing.assert_allclose(got, h_dq @ w_dq.T + linear.bias.numpy(), rtol=1e-5, atol=1e-5)
    # and the whole int8 network stays close to the float one
    with mg.no_grad():
        ref = net(mg.tensor(x)).numpy()
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()
    assert state_bytes(q) < 0.4 * state_bytes(net)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_digit_classifier(tmp_path_factory)


def test_trained_classifier_int8_accuracy_size_and_onnx(trained, tmp_path):
    _, model, _, data = trained
    x_val, x_test, y_test = data[2], data[4][:2000], data[5][:2000]
    qmodel = quantize_model(model, [x_val[:500], x_val[500:1000]])  # held-out calibration data
    report = compare(model, qmodel, x_test, y_test, onnx_dir=tmp_path, repeats=3)
    f32, i8 = report["float32"], report["int8"]
    assert f32["accuracy"] > 0.8
    assert abs(i8["accuracy"] - f32["accuracy"]) < 0.01
    assert i8["bytes"] < 0.27 * f32["bytes"] and i8["onnx_bytes"] < 0.3 * f32["onnx_bytes"]
    assert i8["onnx_accuracy"] == pytest.approx(i8["accuracy"], abs=0.001)
    assert f32["onnx_accuracy"] == pytest.approx(f32["accuracy"], abs=0.001)
    assert "| accuracy (macrograd) |" in format_report(report)

    path = tmp_path / "model-int8.onnx"
    onnx.checker.check_model(onnx.load(str(path)))
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("QuantizeLinear") == 3 and ops.count("DequantizeLinear") == 6
    with mg.no_grad():
        want = qmodel(mg.tensor(x_test[:100])).numpy()
    assert_same_int8_outputs(run_onnx(path, x_test[:100]), want)


def test_qdq_export_of_a_cnn_matches_the_numpy_path(tmp_path):
    model = models.get_model("lenet5", num_classes=10, in_channels=1).eval()
    x = np.random.default_rng(2).normal(size=(5, 1, 28, 28)).astype(np.float32)
    qmodel = quantize_model(model, [x[:3]])
    export_qdq(qmodel, mg.tensor(x[:2]), tmp_path / "lenet-int8.onnx")
    with mg.no_grad():
        want = qmodel(mg.tensor(x)).numpy()
        ref = model(mg.tensor(x)).numpy()
    assert_same_int8_outputs(run_onnx(tmp_path / "lenet-int8.onnx", x), want)
    assert np.abs(want - ref).max() < 0.05 * np.abs(ref).max()


def test_errors():
    with pytest.raises(ValueError, match="Tanh has no Linear or Conv2d layer to quantize"):
        quantize_model(nn.Tanh(), [np.zeros((1, 2), np.float32)])
    with pytest.raises(ValueError, match="no calibration batches"):
        quantize_model(nn.Linear(2, 2), [])
