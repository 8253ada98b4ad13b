"""Convolution as one GEMM: conv1d, conv2d and conv_transpose2d, with hand-derived backward.

im2col: every output pixel (n, y, x) of a 2-D convolution reads a kH x kW patch of every input
channel. Laid side by side, those patches form a matrix `cols` of shape (C kH kW, N OH OW), a
strided *view* of the padded input, copied once into contiguous memory, and then

    y = W (O, C kH kW) @ cols          (one GEMM; with groups, one batched GEMM over groups)
    dW = dy (O, N OH OW) @ cols^T        dcols = W^T @ dy,  dx = col2im(dcols)

col2im adds each column entry back onto the input pixel it was copied from; with a loop over
the kH kW kernel offsets each step is one strided slice add over all of (C, N, OH, OW).

We lay the padded input out as (C, N, H, W) rather than (N, C, H, W): then `cols` needs no
transpose to reach (C kH kW, N OH OW), and the GEMM's output (O, N OH OW) is one transpose
away from (N, O, OH, OW). conv_transpose2d is the same machinery run backwards: its forward is
conv2d's input gradient (a GEMM then col2im), its input gradient is conv2d's forward.
"""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .dtypes import to_tensor

# Keep the im2col matrix for backward when it is at most this big; bigger ones are rebuilt
# from the (much smaller) padded input in backward, trading one strided copy for memory.
_KEEP_COLS_BYTES = 64 * 2**20


# -- argument handling -------------------------------------------------------------------------
def _tuple(value, n, name, op):
    """An int or a sequence of n ints, as a tuple of n ints (PyTorch's _pair / _single)."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n or not all(isinstance(v, int) for v in value):
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return (value,) * n


def _check_positive(values, name, op, allow_zero=False):
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        word = "non-negative" if allow_zero else "positive"
        raise RuntimeError(f"{op}: {name} must be {word}, got {values}")


def _check_float(op, *tensors):
    dtypes = [t.dtype for t in tensors if t is not None]
    if any(d.kind != "f" for d in dtypes):
        raise RuntimeError(f"{op}: expected floating point tensors, got dtypes {[str(d) for d in dtypes]}")
    if len(set(dtypes)) > 1:
        raise RuntimeError(f"{op}: input, weight and bias must have the same dtype, got "
                           f"{[str(d) for d in dtypes]}")


# -- im2col / col2im ---------------------------------------------------------------------------
def _pad_cn(x, pads, value=0):
    """x (N, C, H, W) -> a fresh (C, N, H + top + bottom, W + left + right) array, borders = value."""
    n, c, h, w = x.shape
    top, bottom, left, right = pads
    out = xp.empty((c, n, h + top + bottom, w + left + right), dtype=x.dtype)
    if top or bottom or left or right:
        out.fill(value)
    out[:, :, top:top + h, left:left + w] = x.transpose(1, 0, 2, 3)
    return out


def _windows(xcn, kernel, stride, dilation, out_hw):
    """The (C, kH, kW, N, OH, OW) strided view of xcn (C, N, Hp, Wp): element
    [c, i, j, n, y, x] is xcn[c, n, y sH + i dH, x sW + j dW]. No copy."""
    c, n = xcn.shape[:2]
    sc, sn, sh, sw = xcn.strides
    return xp.lib.stride_tricks.as_strided(
        xcn, shape=(c, *kernel, n, *out_hw),
        strides=(sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1]),
        writeable=False)


def _im2col(xcn, kernel, stride, dilation, out_hw, groups):
    """cols (groups, C/groups kH kW, N OH OW): the windows copied into GEMM-ready memory."""
    view = _windows(xcn, kernel, stride, dilation, out_hw)
    cols = xp.ascontiguousarray(view)
    return cols.reshape(groups, -1, cols.shape[3] * out_hw[0] * out_hw[1])


def _col2im(cols, padded_hw, kernel, stride, dilation, out_hw):
    """Inverse scatter of _im2col: cols (C, kH, kW, N, OH, OW) summed back onto (C, N, Hp, Wp).
    One strided slice add per kernel offset: overlapping windows accumulate."""
    c, kh, kw, n, oh, ow = cols.shape
    out = xp.zeros((c, n, *padded_hw), dtype=cols.dtype)
    for i in range(kh):
        top = i * dilation[0]
        rows = slice(top, top + stride[0] * (oh - 1) + 1, stride[0])
        for j in range(kw):
            left = j * dilation[1]
            out[:, :, rows, left:left + stride[1] * (ow - 1) + 1:stride[1]] += cols[:, i, j]
    return out


def _nchw(flat, channels, n, hw):
    """A GEMM result (channels, N H W) as a contiguous (N, channels, H, W) array."""
    return xp.ascontiguousarray(flat.reshape(channels, n, *hw).transpose(1, 0, 2, 3))


def _cn_flat(a, groups):
    """(N, C, H, W) -> (groups, C/groups, N H W) contiguous: the GEMM operand layout."""
    n, c, h, w = a.shape
    return xp.ascontiguousarray(a.transpose(1, 0, 2, 3)).reshape(groups, c // groups, n * h * w)


def _gemm(a, b):
    """a @ b over the leading (groups) axis. One group goes straight to a 2-D BLAS call: NumPy's
    stacked matmul can be many times slower for it (transposed operands, threaded BLAS)."""
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return xp.matmul(a, b)


def _matmul_t(a, b):
    """a @ b^T over the leading (groups) axis."""
    return _gemm(a, b.transpose(0, 2, 1))


def _t_matmul(a, b):
    """a^T @ b over the leading (groups) axis."""
    if a.shape[1] == 1:  # a rank-1 outer product per group (depthwise conv): GEMM gains nothing
        return a.transpose(0, 2, 1) * b
    return _gemm(a.transpose(0, 2, 1), b)


# -- the Functions -----------------------------------------------------------------------------
class Conv2d(Function):
    """y[n,o] = b[o] + sum_{c,i,j} W[o,c,i,j] x_pad[n, c, y s + i d, x s + j d]   (y = W @ cols);
    dW = dy @ cols^T,  db = sum_{n,y,x} dy,  dx = col2im(W^T @ dy)"""

    def forward(ctx, x, weight, *bias, stride, pads, dilation, groups):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        top, bottom, left, right = pads
        hp, wp = h + top + bottom, w + left + right
        out_hw = ((hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
                  (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1)
        xcn = _pad_cn(x, pads)
        cols = _im2col(xcn, (kh, kw), stride, dilation, out_hw, groups)
        wg = weight.reshape(groups, o // groups, -1)
        y = _gemm(wg, cols).reshape(o, -1)  # (O, N OH OW)
        if bias:
            y += bias[0][:, None]
        ctx.geometry = (x.shape, (kh, kw), stride, dilation, pads, out_hw, groups)
        needs_w = ctx.needs_input_grad[1]
        keep = needs_w and cols.nbytes <= _KEEP_COLS_BYTES
        ctx.save(weight if ctx.needs_input_grad[0] else None,
                 cols if keep else None, xcn if needs_w and not keep else None)
        return _nchw(y, o, n, out_hw)

    def backward(ctx, dy):
        weight, cols, xcn = ctx.saved
        (n, c, h, w), kernel, stride, dilation, pads, out_hw, groups = ctx.geometry
        o = dy.shape[1]
        dyg = _cn_flat(dy, groups)  # (groups, O/groups, N OH OW)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dcols = _t_matmul(weight.reshape(groups, o // groups, -1), dyg)
            dcols = dcols.reshape(c, *kernel, n, *out_hw)
            top, bottom, left, right = pads
            dxcn = _col2im(dcols, (h + top + bottom, w + left + right), kernel, stride, dilation, out_hw)
            dx = xp.ascontiguousarray(dxcn[:, :, top:top + h, left:left + w].transpose(1, 0, 2, 3))
        if ctx.needs_input_grad[1]:
            if cols is None:
                cols = _im2col(xcn, kernel, stride, dilation, out_hw, groups)
            dw = _matmul_t(dyg, cols).reshape(o, c // groups, *kernel)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            db = dyg.reshape(o, -1).sum(axis=1)
        return (dx, dw, db)[:len(ctx.needs_input_grad)]


class ConvTranspose2d(Function):
    """y = crop(col2im(W^T @ x)) + b, the adjoint of conv2d (weight (C_in, C_out/groups, kH, kW));
    dx = W @ cols(dy_pad),  dW = x @ cols(dy_pad)^T,  db = sum_{n,y,x} dy"""

    def forward(ctx, x, weight, *bias, stride, padding, output_padding, dilation, groups):
        n, c_in, h, w = x.shape
        _, c_out_g, kh, kw = weight.shape
        c_out = c_out_g * groups
        full_hw = tuple((size - 1) * s + d * (k - 1) + 1 + op for size, s, d, k, op in
                        zip((h, w), stride, dilation, (kh, kw), output_padding))
        xg = _cn_flat(x, groups)  # (groups, C_in/groups, N H W)
        wg = weight.reshape(groups, c_in // groups, -1)
        cols = _t_matmul(wg, xg).reshape(c_out, kh, kw, n, h, w)
        ycn = _col2im(cols, full_hw, (kh, kw), stride, dilation, (h, w))
        ph, pw = padding
        ycn = ycn[:, :, ph:full_hw[0] - ph, pw:full_hw[1] - pw]
        if bias:
            ycn += bias[0][:, None, None, None]
        ctx.geometry = (x.shape, (kh, kw), stride, dilation, padding, groups)
        ctx.save(weight if ctx.needs_input_grad[0] else None,
                 xg if ctx.needs_input_grad[1] else None)
        return xp.ascontiguousarray(ycn.transpose(1, 0, 2, 3))

    def backward(ctx, dy):
        weight, xg = ctx.saved
        (n, c_in, h, w), kernel, stride, dilation, padding, groups = ctx.geometry
        ph, pw = padding
        # conv2d's forward on dy: the same windows conv_transpose2d scattered into.
        dycn = _pad_cn(dy, (ph, ph, pw, pw))
        cols = _im2col(dycn, kernel, stride, dilation, (h, w), groups)  # (g, C_out/g kH kW, N H W)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _nchw(_gemm(weight.reshape(groups, c_in // groups, -1), cols), c_in, n, (h, w))
        if ctx.needs_input_grad[1]:
            dw = _matmul_t(xg, cols).reshape(weight.shape)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return (dx, dw, db)[:len(ctx.needs_input_grad)]


# -- the functions users call ------------------------------------------------------------------
def _batched(input, spatial, op, weight):
    """Accept (N, C, *spatial) or unbatched (C, *spatial) input; returns (input, was_unbatched)."""
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    if input.ndim != spatial + 2:
        raise RuntimeError(
            f"{op}: expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, got input "
            f"of shape {tuple(input.shape)} (weight of shape {tuple(weight.shape)})")
    return input, False


def _same_pads(kernel, dilation, stride, op):
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]  # PyTorch puts the odd extra on the far side
    return tuple(pads)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation: input (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW) ->
    (N, C_out, (H + 2p - d (k - 1) - 1) // s + 1, ...)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation: input (N, C_in, L), weight (C_out, C_in/groups, k) -> (N, C_out, L_out);
    computed as conv2d on a height-1 view."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv(input, weight, bias, stride, padding, dilation, groups, spatial, op):
    input, weight = to_tensor(input), to_tensor(weight)
    bias = None if bias is None else to_tensor(bias)
    _check_float(op, input, weight, bias)
    if weight.ndim != spatial + 2:
        raise RuntimeError(f"{op}: expected a {spatial + 2}D weight (out_channels, in_channels/groups, "
                           f"*kernel_size), got weight of shape {tuple(weight.shape)}")
    x, unbatched = _batched(input, spatial, op, weight)
    stride = _tuple(stride, spatial, "stride", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    _check_positive(stride, "stride", op)
    _check_positive(dilation, "dilation", op)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0,) * (2 * spatial)
        elif padding == "same":
            pads = _same_pads(kernel, dilation, stride, op)
        else:
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    else:
        pad = _tuple(padding, spatial, "padding", op)
        _check_positive(pad, "padding", op, allow_zero=True)
        pads = tuple(p for p in pad for _ in range(2))
    out_channels, in_per_group = weight.shape[:2]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got groups={groups}")
    if out_channels % groups:
        raise RuntimeError(f"{op}: given groups={groups}, expected weight {tuple(weight.shape)} to be "
                           f"divisible by {groups} at dimension 0")
    if x.shape[1] != in_per_group * groups:
        raise RuntimeError(
            f"{op}: given groups={groups}, weight of size {tuple(weight.shape)}, expected input "
            f"{tuple(input.shape)} to have {in_per_group * groups} channels, but got {x.shape[1]} "
            f"channels instead")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"{op}: expected bias of shape ({out_channels},), got {tuple(bias.shape)}")
    padded = [size + pads[2 * i] + pads[2 * i + 1] for i, size in enumerate(x.shape[2:])]
    effective = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(p < e for p, e in zip(padded, effective)):
        raise RuntimeError(
            f"{op}: calculated padded input size per channel: {tuple(padded)}; kernel size (with "
            f"dilation): {tuple(effective)}; kernel size can't be greater than actual input size "
            f"(input {tuple(input.shape)}, weight {tuple(weight.shape)})")
    if spatial == 1:  # conv1d: a 2-D convolution over a height-1 image
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation, pads = (1,) + stride, (1,) + dilation, (0, 0) + pads
    args = (x, weight) if bias is None else (x, weight, bias)
    y = Conv2d.apply(*args, stride=stride, pads=pads, dilation=dilation, groups=groups)
    if spatial == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The adjoint of conv2d ("deconvolution"): input (N, C_in, H, W), weight
    (C_in, C_out/groups, kH, kW) -> (N, C_out, (H - 1) s - 2p + d (k - 1) + output_padding + 1, ...)."""
    op = "conv_transpose2d"
    input, weight = to_tensor(input), to_tensor(weight)
    bias = None if bias is None else to_tensor(bias)
    _check_float(op, input, weight, bias)
    if weight.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4D weight (in_channels, out_channels/groups, kH, kW), "
                           f"got weight of shape {tuple(weight.shape)}")
    x, unbatched = _batched(input, 2, op, weight)
    stride = _tuple(stride, 2, "stride", op)
    padding = _tuple(padding, 2, "padding", op)
    output_padding = _tuple(output_padding, 2, "output_padding", op)
    dilation = _tuple(dilation, 2, "dilation", op)
    _check_positive(stride, "stride", op)
    _check_positive(dilation, "dilation", op)
    _check_positive(padding, "padding", op, allow_zero=True)
    _check_positive(output_padding, "output_padding", op, allow_zero=True)
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, got "
                           f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got groups={groups}")
    if x.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise RuntimeError(
            f"{op}: given groups={groups}, weight of size {tuple(weight.shape)}, expected input "
            f"{tuple(input.shape)} to have {weight.shape[0]} channels (divisible by groups), but got "
            f"{x.shape[1]} channels instead")
    c_out = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"{op}: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    out_hw = [(size - 1) * s - 2 * p + d * (k - 1) + op_ + 1 for size, s, p, d, k, op_ in
              zip(x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding)]
    if any(size <= 0 for size in out_hw):
        raise RuntimeError(f"{op}: given input {tuple(input.shape)} and weight {tuple(weight.shape)}, the "
                           f"output size {tuple(out_hw)} is too small")
    args = (x, weight) if bias is None else (x, weight, bias)
    y = ConvTranspose2d.apply(*args, stride=stride, padding=padding, output_padding=output_padding,
                              dilation=dilation, groups=groups)
    return y.squeeze(0) if unbatched else y


TENSOR_METHODS = ()
