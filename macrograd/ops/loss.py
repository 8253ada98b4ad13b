"""Loss functions, each one fused Function: the elementwise loss, the reduction and a
hand-derived backward in a single node (PyTorch's `torch.nn.functional` losses).

reduction: 'none' keeps one loss per element (per sample for the classification losses),
'sum' adds them up, 'mean' divides the sum by a count (the number of elements, or for
cross_entropy/nll_loss with class indices the summed weight of the non-ignored targets).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Function, sum_to
from ..backend import xp
from ..tensor import Tensor
from .dtypes import cast, float_operand, to_tensor
from .elementwise import _sigmoid_array
from .softmax import _log_softmax_array

_REDUCTIONS = ("none", "mean", "sum")


# -- shared helpers ----------------------------------------------------------------------------
def _reduction(op, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS):
    """The reduction string, translating PyTorch's deprecated size_average/reduce flags."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"{op}: size_average and reduce args will be deprecated, please use "
                      f"reduction={reduction!r} instead.", stacklevel=3)
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction "
                         f"(expected one of {', '.join(map(repr, allowed))})")
    return reduction


def _reduce(loss, reduction, count):
    """Reduce an array of per-element losses; 'mean' divides the sum by `count`."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # empty input: nan, as torch
            total = total / count
    return xp.asarray(total, dtype=loss.dtype)


def _unreduce(dy, reduction, count, shape, dtype):
    """The gradient of the reduction: dL/d(loss_i) for every element, broadcast to `shape`."""
    if reduction == "none":
        return dy
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):  # count 0: inf, masked by callers
            dy = dy / count
    return xp.broadcast_to(xp.asarray(dy, dtype=dtype), shape)


def _float_input(op, input):
    input = to_tensor(input)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return input


def _constant(op, name, value, dtype):
    """An optional weight-like argument as a raw array of `dtype` (it gets no gradient)."""
    if value is None:
        return None
    array = value._data if isinstance(value, Tensor) else xp.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{op}: {name} must be a number tensor, got {array.dtype}")
    return array.astype(dtype, copy=False)


# -- cross_entropy and nll_loss: class indices ---------------------------------------------------
def _class_targets(op, input, target, weight, ignore_index):
    """Check input (N, C, d1, ...) against class-index target (N, d1, ...); return the target
    (ignored entries replaced by class 0), the mask of valid entries and per-entry weights."""
    x, t = input._data, target._data
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an integer class-index target, got {target.dtype}")
    expected = (x.shape[0],) + x.shape[2:] if x.ndim >= 2 else ()
    if t.shape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} for input of shape "
                         f"{tuple(x.shape)} (input is (N, C, d1, ...), target (N, d1, ...)), "
                         f"got target of shape {tuple(t.shape)}")
    n_classes = x.shape[1] if x.ndim >= 2 else x.shape[0]
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n_classes))
    if bad.any():
        value = int(t[bad].ravel()[0])
        raise IndexError(f"{op}: target {value} is out of bounds for C={n_classes} classes "
                         f"(expected 0 <= target < {n_classes}, or ignore_index={ignore_index})")
    if weight is not None and weight.shape != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},) for C={n_classes} classes, "
                         f"got {tuple(weight.shape)}")
    safe = xp.where(valid, t, 0)
    entry_weight = valid.astype(x.dtype) if weight is None else weight[safe] * valid
    return safe, valid, entry_weight


def _masked_product(valid, g, factor):
    """g * factor on the non-ignored entries, exactly 0 on the ignored ones (even where g is
    inf because 'mean' divided by a zero total weight: torch gives those no gradient)."""
    with np.errstate(invalid="ignore"):
        return xp.where(valid, g * factor, 0).astype(g.dtype, copy=False)


def _class_axis_shape(weight, ndim):
    """View a per-class weight (C,) so that it broadcasts against (N, C, d1, ...)."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


class CrossEntropy(Function):
    """loss_i = -sum_c a_ic log softmax(x_i)_c with a_ic = w_c ((1 - e) [c = t_i] + e / C);
    dx_i = dy_i (softmax(x_i) sum_c a_ic - a_i)"""

    def forward(ctx, x, target, valid, entry_weight, weight, label_smoothing, reduction):
        logp = _log_softmax_array(x, 1)
        index = target[:, None]
        eps, n_classes = label_smoothing, x.shape[1]
        loss = -xp.take_along_axis(logp, index, axis=1)[:, 0] * entry_weight
        if eps > 0:
            weighted = logp if weight is None else logp * _class_axis_shape(weight, x.ndim)
            smooth = -weighted.sum(axis=1) * valid
            loss = (1 - eps) * loss + (eps / n_classes) * smooth
        # 'mean' divides by the weight of the non-ignored targets, as nll_loss does.
        ctx.count = entry_weight.sum()
        ctx.options = target, valid, entry_weight, weight, eps, reduction
        ctx.save(logp)
        return _reduce(loss.astype(x.dtype, copy=False), reduction, ctx.count)

    def backward(ctx, dy):
        (logp,) = ctx.saved
        target, valid, entry_weight, weight, eps, reduction = ctx.options
        n_classes = logp.shape[1]
        g = _unreduce(dy, reduction, ctx.count, entry_weight.shape, logp.dtype)
        # a_i sums to w_t (1 - e) + e/C sum_c w_c, per entry (0 where ignored).
        hot = _masked_product(valid, g, entry_weight * (1 - eps))
        if eps > 0:
            class_total = n_classes if weight is None else weight.sum()
            total = (hot + _masked_product(valid, g, (eps / n_classes) * class_total))[:, None]
        else:
            total = hot[:, None]
        dx = xp.exp(logp) * total
        if eps > 0:
            spread = _masked_product(valid, g, eps / n_classes)[:, None]
            dx -= spread if weight is None else spread * _class_axis_shape(weight, logp.ndim)
        index = target[:, None]
        xp.put_along_axis(dx, index, xp.take_along_axis(dx, index, axis=1) - hot[:, None], axis=1)
        return dx


class CrossEntropyProbs(Function):
    """loss_i = -sum_c w_c q_ic log softmax(x_i)_c (q smoothed: q (1 - e) + e / C);
    dx_i = dy_i (softmax(x_i) sum_c w_c q_ic - w q_i),  dq_i = -dy_i (1 - e) w log softmax(x_i)"""

    def forward(ctx, x, q, weight, label_smoothing, reduction):
        eps, n_classes = label_smoothing, x.shape[1]
        logp = _log_softmax_array(x, 1)
        if eps > 0:
            q = q * (1 - eps) + eps / n_classes
        a = q if weight is None else q * _class_axis_shape(weight, x.ndim)
        loss = -(logp * a).sum(axis=1)
        ctx.count = loss.size  # 'mean' averages over samples, whatever the weights
        ctx.options = weight, eps, reduction
        ctx.save(logp, a)
        return _reduce(loss, reduction, ctx.count)

    def backward(ctx, dy):
        logp, a = ctx.saved
        weight, eps, reduction = ctx.options
        shape = (logp.shape[0],) + logp.shape[2:]
        g = _unreduce(dy, reduction, ctx.count, shape, logp.dtype)[:, None]
        dx = dq = None
        if ctx.needs_input_grad[0]:
            dx = g * (xp.exp(logp) * a.sum(axis=1, keepdims=True) - a)
        if ctx.needs_input_grad[1]:
            dq = -g * (1 - eps) * logp
            if weight is not None:
                dq = dq * _class_axis_shape(weight, logp.ndim)
        return dx, dq


class NLLLoss(Function):
    """loss_i = -w_(t_i) x_(i, t_i);  dx_(i, t_i) = -dy_i w_(t_i), 0 elsewhere"""

    def forward(ctx, x, target, valid, entry_weight, reduction):
        loss = -xp.take_along_axis(x, target[:, None], axis=1)[:, 0] * entry_weight
        ctx.count = entry_weight.sum()
        ctx.options = x.shape, target, valid, entry_weight, reduction
        return _reduce(loss.astype(x.dtype, copy=False), reduction, ctx.count)

    def backward(ctx, dy):
        shape, target, valid, entry_weight, reduction = ctx.options
        g = _unreduce(dy, reduction, ctx.count, entry_weight.shape, entry_weight.dtype)
        dx = xp.zeros(shape, dtype=entry_weight.dtype)
        xp.put_along_axis(dx, target[:, None], -_masked_product(valid, g, entry_weight)[:, None], axis=1)
        return dx


def _batched(input, target):
    """Unbatched input (C,) becomes a batch of one, its target too (and `True` to undo it)."""
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape((1,) + tuple(target.shape)), True
    return input, target, False


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax + negative log likelihood in one node. input (N, C, d1, ...) of logits (or (C,));
    target: class indices (N, d1, ...) or class probabilities shaped like input."""
    op = "cross_entropy"
    reduction = _reduction(op, reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    input, target = _float_input(op, input), to_tensor(target)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    weight = _constant(op, "weight", weight, input._data.dtype)
    input, target, unbatched = _batched(input, target)
    n_classes = input.shape[1]
    if target._data.dtype.kind == "f":  # class probabilities
        if target.shape != input.shape:
            raise ValueError(f"{op}: a float target holds class probabilities and must have the "
                             f"input's shape {tuple(input.shape)}, got {tuple(target.shape)}")
        if weight is not None and weight.shape != (n_classes,):
            raise ValueError(f"{op}: weight must have shape ({n_classes},), got {tuple(weight.shape)}")
        loss = CrossEntropyProbs.apply(input, cast(target, input._data.dtype), weight=weight,
                                       label_smoothing=label_smoothing, reduction=reduction)
    else:
        safe, valid, entry_weight = _class_targets(op, input, target, weight, ignore_index)
        loss = CrossEntropy.apply(input, target=safe, valid=valid, entry_weight=entry_weight,
                                  weight=weight, label_smoothing=label_smoothing, reduction=reduction)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log likelihood of log-probabilities input (N, C, d1, ...) at class-index target."""
    op = "nll_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    input, target = _float_input(op, input), to_tensor(target)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    weight = _constant(op, "weight", weight, input._data.dtype)
    input, target, unbatched = _batched(input, target)
    safe, valid, entry_weight = _class_targets(op, input, target, weight, ignore_index)
    loss = NLLLoss.apply(input, target=safe, valid=valid, entry_weight=entry_weight, reduction=reduction)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


# -- elementwise losses: one pattern, one subclass per loss ------------------------------------------
class ElementwiseLoss(Function):
    """Base of the losses l(x, t) computed element by element and then reduced. A subclass
    writes `pointwise(x, t)` (the loss, saving what `local_grads` needs) and
    `local_grads(g)` (dl/dx * g and dl/dt * g for the upstream per-element gradient g)."""

    def forward(ctx, x, t, reduction, weight=None, count=None, **params):
        ctx.shapes = x.shape, t.shape
        ctx.params = params
        x, t = xp.broadcast_arrays(x, t)
        loss = ctx.pointwise(x, t)
        if weight is not None:
            loss = loss * weight
        ctx.weight, ctx.reduction = weight, reduction
        ctx.count = loss.size if count is None else count
        ctx.loss_shape = loss.shape
        return _reduce(loss.astype(x.dtype, copy=False), reduction, ctx.count)

    def backward(ctx, dy):
        g = _unreduce(dy, ctx.reduction, ctx.count, ctx.loss_shape, dy.dtype)
        if ctx.weight is not None:
            g = g * ctx.weight
        dx, dt = ctx.local_grads(g)
        need_x, need_t = ctx.needs_input_grad
        return (sum_to(dx, ctx.shapes[0]) if need_x else None,
                sum_to(dt, ctx.shapes[1]) if need_t and dt is not None else None)


class MSELoss(ElementwiseLoss):
    """l = (x - t)^2;  dx = 2 (x - t) g,  dt = -dx"""

    def pointwise(ctx, x, t):
        d = x - t
        ctx.save(d)
        return d * d

    def local_grads(ctx, g):
        (d,) = ctx.saved
        dx = 2 * d * g
        return dx, -dx


class L1Loss(ElementwiseLoss):
    """l = |x - t|;  dx = sign(x - t) g,  dt = -dx"""

    def pointwise(ctx, x, t):
        d = x - t
        ctx.save(d)
        return xp.abs(d)

    def local_grads(ctx, g):
        (d,) = ctx.saved
        dx = xp.sign(d) * g
        return dx, -dx


class HuberLoss(ElementwiseLoss):
    """l = d^2 / 2 if |d| < delta else delta (|d| - delta / 2), d = x - t  (scale: 1 for huber,
    1/beta for smooth_l1);  dx = clip(d, -delta, delta) scale g,  dt = -dx"""

    def pointwise(ctx, x, t):
        delta, scale = ctx.params["delta"], ctx.params["scale"]
        d = x - t
        ctx.save(d)
        a = xp.abs(d)
        return xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)) * scale

    def local_grads(ctx, g):
        (d,) = ctx.saved
        delta, scale = ctx.params["delta"], ctx.params["scale"]
        dx = xp.clip(d, -delta, delta) * (g * scale)
        return dx, -dx


class BCELoss(ElementwiseLoss):
    """l = -(t log x + (1 - t) log(1 - x)), each log clamped at -100;
    dx = g (x - t) / max(x (1 - x), 1e-12),  dt = g (log(1 - x) - log x)"""

    def pointwise(ctx, x, t):
        with np.errstate(divide="ignore"):  # log 0 = -inf, then clamped like torch
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        ctx.save(x, t, log_x, log_1mx)
        return -(t * log_x + (1 - t) * log_1mx)

    def local_grads(ctx, g):
        x, t, log_x, log_1mx = ctx.saved
        dx = g * (x - t) / xp.maximum(x * (1 - x), 1e-12)
        return dx, g * (log_1mx - log_x)


class BCEWithLogitsLoss(ElementwiseLoss):
    """l = (1 - t) x + (1 + (p - 1) t) softplus(-x), p = pos_weight (1 if None);
    dx = g ((1 - t) - (1 + (p - 1) t) sigmoid(-x)),  dt = g ((p - 1) softplus(-x) - x)"""

    def pointwise(ctx, x, t):
        pos_weight = ctx.params["pos_weight"]
        # softplus(-x) = max(-x, 0) + log1p(e^-|x|) never overflows.
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        ctx.save(x, t, softplus_neg, log_weight)
        return (1 - t) * x + log_weight * softplus_neg

    def local_grads(ctx, g):
        x, t, softplus_neg, log_weight = ctx.saved
        pos_weight = ctx.params["pos_weight"]
        dx = g * ((1 - t) - log_weight * _sigmoid_array(-x))
        dt = g * (-x if pos_weight is None else (pos_weight - 1) * softplus_neg - x)
        return dx, dt


class KLDivLoss(ElementwiseLoss):
    """l = t log t - t x (t log t = 0 at t = 0), or with log_target e^t (t - x);
    dx = -t g (-e^t g),  dt = g (log t + 1 - x)  (g e^t (t - x + 1))"""

    def pointwise(ctx, x, t):
        if ctx.params["log_target"]:
            p = xp.exp(t)
            ctx.save(x, t, p)
            return p * (t - x)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_t = xp.log(t)  # -inf at t = 0, nan below: as torch's xlogy
            t_log_t = xp.where(t == 0, 0, t * log_t)
        ctx.save(x, t, log_t)
        return t_log_t - t * x

    def local_grads(ctx, g):
        if ctx.params["log_target"]:
            x, t, p = ctx.saved
            return -p * g, g * p * (t - x + 1)
        x, t, log_t = ctx.saved
        return -t * g, g * (log_t + 1 - x)


def _regression_operands(op, input, target):
    """input and target as float tensors of one dtype, warning like torch when they broadcast."""
    input = _float_input(op, input)
    target = to_tensor(target)
    if target._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point target, got {target.dtype} "
                           f"(input is {input.dtype})")
    target = cast(target, input._data.dtype)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op}: the target shape {tuple(target.shape)} does not broadcast "
                             f"with the input shape {tuple(input.shape)}") from None
        warnings.warn(f"{op}: using a target size ({tuple(target.shape)}) that is different to the "
                      f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
                      f"results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=3)
    return input, target


def _sample_weight(op, weight, input, target):
    """The per-element weight of mse/l1/huber_loss: it must have the input's shape (torch)."""
    weight = _constant(op, "weight", weight, input._data.dtype)
    if weight is not None and weight.shape != tuple(np.broadcast_shapes(input.shape, target.shape)):
        raise ValueError(f"{op}: weights and input must have the same size, got weight "
                         f"{tuple(weight.shape)} and input {tuple(input.shape)}")
    return weight


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (x - t)^2; with weight, 'mean' divides by the sum of the weights."""
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    input, target = _regression_operands("mse_loss", input, target)
    weight = _sample_weight("mse_loss", weight, input, target)
    count = None if weight is None else weight.sum()
    return MSELoss.apply(input, target, reduction=reduction, weight=weight, count=count)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error |x - t|; with weight, 'mean' divides by the sum of the weights."""
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    input, target = _regression_operands("l1_loss", input, target)
    weight = _sample_weight("l1_loss", weight, input, target)
    count = None if weight is None else weight.sum()
    return L1Loss.apply(input, target, reduction=reduction, weight=weight, count=count)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - t); beta = 0 is l1_loss."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, size_average, reduce, reduction)
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    input, target = _regression_operands("smooth_l1_loss", input, target)
    # smooth_l1 with beta is huber with delta = beta, divided by beta.
    return HuberLoss.apply(input, target, reduction=reduction, delta=beta, scale=1.0 / beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); weighted 'mean' is over elements."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    reduction = _reduction("huber_loss", reduction)
    input, target = _regression_operands("huber_loss", input, target)
    weight = _sample_weight("huber_loss", weight, input, target)
    return HuberLoss.apply(input, target, reduction=reduction, weight=weight, delta=delta, scale=1.0)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1]; logs clamped at -100."""
    op = "binary_cross_entropy"
    reduction = _reduction(op, reduction, size_average, reduce)
    input, target = _float_input(op, input), to_tensor(target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: using a target size {tuple(target.shape)} that is different to "
                         f"the input size {tuple(input.shape)} is not supported")
    target = cast(float_operand(target), input._data.dtype)
    x = input._data
    if x.size and ((x < 0) | (x > 1) | xp.isnan(x)).any():
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1 "
                           f"(use binary_cross_entropy_with_logits for logits)")
    weight = _constant(op, "weight", weight, x.dtype)
    if weight is not None:
        weight = xp.broadcast_to(weight, x.shape)
    return BCELoss.apply(input, target, reduction=reduction, weight=weight)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(x), t) computed stably from the logits x; pos_weight
    multiplies the positive term (broadcast along the last, class, dim)."""
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(op, reduction, size_average, reduce)
    input, target = _float_input(op, input), to_tensor(target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size ({tuple(target.shape)}) must be the same as "
                         f"input size ({tuple(input.shape)})")
    target = cast(float_operand(target), input._data.dtype)
    dtype = input._data.dtype
    weight = _constant(op, "weight", weight, dtype)
    pos_weight = _constant(op, "pos_weight", pos_weight, dtype)
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is not None:
            try:
                np.broadcast_shapes(value.shape, input.shape)
            except ValueError:
                raise ValueError(f"{op}: {name} of shape {tuple(value.shape)} does not broadcast "
                                 f"with input of shape {tuple(input.shape)}") from None
    return BCEWithLogitsLoss.apply(input, target, reduction=reduction, weight=weight,
                                   pos_weight=pos_weight)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: t (log t - x), input being log-probabilities.
    reduction='batchmean' divides the sum by the batch size (the true KL divergence)."""
    op = "kl_div"
    reduction = _reduction(op, reduction, size_average, reduce, allowed=_REDUCTIONS + ("batchmean",))
    input, target = _regression_operands(op, input, target)
    count = None
    if reduction == "batchmean":
        reduction, count = ("mean", input.shape[0]) if input.ndim > 0 else ("sum", None)
    elif reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size and "
                      "the support size; 'batchmean' divides only by the batch size and is the "
                      "KL divergence.", stacklevel=2)
    return KLDivLoss.apply(input, target, reduction=reduction, count=count, log_target=log_target)


TENSOR_METHODS = ()
