"""conv1d, conv2d and conv_transpose2d against torch: forward and every gradient under a random
cotangent, over hypothesis-drawn batch, channels, sizes, kernel, stride, padding, dilation and
groups (incl. depthwise); 'same'/'valid' padding, unbatched input; a composition check (conv2d
equals an einsum over explicitly unfolded patches); errors naming the op and the shapes."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import macrograd as mg
from oracle import check, randn

TOL = dict(rtol=1e-4, atol=1e-5)  # float32 sums of up to a few hundred products


def F(L):
    return mg.nn.functional if L is mg else torch.nn.functional


@st.composite
def conv_cases(draw, spatial=2):
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(spatial))
    sizes = tuple(max(1, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 5)))
                  for k, d, p in zip(kernel, dilation, padding))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return dict(n=n, cin=cin, cout=cout, groups=groups, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, sizes=sizes, bias=bias)


def _arrays(case, transposed=False):
    x = randn(case["n"], case["cin"], *case["sizes"], seed=1)
    if transposed:
        w = randn(case["cin"], case["cout"] // case["groups"], *case["kernel"], seed=2)
    else:
        w = randn(case["cout"], case["cin"] // case["groups"], *case["kernel"], seed=2)
    b = randn(case["cout"], seed=3)
    return (x, w, b) if case["bias"] else (x, w)


@given(conv_cases())
def test_conv2d_matches_torch(case):
    options = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    check(lambda L, x, w, b=None: F(L).conv2d(x, w, b, **options), *_arrays(case), **TOL)


@given(conv_cases(spatial=1))
def test_conv1d_matches_torch(case):
    options = {k: case[k][0] if isinstance(case[k], tuple) else case[k]
               for k in ("stride", "padding", "dilation", "groups")}
    check(lambda L, x, w, b=None: F(L).conv1d(x, w, b, **options), *_arrays(case), **TOL)


@given(conv_cases(), st.data())
def test_conv_transpose2d_matches_torch(case, data):
    # output_padding must be smaller than stride or dilation
    output_padding = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(case["stride"], case["dilation"]))
    options = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    sizes = [(i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, s, p, d, k, op in zip(
        case["sizes"], case["stride"], case["padding"], case["dilation"], case["kernel"], output_padding)]
    if min(sizes) <= 0:
        return  # torch refuses these too (tested below)
    check(lambda L, x, w, b=None: F(L).conv_transpose2d(x, w, b, output_padding=output_padding, **options),
          *_arrays(case, transposed=True), **TOL)


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv2d(multiplier):
    x, w, b = randn(2, 4, 9, 8, seed=1), randn(4 * multiplier, 1, 3, 3, seed=2), randn(4 * multiplier, seed=3)
    check(lambda L, x, w, b: F(L).conv2d(x, w, b, stride=2, padding=1, groups=4), x, w, b, **TOL)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((4, 2), 1), ((3, 4), (2, 3))])
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own copy
def test_string_padding(padding, kernel, dilation):
    x, w, b = randn(2, 3, 9, 10, seed=1), randn(4, 3, *kernel, seed=2), randn(4, seed=3)
    out = check(lambda L, x, w, b: F(L).conv2d(x, w, b, padding=padding, dilation=dilation), x, w, b, **TOL)
    if padding == "same":
        assert out[0].shape[2:] == x.shape[2:]
    x1, w1 = randn(2, 3, 11, seed=4), randn(5, 3, kernel[0], seed=5)
    check(lambda L, x, w: F(L).conv1d(x, w, padding=padding), x1, w1, **TOL)


def test_unbatched_input():
    check(lambda L, x, w: F(L).conv2d(x, w, padding=1), randn(3, 6, 7), randn(2, 3, 3, 3), **TOL)
    check(lambda L, x, w: F(L).conv1d(x, w), randn(3, 9), randn(2, 3, 4), **TOL)
    check(lambda L, x, w: F(L).conv_transpose2d(x, w, stride=2), randn(3, 4, 5), randn(3, 2, 3, 3), **TOL)


def test_large_columns_are_rebuilt_in_backward(monkeypatch):
    """Above the size limit the im2col matrix is not kept but rebuilt from the padded input."""
    from macrograd.ops import conv
    monkeypatch.setattr(conv, "_KEEP_COLS_BYTES", 0)
    check(lambda L, x, w, b: F(L).conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
          randn(2, 4, 8, 9, seed=1), randn(6, 2, 3, 3, seed=2), randn(6, seed=3), **TOL)


def test_float64_stays_float64():
    x, w = randn(1, 2, 5, 5, dtype=np.float64), randn(3, 2, 3, 3, dtype=np.float64)
    check(lambda L, x, w: F(L).conv2d(x, w), x, w)
    x = mg.tensor(randn(1, 2, 5, 5), requires_grad=True)
    y = mg.nn.functional.conv2d(x, mg.tensor(randn(3, 2, 3, 3)))
    y.sum().backward()
    assert y.dtype == mg.float32 and x.grad.dtype == mg.float32


def test_conv2d_equals_einsum_over_unfolded_patches():
    """The fused op against its definition composed from primitives: pad, slice out every
    kernel offset, stack the patches and contract with the weight in one einsum."""
    x_np, w_np, b_np = randn(2, 3, 6, 7, seed=1), randn(4, 3, 3, 2, seed=2), randn(4, seed=3)
    stride, pad = 2, 1

    def composed(x, w, b):
        xp = F(mg).pad(x, (pad, pad, pad, pad))
        oh, ow = (6 + 2 * pad - 3) // stride + 1, (7 + 2 * pad - 2) // stride + 1
        patches = mg.stack([mg.stack([xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                                      for j in range(2)], dim=-1) for i in range(3)], dim=-2)
        return mg.einsum("ncyxij,ocij->noyx", patches, w) + b.reshape(1, 4, 1, 1)

    results = []
    for fn in (composed, lambda x, w, b: F(mg).conv2d(x, w, b, stride=stride, padding=pad)):
        x, w, b = (mg.tensor(a.copy(), requires_grad=True) for a in (x_np, w_np, b_np))
        y = fn(x, w, b)
        (y * mg.tensor(randn(*y.shape, seed=9))).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for ours, reference in zip(*results):
        np.testing.assert_allclose(ours, reference, **TOL)


@pytest.mark.parametrize("call,message", [
    (lambda: mg.nn.functional.conv2d(mg.zeros(8, 1, 28, 28), mg.zeros(16, 3, 3, 3)),
     r"conv2d: .*weight of size \(16, 3, 3, 3\).*input \(8, 1, 28, 28\) to have 3 channels, but got 1"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(8, 28, 28, 1, 1), mg.zeros(16, 3, 3, 3)),
     r"conv2d: expected 3D \(unbatched\) or 4D \(batched\) input, got input of shape \(8, 28, 28, 1, 1\)"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 2, 2), mg.zeros(4, 3, 3, 3)),
     r"conv2d: .*kernel size can't be greater than actual input size"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3)),
     r"conv2d: expected a 4D weight .* got weight of shape \(4, 3, 3\)"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 4, 5, 5), mg.zeros(3, 2, 3, 3), groups=2),
     r"conv2d: given groups=2, expected weight \(3, 2, 3, 3\) to be divisible by 2"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3), stride=2, padding="same"),
     r"padding='same' is not supported for strided convolutions"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3), padding="full"),
     r"conv2d: invalid padding string 'full'"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3, dtype=mg.float64)),
     r"conv2d: input, weight and bias must have the same dtype"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5, dtype=mg.int64), mg.zeros(4, 3, 3, 3, dtype=mg.int64)),
     r"conv2d: expected floating point tensors"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3), mg.zeros(3)),
     r"conv2d: expected bias of shape \(4,\), got \(3,\)"),
    (lambda: mg.nn.functional.conv2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3), stride=0),
     r"conv2d: stride must be positive"),
    (lambda: mg.nn.functional.conv1d(mg.zeros(2, 3, 5, 5), mg.zeros(4, 3, 3)),
     r"conv1d: expected 2D \(unbatched\) or 3D \(batched\) input, got input of shape \(2, 3, 5, 5\)"),
    (lambda: mg.nn.functional.conv_transpose2d(mg.zeros(1, 3, 5, 5), mg.zeros(4, 2, 3, 3)),
     r"conv_transpose2d: .*weight of size \(4, 2, 3, 3\).*input \(1, 3, 5, 5\) to have 4 channels"),
    (lambda: mg.nn.functional.conv_transpose2d(mg.zeros(1, 3, 5, 5), mg.zeros(3, 2, 3, 3), stride=2,
                                               output_padding=2),
     r"conv_transpose2d: output padding must be smaller than either stride or dilation"),
    (lambda: mg.nn.functional.conv_transpose2d(mg.zeros(1, 3, 1, 1), mg.zeros(3, 2, 1, 1), padding=1),
     r"conv_transpose2d: given input \(1, 3, 1, 1\) and weight \(3, 2, 1, 1\), the output size .* too small"),
])
def test_errors(call, message):
    with pytest.raises((RuntimeError, ValueError), match=message):
        call()


@pytest.mark.parametrize("batch", [1, 3])
def test_inference_at_small_batch_matches_torch(batch):
    """Under no_grad (no node, the batch-1 paths): contiguous and transposed (strided) input,
    grouped, without and with padding, dilation and stride."""
    x, w, b = randn(batch, 4, 9, 7, seed=1), randn(6, 2, 3, 3, seed=2), randn(6, seed=3)
    for options in (dict(groups=2), dict(padding=2, dilation=2, groups=2, stride=(2, 1))):
        for transposed in (False, True):
            got_x = mg.tensor(x).transpose(-1, -2) if transposed else mg.tensor(x)
            want_x = torch.tensor(x).transpose(-1, -2) if transposed else torch.tensor(x)
            with mg.no_grad():
                got = mg.nn.functional.conv2d(got_x, mg.tensor(w), mg.tensor(b), **options)
            want = torch.nn.functional.conv2d(want_x, torch.tensor(w), torch.tensor(b), **options)
            np.testing.assert_allclose(got.numpy(), want.numpy(), **TOL)


def test_remembered_arguments_still_reject_bad_ones():
    """The checked arguments of a call are remembered; a bool stride (equal to 1 as a key) and a
    bad call repeated are still refused every time."""
    x, w = mg.zeros(1, 3, 5, 5), mg.zeros(4, 3, 3, 3)
    mg.nn.functional.conv2d(x, w, stride=1)
    with pytest.raises(ValueError, match="stride must be an int or a tuple of 2 ints"):
        mg.nn.functional.conv2d(x, w, stride=True)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="stride must be positive"):
            mg.nn.functional.conv2d(x, w, stride=0)
