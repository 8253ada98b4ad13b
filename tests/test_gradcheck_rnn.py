"""The fused recurrent step Functions (ops/recurrent.py): finite-difference gradchecks in float64,
equality with their composition from primitives (sigmoid, tanh, mul) to 1e-6 in value and
gradient, and the sequence-gradient buffer (each step's slice of d(x W_ih^T) gathered into one
array) under partial and repeated backward."""
import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.autograd import gradcheck
from macrograd.ops.recurrent import GRUStep, LSTMStep, RNNStep, SequenceGrad

B, H = 3, 2


def t64(*shape, seed=0, scale=1.0):
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return mg.tensor(data, dtype=mg.float64, requires_grad=True)


# -- gradcheck -----------------------------------------------------------------------------------
def test_lstm_step_gradcheck():
    xg, hh, c = t64(B, 4 * H, seed=1, scale=1.5), t64(B, 4 * H, seed=2), t64(B, H, seed=3)
    assert gradcheck(lambda xg, hh, c: LSTMStep.apply(xg, hh, c), (xg, hh, c))


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_sequence_gradcheck(reverse):
    """The whole-layer fused LSTM (ops/lstm_sequence.py): 4 steps, every input, both directions."""
    from macrograd.ops.lstm_sequence import LSTMSequence

    steps, inputs = 4, 3
    x, w_ih = t64(steps * B, inputs, seed=10), t64(4 * H, inputs, seed=11, scale=1.5)
    w_hh = t64(4 * H, H, seed=12)
    h0, c0 = t64(B, H, seed=13), t64(B, H, seed=14)
    assert gradcheck(lambda x, wi, w, h, c: LSTMSequence.apply(x, wi, w, h, c, reverse=reverse),
                     (x, w_ih, w_hh, h0, c0))
    bias = t64(4 * H, seed=15)
    assert gradcheck(lambda x, wi, w, h, c, b: LSTMSequence.apply(x, wi, w, h, c, b, reverse=reverse),
                     (x, w_ih, w_hh, h0, c0, bias))


def test_gru_step_gradcheck():
    xg, hh, h = t64(B, 3 * H, seed=4, scale=1.5), t64(B, 3 * H, seed=5), t64(B, H, seed=6)
    assert gradcheck(lambda xg, hh, h: GRUStep.apply(xg, hh, h), (xg, hh, h))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_step_gradcheck(nonlinearity):
    # relu's kink at 0 is avoided: xg + hh is kept away from it by construction below
    xg, hh = t64(B, H, seed=7), t64(B, H, seed=8, scale=0.1)
    xg._data += np.sign(xg._data) * 0.5
    assert gradcheck(lambda xg, hh: RNNStep.apply(xg, hh, nonlinearity=nonlinearity), (xg, hh))


@pytest.mark.parametrize("reverse", [False, True])
def test_steps_reading_rows_of_one_input_gradcheck(reverse):
    """Three LSTM steps over the rows of one (N, 4H) input (shrinking batch, as packed input
    runs): the gathered SequenceGrad must equal finite differences."""
    batch_sizes = [3, 2, 1]
    offsets = [0, 3, 5]

    def unroll(xg, c0):
        grads = SequenceGrad(tuple(xg.shape), xg._data.dtype)
        c, outputs = c0, []
        order = [2, 1, 0] if reverse else [0, 1, 2]
        for k, t in enumerate(order):
            n = batch_sizes[t]
            c = c[:n] if c.shape[0] > n else mg.cat([c, c0[c.shape[0]:n]], 0)
            hc = LSTMStep.apply(xg, mg.zeros(n, 4 * H, dtype=mg.float64), c,
                                rows=slice(offsets[t], offsets[t] + n), grads=grads, first_step=k == 0)
            c = hc[1]
            outputs.append(hc.reshape(-1))
        return mg.cat(outputs, 0)

    assert gradcheck(unroll, (t64(6, 4 * H, seed=9), t64(3, H, seed=10)))


def test_whole_layer_gradcheck():
    """A float64 bidirectional GRU and LSTM (proj) on packed input, w.r.t. input and h0."""
    from macrograd.nn.utils.rnn import pack_padded_sequence

    for layer, lstm in ((mg.nn.GRU(2, 3, bidirectional=True).double(), False),
                        (mg.nn.LSTM(2, 3, proj_size=2).double(), True)):
        d = 2 if not lstm else 1

        def run(x, h0):
            hx = (h0, mg.zeros(1, 3, 3, dtype=mg.float64)) if lstm else h0
            out, _ = layer(pack_padded_sequence(x, [3, 2, 1]), hx)
            return out.data

        h0 = t64(d, 3, 2 if lstm else 3, seed=12)
        assert gradcheck(run, (t64(3, 3, 2, seed=11), h0))


# -- fused == composed ---------------------------------------------------------------------------
def lstm_composed(xg, hh, c):
    i, f, g, o = (xg + hh).chunk(4, 1)
    c = mg.sigmoid(f) * c + mg.sigmoid(i) * mg.tanh(g)
    return mg.stack([mg.sigmoid(o) * mg.tanh(c), c])


def gru_composed(xg, hh, h):
    xr, xz, xn = xg.chunk(3, 1)
    hr, hz, hn = hh.chunk(3, 1)
    r, z = mg.sigmoid(xr + hr), mg.sigmoid(xz + hz)
    n = mg.tanh(xn + r * hn)
    return (1 - z) * n + z * h


@pytest.mark.parametrize("fused,composed,chunks", [
    (lambda a, b, s: LSTMStep.apply(a, b, s), lstm_composed, 4),
    (lambda a, b, s: GRUStep.apply(a, b, s), gru_composed, 3),
    (lambda a, b, s: RNNStep.apply(a, b, nonlinearity="tanh") * s, lambda a, b, s: mg.tanh(a + b) * s, 1),
    (lambda a, b, s: RNNStep.apply(a, b, nonlinearity="relu") * s, lambda a, b, s: mg.relu(a + b) * s, 1),
])
def test_fused_equals_composition(fused, composed, chunks):
    arrays = [np.random.default_rng(s).standard_normal(shape) * 3 for s, shape in
              ((20, (4, chunks * 5)), (21, (4, chunks * 5)), (22, (4, 5)))]
    cotangent = None
    results = []
    for fn in (fused, composed):
        ts = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
        y = fn(*ts)
        if cotangent is None:
            cotangent = np.random.default_rng(23).standard_normal(tuple(y.shape))
        (y * mg.tensor(cotangent)).sum().backward()
        results.append([y.detach().numpy()] + [t.grad.numpy() for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_float32_step_stays_float32_and_sigmoid_is_quiet_at_extremes():
    xg = mg.tensor(np.array([[-200.0, 200.0, -200.0, 200.0]], dtype=np.float32), requires_grad=True)
    with np.errstate(all="raise"):  # no overflow from exp(-x) at x = -200
        hc = LSTMStep.apply(xg, mg.zeros(1, 4), mg.ones(1, 1))
        hc.sum().backward()
    assert hc.dtype == mg.float32 and xg.grad.dtype == mg.float32
    np.testing.assert_allclose(hc.detach().numpy().ravel(), [np.tanh(1.0), 1.0], rtol=1e-6)


# -- the sequence-gradient buffer under partial and repeated backward ------------------------------
def test_backward_from_an_early_output_and_retain_graph_match_torch():
    """A loss on output step 1 only reaches steps 0-1 (the later rows of d(x W_ih^T) stay 0);
    a second backward with retain_graph gives the same grads again (a fresh buffer)."""
    ours, theirs = mg.nn.LSTM(3, 4, bidirectional=True), torch.nn.LSTM(3, 4, bidirectional=True)
    ours.load_state_dict({k: mg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(30).standard_normal((5, 2, 3)).astype(np.float32)
    grads = {}
    for lib, layer in ((mg, ours), (torch, theirs)):
        xt = lib.tensor(x, requires_grad=True)
        out, _ = layer(xt)
        loss = (out[1] * out[1]).sum()
        loss.backward(retain_graph=True)
        first = [xt.grad.numpy().copy()] + [p.grad.numpy().copy() for p in layer.parameters()]
        loss.backward()  # accumulates: exactly twice the first
        second = [xt.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]
        grads[lib] = first, second
    for a, b in zip(grads[mg][0], grads[torch][0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(grads[mg][0], grads[mg][1]):
        np.testing.assert_allclose(2 * a, b, rtol=1e-6, atol=1e-7)
    assert grads[mg][0][0][4].any()  # the reverse direction carries step 1's grad to step 4


def test_unreached_steps_get_zero_input_grad():
    layer = mg.nn.LSTM(3, 4)
    x = mg.tensor(np.random.default_rng(32).standard_normal((5, 2, 3)).astype(np.float32), requires_grad=True)
    out, _ = layer(x)
    out[1].sum().backward()
    grad = x.grad.numpy()
    assert grad[:2].all() and not grad[2:].any()


def test_frozen_recurrent_weights_still_get_input_grads():
    """Only the input (not W_hh, W_ih or the biases) requires grad: the chain through h still
    hands the gathered gradient to x."""
    ours, theirs = mg.nn.GRU(3, 4, num_layers=2), torch.nn.GRU(3, 4, num_layers=2)
    ours.load_state_dict({k: mg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    for layer in (ours, theirs):
        for p in layer.parameters():
            p.requires_grad_(False)
    x = np.random.default_rng(31).standard_normal((4, 2, 3)).astype(np.float32)
    result = []
    for lib, layer in ((mg, ours), (torch, theirs)):
        xt = lib.tensor(x, requires_grad=True)
        out, h_n = layer(xt)
        (out.sum() + (h_n * h_n).sum()).backward()
        result.append(xt.grad.numpy())
    np.testing.assert_allclose(result[0], result[1], rtol=1e-4, atol=1e-6)


def test_every_recurrent_function_is_gradchecked_here():
    import inspect

    from macrograd.autograd import Function
    from macrograd.ops import recurrent

    classes = {name for name, obj in vars(recurrent).items()
               if inspect.isclass(obj) and issubclass(obj, Function) and obj.__module__ == recurrent.__name__}
    assert classes == {"LSTMStep", "GRUStep", "RNNStep"}, f"add gradcheck cases for {classes}"
    from macrograd.ops import lstm_sequence

    fused = {name for name, obj in vars(lstm_sequence).items()
             if inspect.isclass(obj) and issubclass(obj, Function) and obj.__module__ == lstm_sequence.__name__}
    assert fused == {"LSTMSequence"}, f"add gradcheck cases for {fused}"


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 2048])
def test_lstm_sequence_bias_sum_is_pairwise_sum_of_rows(n):
    """db of LSTMSequence: the float32 pairwise sum along the rows of the transposed d(pre) is
    as close to the exact sum as a float64 reduction rounded to float32 (within a few ulps),
    for odd and even row counts, also when handed a transposed (non-contiguous) view."""
    from macrograd.ops.lstm_sequence import _sum_along_rows

    a = np.random.default_rng(n).standard_normal((n, 7)).astype(np.float32)
    exact = a.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(_sum_along_rows(np.ascontiguousarray(a.T)), exact, rtol=1e-6, atol=1e-6 * np.sqrt(n))
    np.testing.assert_allclose(_sum_along_rows(a.T), exact, rtol=1e-6, atol=1e-6 * np.sqrt(n))
