"""ViT against its PyTorch twin (the same code built on torch.nn): identical state_dict keys,
the same outputs and every gradient on 1x28x28 and 3x32x32 images, in eval and train mode
(dropout 0), both poolings; the patch embedding is the patch-flatten + Linear it stands for."""
import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.models.vit import ViT, vit

CASES = [dict(in_channels=1, image_size=28, patch_size=4, pool="cls"),
         dict(in_channels=3, image_size=32, patch_size=8, pool="mean")]
SMALL = dict(dim=32, depth=2, heads=4, mlp_dim=64)


def twins(**options):
    mg.manual_seed(0)
    ours = vit(num_classes=7, **SMALL, **options)
    theirs = vit(num_classes=7, **SMALL, **options, nn=torch.nn)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("options", CASES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_outputs_and_grads_match_the_torch_twin(options, mode):
    ours, theirs = twins(**options)
    getattr(ours, mode)(), getattr(theirs, mode)()
    c, s = options["in_channels"], options["image_size"]
    x = np.random.default_rng(1).normal(size=(3, c, s, s)).astype(np.float32)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm), theirs(xt)
    assert tuple(ym.shape) == (3, 7)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    w = np.random.default_rng(2).normal(size=(3, 7)).astype(np.float32)
    (ym * mg.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=name)


def test_layout_and_init():
    model = vit(in_channels=3, image_size=32, patch_size=4, **SMALL)
    assert isinstance(model, ViT)
    assert tuple(model.pos_embedding.shape) == (1, 65, 32) and tuple(model.cls_token.shape) == (1, 1, 32)
    keys = list(model.state_dict())
    assert keys[:4] == ["cls_token", "pos_embedding", "patch_embed.weight", "patch_embed.bias"]
    assert "encoder.layers.1.self_attn.in_proj_weight" in keys and "encoder.norm.weight" in keys
    assert model.encoder.layers[0].norm_first
    pos = model.pos_embedding.detach().numpy()
    # a normal of std 0.02 cut at 2 std has std 0.88 * 0.02
    assert abs(pos.std() - 0.88 * 0.02) < 0.002 and np.abs(pos).max() <= 0.04


def test_patch_embedding_is_flatten_then_linear():
    model = vit(in_channels=3, image_size=32, patch_size=8, **SMALL)
    x = np.random.default_rng(3).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with mg.no_grad():
        conv = model.patch_embed(mg.tensor(x)).flatten(2).transpose(1, 2).numpy()
    patches = x.reshape(2, 3, 4, 8, 4, 8).transpose(0, 2, 4, 1, 3, 5).reshape(2, 16, 3 * 8 * 8)
    weight = model.patch_embed.weight.detach().numpy().reshape(32, -1)
    linear = patches @ weight.T + model.patch_embed.bias.detach().numpy()
    np.testing.assert_allclose(conv, linear, rtol=1e-4, atol=1e-5)


def test_learns_to_tell_two_patterns_apart():
    mg.manual_seed(4)
    model = vit(num_classes=2, in_channels=1, image_size=28, patch_size=7, dim=32, depth=1, heads=2, mlp_dim=32)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 32)
    x = rng.normal(0, 0.3, (32, 1, 28, 28)).astype(np.float32)
    x[labels == 1, :, :14] += 1.0  # class 1: a bright top half
    optimizer = mg.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        optimizer.zero_grad()
        loss = mg.nn.functional.cross_entropy(model(mg.tensor(x)), mg.tensor(labels))
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="image_size 30 is not divisible by patch_size 4"):
        vit(image_size=30)
    with pytest.raises(ValueError, match="dim 30 is not divisible by heads 4"):
        vit(dim=30)
    with pytest.raises(ValueError, match="pool must be 'cls' or 'mean'"):
        vit(pool="max")
    with pytest.raises(ValueError, match=r"expected images \(N, C, 32, 32\), got shape \(2, 3, 28, 28\)"):
        vit(**SMALL)(mg.zeros(2, 3, 28, 28))
