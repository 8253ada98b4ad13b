"""A whole LSTM layer (one direction, equal-length sequences) as one fused Function.

nn.LSTM's general loop (nn/rnn.py) records, per time step, a matmul node for h W_hh^T and an
LSTMStep node (ops/recurrent.py). That costs, per step, a few graph nodes in forward and, in
backward, one small GEMM for dW_hh plus a full (4H, H) add to accumulate it. Here the loop over
time runs inside one node: forward writes every step's gates, cell states and outputs into
preallocated (T, B, ...) buffers, and backward walks time in reverse computing each step's
d(gates) into one (T, B, 4H) buffer, so that

    dW_hh = d(gates)^T (4H, T B) @ h_prev (T B, H)          one GEMM for all steps
    d(xg) = d(gates)                                          handed on as one array

    db   = sum over all T B rows of d(gates)                 (optional bias, see below)

Only the h-recurrence dh_prev = d(gates_t) W_hh stays a per-step GEMM (it is sequential).
The step's math is LSTMStep's:
    [i, f, g, o] = [s, s, tanh, s](xg_t + h_{t-1} W_hh^T + b);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

The bias b = b_ih + b_hh is an optional input rather than added to xg beforehand: added per
step it is one pass over a (B, 4H) block already in cache, where xg + b was a pass over the
whole (T B, 4H) array in memory (and its backward a float64 sum over it); bench W4 1 ms each.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp


def _sum_rows(a):
    """a.sum(axis=0) of a float (n, m) array by pairwise halving: log2(n) elementwise adds of
    whole rows (fast, unlike a float64 reduction) with a rounding error that grows like
    log2(n) eps rather than the n eps of adding the rows one after another."""
    n = a.shape[0]
    if n <= 2:
        return a.sum(axis=0)
    half = n // 2
    total = a[:half] + a[half:2 * half]
    if n % 2:
        total[0] += a[-1]
    n = half
    while n > 1:
        half = n // 2
        xp.add(total[:half], total[half:2 * half], out=total[:half])
        if n % 2:
            total[0] += total[n - 1]
        n = half
    return total[0]


class LSTMSequence(Function):
    """Y[:T] = h_1..h_T, Y[T] = c_T for xg (T B, 4H) (time-major rows), W_hh (4H, H), h0, c0 (B, H)
    and optionally b (4H,);
    backward: per step d(pre) as in LSTMStep, dh_{t-1} = d(pre_t) W_hh, dc_{t-1} = dc~_t f_t;
    dW_hh = sum_t d(pre_t)^T h_{t-1} (one GEMM), d(xg) = d(pre), db = sum of d(pre) over rows"""

    def forward(ctx, xg, w_hh, h0, c0, *bias, reverse=False):
        batch, hidden = h0.shape
        steps = xg.shape[0] // batch if batch else 0
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        acts = xp.empty((steps, batch, 4, hidden), dtype=xg.dtype)  # activated gates i, f, g, o
        cells = xp.empty((steps, batch, hidden), dtype=xg.dtype)  # c_t
        tanh_c = xp.empty((steps, batch, hidden), dtype=xg.dtype)
        out = xp.empty((steps + 1, batch, hidden), dtype=xg.dtype)
        xg = xg.reshape(steps, batch, 4 * hidden)
        # A contiguous copy of W_hh^T (once per sequence): OpenBLAS's (32, 256) @ (256, 1024)
        # takes 0.16 ms with it and 0.23 ms with the transposed view.
        w_hh_t = xp.ascontiguousarray(w_hh.T)
        b = bias[0] if bias else None
        h, c = h0, c0
        for t in order:
            gates = acts[t].reshape(batch, 4 * hidden)
            xp.matmul(h, w_hh_t, out=gates)
            gates += xg[t]
            if b is not None:
                gates += b
            # sigmoid(x) = (1 + tanh(x/2)) / 2: one tanh for all four gates (see LSTMStep).
            # The sigmoid gates i, f (adjacent) and o are scaled by scalars on their slices:
            # a broadcast multiply by a (4, 1) column of scales is 3x slower per element.
            a = acts[t]
            sig_if, sig_o = a[:, :2], a[:, 3]
            sig_if *= 0.5
            sig_o *= 0.5
            xp.tanh(a, out=a)
            for sig in (sig_if, sig_o):
                sig *= 0.5
                sig += 0.5
            c_new = cells[t]
            xp.multiply(a[:, 1], c, out=c_new)
            c_new += a[:, 0] * a[:, 2]
            xp.tanh(c_new, out=tanh_c[t])
            xp.multiply(a[:, 3], tanh_c[t], out=out[t])
            h, c = out[t], c_new
        out[steps] = c
        ctx.reverse = reverse
        ctx.has_bias = b is not None
        ctx.save(acts, cells, tanh_c, out, w_hh, h0, c0)
        return out

    def backward(ctx, dy):
        acts, cells, tanh_c, out, w_hh, h0, c0 = ctx.saved
        steps, batch, _, hidden = acts.shape
        order = range(steps) if ctx.reverse else range(steps - 1, -1, -1)  # backward in time
        dgates = xp.empty((steps, batch, 4, hidden), dtype=dy.dtype)
        # What does not depend on the recurrence, for all steps at once: each gate's local
        # derivative (s (1 - s), or 1 - g^2 for g) and o (1 - tanh(c)^2), the path c_t -> h_t.
        local = acts * (1 - acts)
        xp.multiply(acts[:, :, 2], acts[:, :, 2], out=local[:, :, 2])
        xp.subtract(1, local[:, :, 2], out=local[:, :, 2])
        through_h = 1 - tanh_c * tanh_c
        through_h *= acts[:, :, 3]
        dh_prev = xp.zeros((batch, hidden), dtype=dy.dtype)
        dh = xp.empty((batch, hidden), dtype=dy.dtype)
        dc = dy[steps].copy()
        first = order[-1]  # the step that read h0 and c0
        for t in order:
            a = acts[t]
            xp.add(dy[t], dh_prev, out=dh)
            dc += dh * through_h[t]  # c_t reaches the loss directly and through h_t
            if t == first:
                c_prev = c0
            else:
                c_prev = cells[t - 1] if not ctx.reverse else cells[t + 1]
            d = dgates[t]
            xp.multiply(dc, a[:, 2], out=d[:, 0])  # di = dc g
            xp.multiply(dc, c_prev, out=d[:, 1])  # df = dc c_{t-1}
            xp.multiply(dc, a[:, 0], out=d[:, 2])  # dg = dc i
            xp.multiply(dh, tanh_c[t], out=d[:, 3])  # do = dh tanh(c_t)
            d *= local[t]
            xp.matmul(d.reshape(batch, 4 * hidden), w_hh, out=dh_prev)
            dc *= a[:, 1]  # dc_{t-1} = dc f
        flat = dgates.reshape(steps * batch, 4 * hidden)
        dw_hh = None
        if ctx.needs_input_grad[1]:
            # h_{t-1} of every step, in the order of the steps' rows
            if ctx.reverse:
                h_prev = xp.concatenate([out[1:steps], h0[None]])
            else:
                h_prev = xp.concatenate([h0[None], out[:steps - 1]])
            dw_hh = flat.T @ h_prev.reshape(steps * batch, hidden)
        grads = (flat if ctx.needs_input_grad[0] else None, dw_hh,
                 dh_prev if ctx.needs_input_grad[2] else None, dc if ctx.needs_input_grad[3] else None)
        if ctx.has_bias:
            grads += (_sum_rows(flat) if ctx.needs_input_grad[4] else None,)
        return grads


TENSOR_METHODS = ()
