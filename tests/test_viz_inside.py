"""Looking inside a CNN (macrograd.viz.inside): feature maps recorded by forward hooks equal the
layers' outputs; Grad-CAM equals a Grad-CAM written independently in torch (torch.autograd.grad
on the torch twin of the same LeNet); hooks are removed and the mode restored; plots write PNGs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import macrograd as mg
from macrograd.models import lenet5, resnet20
from macrograd.viz.inside import feature_maps, grad_cam, plot_feature_maps, plot_filters, plot_grad_cam


def twins(**kwargs):
    model = lenet5(activation="relu", **kwargs)
    twin = lenet5(activation="relu", nn=torch.nn, **kwargs)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return model, twin


def digits(n=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 28, 28)).astype(np.float32)


def torch_grad_cam(model, layer, x, classes):
    """Selvaraju et al. 2017 from the definition: alpha = spatial mean of d score / d A."""
    acts = []
    handle = layer.register_forward_hook(lambda m, a, out: acts.append(out))
    model.eval()
    logits = model(x)
    handle.remove()
    score = logits[torch.arange(len(x)), torch.as_tensor(classes)].sum()
    (grad,) = torch.autograd.grad(score, acts[0])
    cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * acts[0]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak.clamp_min(1e-30), torch.zeros_like(cam)).detach().numpy()


@pytest.mark.parametrize("layer", ["conv1", "conv2", "act2"])
def test_grad_cam_equals_torch_reference(layer):
    model, twin = twins()
    x = digits()
    cams, classes, logits = grad_cam(model, getattr(model, layer), mg.tensor(x))
    want_logits = twin.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(classes, want_logits.argmax(1))
    want = torch_grad_cam(twin, getattr(twin, layer), torch.from_numpy(x), classes)
    assert cams.shape == (5, 28, 28) and cams.dtype == np.float32
    np.testing.assert_allclose(cams, want, rtol=1e-4, atol=1e-5)
    assert cams.max() <= 1.0 + 1e-6 and cams.min() >= 0.0


def test_grad_cam_for_a_chosen_class_and_cleans_up():
    model, twin = twins()
    x = digits(3, seed=1)
    model.train()
    cams, classes, _ = grad_cam(model, model.conv2, mg.tensor(x), target=[3, 3, 7])
    np.testing.assert_array_equal(classes, [3, 3, 7])
    np.testing.assert_allclose(cams, torch_grad_cam(twin, twin.conv2, torch.from_numpy(x), [3, 3, 7]),
                               rtol=1e-4, atol=1e-5)
    assert model.training  # mode restored
    assert not model.conv2._forward_hooks  # hook removed
    assert all(p.grad is None for p in model.parameters())  # no stray gradients left behind


def test_grad_cam_runs_on_torch_models_and_inside_no_grad():
    model, twin = twins()
    x = digits(2, seed=2)
    with mg.no_grad():  # Grad-CAM needs a graph: it turns grad mode on itself
        cams, classes, _ = grad_cam(model, model.conv1, mg.tensor(x))
    cams_torch, classes_torch, _ = grad_cam(twin, twin.conv1, torch.from_numpy(x))
    np.testing.assert_array_equal(classes, classes_torch)
    np.testing.assert_allclose(cams, cams_torch, rtol=1e-4, atol=1e-5)


def test_grad_cam_on_a_residual_net_block():
    model = resnet20(num_classes=10, in_channels=1)
    cams, _, _ = grad_cam(model, model.layer3, mg.tensor(digits(2)))
    assert cams.shape == (2, 28, 28) and np.isfinite(cams).all()


def test_grad_cam_errors():
    model, _ = twins()
    unused = mg.nn.Conv2d(1, 2, 3)
    with pytest.raises(ValueError, match="grad_cam: the layer was not called by the model's forward"):
        grad_cam(model, unused, mg.tensor(digits(1)))


def test_feature_maps_are_the_layer_outputs_and_hooks_go_away():
    model, _ = twins()
    x = mg.tensor(digits(2))
    maps = feature_maps(model, {"conv1": model.conv1, "pool2": model.pool2}, x)
    with mg.no_grad():
        np.testing.assert_allclose(maps["conv1"], model.conv1(x).numpy(), rtol=1e-6)
        want_pool2 = model.pool2(model.act2(model.conv2(model.pool1(model.act1(model.conv1(x)))))).numpy()
    np.testing.assert_allclose(maps["pool2"], want_pool2, rtol=1e-6)
    assert maps["pool2"].shape == (2, 16, 5, 5)
    assert not model.conv1._forward_hooks and not model.pool2._forward_hooks and model.training


def test_plots_write_pngs(tmp_path):
    model, _ = twins()
    x = digits(4)
    assert plot_filters(model.conv1.weight, tmp_path / "f.png").stat().st_size > 1000
    assert plot_filters(model.conv2.weight, tmp_path / "f2.png").stat().st_size > 1000  # 6 input channels
    maps = feature_maps(model, {"conv1": model.act1, "conv2": model.act2}, mg.tensor(x[:1]))
    path = plot_feature_maps(x[0], {k: v[0] for k, v in maps.items()}, tmp_path / "m.png")
    assert path.stat().st_size > 1000
    cams, classes, _ = grad_cam(model, model.conv2, mg.tensor(x))
    assert plot_grad_cam(x, cams, tmp_path / "g.png", [str(c) for c in classes]).stat().st_size > 1000


def test_plot_errors(tmp_path):
    with pytest.raises(ValueError, match=r"plot_filters: expected a conv weight \(out, in, kh, kw\), got shape \(3, 3\)"):
        plot_filters(np.zeros((3, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"plot_grad_cam: images \(2, 28, 28\) and cams \(2, 14, 14\)"):
        plot_grad_cam(np.zeros((2, 28, 28)), np.zeros((2, 14, 14)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"plot_feature_maps: conv1: expected \(C, H, W\) maps of one image"):
        plot_feature_maps(np.zeros((28, 28)), {"conv1": np.zeros((1, 6, 28, 28))}, tmp_path / "x.png")
