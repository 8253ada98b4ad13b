"""Every Function in ops/conv.py, ops/pool.py and ops/upsample.py passes a finite-difference
gradient check in float64 (mg.autograd.gradcheck), on small cases covering each code path
(groups, dilation, stride, padding, the tiling fast paths, adaptive windows, both resize modes)."""
import inspect

import numpy as np
import pytest

import macrograd as mg
import macrograd.nn.functional as F
from macrograd.autograd import Function, gradcheck
from macrograd.autograd.engine import topological_order
from macrograd.ops import conv, pool, upsample


def x64(*dims, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(dims), dtype=mg.float64, requires_grad=True)


CASES = {
    "Conv2d": [
        (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
         (x64(2, 2, 5, 6, seed=1), x64(3, 2, 3, 2, seed=2), x64(3, seed=3))),
        (lambda x, w: F.conv2d(x, w, groups=2, padding="same"), (x64(1, 4, 4, 4, seed=4), x64(2, 2, 2, 3, seed=5))),
        (lambda x, w: F.conv2d(x, w, groups=3, stride=2), (x64(1, 3, 5, 5, seed=6), x64(3, 1, 3, 3, seed=7))),
        (lambda x, w, b: F.conv1d(x, w, b, padding=2, dilation=2), (x64(2, 2, 7, seed=8), x64(3, 2, 3, seed=9),
                                                                    x64(3, seed=10))),
        # batch > 1, stride 1: dx computed as a convolution of dy with the flipped kernel
        (lambda x, w: F.conv2d(x, w, padding=1), (x64(3, 2, 4, 5, seed=40), x64(3, 2, 3, 3, seed=41))),
        (lambda x, w: F.conv2d(x, w, padding="same", dilation=(2, 1)),
         (x64(2, 2, 5, 4, seed=42), x64(3, 2, 2, 4, seed=43))),
        # flat columns (output rows as wide as the padded input, garbage columns dropped):
        # a non-square kernel and padding, dx as a convolution of dy and (O > C) by col2im
        (lambda x, w: F.conv2d(x, w, padding=(1, 2)), (x64(2, 3, 4, 16, seed=49), x64(2, 3, 3, 5, seed=50))),
        (lambda x, w: F.conv2d(x, w, padding=(0, 1)), (x64(2, 2, 3, 8, seed=51), x64(3, 2, 2, 3, seed=52))),
        # batch > 1, 1x1 kernel without padding: one batched GEMM on x's strided slice
        (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 3)), (x64(2, 3, 5, 7, seed=44), x64(4, 3, 1, 1, seed=45),
                                                            x64(4, seed=46))),
        (lambda x, w: F.conv2d(x, w), (x64(3, 2, 3, 4, seed=47), x64(3, 2, 1, 1, seed=48))),
    ],
    "ConvTranspose2d": [
        (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
         (x64(2, 2, 3, 3, seed=11), x64(2, 3, 3, 3, seed=12), x64(3, seed=13))),
        (lambda x, w: F.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=(2, 1)),
         (x64(1, 4, 3, 2, seed=14), x64(4, 1, 2, 3, seed=15))),
    ],
    "MaxPool2d": [
        (lambda x: F.max_pool2d(x, 3, 2, 1, dilation=(1, 2), ceil_mode=True), (x64(2, 2, 6, 7, seed=16),)),
        (lambda x: F.max_pool2d(x, 2), (x64(1, 2, 4, 6, seed=17),)),  # windows tile: reshape path
        (lambda x: F.max_pool1d(x, 3, 2, 1), (x64(2, 2, 7, seed=18),)),
        (lambda x: F.adaptive_max_pool2d(x, (2, 3)), (x64(1, 2, 4, 6, seed=19),)),
    ],
    "AvgPool2d": [
        (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (x64(2, 2, 6, 7, seed=20),)),
        (lambda x: F.avg_pool2d(x, (2, 3)), (x64(1, 2, 4, 6, seed=21),)),
        (lambda x: F.avg_pool1d(x, 2, 1, 1), (x64(2, 2, 5, seed=22),)),
    ],
    "AdaptiveAvgPool2d": [
        (lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (x64(2, 2, 5, 7, seed=23),)),
        (lambda x: F.adaptive_avg_pool2d(x, 1), (x64(2, 3, 4, 5, seed=24),)),
    ],
    "AdaptiveMaxPool2d": [
        (lambda x: F.adaptive_max_pool2d(x, (3, 4)), (x64(2, 2, 5, 7, seed=25),)),
    ],
    "Interpolate": [
        (lambda x: F.interpolate(x, scale_factor=(1.5, 0.7), mode="nearest"), (x64(1, 2, 4, 5, seed=26),)),
        (lambda x: F.interpolate(x, size=(7, 3), mode="bilinear"), (x64(1, 2, 4, 5, seed=27),)),
        (lambda x: F.interpolate(x, size=(3, 8), mode="bilinear", align_corners=True), (x64(1, 2, 4, 5, seed=28),)),
        (lambda x: F.interpolate(x, scale_factor=2, mode="linear"), (x64(2, 2, 4, seed=29),)),
    ],
}


def _functions(*modules):
    return sorted(name for module in modules for name, obj in vars(module).items()
                  if inspect.isclass(obj) and issubclass(obj, Function) and obj.__module__ == module.__name__)


def test_every_function_is_covered():
    assert _functions(conv, pool, upsample) == sorted(CASES)


@pytest.mark.parametrize("name,case", [(n, c) for n, cs in CASES.items() for c in cs],
                         ids=[f"{n}-{i}" for n, cs in CASES.items() for i in range(len(cs))])
def test_gradcheck(name, case):
    fn, inputs = case
    nodes = topological_order(fn(*inputs).grad_fn)
    assert name in {type(node).__name__ for node in nodes}  # the case really exercises that Function
    assert gradcheck(fn, inputs)


def test_gradcheck_catches_a_wrong_conv_backward(monkeypatch):
    """The check is not vacuous: a conv whose weight gradient is off by a factor fails it."""
    backward = conv.Conv2d.backward

    def wrong(ctx, dy):
        dx, dw, *rest = backward(ctx, dy)
        return (dx, dw * 1.01, *rest)

    monkeypatch.setattr(conv.Conv2d, "backward", wrong)
    x, w = x64(1, 1, 3, 3, seed=30), x64(1, 1, 2, 2, seed=31)
    assert not gradcheck(lambda x, w: F.conv2d(x, w), (x, w), raise_exception=False)
