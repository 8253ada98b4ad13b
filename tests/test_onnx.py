"""ONNX export: each model's file passes onnx.checker and onnxruntime gives macrograd's outputs
(within 1e-4), on a batch size other than the example's (the batch axis is dynamic)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import macrograd as mg
import macrograd.onnx
from macrograd import models, nn
from macrograd.models import BertConfig, BertModel, GPT, GPTConfig


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def randomize(model):
    """Non-trivial weights and BatchNorm statistics, so that no output is ~0 by construction
    (zero-initialised residual branches or heads would hide a wrong mapping)."""
    rng = np.random.default_rng(0)
    with mg.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(mg.tensor(rng.normal(0, np.sqrt(1.0 / fan_in), p.shape).astype(np.float32)))
            else:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(mg.tensor((base + rng.normal(0, 0.1, p.shape)).astype(np.float32)))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(mg.tensor(rng.normal(0, 0.1, b.shape).astype(np.float32)))
            elif name.endswith("running_var"):
                b.copy_(mg.tensor(rng.uniform(0.5, 1.5, b.shape).astype(np.float32)))
    return model.eval()


def roundtrip(tmp_path, model, example, feeds, names=None):
    """Export with `example`, check the file, run `feeds` in onnxruntime and in macrograd."""
    path = tmp_path / "model.onnx"
    mg.onnx.export(model, example, path, input_names=names)
    onnx.checker.check_model(onnx.load(str(path)))
    sess = session(path)
    feed_names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, dict(zip(feed_names, feeds)))
    with mg.no_grad():
        want = model(*[mg.tensor(f) for f in feeds])
    want = [want] if isinstance(want, mg.Tensor) else [w for w in want if w is not None]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.numpy()
        assert g.shape == w.shape
        assert np.abs(w).max() > 1e-2  # a real signal, not a vanishing output
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    return sess


@pytest.mark.parametrize("name, shape", [
    ("mlp", (1, 28, 28)), ("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32)),
    ("resnet18", (3, 32, 32)), ("mobilenet_v2", (3, 32, 32)), ("efficientnet_small", (3, 32, 32)),
])
def test_vision_models_roundtrip_with_dynamic_batch(tmp_path, name, shape):
    model = randomize(models.get_model(name, num_classes=10, in_channels=shape[0]))
    x = np.random.default_rng(1).normal(size=(3, *shape)).astype(np.float32)
    sess = roundtrip(tmp_path, model, mg.randn(2, *shape), [x])
    assert sess.get_inputs()[0].shape == ["batch", *shape]


def test_gpt_roundtrip(tmp_path):
    model = randomize(GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32)))
    ids = np.random.default_rng(2).integers(0, 50, (3, 8))
    roundtrip(tmp_path, model, mg.randint(0, 50, (2, 8)), [ids])


def test_bert_encoder_roundtrip_with_attention_mask(tmp_path):
    config = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16)
    model = randomize(BertModel(config))
    ids = np.random.default_rng(3).integers(0, 60, (3, 8))
    mask = np.ones((3, 8), dtype=np.int64)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    example = (mg.randint(0, 60, (2, 8)), mg.ones(2, 8, dtype=mg.int64))
    sess = roundtrip(tmp_path, model, example, [ids, mask], names=["input_ids", "attention_mask"])
    assert [o.name for o in sess.get_outputs()] == ["last_hidden_state", "pooler_output"]


def test_layers_beyond_the_zoo_roundtrip(tmp_path):
    """The activations, pools and shape ops that the zoo's models do not all use."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding=1, stride=2)
            self.norm = nn.BatchNorm2d(4)
            self.acts = nn.ModuleList([nn.SiLU(), nn.ELU(), nn.LeakyReLU(0.2), nn.Softplus(), nn.Tanh()])
            self.ln = nn.LayerNorm(16)
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            y = self.norm(self.conv(x))
            for act in self.acts:
                y = act(y)
            y = nn.functional.avg_pool2d(y, 2, ceil_mode=True) + nn.functional.max_pool2d(y, 2)
            y = mg.cat([y, y * 2], dim=1).flatten(1)[:, None, ::2][:, 0]
            y = self.ln(y).clamp(-1.5, 1.5)
            return nn.functional.log_softmax(self.fc(y).exp().sqrt(), dim=-1)

    model = randomize(Net())
    x = np.random.default_rng(4).normal(size=(3, 2, 7, 7)).astype(np.float32)
    roundtrip(tmp_path, model, mg.randn(2, 2, 7, 7), [x])


def test_initializers_are_named_by_state_dict_keys(tmp_path):
    model = models.get_model("lenet5", num_classes=10, in_channels=1)
    proto = mg.onnx.export(model, mg.randn(1, 1, 28, 28), tmp_path / "m.onnx")
    names = {t.name for t in proto.graph.initializer}
    conv_weights = [k for k in model.state_dict() if k.endswith("weight") and model.state_dict()[k].ndim == 4]
    assert conv_weights and set(conv_weights) <= names
    assert {n.op_type for n in proto.graph.node} >= {"Conv", "MatMul", "Add"}


def test_export_keeps_the_training_mode(tmp_path):
    model = models.get_model("mlp", num_classes=10, in_channels=1).train()
    mg.onnx.export(model, mg.randn(1, 1, 28, 28), tmp_path / "m.onnx")
    assert model.training


def test_unsupported_op_is_named():
    class Cumulative(nn.Module):
        def forward(self, x):
            return x.cumsum(1)

    with pytest.raises(NotImplementedError, match=r"no ONNX mapping for the op CumSum \(input shapes \[\(2, 3\)\]\)"):
        mg.onnx.export(Cumulative(), mg.randn(2, 3))


def test_bad_example_input():
    with pytest.raises(TypeError, match=r"example_input\[0\] must be a Tensor, got ndarray"):
        mg.onnx.export(nn.Linear(2, 2), np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="opset_version must be at least 17"):
        mg.onnx.export(nn.Linear(2, 2), mg.randn(1, 2), opset_version=13)


def test_linear_on_three_dims_and_with_a_weight_computed_from_the_input(tmp_path):
    """The fused Linear op: x (B, T, in) becomes MatMul + Add with W^T stored transposed, and a
    weight that depends on the input becomes a Transpose node."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.head = nn.Linear(4, 3, bias=False)

        def forward(self, x):
            h = self.fc(x).tanh()                     # (B, T, 4)
            w = h[0, :2] * 2                           # (2, 4): a weight made from the input
            return nn.functional.linear(h, w, None) + self.head(h).sum(-1, keepdim=True)

    model = randomize(Net())
    x = np.random.default_rng(5).normal(size=(3, 5, 4)).astype(np.float32)
    roundtrip(tmp_path, model, mg.randn(3, 5, 4), [x])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node]
    assert ops.count("MatMul") == 3 and "Transpose" in ops and "Gemm" not in ops
