"""A whole LSTM layer (one direction, equal-length sequences) as one fused Function.

nn.LSTM's general loop (nn/rnn.py) records, per time step, a matmul node for h W_hh^T and an
LSTMStep node (ops/recurrent.py). Here the input projection and the loop over time run inside
one node, and every array is kept *transposed*, features by (time, batch); each step is one GEMM

    pre_t^T (4H, B) = [W_hh | W_ih | b] (4H, H+I+1) @ [h_{t-1}; x_t; 1] (H+I+1, B)

Why transposed: the per-step GEMM, the only sequential work, is then M=4H (large) by N=B
(small) instead of M=B by N=4H, which OpenBLAS runs ~10-15% faster (bench W4: 0.34 vs 0.39 ms
on a loaded machine), and W_hh is used as stored, with no transposed copy. Each gate is a
contiguous (H, B) block of rows, so every elementwise pass runs over contiguous memory.

    forward per step:  [o, i, f, g] = [s, s, s, tanh](pre_t);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
    backward per step: dh = dy_t + dh_{t+1 -> t};  dc += dh o (1 - tanh(c_t)^2)
                       do = dh tanh(c_t) s'(o);  di = dc g s'(i);  df = dc c_{t-1} s'(f);  dg = dc i (1 - g^2)
                       dh_{t-1} = W_hh^T @ d(pre_t);  dc_{t-1} = dc f        (s' = s (1 - s))
    after the loop:    [dW_hh | dW_ih] = d(pre) (4H, T B) @ [h_prev | x] (T B, H+I),
                       dx = d(pre)^T @ W_ih (one GEMM each),  db = sum of d(pre) over T B

Internally the gates are reordered (o, i, f, g) (PyTorch's order is i, f, g, o): the three
sigmoid gates are then one contiguous block of rows, and the three gates whose gradient is
dc times a saved factor (i, f, g) another. The sigmoid is computed as (1 + tanh(z/2)) / 2 with
the 1/2 folded into the sigmoid rows of the weights, so one tanh pass covers all four gates.
Everything backward needs that does not depend on the incoming gradient is computed in forward
while the step's gates are still in cache: the factors F = [tanh(c) s'(o), g s'(i),
c_{t-1} s'(f), i (1 - g^2)] and o (1 - tanh(c)^2), so that a backward step is three passes
over (H, B) blocks, one over (3H, B) and the GEMM.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp

# internal gate order (o, i, f, g) as indices into PyTorch's (i, f, g, o), and back
_TO_INTERNAL = [3, 0, 1, 2]
_TO_TORCH = [1, 2, 3, 0]


def _gate_rows(w, hidden):
    """w (4H, ...) with its gate blocks in internal order: a (4, H, ...) copy."""
    return w.reshape((4, hidden) + w.shape[1:])[_TO_INTERNAL]


def _sum_along_rows(a):
    """a.sum(axis=1) of a float (m, n) array with contiguous rows: NumPy's pairwise summation
    along a contiguous axis, fast and with a rounding error that grows like log2(n) eps rather
    than the n eps of adding one column after another."""
    return xp.ascontiguousarray(a).sum(axis=1)


class LSTMSequence(Function):
    """Y[:T] = h_1..h_T (T, B, H), Y[T] = c_T for x (T B, I) (time-major rows), W_ih (4H, I),
    W_hh (4H, H), h0, c0 (B, H) and optionally b (4H,) = b_ih + b_hh;
    backward as in the module docstring: per step d(pre_t), dh_{t-1} = W_hh^T d(pre_t),
    dc_{t-1} = dc f_t; then [dW_hh | dW_ih] and dx as one GEMM each over all steps, db a row sum"""

    def forward(ctx, x, w_ih, w_hh, h0, c0, *bias, reverse=False):
        batch, hidden = h0.shape
        rows, inputs = x.shape
        steps = rows // batch if batch else 0
        dtype = x.dtype
        H = hidden
        K = H + inputs + 1
        # W = [W_hh | W_ih | b] (4H, K) in internal gate order, sigmoid rows halved:
        # sigmoid(z) = (1 + tanh(z/2)) / 2
        w = xp.empty((4, H, K), dtype=dtype)
        w[:, :, :H] = _gate_rows(w_hh, H)
        w[:, :, H:H + inputs] = _gate_rows(w_ih, H)
        w[:, :, K - 1] = _gate_rows(bias[0], H) if bias else 0
        w[:3] *= 0.5
        w = w.reshape(4 * H, K)
        # z^T = [h_prev; x_t; 1] of every step, (K, T+1, B): each step is ONE GEMM W @ z_t^T,
        # the input projection and bias included. Applied once to all steps beforehand, x W_ih^T
        # would be a (4H, T, B) array whose step slices (4H, B) are read from memory 128 bytes
        # at a time 8 KB apart, slower (0.05 ms a step) than the GEMM's extra K (bench W4).
        # Step t reads slot t + shift and writes h_t into the h rows of the slot the next step
        # reads: forward, x_t in slot t, h0 in slot 0, h_t in slot t+1; reverse, x_t in slot
        # t+1, h0 in slot T, h_t in slot t. The slots of all steps are one (K, T B) view for dW.
        shift = 1 if reverse else 0
        z = xp.empty((K, steps + 1, batch), dtype=dtype)
        z[H:, steps if shift == 0 else 0] = 0
        z[H:H + inputs, shift:shift + steps] = x.reshape(steps, batch, inputs).transpose(2, 0, 1)
        z[K - 1] = 1
        z[:H, steps if reverse else 0] = h0.T
        acts = xp.empty((steps, 4 * H, batch), dtype=dtype)  # activated gates o, i, f, g
        factors = xp.empty((steps, 4 * H, batch), dtype=dtype)  # F above, per gate
        through_h = xp.empty((steps, H, batch), dtype=dtype)  # o (1 - tanh(c)^2)
        c = xp.ascontiguousarray(c0.T)
        c_next = xp.empty((H, batch), dtype=dtype)
        tanh_c = xp.empty((H, batch), dtype=dtype)
        ig = xp.empty((H, batch), dtype=dtype)
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        for t in order:
            a = acts[t]
            xp.matmul(w, z[:, t + shift], out=a)
            xp.tanh(a, out=a)
            sig = a[:3 * H]
            sig *= 0.5
            sig += 0.5
            o, i, f, g = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            xp.multiply(f, c, out=c_next)
            xp.multiply(i, g, out=ig)
            c_next += ig
            xp.tanh(c_next, out=tanh_c)
            xp.multiply(o, tanh_c, out=z[:H, t + 1 - shift])
            # for backward: s' = s (1 - s) of the sigmoid gates, 1 - g^2 of g, then the factors
            F = factors[t]
            xp.subtract(1, sig, out=F[:3 * H])
            F[:3 * H] *= sig
            xp.multiply(g, g, out=F[3 * H:])
            xp.subtract(1, F[3 * H:], out=F[3 * H:])
            F[:H] *= tanh_c
            F[H:2 * H] *= g
            F[2 * H:3 * H] *= c
            F[3 * H:] *= i
            th = through_h[t]
            xp.multiply(tanh_c, tanh_c, out=th)
            xp.subtract(1, th, out=th)
            th *= o
            c, c_next = c_next, c
        out = xp.empty((steps + 1, batch, H), dtype=dtype)
        out[:steps] = z[:H, 1 - shift:steps + 1 - shift].transpose(1, 2, 0)
        out[steps] = c.T
        ctx.reverse = reverse
        ctx.has_bias = bool(bias)
        ctx.shift = shift
        ctx.save(acts, factors, through_h, z, w_ih, w_hh)
        return out

    def backward(ctx, dy):
        acts, factors, through_h, z, w_ih, w_hh = ctx.saved
        steps, four_h, batch = acts.shape
        H = four_h // 4
        needs = ctx.needs_input_grad
        dtype = dy.dtype
        # d(pre)^T of every step, (4H, T, B) in internal gate order
        dpre = xp.empty((four_h, steps, batch), dtype=dtype)
        w_rec_t = _gate_rows(w_hh, H).reshape(four_h, H).T  # (H, 4H): dh_prev = W^T @ d(pre)
        dh_prev = xp.zeros((H, batch), dtype=dtype)
        dh = xp.empty((H, batch), dtype=dtype)
        tmp = xp.empty((H, batch), dtype=dtype)
        d_step = xp.empty((four_h, batch), dtype=dtype)
        dc = xp.ascontiguousarray(dy[steps].T)
        order = range(steps) if ctx.reverse else range(steps - 1, -1, -1)  # backward in time
        for t in order:
            xp.add(dy[t].T, dh_prev, out=dh)
            xp.multiply(dh, through_h[t], out=tmp)
            dc += tmp  # c_t reaches the loss directly and through h_t
            F = factors[t]
            xp.multiply(dh, F[:H], out=d_step[:H])  # do
            xp.multiply(F[H:].reshape(3, H, batch), dc, out=d_step[H:].reshape(3, H, batch))  # di df dg
            xp.matmul(w_rec_t, d_step, out=dh_prev)
            dpre[:, t] = d_step
            dc *= acts[t, 2 * H:3 * H]  # dc_{t-1} = dc f
        flat = dpre.reshape(four_h, steps * batch)

        def to_torch_order(grad):  # rows of (4H, ...) back to PyTorch's gate order
            return grad.reshape((4, H) + grad.shape[1:])[_TO_TORCH].reshape(grad.shape)

        dx = dw_ih = dw_hh = db = None
        if needs[0]:
            dx = flat.T @ _gate_rows(w_ih, H).reshape(four_h, -1)
        if needs[1] or needs[2]:
            # [dW_hh | dW_ih] = d(pre) (4H, T B) @ [h_prev | x] (T B, H + I): one GEMM
            inputs = z.shape[0] - 1 - H
            operands = z[:H + inputs, ctx.shift:ctx.shift + steps].reshape(H + inputs, steps * batch)
            dw = to_torch_order(flat @ operands.T)
            dw_hh = xp.ascontiguousarray(dw[:, :H]) if needs[2] else None
            dw_ih = xp.ascontiguousarray(dw[:, H:]) if needs[1] else None
        grads = (dx, dw_ih, dw_hh, dh_prev.T if needs[3] else None, dc.T if needs[4] else None)
        if ctx.has_bias:
            grads += (to_torch_order(_sum_along_rows(flat)) if needs[5] else None,)
        return grads


TENSOR_METHODS = ()
