"""The model zoo against PyTorch.

Every family is written once against an `nn` namespace (see macrograd/models/_family.py), so
`get_model(name, nn=torch.nn)` builds the torch twin from the same code. The tests check that
every registered model runs forward and backward on 1x28x28 and 3x32x32 batches with a gradient
for every parameter, that its parameter count and state_dict keys equal the twin's, and that
the twin loaded with our weights computes the same outputs (eval mode for all, train mode and
parameter gradients for a few); ResNet-18/34/50 and DenseNet-121 also against torchvision's
published key names and parameter counts; and flops/summary against hand counts.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import macrograd as mg
from macrograd import models as M

# Small widths of every registered model: the same code paths as the defaults, a fraction of
# the time. A model added to the registry must be added here (test_fast_configs_cover_registry).
FAST = {
    "mlp": dict(hidden_sizes=(32, 16), dropout=0.1, batch_norm=True),
    "lenet5": dict(activation="relu"),
    "alexnet": dict(channels=(8, 16, 16, 16, 8), hidden=32),
    "vgg11": dict(width_mult=0.125),
    "vgg13": dict(width_mult=0.125, batch_norm=True),
    "vgg16": dict(width_mult=0.0625, batch_norm=True),
    "vgg19": dict(width_mult=0.0625),
    "googlenet": dict(width_mult=0.0625, factorize_5x5=True),
    "resnet18": dict(base_width=8),
    "resnet34": dict(base_width=4, small_input=True),
    "resnet50": dict(base_width=4),
    "resnet20": dict(widths=(4, 8, 16)),
    "densenet_bc40": dict(growth_rate=4),
    "mobilenet_v2": dict(width_mult=0.25),
    "efficientnet_small": dict(width_mult=0.25),
    "unet": dict(base_channels=4, depth=3),
    "vit": dict(dim=16, depth=1, heads=2, mlp_dim=32),
}
NEEDS_IMAGE_SIZE = ("mlp", "lenet5", "vit")
SIZES = [(1, 28), (3, 32)]


def build(name, channels, size, lib=mg, **overrides):
    kwargs = dict(FAST[name], num_classes=10, in_channels=channels, nn=lib.nn, **overrides)
    if name in NEEDS_IMAGE_SIZE:
        kwargs["image_size"] = size
    return M.get_model(name, **kwargs)


def expected_shape(name, n, size):
    return (n, 10, size, size) if name == "unet" else (n, 10)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def load_into_twin(model, twin):
    """Copy macrograd's state_dict (parameters and buffers) into the torch twin."""
    state = {k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in model.state_dict().items()}
    twin.load_state_dict(state)


def assert_close(ours, theirs, tol=1e-4, what="output"):
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    theirs = theirs.detach().numpy()
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)


# -- the registry ---------------------------------------------------------------------------------

def test_fast_configs_cover_registry():
    assert set(FAST) == set(M.list_models())
    assert M.list_models() == sorted(M.list_models())


def test_get_model_unknown_name():
    with pytest.raises(ValueError, match=r"get_model: unknown model 'resnet9'.*resnet18"):
        M.get_model("resnet9")


def test_builders_reject_bad_options():
    with pytest.raises(ValueError, match="LeNet5: activation"):
        M.lenet5(activation="sigmoid")
    with pytest.raises(ValueError, match="LeNet5: image_size"):
        M.lenet5(image_size=64)
    with pytest.raises(ValueError, match="VGG: cfg"):
        M.VGG("Z")
    with pytest.raises(ValueError, match="CifarResNet: shortcut"):
        M.resnet20(shortcut="C")
    with pytest.raises(ValueError, match="AlexNet: channels"):
        M.alexnet(channels=(8, 8))
    with pytest.raises(ValueError, match="UNet: depth"):
        M.unet(depth=0)
    with pytest.raises(ValueError, match="MLP: activation"):
        M.mlp(activation="swish")


# -- every model: forward, backward, shapes ------------------------------------------------------

@pytest.mark.parametrize("name", M.list_models())
def test_forward_backward_both_sizes(name):
    for channels, size in SIZES:
        model = build(name, channels, size)
        x = mg.tensor(randn(2, channels, size, size), requires_grad=True)
        out = model(x)
        assert tuple(out.shape) == expected_shape(name, 2, size)
        (out * mg.tensor(randn(*out.shape, seed=1))).sum().backward()
        assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0
        for pname, p in model.named_parameters():
            assert p.grad is not None, f"{name} {size}px: no gradient reached {pname}"
            g = p.grad.numpy()
            assert g.shape == tuple(p.shape) and np.isfinite(g).all(), f"{name}: bad gradient of {pname}"
            assert np.any(g != 0), f"{name} {size}px: gradient of {pname} is all zeros"


# -- every model against its torch twin -----------------------------------------------------------

@pytest.mark.parametrize("name", M.list_models())
def test_torch_twin_eval(name):
    model, twin = build(name, 3, 32), build(name, 3, 32, lib=torch)
    assert isinstance(twin, torch.nn.Module)
    assert M.count_parameters(model) == M.count_parameters(twin) == sum(p.numel() for p in twin.parameters())
    ours, theirs = model.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)  # same keys in the same order
    for key in ours:
        assert tuple(ours[key].shape) == tuple(theirs[key].shape), key

    # One training-mode batch moves the BN running statistics away from 0/1, so eval mode
    # below uses real statistics; then the twin gets all of our state.
    with mg.no_grad():
        model(mg.tensor(randn(4, 3, 32, 32, seed=2)))
    load_into_twin(model, twin)
    model.eval(), twin.eval()
    x = randn(3, 3, 32, 32, seed=3)
    with mg.no_grad(), torch.no_grad():
        assert_close(model(mg.tensor(x)), twin(torch.from_numpy(x)), what=f"{name} eval output")


@pytest.mark.parametrize("name, overrides", [
    ("resnet20", {}),                                         # BN statistics, option-A shortcut
    ("efficientnet_small", dict(dropout=0.0)),                # depthwise conv, SE, SiLU
    ("unet", dict(bilinear=True, depth=2)),                    # Upsample, skips, odd-size padding
    ("densenet_bc40", {}),                                    # concatenations, transitions
])
def test_torch_twin_train_mode_and_gradients(name, overrides):
    size = 28 if name == "unet" else 32
    model, twin = build(name, 3, size, **overrides), build(name, 3, size, lib=torch, **overrides)
    load_into_twin(model, twin)
    model.train(), twin.train()
    x = randn(2, 3, size, size, seed=4)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_m, out_t = model(xm), twin(xt)
    assert_close(out_m, out_t, what=f"{name} train output")
    cot = randn(*out_t.shape, seed=5)
    (out_m * mg.tensor(cot)).sum().backward()
    (out_t * torch.from_numpy(cot)).sum().backward()
    assert_close(xm.grad, xt.grad, tol=2e-4, what=f"{name} input grad")
    twin_params = dict(twin.named_parameters())
    for pname, p in model.named_parameters():
        assert_close(p.grad, twin_params[pname].grad, tol=2e-4, what=f"{name} grad of {pname}")
    twin_buffers = dict(twin.named_buffers())
    for bname, b in model.named_buffers():  # running statistics updated the same way
        assert_close(b.float(), twin_buffers[bname].float(), what=f"{name} buffer {bname}")


def test_unet_64px_both_upsampling_modes():
    x = randn(2, 1, 64, 64, seed=6)
    for bilinear in (False, True):
        model = M.unet(num_classes=3, in_channels=1, base_channels=4, depth=4, bilinear=bilinear)
        twin = M.unet(num_classes=3, in_channels=1, base_channels=4, depth=4, bilinear=bilinear, nn=torch.nn)
        load_into_twin(model, twin)
        model.eval(), twin.eval()
        out = model(mg.tensor(x))
        assert tuple(out.shape) == (2, 3, 64, 64)
        with torch.no_grad():
            assert_close(out, twin(torch.from_numpy(x)), what=f"unet bilinear={bilinear}")


@given(h=st.integers(8, 37), w=st.integers(8, 37), depth=st.integers(1, 3), bilinear=st.booleans())
def test_unet_any_size_keeps_resolution(h, w, depth, bilinear):
    """Odd sizes lose a row at each pool; the decoder pads it back, so any H x W comes out."""
    kwargs = dict(num_classes=2, in_channels=1, base_channels=2, depth=depth, bilinear=bilinear)
    model, twin = M.unet(**kwargs), M.unet(**kwargs, nn=torch.nn)
    load_into_twin(model, twin)
    model.eval(), twin.eval()
    x = randn(1, 1, h, w, seed=7)
    out = model(mg.tensor(x))
    assert tuple(out.shape) == (1, 2, h, w)
    with torch.no_grad():
        assert_close(out, twin(torch.from_numpy(x)), what=f"unet {h}x{w} depth {depth}")


def test_resnet_small_input_stem_and_zero_init():
    model = M.resnet18(num_classes=10, small_input=True, zero_init_residual=True, base_width=8)
    assert type(model.maxpool).__name__ == "Identity"
    assert tuple(model.conv1.weight.shape) == (8, 3, 3, 3) and model.conv1.stride == (1, 1)
    assert all(np.all(block.bn2.weight.detach().numpy() == 0) for layer in
               (model.layer1, model.layer2, model.layer3, model.layer4) for block in layer)


def test_model_pickles():
    model = M.resnet20(widths=(4, 8, 16)).eval()
    clone = pickle.loads(pickle.dumps(model))
    assert type(clone) is M.CifarResNet
    x = mg.tensor(randn(1, 3, 32, 32))
    np.testing.assert_array_equal(clone(x).detach().numpy(), model(x).detach().numpy())


# -- the published architectures ------------------------------------------------------------------

RESNET18_KEYS = [
    "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
    "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.conv2.weight",
    "layer1.1.bn2.running_mean", "layer2.0.conv1.weight", "layer2.0.downsample.0.weight",
    "layer2.0.downsample.1.weight", "layer2.0.downsample.1.running_var", "layer3.0.downsample.0.weight",
    "layer3.1.conv2.weight", "layer4.0.downsample.1.bias", "layer4.1.bn2.running_var", "fc.weight", "fc.bias",
]


def test_resnet18_matches_torchvision_layout():
    model = M.resnet18()  # 1000 classes, RGB, the ImageNet stem
    assert M.count_parameters(model) == 11_689_512
    state = model.state_dict()
    assert len(state) == 122  # 62 parameters + 20 BNs x 3 buffers, as torchvision's
    assert set(RESNET18_KEYS) <= set(state)
    assert "layer1.0.downsample.0.weight" not in state  # no projection where the shape is kept
    assert tuple(state["conv1.weight"].shape) == (64, 3, 7, 7)
    assert tuple(state["layer2.0.downsample.0.weight"].shape) == (128, 64, 1, 1)
    assert tuple(state["fc.weight"].shape) == (1000, 512)
    assert list(state) == list(M.resnet18(nn=torch.nn).state_dict())


def reference_resnet_forward(state, x):
    """torchvision's ResNet forward written out with torch.nn.functional from a state dict:
    an oracle for the architecture that does not share our model code (eval-mode BN)."""
    import torch.nn.functional as tf

    def bn(t, prefix):
        return tf.batch_norm(t, state[prefix + ".running_mean"], state[prefix + ".running_var"],
                             state[prefix + ".weight"], state[prefix + ".bias"], False, 0.0, 1e-5)

    def block(t, p, stride):
        bottleneck = p + ".conv3.weight" in state
        out = tf.relu(bn(tf.conv2d(t, state[p + ".conv1.weight"], stride=1 if bottleneck else stride,
                                   padding=0 if bottleneck else 1), p + ".bn1"))
        out = bn(tf.conv2d(out, state[p + ".conv2.weight"], stride=stride if bottleneck else 1, padding=1), p + ".bn2")
        if bottleneck:
            out = bn(tf.conv2d(tf.relu(out), state[p + ".conv3.weight"]), p + ".bn3")
        if p + ".downsample.0.weight" in state:
            t = bn(tf.conv2d(t, state[p + ".downsample.0.weight"], stride=stride), p + ".downsample.1")
        return tf.relu(out + t)

    x = tf.relu(bn(tf.conv2d(x, state["conv1.weight"], stride=2, padding=3), "bn1"))
    x = tf.max_pool2d(x, 3, stride=2, padding=1)
    for layer in (1, 2, 3, 4):
        i = 0
        while f"layer{layer}.{i}.conv1.weight" in state:
            x = block(x, f"layer{layer}.{i}", 2 if layer > 1 and i == 0 else 1)
            i += 1
    return tf.linear(x.mean((2, 3)), state["fc.weight"], state["fc.bias"])


@pytest.mark.parametrize("builder", [M.resnet18, M.resnet50])
def test_resnet_forward_matches_functional_reference(builder):
    model = builder(num_classes=10, base_width=4)
    with mg.no_grad():
        model(mg.tensor(randn(2, 3, 32, 32, seed=8)))  # non-trivial running statistics
    model.eval()
    state = {k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in model.state_dict().items()}
    x = randn(2, 3, 32, 32, seed=9)
    with mg.no_grad(), torch.no_grad():
        assert_close(model(mg.tensor(x)), reference_resnet_forward(state, torch.from_numpy(x)))


def test_published_parameter_counts():
    assert M.count_parameters(M.resnet34(nn=torch.nn)) == 21_797_672  # torchvision's figures
    assert M.count_parameters(M.resnet50(nn=torch.nn)) == 25_557_032
    dense = M.densenet121()
    assert M.count_parameters(dense) == 7_978_856
    keys = set(dense.state_dict())
    assert {"features.conv0.weight", "features.norm0.running_mean",
            "features.denseblock1.denselayer1.norm1.weight", "features.denseblock1.denselayer6.conv2.weight",
            "features.transition1.conv.weight", "features.denseblock4.denselayer16.norm2.bias",
            "features.norm5.running_var", "classifier.weight"} <= keys
    assert M.count_parameters(M.resnet20()) == 269_722  # the paper's "0.27M" (option A)
    assert M.count_parameters(M.lenet5()) == 61_706


# -- flops, count_parameters, summary -------------------------------------------------------------

# LeNet-5 on 1x28x28 by hand (multiply-accumulates = outputs x inputs per output):
#   conv1  6 x 28 x 28 outputs x (1 x 5 x 5)  = 117,600
#   conv2 16 x 10 x 10 outputs x (6 x 5 x 5)  = 240,000
#   fc1 400 x 120 = 48,000;  fc2 120 x 84 = 10,080;  fc3 84 x 10 = 840
LENET5_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_flops_lenet5_by_hand():
    model = M.lenet5()
    assert M.flops(model, (1, 1, 28, 28)) == LENET5_MACS == 416_520
    assert M.flops(model, (3, 1, 28, 28)) == 3 * LENET5_MACS
    assert M.flops(M.lenet5(nn=torch.nn), (1, 1, 28, 28)) == LENET5_MACS


def test_flops_grouped_and_transposed_conv():
    model = mg.nn.Sequential(mg.nn.Conv2d(4, 8, 3, padding=1, groups=2),      # 8*5*5 x (2*3*3) = 3600
                             mg.nn.ConvTranspose2d(8, 2, 2, stride=2),         # 8*5*5 in x (2*2*2) = 1600
                             mg.nn.Flatten(), mg.nn.Linear(2 * 10 * 10, 7))    # 7 x 200 = 1400
    assert M.flops(model, (1, 4, 5, 5)) == 3600 + 1600 + 1400


def test_flops_and_summary_leave_model_untouched():
    model = M.resnet20(widths=(4, 8, 16))
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    M.flops(model, (2, 3, 32, 32))
    M.summary(model, (2, 3, 32, 32))
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)


def test_count_parameters_trainable_only():
    model = M.lenet5()
    model.conv1.requires_grad_(False)
    assert M.count_parameters(model) == 61_706
    assert M.count_parameters(model, trainable_only=True) == 61_706 - 156


def test_summary_lenet5_table():
    result = M.summary(M.lenet5(), (1, 1, 28, 28))
    names = [row[0] for row in result.rows]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "fc1", "act3", "fc2", "act4", "fc3"]
    shapes = {row[0]: row[3] for row in result.rows}
    assert shapes["conv1"] == (1, 6, 28, 28) and shapes["pool2"] == (1, 16, 5, 5) and shapes["fc3"] == (1, 10)
    params = {row[0]: row[4] for row in result.rows}
    assert params["conv1"] == 156 and params["conv2"] == 2416 and params["fc1"] == 48_120 and params["act1"] == 0
    assert (result.total_params, result.trainable_params, result.macs) == (61_706, 61_706, LENET5_MACS)
    text = str(result)
    assert "Conv2d (conv1)" in text and "[1, 16, 5, 5]" in text
    assert "Total params: 61,706" in text and "Mult-adds: 416,520" in text


def test_summary_nested_rows_in_call_order():
    model = M.resnet20(widths=(4, 8, 16))
    result = M.summary(model, (1, 3, 32, 32), depth=2)
    names = [row[0] for row in result.rows]
    assert names[:4] == ["conv1", "bn1", "relu", "layer1"]
    assert names.index("layer1") < names.index("layer1.0") < names.index("layer1.2") < names.index("layer2")
    assert all(name.count(".") <= 1 for name in names)
    rows = {row[0]: row for row in result.rows}
    assert rows["layer1"][4] is None  # an expanded container: "--"
    assert rows["layer2.0"][4] == M.count_parameters(model.layer2[0])
    assert rows["layer3"][3] == (1, 16, 8, 8) and rows["fc"][3] == (1, 10)
