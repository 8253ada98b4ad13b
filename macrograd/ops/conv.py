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


import numpy as np

from ..autograd import Function
from ..backend import xp
from .arg_memo import ArgMemo, plain
from .dtypes import to_tensor


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


def _strided(a, shape, strides):
    """A read-only view of `a` with these shape and strides, like as_strided, which costs ~3 us
    of Python a call (a tenth of a batch-1 convolution); the ndarray constructor over a
    C-contiguous NumPy array's buffer makes the same view in a tenth of that."""
    if xp is np and a.flags.c_contiguous:
        view = np.ndarray(shape, a.dtype, a, 0, strides)
        view.flags.writeable = False
        return view
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)


def _windows(xcn, kernel, stride, dilation, out_hw):
    """The (C, kH, kW, N, OH, OW) strided view of xcn (C, N, Hp, Wp): element
    [c, i, j, n, y, x] is xcn[c, n, y sH + i dH, x sW + j dW]. No copy."""
    c, n = xcn.shape[:2]
    sc, sn, sh, sw = xcn.strides
    return _strided(xcn, (c, *kernel, n, *out_hw),
                    (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1]))


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


# -- chunked im2col for Conv2d ---------------------------------------------------------------
# Bytes of im2col matrix per chunk of images: about half the 2 MB L2 cache of a core, so that it
# stays there between being written by the im2col copy and read by the GEMM (the GEMM's own
# packed panels need the rest). ResNet-8 batch 128 at one thread, ms a step: 512 KB 252,
# 1 MB 246, 2 MB 258, 4 MB 271, 8 MB 278.
_CHUNK_BYTES = 2**20
# A batch whose whole im2col matrix is one chunk of at most this size keeps it for backward
# (it is small); any other is rebuilt chunk by chunk from x in backward.
_KEEP_COLS_BYTES = 2 * 2**20


def _chunk_images(n, column_elements, itemsize):
    """How many images' columns (column_elements each) fit in one chunk (at least 1)."""
    return max(1, min(n, _CHUNK_BYTES // max(1, column_elements * itemsize)))


def _row_width(flat, stride, dilation, w, pads, out_hw):
    """The width of one output row in _Columns' columns: Wp where they are flat, else OW.
    Flat only where the garbage columns add at most a quarter to the GEMMs: LeNet's unpadded
    5x5 conv at 10x10 (Wp 14) was slower flat, W2 19.3 -> 19.6 ms a step."""
    wp = w + pads[2] + pads[3]
    if flat and stride == (1, 1) and dilation == (1, 1) and 4 * wp <= 5 * out_hw[1]:
        return wp
    return out_hw[1]


class _Columns:
    """Iterate over the batch in chunks of images: (start, stop, cols) with cols the chunk's
    im2col matrix (groups, C/groups kH kW, m OH OW), written into one buffer reused by every
    chunk (valid until the next one). Padding goes through a zero-bordered buffer whose border
    is written once: each chunk copies only its interior.

    flat (stride 1, no dilation, Wp <= 5/4 OW: see _row_width): each image is padded into a flat (C, Hp Wp + kW - 1) row and
    the columns run over OH rows of the full padded width Wp, so that the row
    of kernel tap (i, j) is one contiguous slice, row[i Wp + j : i Wp + j + OH Wp], instead of
    OH runs of OW. The last Wp - OW = kW - 1 columns of every output row are garbage (they read
    across the row's end): the caller drops them from the GEMM's output, and a GEMM with dy
    must see zeros there. cols then is (groups, C/groups kH kW, m OH Wp); row_width says Wp.
    ResNet-8, batch 128, one thread, im2col of a whole batch: 16 channels at 32x32 4.5 -> 2.5 ms,
    64 channels at 8x8 (runs of 8 before) 3.7 -> 1.2 ms; the GEMMs do Wp / OW times the work
    (6% more at 32x32, 25% at 8x8), and the step still gets faster (W3 -13 ms)."""

    def __init__(self, x, kernel, stride, dilation, pads, out_hw, groups, step=None, flat=False):
        n, c, h, w = x.shape
        self.x, self.kernel, self.stride, self.dilation = x, kernel, stride, dilation
        self.pads, self.out_hw, self.groups = pads, out_hw, groups
        self.row_width = _row_width(flat, stride, dilation, w, pads, out_hw)
        self.flat = self.row_width != out_hw[1]
        self.step = step or _chunk_images(n, c * kernel[0] * kernel[1] * out_hw[0] * out_hw[1], x.itemsize)

    def __iter__(self):
        if self.flat:
            yield from self._flat()
            return
        x, (kh, kw), pads, out_hw = self.x, self.kernel, self.pads, self.out_hw
        n, c, h, w = x.shape
        top, bottom, left, right = pads
        step = self.step
        padded = None
        if top or bottom or left or right:
            padded = xp.zeros((step, c, h + top + bottom, w + left + right), dtype=x.dtype)
        # One strided view for the whole call, sliced per chunk.
        windows = _windows_nchw(x if padded is None else padded, self.kernel, self.stride,
                                self.dilation, out_hw)
        buffer = xp.empty((c, kh, kw, step, *out_hw), dtype=x.dtype)
        for start in range(0, n, step):
            stop = min(n, start + step)
            m = stop - start
            if padded is None:
                view = windows[:, :, :, start:stop]
            else:
                padded[:m, :, top:top + h, left:left + w] = x[start:stop]
                view = windows[:, :, :, :m]
            cols = buffer[:, :, :, :m]
            xp.copyto(cols, view)
            yield start, stop, cols.reshape(self.groups, -1, m * out_hw[0] * out_hw[1])

    def _flat(self):
        x, (kh, kw), (top, bottom, left, _), (oh, _) = self.x, self.kernel, self.pads, self.out_hw
        n, c, h, w = x.shape
        step, hp, wp = self.step, h + top + bottom, self.row_width
        size = hp * wp + kw - 1  # the last tap's slice ends kW - 1 past the padded image
        padded = xp.zeros((step, c, size), dtype=x.dtype)
        interior = padded[:, :, :hp * wp].reshape(step, c, hp, wp)[:, :, top:top + h, left:left + w]
        unit = padded.itemsize
        windows = _strided(padded, (c, kh, kw, step, oh * wp),
                           (size * unit, wp * unit, unit, c * size * unit, unit))
        buffer = xp.empty((c, kh, kw, step, oh * wp), dtype=x.dtype)
        for start in range(0, n, step):
            stop = min(n, start + step)
            m = stop - start
            interior[:m] = x[start:stop]
            cols = buffer[:, :, :, :m]
            xp.copyto(cols, windows[:, :, :, :m])
            yield start, stop, cols.reshape(self.groups, -1, m * oh * wp)


def _windows_nchw(x, kernel, stride, dilation, out_hw):
    """The (C, kH, kW, N, OH, OW) strided view of x (N, C, Hp, Wp): element [c, i, j, n, y, x]
    is x[n, c, y sH + i dH, x sW + j dW]. No copy."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    return _strided(x, (c, *kernel, n, *out_hw),
                    (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1]))


def _valid(out, offset, stride, pad, size):
    """For one kernel offset along one axis: the output positions whose input position
    y s + offset - pad lies inside [0, size), and those input positions, as two slices."""
    first = max(0, -((offset - pad) // stride))  # ceil((pad - offset) / stride)
    last = min(out - 1, (size - 1 + pad - offset) // stride)
    if last < first:
        return None
    start = first * stride + offset - pad
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def _col2im_chunk(dx, dcols, stride, dilation, pads, out_hw, buffer):
    """dx (m, C, H, W) = col2im(dcols (C, kH, kW, m, OH, OW)): each kernel offset's slice of
    dcols added onto the input pixels it was read from, clipped to the unpadded input (the
    padding's share is dropped rather than summed into a border and cropped). The sums run in
    `buffer` (C, >= m, H, W), laid out like dcols so that every add walks both contiguously."""
    _, kh, kw, m = dcols.shape[:4]
    h, w = dx.shape[2:]
    acc = buffer[:, :m]
    acc.fill(0)
    for i in range(kh):
        rows = _valid(out_hw[0], i * dilation[0], stride[0], pads[0], h)
        if rows is None:
            continue
        for j in range(kw):
            cols = _valid(out_hw[1], j * dilation[1], stride[1], pads[2], w)
            if cols is not None:
                acc[:, :, rows[1], cols[1]] += dcols[:, i, j, :, rows[0], cols[0]]
    dx[...] = acc.transpose(1, 0, 2, 3)

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


# GEMM orientation. For a batch (n > 1, one group) Conv2d runs its three GEMMs as
#     y^T = cols^T W^T,   dW^T = cols dy^T,   dx^T = cols(dy)^T W'^T
# rather than y = W cols, dW = dy cols^T, dcols = W^T dy: the same products, but OpenBLAS's
# kernel then blocks over the long N OH OW axis instead of the few (16-64) output channels.
# Measured at one thread on ResNet-8's layers (batch 128, the 2 MB chunks): forward 37.7 ->
# 30.6 ms, dW 52.7 -> 34.7 ms over the whole network; the (m OH OW, O) result costs a small
# transposing copy into (m, O, OH, OW) (0.02 ms a chunk of 3 32x32x16 images). One image keeps
# y = W cols, whose (O, OH OW) result needs no copy at all.


def _dx_as_conv(weight, kernel, stride, dilation, pads, in_hw, out_hw):
    """For a stride-1 convolution without groups, dx is itself a convolution of dy:
        dx[n, c, y, x] = sum_{o,i,j} W[o, c, kH-1-i, kW-1-j] dy_pad'[n, o, y + i dH, x + j dW]
    (the kernel flipped and its channel axes swapped), with dy padded by d (k - 1) - p on each
    side. That is one im2col copy of dy and one GEMM instead of a GEMM onto the 9x larger
    columns and col2im's 9 strided read-modify-write adds (ResNet-8 batch 128: col2im was 62 ms
    of a 331 ms step). Returns (W'^T as (O kH kW, C), dy's pads), or None where it does not
    apply (a stride, or more padding than d (k - 1) would make dy's padding negative) or would
    not pay: dy's columns have O kH kW rows over the input's H W positions, so with more output
    channels than input channels or a smaller output than input the GEMM and copy grow (LeNet's
    6 -> 16 5x5 unpadded conv, 14x14 -> 10x10: W2 18.5 -> 22 ms a step); ResNet's 3x3
    "same" convs with O = C are the case it is for."""
    if stride != (1, 1) or tuple(in_hw) != tuple(out_hw) or weight.shape[0] > weight.shape[1]:
        return None
    (kh, kw), (dh, dw), (top, bottom, left, right) = kernel, dilation, pads
    dy_pads = (dh * (kh - 1) - top, dh * (kh - 1) - bottom, dw * (kw - 1) - left, dw * (kw - 1) - right)
    if min(dy_pads) < 0:
        return None
    o, c = weight.shape[:2]
    # row (o, i, j) of W'^T matches row (o, i, j) of dy's columns (O, kH, kW, m, H, W)
    wt = xp.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 2, 3, 1)).reshape(o * kh * kw, c)
    return wt, dy_pads


def _pointwise_forward(ctx, x, weight, bias, stride, out_hw):
    """A 1x1 convolution without padding or groups (ResNet's shortcuts) on a batch:
        y[n] = W (O, C) @ xs[n] (C, OH OW),   xs = x[:, :, ::sH, ::sW]
    one strided copy and one batched GEMM straight into (N, O, OH, OW): no im2col chunks, no
    (m OH OW, O) -> (m, O, OH OW) transposes. ResNet-8's two shortcuts, forward + backward:
    14 -> 7 ms a step (one thread)."""
    n, c = x.shape[:2]
    o = weight.shape[0]
    xs = xp.ascontiguousarray(x[:, :, ::stride[0], ::stride[1]]).reshape(n, c, -1)
    y = xp.matmul(weight.reshape(o, c), xs).reshape(n, o, *out_hw)
    if bias:
        y += bias[0].reshape(1, o, 1, 1)
    ctx.save(weight if ctx.needs_input_grad[0] else None, xs if ctx.needs_input_grad[1] else None, None)
    return y


def _pointwise_backward(ctx, dy, weight, xs):
    """dW = sum_n dy[n] xs[n]^T,  dx[:, :, ::sH, ::sW] = W^T dy[n] (zero elsewhere), db = sum dy."""
    (n, c, h, w), _, stride, _, _, out_hw, _ = ctx.geometry
    o = dy.shape[1]
    dy3 = dy.reshape(n, o, -1)
    dx = dw = db = None
    if ctx.needs_input_grad[0]:
        dxs = xp.matmul(weight.reshape(o, c).T, dy3)  # (N, C, OH OW)
        if stride == (1, 1):
            dx = dxs.reshape(n, c, h, w)
        else:
            dx = xp.zeros((n, c, h, w), dtype=dy.dtype)
            dx[:, :, ::stride[0], ::stride[1]] = dxs.reshape(n, c, *out_hw)
    if ctx.needs_input_grad[1]:
        dw = xp.matmul(dy3, xs.transpose(0, 2, 1)).sum(axis=0).reshape(o, c, 1, 1)
    if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
        db = dy.sum(axis=(0, 2, 3))
    return (dx, dw, db)[:len(ctx.needs_input_grad)]


# -- the Functions -----------------------------------------------------------------------------
class Conv2d(Function):
    """y[n,o] = b[o] + sum_{c,i,j} W[o,c,i,j] x_pad[n, c, y s + i d, x s + j d]   (y = W @ cols);
    dW = dy @ cols^T,  db = sum_{n,y,x} dy,  dx = col2im(W^T @ dy)

    The batch is processed a few images at a time (_CHUNK_BYTES of im2col matrix per chunk,
    in buffers reused from chunk to chunk): each chunk's matrix is written and read by the
    GEMM while it is still in cache, nothing of 9x the input's size is ever allocated (a
    fresh 75 MB array costs as much in page faults as the GEMM), and backward keeps only x,
    rebuilding each chunk's columns instead of saving them all from forward."""

    def forward(ctx, x, weight, *bias, stride, pads, dilation, groups):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        top, bottom, left, right = pads
        out_hw = ((h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
                  (w + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1)
        ctx.geometry = (x.shape, (kh, kw), stride, dilation, pads, out_hw, groups)
        ctx.pointwise = n > 1 and groups == 1 and (kh, kw) == (1, 1) and not any(pads)
        if ctx.pointwise:
            return _pointwise_forward(ctx, x, weight, bias, stride, out_hw)
        wg = weight.reshape(groups, o // groups, -1)
        # One image: the GEMM's (O, 1, OH, OW) output already is (1, O, OH, OW) in memory.
        y = None if n == 1 else xp.empty((n, o, *out_hw), dtype=x.dtype)
        transposed = n > 1 and groups == 1  # y^T = cols^T W^T: see 'GEMM orientation' above
        columns = _Columns(x, (kh, kw), stride, dilation, pads, out_hw, groups, flat=transposed)
        for start, stop, cols in columns:
            m = stop - start
            if transposed:  # (m OH Wp, O) -> (m, O, OH, OW), a flat chunk's garbage dropped
                chunk = (cols[0].T @ wg[0].T).reshape(m, out_hw[0], columns.row_width, o)
                y[start:stop] = chunk[:, :, :out_hw[1]].transpose(0, 3, 1, 2)
                continue
            chunk = _gemm(wg, cols).reshape(o, m, *out_hw)  # (O, m, OH, OW)
            if y is None:
                y = chunk.reshape(1, o, *out_hw)
            else:
                y[start:stop] = chunk.transpose(1, 0, 2, 3)
        if bias:
            y += bias[0].reshape(1, o, 1, 1)
        need_w = ctx.needs_input_grad[1]
        keep = need_w and 0 < n <= columns.step and cols.nbytes <= _KEEP_COLS_BYTES
        ctx.save(weight if ctx.needs_input_grad[0] else None,
                 x if need_w and not keep else None, cols if keep else None)
        return y

    def backward(ctx, dy):
        weight, x, kept = ctx.saved
        if ctx.pointwise:
            return _pointwise_backward(ctx, dy, weight, x)
        (n, c, h, w), kernel, stride, dilation, pads, out_hw, groups = ctx.geometry
        o = dy.shape[1]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dx = xp.empty((n, c, h, w), dtype=dy.dtype) if need_x else None
        dw = None
        wg = weight.reshape(groups, o // groups, -1) if need_x else None
        step = _chunk_images(n, c * kernel[0] * kernel[1] * out_hw[0] * out_hw[1], dy.itemsize)
        transposed = n > 1 and groups == 1  # the GEMMs in the orientation of 'GEMM orientation'
        columns = None
        if need_w:
            columns = iter([(0, n, kept)] if kept is not None else
                           _Columns(x, kernel, stride, dilation, pads, out_hw, groups, step,
                                    flat=transposed))
        # x's columns as forward built them: flat rows of width Wp (garbage past OW) or not.
        width = _row_width(transposed, stride, dilation, w, pads, out_hw)
        # dx as a convolution of dy (no col2im) where the geometry allows: see _dx_as_conv.
        dy_columns = wt = None
        if need_x and transposed:
            flipped = _dx_as_conv(weight, kernel, stride, dilation, pads, (h, w), out_hw)
            if flipped is not None:
                wt, dy_pads = flipped
                dy_columns = _Columns(dy, kernel, stride, dilation, dy_pads, (h, w), 1, step, flat=True)
                dx_width = dy_columns.row_width
                dy_columns = iter(dy_columns)
        # dy's chunk as (O, m, OH, Wp): zeros under the garbage columns of flat x columns
        dyt = (xp.zeros if width != out_hw[1] else xp.empty)((o, step, out_hw[0], width), dtype=dy.dtype)
        sums = xp.empty((c, step, h, w), dtype=dy.dtype) if need_x and dy_columns is None else None
        for start in range(0, n, step):
            stop = min(n, start + step)
            m = stop - start
            dyc = dyt[:, :m]
            xp.copyto(dyc[..., :out_hw[1]], dy[start:stop].transpose(1, 0, 2, 3))
            dyg = dyc.reshape(groups, o // groups, -1)  # (groups, O/groups, m OH OW)
            if need_w:
                cols = next(columns)[2]
                if transposed:  # dW^T (C kH kW, O) = cols @ dy^T
                    part = (cols[0] @ dyg[0].T)[None]
                else:
                    part = _matmul_t(dyg, cols)
                if dw is None:
                    dw = part
                else:
                    dw += part
            if dy_columns is not None:  # dx^T (m H W, C) = cols(dy)^T W'^T -> (m, C, H W)
                dycols = next(dy_columns)[2][0]
                dx[start:stop] = (dycols.T @ wt).reshape(m, h, dx_width, c)[:, :, :w].transpose(0, 3, 1, 2)
            elif need_x:
                dcols = _t_matmul(wg, dyg).reshape(c, *kernel, m, out_hw[0], width)[..., :out_hw[1]]
                _col2im_chunk(dx[start:stop], dcols, stride, dilation, pads, out_hw, sums)
        if need_w:
            if dw is None:  # no images: dW = 0
                dw = xp.zeros_like(weight if weight is not None else dy, shape=(o, c // groups, *kernel))
            elif transposed:
                dw = xp.ascontiguousarray(dw[0].T).reshape(o, c, *kernel)
            else:
                dw = dw.reshape(o, c // groups, *kernel)
        db = None
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
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


# The checked (stride, pads, dilation) of recent convolutions, by their arguments and the
# shapes and dtypes of their tensors (see arg_memo.py).
_CONV_ARGS = ArgMemo()


def _conv(input, weight, bias, stride, padding, dilation, groups, spatial, op):
    input, weight = to_tensor(input), to_tensor(weight)
    bias = None if bias is None else to_tensor(bias)
    key = checked = None
    if plain(stride, dilation, groups) and (plain(padding) or type(padding) is str):
        x_data, w_data = input._data, weight._data
        key = (op, x_data.shape, x_data.dtype, w_data.shape, w_data.dtype,
               None if bias is None else (bias._data.shape, bias._data.dtype), stride, padding, dilation, groups)
        checked = _CONV_ARGS.get(key)
    if checked is None:
        checked = _conv_args(input, weight, bias, stride, padding, dilation, groups, spatial, op)
        _CONV_ARGS.put(key, checked)
    stride, pads, dilation = checked
    x, unbatched = (input.unsqueeze(0), True) if input.ndim == spatial + 1 else (input, False)
    if spatial == 1:  # conv1d: a 2-D convolution over a height-1 image
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    args = (x, weight) if bias is None else (x, weight, bias)
    y = Conv2d.apply(*args, stride=stride, pads=pads, dilation=dilation, groups=groups)
    if spatial == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def _conv_args(input, weight, bias, stride, padding, dilation, groups, spatial, op):
    """Check a convolution's tensors and arguments (PyTorch's errors); returns the stride,
    the padding as (top, bottom, left, right) and the dilation, all for a 2-D convolution."""
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
    if spatial == 1:  # conv1d runs as conv2d over a height-1 image
        stride, dilation, pads = (1,) + stride, (1,) + dilation, (0, 0) + pads
    return stride, pads, dilation


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
