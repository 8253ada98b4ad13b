"""Pooling and resizing against torch: max/avg pool 1d/2d (hypothesis over kernel, stride,
padding, dilation, ceil_mode, count_include_pad, divisor_override; return_indices compared
exactly), adaptive avg/max pool 2d, interpolate (nearest, linear, bilinear, both align_corners);
forward and every gradient under a random cotangent; errors naming the op and the shapes."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import macrograd as mg
from oracle import check, randn

TOL = dict(rtol=1e-5, atol=1e-6)


def F(L):
    return mg.nn.functional if L is mg else torch.nn.functional


@st.composite
def pool_cases(draw, spatial=2, dilation=True):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    dil = tuple(draw(st.integers(1, 2)) if dilation else 1 for _ in range(spatial))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    # at least `dilation` wide, so that no window sees only padding (torch's indices are then undefined)
    sizes = tuple(max(d, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 6))) for k, d, p in zip(kernel, dil, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes
    options = dict(kernel_size=kernel, stride=draw(st.sampled_from([stride, None])), padding=padding,
                   ceil_mode=draw(st.booleans()))
    if dilation:
        options["dilation"] = dil
    if spatial == 1:
        options = {k: v[0] if isinstance(v, tuple) else v for k, v in options.items()}
    return shape, options


@given(pool_cases())
def test_max_pool2d(case):
    shape, options = case
    check(lambda L, x: F(L).max_pool2d(x, return_indices=True, **options), randn(*shape, seed=1), **TOL)


@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 2]))
def test_avg_pool2d(case, count_include_pad, divisor_override):
    shape, options = case
    check(lambda L, x: F(L).avg_pool2d(x, count_include_pad=count_include_pad,
                                       divisor_override=divisor_override, **options),
          randn(*shape, seed=1), **TOL)


@given(pool_cases(spatial=1))
def test_max_pool1d(case):
    shape, options = case
    check(lambda L, x: F(L).max_pool1d(x, return_indices=True, **options), randn(*shape, seed=1), **TOL)


@given(pool_cases(spatial=1, dilation=False), st.booleans())
def test_avg_pool1d(case, count_include_pad):
    shape, options = case
    check(lambda L, x: F(L).avg_pool1d(x, count_include_pad=count_include_pad, **options),
          randn(*shape, seed=1), **TOL)


@pytest.mark.parametrize("kernel", [2, (2, 3), 4])
def test_tiling_windows_fast_path(kernel):
    """stride == kernel over sizes that divide: the reshape path, incl. tied maxima."""
    x = randn(2, 3, 8, 12, seed=2)
    x[:, :, ::2] = x[:, :, 1::2]  # ties between rows: the first maximum must win, as in torch
    check(lambda L, x: F(L).max_pool2d(x, kernel, return_indices=True), x, **TOL)
    check(lambda L, x: F(L).avg_pool2d(x, kernel), x, **TOL)


@pytest.mark.filterwarnings("ignore:invalid value")  # the oracle's cotangent sum of -inf values
def test_max_pool_of_minus_infinity_reports_torchs_index():
    x = np.full((1, 1, 5, 5), -np.inf, dtype=np.float32)
    check(lambda L, x: F(L).max_pool2d(x, 3, 2, 1, return_indices=True), x, check_grad=False)


def test_max_pool_propagates_nan():
    x = randn(1, 1, 4, 4)
    x[0, 0, 1, 2] = np.nan
    check(lambda L, x: F(L).max_pool2d(x, 2, 1, return_indices=True), x, **TOL)


def test_unbatched_input():
    check(lambda L, x: F(L).max_pool2d(x, 3, 2, 1, return_indices=True), randn(3, 7, 6), **TOL)
    check(lambda L, x: F(L).avg_pool2d(x, 2), randn(3, 7, 6), **TOL)
    check(lambda L, x: F(L).max_pool1d(x, 2), randn(3, 7), **TOL)
    check(lambda L, x: F(L).adaptive_avg_pool2d(x, 3), randn(3, 7, 6), **TOL)


def test_indices_outside_autograd():
    x = randn(2, 3, 9, 9, seed=3)
    with mg.no_grad():
        _, ours = mg.nn.functional.max_pool2d(mg.tensor(x), 3, 2, 1, return_indices=True)
    _, theirs = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert ours.dtype == mg.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("output_size", [1, 3, (2, 5), (None, 4), (7, 12), (9, 13), (14, 2)])
def test_adaptive_pools(output_size):
    x = randn(2, 3, 7, 12, seed=4)
    check(lambda L, x: F(L).adaptive_avg_pool2d(x, output_size), x, **TOL)
    check(lambda L, x: F(L).adaptive_max_pool2d(x, output_size, return_indices=True), x, **TOL)


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 10), st.integers(1, 10))
def test_adaptive_pools_any_sizes(h, w, oh, ow):
    x = randn(1, 2, h, w, seed=5)
    check(lambda L, x: F(L).adaptive_avg_pool2d(x, (oh, ow)), x, **TOL)
    check(lambda L, x: F(L).adaptive_max_pool2d(x, (oh, ow), return_indices=True), x, **TOL)


# -- resizing ----------------------------------------------------------------------------------
SIZES = [dict(scale_factor=2), dict(scale_factor=(1.7, 0.6)), dict(size=(9, 4)), dict(size=(5, 7)),
         dict(size=(13, 21)), dict(size=1), dict(scale_factor=3, recompute_scale_factor=True),
         dict(scale_factor=0.3)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("bilinear", None), ("bilinear", True),
                                                ("bilinear", False)])
def test_interpolate_2d(size, mode, align_corners):
    check(lambda L, x: F(L).interpolate(x, mode=mode, align_corners=align_corners, **size),
          randn(2, 3, 5, 7, seed=6), **TOL)


@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 20), st.integers(1, 20),
       st.sampled_from(["nearest", "bilinear"]), st.booleans())
def test_interpolate_any_sizes(h, w, oh, ow, mode, align_corners):
    align = align_corners if mode == "bilinear" else None
    # Upsampling 1 pixel to up to 20x20 sums up to 400 float32 gradients into one input pixel;
    # the two libraries add them in different orders, so allow the rounding of such a sum.
    check(lambda L, x: F(L).interpolate(x, size=(oh, ow), mode=mode, align_corners=align),
          randn(1, 2, h, w, seed=7), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [dict(scale_factor=2), dict(size=11), dict(scale_factor=0.5)])
@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("linear", True), ("linear", False)])
def test_interpolate_1d(size, mode, align_corners):
    check(lambda L, x: F(L).interpolate(x, mode=mode, align_corners=align_corners, **size),
          randn(2, 3, 6, seed=8), **TOL)


def test_interpolate_float64():
    check(lambda L, x: F(L).interpolate(x, scale_factor=1.5, mode="bilinear"), randn(1, 2, 4, 5, dtype=np.float64))


@pytest.mark.parametrize("call,error,message", [
    (lambda: mg.nn.functional.max_pool2d(mg.zeros(2, 5), 2), RuntimeError,
     r"max_pool2d: expected 3D \(unbatched\) or 4D \(batched\) input, got input of shape \(2, 5\)"),
    (lambda: mg.nn.functional.max_pool2d(mg.zeros(1, 1, 5, 5), 2, padding=2), RuntimeError,
     r"max_pool2d: pad should be smaller than or equal to half of kernel size, but got padding=\(2, 2\), kernel_size=\(2, 2\)"),
    (lambda: mg.nn.functional.avg_pool2d(mg.zeros(1, 1, 2, 2), 3), RuntimeError,
     r"avg_pool2d: given input size \(1, 1, 2, 2\), the calculated output size \(0, 0\) is too small"),
    (lambda: mg.nn.functional.max_pool1d(mg.zeros(1, 1, 5), 0), RuntimeError,
     r"max_pool1d: kernel_size must be positive"),
    (lambda: mg.nn.functional.avg_pool2d(mg.zeros(1, 1, 4, 4), 2, divisor_override=0), RuntimeError,
     r"avg_pool2d: divisor must be not zero"),
    (lambda: mg.nn.functional.max_pool2d(mg.zeros(1, 1, 4, 4, dtype=mg.int64), 2), RuntimeError,
     r"max_pool2d: expected a floating point input, got int64"),
    (lambda: mg.nn.functional.interpolate(mg.zeros(1, 1, 4, 4), scale_factor=2, mode="nearest",
                                          align_corners=True), ValueError,
     r"align_corners option can only be set with the interpolating modes"),
    (lambda: mg.nn.functional.interpolate(mg.zeros(1, 1, 4), scale_factor=2, mode="bilinear"),
     NotImplementedError, r"interpolate: got 3D input of shape \(1, 1, 4\), but mode 'bilinear' expects 4D"),
    (lambda: mg.nn.functional.interpolate(mg.zeros(1, 1, 4, 4)), ValueError,
     r"exactly one of size or scale_factor should be defined"),
    (lambda: mg.nn.functional.interpolate(mg.zeros(1, 1, 4, 4), size=(2, 3, 4)), ValueError,
     r"input and output must have the same number of spatial dimensions"),
    (lambda: mg.nn.functional.interpolate(mg.zeros(1, 1, 4, 4), size=4, mode="bicubic"), NotImplementedError,
     r"interpolate: mode 'bicubic' is not implemented"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("shape,kernel", [((1, 6, 28, 28), 2), ((2, 3, 9, 12), 3), ((2, 3, 8, 6), (2, 3)),
                                          ((1, 2, 6, 4), (3, 1)), ((1, 2, 4, 6), (1, 2)), ((1, 2, 4, 4), 1)])
def test_max_pool_inference_value_path_matches_torch(shape, kernel):
    """Under no_grad, windows that tile the input take a value-only path (no argmax): same values
    as torch, a NaN propagating, and an output that never shares the input's memory."""
    x = randn(*shape, seed=4)
    x[0, 0, 0, 0] = np.nan
    x_mg = mg.tensor(x)
    with mg.no_grad():
        got = mg.nn.functional.max_pool2d(x_mg, kernel)
        got_with_indices, indices = mg.nn.functional.max_pool2d(x_mg, kernel, return_indices=True)
    want, want_indices = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, return_indices=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(got_with_indices.numpy(), want.numpy())
    np.testing.assert_array_equal(indices.numpy(), want_indices.numpy())
    assert not np.shares_memory(got.numpy(), x_mg.numpy())


def test_remembered_pool_arguments_still_reject_bad_ones():
    x = mg.zeros(1, 1, 5, 5)
    mg.nn.functional.max_pool2d(x, 2, padding=1)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="pad should be smaller than or equal to half of kernel size"):
            mg.nn.functional.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 2 ints"):
        mg.nn.functional.max_pool2d(x, True)
