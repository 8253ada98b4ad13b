"""Recurrent cells as fused ops: one time step of an LSTM, a GRU or an Elman RNN.

A step's gate pre-activations have two parts, the input part xg = x W_ih^T + b_ih and the
recurrent part hh = h W_hh^T + b_hh. Both stay ordinary matmul ops; a step op fuses what
comes after them (the add, every gate nonlinearity and the state update) into one Function
with a hand-derived backward, instead of a dozen small elementwise nodes per step.

Sequence layers (nn/rnn.py) compute xg for ALL time steps with one GEMM over the rows of a
packed (N, G) array before the loop over time, and hand each step the whole xg with the
`rows` it reads. Slicing xg with an indexing op instead would give every step a backward that
returns a full (N, G) gradient, almost all zeros: O(T^2) work for T steps. So each step writes
its slice of d(xg) into one shared `SequenceGrad` buffer, and the step that ran first hands
the filled buffer to the engine. That is sound because the first step is an ancestor of every
later step (through h), so the engine runs its backward after all of theirs.

The LSTM step has two results, h and c, and a Function has one output: it returns them
stacked as one (2, B, H) array, and the caller takes hc[0] and hc[1] (contiguous views).

Also here, with PyTorch's signatures: lstm_cell, gru_cell, rnn_tanh_cell, rnn_relu_cell.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp
from .dtypes import to_tensor


class SequenceGrad:
    """d(xg) for a whole sequence's input projection xg (N, G), filled slice by slice by the
    backward of each step op that reads it; the first step's backward takes the result."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype
        self.array = None

    def put(self, rows, grad, first_step):
        if self.array is None:  # a fresh buffer for each backward pass (retain_graph reruns)
            self.array = xp.zeros(self.shape, self.dtype)  # rows never reached keep a 0 grad
        self.array[rows] = grad
        if not first_step:
            return None
        result, self.array = self.array, None
        return result


def _input_gates(ctx, xg, rows, grads, first_step):
    """The step's slice of xg (or xg itself when the step stands alone), remembering how
    backward must hand back its gradient."""
    ctx.rows, ctx.grads, ctx.first_step = rows, grads, first_step
    return xg if rows is None else xg[rows]


def _input_grad(ctx, dgates):
    if not ctx.needs_input_grad[0]:
        return None
    if ctx.rows is None:
        return dgates
    return ctx.grads.put(ctx.rows, dgates, ctx.first_step)


def _sigmoid_(a):
    """sigmoid(a) in place, as (1 + tanh(a/2)) / 2: one tanh, no exp overflow for large -a."""
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


_GATE_SCALES = {}


def _gate_scale(dtype):
    """k = [1/2, 1/2, 1, 1/2] and 1 - k as (4, 1) columns of the gates' dtype (made once per dtype)."""
    if dtype not in _GATE_SCALES:
        k = xp.asarray([[0.5], [0.5], [1.0], [0.5]], dtype=dtype)
        _GATE_SCALES[dtype] = k, 1 - k
    return _GATE_SCALES[dtype]


class LSTMStep(Function):
    """[i, f, g, o] = [s, s, tanh, s](xg + hh);  c' = f*c + i*g;  h' = o*tanh(c');  y = [h', c']
    dc~ = dc' + dh' o (1 - tanh(c')^2);  di = dc~ g,  df = dc~ c,  dg = dc~ i,  do = dh' tanh(c');
    d(pre) = d(gate) * gate'(pre) (s(1-s) or 1-g^2);  dxg = dhh = d(pre);  dc = dc~ f"""

    def forward(ctx, xg, hh, c, rows=None, grads=None, first_step=False):
        gates = _input_gates(ctx, xg, rows, grads, first_step) + hh  # a fresh (B, 4H) array
        batch, hidden = c.shape
        # sigmoid(x) = (1 + tanh(x/2)) / 2, so one tanh serves all four gates:
        # act = k tanh(k x) + (1 - k), with k = 1/2 for i, f, o and k = 1 for g.
        acts = gates.reshape(batch, 4, hidden)
        k, one_minus_k = _gate_scale(acts.dtype)
        acts *= k
        xp.tanh(acts, out=acts)
        acts *= k
        acts += one_minus_k
        i, f, g, o = acts[:, 0], acts[:, 1], acts[:, 2], acts[:, 3]
        out = xp.empty((2, batch, hidden), dtype=gates.dtype)
        c_new = out[1]
        xp.multiply(f, c, out=c_new)
        c_new += i * g
        tanh_c = xp.tanh(c_new)
        xp.multiply(o, tanh_c, out=out[0])
        ctx.save(acts, c, tanh_c)
        return out

    def backward(ctx, dy):
        acts, c, tanh_c = ctx.saved
        i, f, g, o = acts[:, 0], acts[:, 1], acts[:, 2], acts[:, 3]
        dh, dc_new = dy[0], dy[1]
        dc = dc_new + dh * o * (1 - tanh_c * tanh_c)  # c' reaches the loss directly and via h'
        dact = xp.empty_like(acts)  # dL/d(activated gate), then times the local derivative
        xp.multiply(dc, g, out=dact[:, 0])
        xp.multiply(dc, c, out=dact[:, 1])
        xp.multiply(dc, i, out=dact[:, 2])
        xp.multiply(dh, tanh_c, out=dact[:, 3])
        local = acts * (1 - acts)  # sigmoid' = s (1 - s) ...
        xp.multiply(g, g, out=local[:, 2])
        xp.subtract(1, local[:, 2], out=local[:, 2])  # ... and tanh' = 1 - g^2
        dact *= local
        dgates = dact.reshape(dact.shape[0], -1)
        dc_prev = dc * f if ctx.needs_input_grad[2] else None
        return _input_grad(ctx, dgates), dgates if ctx.needs_input_grad[1] else None, dc_prev


class GRUStep(Function):
    """r, z = s(xg_r + hh_r), s(xg_z + hh_z);  n = tanh(xg_n + r * hh_n);  h' = (1-z) n + z h
    dn = dh'(1-z);  dz = dh'(h - n);  dh = dh' z;  dn~ = dn (1 - n^2);  dr = dn~ hh_n;
    dxg = [dr r(1-r), dz z(1-z), dn~];  dhh = [dr r(1-r), dz z(1-z), dn~ r]"""

    def forward(ctx, xg, hh, h, rows=None, grads=None, first_step=False):
        xg = _input_gates(ctx, xg, rows, grads, first_step)
        hidden = h.shape[1]
        rz = _sigmoid_(xg[:, : 2 * hidden] + hh[:, : 2 * hidden])
        r, z = rz[:, :hidden], rz[:, hidden:]
        hh_n = hh[:, 2 * hidden:]
        n = xp.tanh(xg[:, 2 * hidden:] + r * hh_n)
        ctx.save(rz, n, hh_n, h)
        return n + z * (h - n)

    def backward(ctx, dy):
        rz, n, hh_n, h = ctx.saved
        hidden = h.shape[1]
        r, z = rz[:, :hidden], rz[:, hidden:]
        dn = dy * (1 - z) * (1 - n * n)  # through n's tanh as well
        drz = xp.concatenate([dn * hh_n, dy * (h - n)], axis=1)
        drz *= rz * (1 - rz)
        dxg = xp.concatenate([drz, dn], axis=1)
        dhh = xp.concatenate([drz, dn * r], axis=1) if ctx.needs_input_grad[1] else None
        dh = dy * z if ctx.needs_input_grad[2] else None
        return _input_grad(ctx, dxg), dhh, dh


class RNNStep(Function):
    """h' = act(xg + hh), act = tanh or relu;  dxg = dhh = dh' * (1 - h'^2) or dh' * [h' > 0]"""

    def forward(ctx, xg, hh, nonlinearity="tanh", rows=None, grads=None, first_step=False):
        pre = _input_gates(ctx, xg, rows, grads, first_step) + hh
        ctx.nonlinearity = nonlinearity
        h = xp.tanh(pre, out=pre) if nonlinearity == "tanh" else xp.maximum(pre, 0, out=pre)
        ctx.save(h)
        return h

    def backward(ctx, dy):
        (h,) = ctx.saved
        dpre = dy * (1 - h * h) if ctx.nonlinearity == "tanh" else dy * (h > 0)
        return _input_grad(ctx, dpre), dpre if ctx.needs_input_grad[1] else None


# -- PyTorch's functional cells: torch.lstm_cell(input, hx, w_ih, w_hh, b_ih, b_hh) and kin --------
def _cell_operands(op, input, hx, w_ih, w_hh, b_ih, b_hh, chunks):
    """Check shapes and dtypes, then give xg = input W_ih^T + b_ih and hh = hx W_hh^T + b_hh."""
    input, hx, w_ih, w_hh = (to_tensor(t) for t in (input, hx, w_ih, w_hh))
    if input.ndim != 2 or hx.ndim != 2:
        raise RuntimeError(f"{op}: expected 2-D input (batch, input_size) and hidden (batch, "
                           f"hidden_size), got shapes {tuple(input.shape)} and {tuple(hx.shape)}")
    hidden = hx.shape[1]
    gate_shape = (chunks * hidden,)
    if (w_ih.ndim != 2 or tuple(w_ih.shape) != gate_shape + (input.shape[1],) or
            tuple(w_hh.shape) != gate_shape + (hidden,) or hx.shape[0] != input.shape[0]):
        raise RuntimeError(
            f"{op}: shapes do not fit: input {tuple(input.shape)}, hidden {tuple(hx.shape)}, w_ih "
            f"{tuple(w_ih.shape)}, w_hh {tuple(w_hh.shape)} (expected w_ih ({chunks} * hidden_size, "
            f"input_size), w_hh ({chunks} * hidden_size, hidden_size) and one batch size)")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != gate_shape:
            raise RuntimeError(f"{op}: {name} has shape {tuple(b.shape)}, expected {gate_shape}")
    dtypes = {t.dtype for t in (input, hx, w_ih, w_hh, b_ih, b_hh) if t is not None}
    if len(dtypes) > 1:
        raise RuntimeError(f"{op}: expected all tensors to have one dtype, got {sorted(map(str, dtypes))}")
    xg = input @ w_ih.T
    hh = hx @ w_hh.T
    if b_ih is not None:
        xg = xg + b_ih
    if b_hh is not None:
        hh = hh + b_hh
    return xg, hh


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: (h', c') from input (B, I), hx = (h, c) each (B, H), gate order i, f, g, o."""
    h, c = hx
    xg, hh = _cell_operands("lstm_cell", input, h, w_ih, w_hh, b_ih, b_hh, 4)
    c = to_tensor(c)
    if tuple(c.shape) != tuple(h.shape):
        raise RuntimeError(f"lstm_cell: cell state of shape {tuple(c.shape)} does not match the "
                           f"hidden state's {tuple(h.shape)}")
    hc = LSTMStep.apply(xg, hh, c)
    return hc[0], hc[1]


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: h' from input (B, I) and hx (B, H), gate order r, z, n."""
    xg, hh = _cell_operands("gru_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 3)
    return GRUStep.apply(xg, hh, to_tensor(hx))


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    xg, hh = _cell_operands("rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNStep.apply(xg, hh, nonlinearity="tanh")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step: h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    xg, hh = _cell_operands("rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNStep.apply(xg, hh, nonlinearity="relu")


TENSOR_METHODS = ()
