"""Conv, pooling and Upsample layers against their torch twins: torch's state_dict loaded into
ours, then outputs, input gradients and every parameter gradient compared (train and eval);
PyTorch's default init bounds, reprs identical to torch's, and errors naming the layer."""
import math

import numpy as np
import pytest
import torch

import macrograd as mg
from oracle import randn

TOL = dict(rtol=1e-4, atol=1e-5)


def twin(make):
    ours, theirs = make(mg), make(torch)
    result = ours.load_state_dict({k: mg.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    return ours, theirs


def run(module, L, x, **kwargs):
    xt = L.tensor(x.copy(), requires_grad=True)
    out = module(xt, **kwargs)
    out = out[0] if isinstance(out, tuple) else out
    cotangent = np.random.default_rng(1234).standard_normal(tuple(out.shape)).astype(np.float32)
    (out * L.tensor(cotangent)).sum().backward()
    params = {n: p.grad.detach().numpy() for n, p in module.named_parameters()}
    return out.detach().numpy(), xt.grad.detach().numpy(), params


def compare(make, x, **kwargs):
    ours, theirs = twin(make)
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        ours.zero_grad()
        theirs.zero_grad()
        (out, dx, params), (t_out, t_dx, t_params) = run(ours, mg, x, **kwargs), run(theirs, torch, x, **kwargs)
        assert out.shape == t_out.shape and out.dtype == t_out.dtype
        np.testing.assert_allclose(out, t_out, **TOL, err_msg="output")
        np.testing.assert_allclose(dx, t_dx, **TOL, err_msg="input grad")
        assert params.keys() == t_params.keys()
        for name in params:
            np.testing.assert_allclose(params[name], t_params[name], **TOL, err_msg=name)
    return ours, theirs


LAYERS = [
    (lambda L: L.nn.Conv2d(3, 4, 3), (2, 3, 7, 8)),
    (lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 2), dilation=(2, 1), groups=2, bias=False), (2, 4, 9, 8)),
    (lambda L: L.nn.Conv2d(4, 4, 3, padding="same", groups=4), (2, 4, 6, 5)),
    (lambda L: L.nn.Conv2d(3, 2, 4, padding="same", dilation=2, padding_mode="reflect"), (1, 3, 9, 8)),
    (lambda L: L.nn.Conv2d(3, 2, 3, padding=1, padding_mode="replicate"), (2, 3, 5, 6)),
    (lambda L: L.nn.Conv2d(3, 2, 3, padding=(2, 1), padding_mode="circular"), (2, 3, 5, 6)),
    (lambda L: L.nn.Conv2d(3, 4, 3, padding=1), (3, 6, 6)),  # unbatched
    (lambda L: L.nn.Conv1d(3, 5, 4, stride=2, padding=1), (2, 3, 11)),
    (lambda L: L.nn.Conv1d(2, 4, 3, padding="same", groups=2, padding_mode="reflect"), (2, 2, 7)),
    (lambda L: L.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    (lambda L: L.nn.ConvTranspose2d(4, 6, (2, 3), stride=(1, 2), groups=2, dilation=2, bias=False), (2, 4, 3, 3)),
    (lambda L: L.nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 8, 7)),
    (lambda L: L.nn.MaxPool2d(2, return_indices=True), (2, 3, 8, 6)),
    (lambda L: L.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 8, 7)),
    (lambda L: L.nn.AvgPool2d(2, divisor_override=3), (2, 3, 8, 7)),
    (lambda L: L.nn.MaxPool1d(3, 1, 1), (2, 3, 8)),
    (lambda L: L.nn.AvgPool1d(2), (2, 3, 8)),
    (lambda L: L.nn.AdaptiveAvgPool2d((3, None)), (2, 3, 8, 7)),
    (lambda L: L.nn.AdaptiveAvgPool2d(1), (2, 3, 8, 7)),
    (lambda L: L.nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 8, 7)),
    (lambda L: L.nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda L: L.nn.Upsample(size=(7, 3), mode="bilinear"), (2, 3, 4, 5)),
    (lambda L: L.nn.Upsample(scale_factor=(1.5, 2), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("make,shape", LAYERS, ids=[f"layer{i}" for i in range(len(LAYERS))])
def test_layer_matches_torch(make, shape):
    ours, theirs = compare(make, randn(*shape, seed=1))
    assert repr(ours) == repr(theirs)


def test_conv_transpose_output_size():
    compare(lambda L: L.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), randn(1, 2, 4, 4), output_size=(8, 8))
    layer = mg.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"requested an output size of \[10, 10\], but valid sizes range from 7 to 8"):
        layer(mg.zeros(1, 2, 4, 4), output_size=(10, 10))


def test_small_convnet_matches_torch():
    """LeNet-like stack: conv, relu, pool, conv, pool, flatten, linear."""
    def make(L):
        L.manual_seed(0)
        return L.nn.Sequential(L.nn.Conv2d(1, 4, 5, padding=2), L.nn.ReLU(), L.nn.MaxPool2d(2),
                               L.nn.Conv2d(4, 8, 3), L.nn.ReLU(), L.nn.AvgPool2d(2), L.nn.Flatten(),
                               L.nn.Linear(8 * 3 * 3, 10))
    compare(make, randn(4, 1, 16, 16, seed=2))


@pytest.mark.parametrize("make", [lambda L: L.nn.Conv2d(6, 12, (3, 5), groups=3),
                                  lambda L: L.nn.Conv1d(4, 8, 3),
                                  lambda L: L.nn.ConvTranspose2d(4, 6, 3, groups=2)])
def test_default_init_follows_torch(make):
    """kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for W and b, fan_in = weight.shape[1] * kernel."""
    mg.manual_seed(0)
    ours, theirs = make(mg), make(torch)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    bound = 1 / math.sqrt(theirs.weight.shape[1] * math.prod(theirs.weight.shape[2:]))
    for p in (ours.weight, ours.bias):
        values = p.detach().numpy()
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound
    assert abs(ours.weight.detach().numpy().std() - bound / math.sqrt(3)) < 0.15 * bound


@pytest.mark.parametrize("make,shape,message", [
    (lambda: mg.nn.Conv2d(3, 16, 3), (8, 1, 28, 28),
     r"Conv2d\(3, 16, kernel_size=\(3, 3\), stride=\(1, 1\)\): expected input of shape \(N, 3, H, W\) or "
     r"\(3, H, W\).*got input of shape \(8, 1, 28, 28\)"),
    (lambda: mg.nn.Conv2d(3, 16, 3), (8, 3, 28),
     r"Conv2d\(3, 16.*4D \(or 3D unbatched\) with 3 channels, got input of shape \(8, 3, 28\)"),
    (lambda: mg.nn.Conv1d(2, 4, 3), (8, 3, 10), r"Conv1d\(2, 4, .*got input of shape \(8, 3, 10\)"),
    (lambda: mg.nn.ConvTranspose2d(2, 4, 3), (1, 3, 5, 5), r"ConvTranspose2d\(2, 4, .*got input of shape \(1, 3, 5, 5\)"),
    (lambda: mg.nn.MaxPool2d(2), (4, 4),
     r"MaxPool2d\(kernel_size=2, .*\): expected a 3D \(C, H, W\) or 4D \(N, C, H, W\) input, got input of shape \(4, 4\)"),
    (lambda: mg.nn.AvgPool1d(2), (1, 2, 4, 4), r"AvgPool1d\(.*\): expected a 2D \(C, L\) or 3D .* \(1, 2, 4, 4\)"),
    (lambda: mg.nn.AdaptiveAvgPool2d(1), (4,), r"AdaptiveAvgPool2d\(output_size=1\): expected a 3D"),
])
def test_layer_errors_name_the_layer_and_shapes(make, shape, message):
    with pytest.raises(RuntimeError, match=message):
        make()(mg.zeros(*shape))


@pytest.mark.parametrize("call,message", [
    (lambda: mg.nn.Conv2d(3, 4, 3, groups=2), r"in_channels must be divisible by groups"),
    (lambda: mg.nn.Conv2d(4, 3, 3, groups=2), r"out_channels must be divisible by groups"),
    (lambda: mg.nn.Conv2d(3, 4, 3, stride=2, padding="same"), r"padding='same' is not supported for strided"),
    (lambda: mg.nn.Conv2d(3, 4, 3, padding="full"), r"invalid padding string 'full'"),
    (lambda: mg.nn.Conv2d(3, 4, 3, padding_mode="mirror"), r"padding_mode must be one of"),
    (lambda: mg.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), r'Only "zeros" padding mode is supported'),
])
def test_constructor_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
