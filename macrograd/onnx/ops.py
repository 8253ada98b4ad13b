"""One converter per macrograd Function: the ONNX nodes that compute what its forward computes.

A converter gets the graph `g` and the recorded `call` (its inputs, options and output) and
returns the name of the ONNX value equal to the call's output. The ONNX operators are those of
opset 17 (LayerNormalization is new there). Each converter's docstring gives the mapping.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper

CONVERTERS = {}


def converts(*names):
    def register(fn):
        for name in names:
            CONVERTERS[name] = fn
        return fn
    return register


def _x(g, call, i=0, broadcast_batch=False):
    return g.name(call.inputs[i], broadcast_batch)


# -- elementwise ---------------------------------------------------------------------------------
_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow"}
_UNARY = {"Neg": "Neg", "Abs": "Abs", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Sin": "Sin",
          "Cos": "Cos", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Erf": "Erf", "Relu": "Relu",
          "Contiguous": "Identity", "Clone": "Identity"}


@converts(*_BINARY)
def binary(g, call):
    """a op b -> Add/Sub/Mul/Div/Pow (ONNX broadcasts as NumPy does)"""
    a, b = (_x(g, call, i, broadcast_batch=True) for i in (0, 1))
    return g.node(_BINARY[call.cls.__name__], [a, b])


@converts(*_UNARY)
def unary(g, call):
    """f(x) -> the ONNX op of the same name"""
    return g.node(_UNARY[call.cls.__name__], [_x(g, call)])


@converts("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")
def compare(g, call):
    """a == b, a < b, ... -> Equal, Less, LessOrEqual, Greater, GreaterOrEqual (booleans)"""
    return g.node(call.cls.__name__, [_x(g, call, 0, True), _x(g, call, 1, True)])


@converts("NotEqual")
def not_equal(g, call):
    """a != b -> Not(Equal(a, b))"""
    return g.node("Not", [g.node("Equal", [_x(g, call, 0, True), _x(g, call, 1, True)])])


@converts("Rsqrt")
def rsqrt(g, call):
    """1 / sqrt(x) -> Reciprocal(Sqrt(x))"""
    return g.node("Reciprocal", [g.node("Sqrt", [_x(g, call)])])


@converts("Log1p")
def log1p(g, call):
    """log(1 + x) -> Log(Add(x, 1))"""
    return g.node("Log", [g.node("Add", [_x(g, call), g.scalar(1.0, _dtype(call))])])


@converts("PowScalar")
def pow_scalar(g, call):
    """x ** c -> Pow(x, c)"""
    return g.node("Pow", [_x(g, call), g.scalar(call.options["exponent"], _dtype(call))])


@converts("Clamp", "Hardtanh")
def clamp(g, call):
    """min(max(x, lo), hi) -> Clip(x, lo, hi) (ReLU6 is Hardtanh(0, 6))"""
    lo, hi = call.options["lo"], call.options["hi"]
    bound = lambda v: "" if v is None else g.scalar(v, _dtype(call))  # noqa: E731
    return g.node("Clip", [_x(g, call), bound(lo), bound(hi)])


@converts("LeakyRelu")
def leaky_relu(g, call):
    """x if x > 0 else a x -> LeakyRelu(alpha=a)"""
    return g.node("LeakyRelu", [_x(g, call)], alpha=float(call.options["negative_slope"]))


@converts("Elu")
def elu(g, call):
    """x if x > 0 else a (e^x - 1) -> Elu(alpha=a)"""
    return g.node("Elu", [_x(g, call)], alpha=float(call.options["alpha"]))


@converts("Gelu")
def gelu(g, call):
    """x/2 (1 + erf(x / sqrt 2)) -> Mul, Erf, Add, Mul, Mul (the Gelu op is only in opset 20)"""
    x, dt = _x(g, call), _dtype(call)
    erf = g.node("Erf", [g.node("Mul", [x, g.scalar(1 / math.sqrt(2), dt)])])
    return g.node("Mul", [g.node("Mul", [x, g.node("Add", [erf, g.scalar(1.0, dt)])]), g.scalar(0.5, dt)])


@converts("GeluTanh")
def gelu_tanh(g, call):
    """x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    x, dt = _x(g, call), _dtype(call)
    cube = g.node("Mul", [g.node("Pow", [x, g.scalar(3.0, dt)]), g.scalar(0.044715, dt)])
    inner = g.node("Mul", [g.node("Add", [x, cube]), g.scalar(math.sqrt(2 / math.pi), dt)])
    one_plus = g.node("Add", [g.node("Tanh", [inner]), g.scalar(1.0, dt)])
    return g.node("Mul", [g.node("Mul", [x, one_plus]), g.scalar(0.5, dt)])


@converts("Silu")
def silu(g, call):
    """x sigmoid(x) -> Mul(x, Sigmoid(x))"""
    x = _x(g, call)
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


@converts("Softplus")
def softplus(g, call):
    """log(1 + e^(b x)) / b -> Softplus (PyTorch's linear region above `threshold` differs by < 1e-8)"""
    beta, dt = float(call.options["beta"]), _dtype(call)
    x = _x(g, call)
    if beta == 1.0:
        return g.node("Softplus", [x])
    return g.node("Div", [g.node("Softplus", [g.node("Mul", [x, g.scalar(beta, dt)])]), g.scalar(beta, dt)])


@converts("ToDtype")
def to_dtype(g, call):
    """x.to(dtype) -> Cast"""
    return g.node("Cast", [_x(g, call)], to=helper.np_dtype_to_tensor_dtype(np.dtype(call.output.dtype)))


@converts("Dropout")
def dropout(g, call):
    """dropout at inference is the identity (export runs the model in eval mode)"""
    return g.node("Identity", [_x(g, call)])


@converts("Where")
def where(g, call):
    """cond ? a : b -> Where"""
    return g.node("Where", [_x(g, call, i, broadcast_batch=True) for i in range(3)])


@converts("MaskedFill")
def masked_fill(g, call):
    """x with `value` where mask -> Where(mask, value, x)"""
    return g.node("Where", [g.const(call.options["mask"], "mask"), _x(g, call, 1), _x(g, call, 0)])


# -- linear algebra, softmax ---------------------------------------------------------------------
@converts("MatMul")
def matmul(g, call):
    """a @ b -> MatMul"""
    return g.node("MatMul", [_x(g, call, 0), _x(g, call, 1)])


@converts("Linear")
def linear(g, call):
    """x W^T (+ b) -> MatMul(x, W^T) then Add(b): W^T stored transposed as one initializer when
    W is a constant (a parameter), else a Transpose node. (Not Gemm: it takes only 2-D x, and
    a Linear may see (B, T, in).)"""
    x, weight = call.inputs[0], call.inputs[1]
    if g.is_dynamic(weight):
        w_t = g.node("Transpose", [g.name(weight)], perm=[1, 0])
    else:
        w_t = g.const(weight._data.T, (g.param_names.get(id(weight._data)) or "weight") + "_t")
    y = g.node("MatMul", [g.name(x), w_t])
    return g.node("Add", [y, g.name(call.inputs[2])]) if len(call.inputs) > 2 else y


@converts("Softmax", "LogSoftmax")
def softmax(g, call):
    """softmax(x, dim) -> Softmax(axis=dim) (opset 13+: normalised along that one axis)"""
    return g.node(call.cls.__name__, [_x(g, call)], axis=int(call.options["dim"]))


@converts("Embedding")
def embedding(g, call):
    """weight[indices] -> Gather(weight, indices, axis=0)"""
    indices = call.options["indices"]
    name = g.array_names.get(id(indices)) or g.const(indices, "indices")
    return g.node("Gather", [_x(g, call, 0), name], axis=0)


@converts("ScaledDotProductAttention")
def attention(g, call):
    """softmax(q k^T * scale + mask) v -> MatMul, Mul, Where/Add, Softmax, MatMul;
    is_causal: a lower-triangular boolean mask (key j visible from query i when j <= i)"""
    o = call.options
    if o["groups"] != 1:
        raise NotImplementedError("onnx export: scaled_dot_product_attention with enable_gqa is not supported")
    q, k, v = call.inputs[:3]
    dt = _dtype(call)
    perm = list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2]
    k_t = g.node("Transpose", [g.name(k)], perm=perm)
    scores = g.node("Mul", [g.node("MatMul", [g.name(q), k_t]), g.scalar(o["scale"], dt)])
    minus_inf = lambda: g.scalar(-np.inf, dt)  # noqa: E731  (created only when a mask needs it)
    if o["is_causal"]:
        causal = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
        scores = g.node("Where", [g.const(causal, "causal_mask"), scores, minus_inf()])
    if len(call.inputs) == 4:
        mask = call.inputs[3]
        mask_name = g.name(mask, broadcast_batch=True)
        if mask.dtype == np.bool_:
            scores = g.node("Where", [mask_name, scores, minus_inf()])
        else:
            scores = g.node("Add", [scores, mask_name])
    weights = g.node("Softmax", [scores], axis=-1)
    return g.node("MatMul", [weights, g.name(v)])


# -- reductions ----------------------------------------------------------------------------------
def _axes(call):
    dims = call.options["dims"]
    ndim = call.inputs[0].ndim
    if dims is None:
        return list(range(ndim))
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return [int(d) % ndim for d in dims]


@converts("Sum")
def reduce_sum(g, call):
    """sum over dims -> ReduceSum (axes as an input since opset 13)"""
    return g.node("ReduceSum", [_x(g, call), g.ints(_axes(call), "axes")], keepdims=int(call.options["keepdim"]))


@converts("Mean")
def reduce_mean(g, call):
    """mean over dims -> ReduceMean (axes an attribute until opset 18)"""
    return g.node("ReduceMean", [_x(g, call)], axes=_axes(call), keepdims=int(call.options["keepdim"]))


@converts("Extremum")
def reduce_extremum(g, call):
    """max/min over dims -> ReduceMax/ReduceMin"""
    op = "ReduceMax" if call.options["largest"] else "ReduceMin"
    return g.node(op, [_x(g, call)], axes=_axes(call), keepdims=int(call.options["keepdim"]))


@converts("LpNormalize")
def lp_normalize(g, call):
    """x / max(||x||_2, eps) along dim -> ReduceL2, Max, Div"""
    o = call.options
    if o["p"] != 2:
        raise NotImplementedError(f"onnx export: normalize with p={o['p']} (only p=2)")
    x = _x(g, call)
    norm = g.node("ReduceL2", [x], axes=[int(o["dim"]) % call.inputs[0].ndim], keepdims=1)
    return g.node("Div", [x, g.node("Max", [norm, g.scalar(o["eps"], _dtype(call))])])


# -- normalisation -------------------------------------------------------------------------------
def _weight_and_bias(g, call, shape):
    """The (scale, bias) names: the parameters given, ones/zeros for the missing ones."""
    params = list(call.inputs[1:])
    dt = _dtype(call)
    scale = g.name(params.pop(0)) if call.options["has_weight"] else g.const(np.ones(shape, dt), "ones")
    bias = g.name(params.pop(0)) if call.options["has_bias"] else g.const(np.zeros(shape, dt), "zeros")
    return scale, bias


@converts("LayerNorm")
def layer_norm(g, call):
    """(x - mean) / sqrt(var + eps) w + b over the last k dims -> LayerNormalization(axis=-k)"""
    k, x = call.options["k"], call.inputs[0]
    scale, bias = _weight_and_bias(g, call, tuple(x.shape[-k:]))
    return g.node("LayerNormalization", [g.name(x), scale, bias], axis=-k, epsilon=float(call.options["eps"]))


@converts("BatchNorm")
def batch_norm(g, call):
    """(x - running_mean_c) / sqrt(running_var_c + eps) w_c + b_c -> BatchNormalization"""
    o = call.options
    if o["training"]:
        raise RuntimeError("onnx export: batch_norm in training mode; export calls model.eval() first, "
                           "so this BatchNorm is called with training=True explicitly")
    channels = call.inputs[0].shape[1]
    scale, bias = _weight_and_bias(g, call, (channels,))
    return g.node("BatchNormalization", [_x(g, call), scale, bias, g.const(o["running_mean"], "running_mean"),
                                         g.const(o["running_var"], "running_var")], epsilon=float(o["eps"]))


# -- convolution and pooling ---------------------------------------------------------------------
def _onnx_pads(pairs):
    """[(top, bottom), (left, right)] -> ONNX's [top, left, bottom, right]"""
    return [int(a) for a, _ in pairs] + [int(b) for _, b in pairs]


@converts("Conv2d")
def conv2d(g, call):
    """cross-correlation -> Conv (same weight layout (C_out, C_in/groups, kH, kW))"""
    o = call.options
    p = o["pads"]
    return g.node("Conv", [g.name(t) for t in call.inputs], strides=list(o["stride"]),
                  pads=_onnx_pads([(p[0], p[1]), (p[2], p[3])]), dilations=list(o["dilation"]),
                  group=int(o["groups"]))


def _ceil_mode(call, kernel, stride, padding, dilation):
    """1 when the recorded output size is larger than floor division gives (PyTorch's ceil_mode)."""
    size = call.inputs[0].shape[2:]
    floor = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                  for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    return int(tuple(call.options["out_hw"]) != floor)


@converts("MaxPool2d")
def max_pool(g, call):
    """max over windows -> MaxPool"""
    o = call.options
    k, s, p, d = (list(o[n]) for n in ("kernel", "stride", "padding", "dilation"))
    return g.node("MaxPool", [_x(g, call)], kernel_shape=k, strides=s, pads=p + p, dilations=d,
                  ceil_mode=_ceil_mode(call, k, s, p, d))


@converts("AvgPool2d")
def avg_pool(g, call):
    """mean over windows -> AveragePool (count_include_pad when every divisor is the window area)"""
    o = call.options
    k, s, p = (list(o[n]) for n in ("kernel", "stride", "padding"))
    include = int(bool(np.all(np.asarray(o["divisor"]) == k[0] * k[1])))
    return g.node("AveragePool", [_x(g, call)], kernel_shape=k, strides=s, pads=p + p,
                  count_include_pad=include, ceil_mode=_ceil_mode(call, k, s, p, (1, 1)))


@converts("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
def adaptive_pool(g, call):
    """adaptive pooling to (1, 1) -> GlobalAveragePool/GlobalMaxPool; to a size dividing the
    input -> AveragePool/MaxPool with kernel = stride = input / output"""
    average = call.cls.__name__ == "AdaptiveAvgPool2d"
    out_hw, in_hw = tuple(call.options["out_hw"]), tuple(call.inputs[0].shape[2:])
    if out_hw == (1, 1):
        return g.node("GlobalAveragePool" if average else "GlobalMaxPool", [_x(g, call)])
    if any(n % m for n, m in zip(in_hw, out_hw)):
        raise NotImplementedError(f"onnx export: adaptive pooling from {in_hw} to {out_hw} "
                                  f"(the output size must divide the input size)")
    kernel = [n // m for n, m in zip(in_hw, out_hw)]
    return g.node("AveragePool" if average else "MaxPool", [_x(g, call)], kernel_shape=kernel, strides=kernel)


# -- shape ---------------------------------------------------------------------------------------
@converts("Reshape")
def reshape(g, call):
    """x.reshape(shape) -> Reshape; a leading size equal to the input's is written 0 ("copy the
    input's size"), so that a view(B, ...) keeps working for any batch size"""
    shape = list(call.output.shape)
    if g.batch and shape and shape[0] == call.inputs[0].shape[0]:
        shape[0] = 0
    return g.node("Reshape", [_x(g, call), g.ints(shape)])


@converts("Permute")
def permute(g, call):
    """x.permute(dims) -> Transpose(perm=dims)"""
    ndim = call.inputs[0].ndim
    return g.node("Transpose", [_x(g, call)], perm=[int(d) % ndim for d in call.options["dims"]])


@converts("Expand")
def expand(g, call):
    """x.expand(shape) -> Expand; sizes that x already has are written 1 (ONNX's Expand
    broadcasts both ways), so that the batch size stays free"""
    x = call.inputs[0]
    shape = list(call.output.shape)
    offset = len(shape) - x.ndim
    for i, n in enumerate(x.shape):
        if shape[offset + i] == n:
            shape[offset + i] = 1
    return g.node("Expand", [_x(g, call), g.ints(shape)])


@converts("Cat")
def cat(g, call):
    """cat(xs, dim) -> Concat(axis=dim)"""
    return g.node("Concat", [g.name(t) for t in call.inputs], axis=int(call.options["dim"]))


@converts("Stack")
def stack(g, call):
    """stack(xs, dim) -> Unsqueeze each at dim, then Concat"""
    axis = g.ints([call.options["dim"]], "axes")
    parts = [g.node("Unsqueeze", [g.name(t), axis]) for t in call.inputs]
    return g.node("Concat", parts, axis=int(call.options["dim"]))


@converts("Triangle")
def triangle(g, call):
    """triu/tril(x, diagonal) -> Trilu"""
    return g.node("Trilu", [_x(g, call), g.ints(call.options["diagonal"], "k")], upper=int(call.options["upper"]))


@converts("ConstantPad")
def constant_pad(g, call):
    """pad with a value -> Pad(mode=constant); pads as all befores then all afters"""
    pairs = call.options["pads"]
    pads = [int(a) for a, _ in pairs] + [int(b) for _, b in pairs]
    return g.node("Pad", [_x(g, call), g.ints(pads, "pads"), g.scalar(call.options["value"], _dtype(call))])


@converts("GetItem")
def getitem(g, call):
    """x[ints, slices, None, ...] -> Slice (ints become length-1 slices), Squeeze the int axes,
    Unsqueeze at the None positions; x[int array] along one axis -> Gather"""
    x = call.inputs[0]
    index = call.options["index"]
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, np.ndarray) for i in index):
        return _gather_index(g, call, index)
    explicit = sum(1 for i in index if i is not None and i is not Ellipsis)
    expanded = []
    for i in index:
        expanded.extend([slice(None)] * (x.ndim - explicit) if i is Ellipsis else [i])
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_pos = 0
    for i in expanded:
        if i is None:
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        n = x.shape[axis]
        if isinstance(i, slice):
            if i != slice(None):
                start, stop, step = i.indices(n)
                if step < 0 and stop < 0:
                    stop = -(2 ** 62)  # "before the first element" (a negative stop would wrap)
                starts, ends, axes, steps = starts + [start], ends + [stop], axes + [axis], steps + [step]
            out_pos += 1
        else:  # an int: a length-1 slice, squeezed afterwards
            i = int(i) % n
            starts, ends, axes, steps = starts + [i], ends + [i + 1], axes + [axis], steps + [1]
            squeeze.append(axis)
        axis += 1
    y = _x(g, call)
    if axes:
        y = g.node("Slice", [y, g.ints(starts, "starts"), g.ints(ends, "ends"), g.ints(axes, "axes"),
                             g.ints(steps, "steps")])
    if squeeze:
        y = g.node("Squeeze", [y, g.ints(squeeze, "axes")])
    if unsqueeze:
        y = g.node("Unsqueeze", [y, g.ints(unsqueeze, "axes")])
    return y if y != _x(g, call) else g.node("Identity", [y])


def _gather_index(g, call, index):
    """x[..., int array, ...] with one integer array among full slices -> Gather on that axis."""
    arrays = [k for k, i in enumerate(index) if isinstance(i, np.ndarray)]
    full = all(i == slice(None) for k, i in enumerate(index) if k not in arrays)
    if len(arrays) != 1 or not full or index[arrays[0]].dtype.kind not in "iu":
        raise NotImplementedError("onnx export: advanced indexing beyond one integer array along "
                                  "one axis is not supported")
    return g.node("Gather", [_x(g, call), g.const(index[arrays[0]].astype(np.int64), "indices")], axis=arrays[0])


def _dtype(call):
    return np.dtype(call.output.dtype)
