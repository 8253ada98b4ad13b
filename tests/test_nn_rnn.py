"""nn.RNN / LSTM / GRU and the cells against their torch twins after copying the weights through
state_dict: outputs, final states, the input and initial-state grads and every parameter grad
under random cotangents on all outputs; packed variable-length batches; pad/pack utilities."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as TU
from hypothesis import given
from hypothesis import strategies as st

import macrograd as mg
import macrograd.nn.utils.rnn as MU

RTOL, ATOL = 1e-4, 1e-5
I, H = 3, 4


def values(t):
    return t.detach().numpy()


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def twins(kind, **kwargs):
    """The torch layer and a macrograd one holding the same weights (loaded strictly)."""
    ours, theirs = getattr(mg.nn, kind)(**kwargs), getattr(torch.nn, kind)(**kwargs)
    result = ours.load_state_dict({k: mg.tensor(v.numpy()) for k, v in theirs.state_dict().items()},
                                  strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ours, theirs


def flatten_outputs(out):
    """Every tensor among the outputs: (output, h_n) or (output, (h_n, c_n)); a PackedSequence
    counts by its data."""
    flat = []
    for item in out if isinstance(out, tuple) and not isinstance(out, (MU.PackedSequence, TU.PackedSequence)) else (out,):
        if isinstance(item, (MU.PackedSequence, TU.PackedSequence)):
            flat.append(item.data)
        elif isinstance(item, tuple):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def backprop(lib, outputs, seed=1):
    """Sum of every output times its own random cotangent, backpropagated."""
    rng = np.random.default_rng(seed)
    total = 0
    for o in outputs:
        total = total + (o * lib.tensor(rng.standard_normal(tuple(o.shape)).astype(np.float32))).sum()
    total.backward()


def compare(ours, theirs, what):
    assert len(ours) == len(theirs), what
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b is None:
            assert a is None or not np.any(a.numpy()), f"{what} {i}: torch has no grad"
            continue
        assert a is not None, f"{what} {i}: macrograd has no grad"
        assert tuple(a.shape) == tuple(b.shape), f"{what} {i}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{what} {i}")


def run_twins(ours, theirs, make_input, states):
    """Run both layers on inputs made by make_input(lib, tensors) and compare everything."""
    results = {}
    for lib, layer in ((mg, ours), (torch, theirs)):
        tensors = [lib.tensor(a.copy(), requires_grad=True) for a in states]
        out = layer(*make_input(lib, tensors))
        outputs = flatten_outputs(out)
        backprop(lib, outputs)
        results[lib] = (outputs, [t.grad for t in tensors], [p.grad for p in layer.parameters()])
    for part, what in enumerate(("output", "input grad", "parameter grad")):
        compare(results[mg][part], results[torch][part], what)
    return results


def layer_case(kind, num_layers, bidirectional, batch_first, with_state, proj_size=0, T=4, B=3):
    kwargs = dict(input_size=I, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=batch_first)
    if proj_size:
        kwargs["proj_size"] = proj_size
    ours, theirs = twins(kind, **kwargs)
    d = 2 if bidirectional else 1
    x = randn(*((B, T, I) if batch_first else (T, B, I)), seed=2)
    h0 = randn(num_layers * d, B, proj_size or H, seed=3)
    c0 = randn(num_layers * d, B, H, seed=4)
    arrays = [x] + ([h0, c0] if kind == "LSTM" else [h0]) * with_state

    def make_input(lib, t):
        if not with_state:
            return (t[0],)
        return (t[0], (t[1], t[2]) if kind == "LSTM" else t[1])

    return run_twins(ours, theirs, make_input, arrays)


# -- every layer type x layers x directions x batch_first x initial state --------------------------
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_state",
                         list(itertools.product([1, 2], [False, True], [False, True], [False, True])))
def test_layer_matches_torch(kind, num_layers, bidirectional, batch_first, with_state):
    layer_case(kind, num_layers, bidirectional, batch_first, with_state)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("bidirectional,with_state", [(False, True), (True, False), (True, True)])
def test_lstm_proj_size(bidirectional, with_state):
    layer_case("LSTM", 2, bidirectional, False, with_state, proj_size=2)


@pytest.mark.parametrize("kind,kwargs", [
    ("RNN", {"nonlinearity": "relu"}), ("RNN", {"bias": False}), ("GRU", {"bias": False}),
    ("LSTM", {"bias": False}),
])
def test_layer_options(kind, kwargs):
    ours, theirs = twins(kind, input_size=I, hidden_size=H, num_layers=2, **kwargs)
    run_twins(ours, theirs, lambda lib, t: (t[0],), [randn(5, 2, I, seed=5)])
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first,with_state", [(False, False), (True, True), (False, True)])
def test_unbatched_input(kind, batch_first, with_state):
    ours, theirs = twins(kind, input_size=I, hidden_size=H, num_layers=2, bidirectional=True,
                         batch_first=batch_first)
    arrays = [randn(5, I, seed=6)] + ([randn(4, H, seed=7)] * (2 if kind == "LSTM" else 1)) * with_state

    def make_input(lib, t):
        if not with_state:
            return (t[0],)
        return (t[0], (t[1], t[2]) if kind == "LSTM" else t[1])

    results = run_twins(ours, theirs, make_input, arrays)
    assert tuple(results[mg][0][0].shape) == (5, 2 * H)


def test_dropout_between_layers():
    # p = 1 drops every element, which makes train mode deterministic: layer 2 sees zeros
    ours, theirs = twins("GRU", input_size=I, hidden_size=H, num_layers=2, dropout=1.0)
    run_twins(ours, theirs, lambda lib, t: (t[0],), [randn(4, 2, I, seed=8)])
    ours.eval(), theirs.eval()  # eval: no dropout at all
    run_twins(ours, theirs, lambda lib, t: (t[0],), [randn(4, 2, I, seed=8)])
    # train mode with 0 < p < 1: a random mask, so two calls differ; the last layer's output is
    # not dropped (all of a 1-layer GRU's output would survive)
    layer = mg.nn.LSTM(I, H, num_layers=2, dropout=0.5)
    x = mg.tensor(randn(6, 2, I, seed=9))
    assert not np.allclose(layer(x)[0].detach().numpy(), layer(x)[0].detach().numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].detach().numpy(), layer(x)[0].detach().numpy())


def test_dropout_warns_with_one_layer():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        mg.nn.LSTM(I, H, dropout=0.2)


# -- packed variable-length batches -------------------------------------------------------------
def packed_case(kind, lengths, enforce_sorted, bidirectional, batch_first, with_state, num_layers=2,
                **kwargs):
    ours, theirs = twins(kind, input_size=I, hidden_size=H, num_layers=num_layers,
                         bidirectional=bidirectional, batch_first=batch_first, **kwargs)
    B, T = len(lengths), max(lengths)
    d = 2 if bidirectional else 1
    x = randn(*((B, T, I) if batch_first else (T, B, I)), seed=10)
    h0 = randn(num_layers * d, B, kwargs.get("proj_size") or H, seed=11)
    arrays = [x] + ([h0, randn(num_layers * d, B, H, seed=14)][: 2 if kind == "LSTM" else 1]) * with_state
    results = {}
    for lib, layer, U in ((mg, ours, MU), (torch, theirs, TU)):
        t = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
        packed = U.pack_padded_sequence(t[0], lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        hx = None if not with_state else ((t[1], t[2]) if kind == "LSTM" else t[1])
        out, state = layer(packed, hx)
        padded, out_lengths = U.pad_packed_sequence(out, batch_first=batch_first)
        outputs = [padded] + flatten_outputs((out, state))
        backprop(lib, outputs)
        results[lib] = (outputs + [out_lengths], [v.grad for v in t], [p.grad for p in layer.parameters()],
                        out)
    for part, what in enumerate(("output", "input grad", "parameter grad")):
        compare(results[mg][part], results[torch][part], what)
    ours_out, theirs_out = results[mg][3], results[torch][3]
    np.testing.assert_array_equal(ours_out.batch_sizes.numpy(), theirs_out.batch_sizes.numpy())
    for a, b in ((ours_out.sorted_indices, theirs_out.sorted_indices),
                 (ours_out.unsorted_indices, theirs_out.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    return results


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional,batch_first,with_state",
                         [(False, False, True), (True, True, True), (True, False, False)])
def test_packed_matches_torch(kind, enforce_sorted, bidirectional, batch_first, with_state):
    lengths = [5, 3, 3, 1] if enforce_sorted else [2, 5, 1, 3]
    packed_case(kind, lengths, enforce_sorted, bidirectional, batch_first, with_state)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_packed_lstm_proj_size():
    packed_case("LSTM", [2, 4, 1], False, True, False, True, proj_size=2)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_packed_lstm_any_lengths(lengths):
    packed_case("LSTM", lengths, False, True, False, True, num_layers=1)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_padding_never_leaks(kind):
    """Changing the values at padded positions changes nothing: outputs there are zero, each
    final state is taken at its own length, and padded positions get no gradient."""
    layer = getattr(mg.nn, kind)(I, H, bidirectional=True)
    lengths = [4, 2, 1]
    x = randn(4, 3, I, seed=12)
    noisy = x.copy()
    for b, n in enumerate(lengths):
        noisy[n:, b] = 100.0
    results = []
    for data in (x, noisy):
        xt = mg.tensor(data, requires_grad=True)
        out, state = layer(MU.pack_padded_sequence(xt, lengths))
        padded, _ = MU.pad_packed_sequence(out)
        h_n = state[0] if kind == "LSTM" else state
        (padded.sum() + h_n.sum()).backward()
        results.append((values(padded), values(h_n), values(xt.grad)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    padded, _, grad = results[1]
    for b, n in enumerate(lengths):
        assert not padded[n:, b].any() and not grad[n:, b].any()
    # and the final state of each sequence equals a run of that sequence alone
    for b, n in enumerate(lengths):
        alone = layer(mg.tensor(x[:n, b : b + 1]))[1]
        alone = alone[0] if kind == "LSTM" else alone
        np.testing.assert_allclose(results[0][1][:, b], values(alone)[:, 0], rtol=1e-5, atol=1e-6)


# -- state dicts, init, repr, errors ------------------------------------------------------------
@pytest.mark.parametrize("kind,kwargs", [
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)), ("GRU", dict(num_layers=2)),
    ("RNN", dict(bidirectional=True, bias=False)),
])
def test_state_dict_interchanges(kind, kwargs):
    ours, theirs = getattr(mg.nn, kind)(I, H, **kwargs), getattr(torch.nn, kind)(I, H, **kwargs)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)  # same keys in the same order
    for key in ours_sd:
        assert tuple(ours_sd[key].shape) == tuple(theirs_sd[key].shape), key
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours_sd.items()}, strict=True)
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ours_sd[key].numpy())


def test_init_is_uniform_within_one_over_sqrt_hidden():
    layer = mg.nn.LSTM(8, 64, num_layers=2)
    bound = 1 / np.sqrt(64)
    values_ = np.concatenate([values(p).ravel() for p in layer.parameters()])
    assert values_.dtype == np.float32
    assert np.abs(values_).max() <= bound
    assert abs(values_.std() - bound / np.sqrt(3)) < 0.01 * bound  # U(-b, b) has std b / sqrt(3)
    for cell in (mg.nn.GRUCell(3, 16), mg.nn.RNNCell(3, 16)):
        assert max(np.abs(values(p)).max() for p in cell.parameters()) <= 1 / 4


@pytest.mark.parametrize("kind,args,kwargs", [
    ("RNN", (3, 4), dict(num_layers=2, nonlinearity="relu", dropout=0.5)),
    ("LSTM", (3, 4), dict(proj_size=2, batch_first=True, bidirectional=True)),
    ("GRU", (3, 4), dict(bias=False)), ("RNNCell", (3, 4), dict(nonlinearity="relu")),
    ("LSTMCell", (3, 4), dict(bias=False)), ("GRUCell", (3, 4), {}),
])
def test_repr_matches_torch(kind, args, kwargs):
    assert repr(getattr(mg.nn, kind)(*args, **kwargs)) == repr(getattr(torch.nn, kind)(*args, **kwargs))


def both_raise(make, call, error, match):
    """The same call fails with the same error type in torch and in macrograd, whose message
    also matches `match` (it names the layer and the shapes)."""
    for lib in (torch, mg):
        layer, args = make(lib)
        with pytest.raises(error) as info:
            call(layer, args)
        if lib is mg:
            assert info.match(match)


def test_errors_name_the_layer_and_shapes():
    def lstm(lib, *x_shape_and_state):
        return lib.nn.LSTM(I, H, num_layers=2), x_shape_and_state

    call = lambda layer, a: layer(*a)  # noqa: E731
    both_raise(lambda lib: lstm(lib, lib.zeros(5, 2, I + 1)), call, RuntimeError,
               r"LSTM\(3, 4, num_layers=2\).*input_size. Expected 3, got 4")
    both_raise(lambda lib: lstm(lib, lib.zeros(5, 2, I), (lib.zeros(2, 3, H), lib.zeros(2, 2, H))), call,
               RuntimeError, r"LSTM.*Expected hidden\[0\] size \(2, 2, 4\), got \[2, 3, 4\]")
    both_raise(lambda lib: lstm(lib, lib.zeros(5, 2, I), (lib.zeros(2, 2, H), lib.zeros(1, 2, H))), call,
               RuntimeError, r"Expected hidden\[1\] size \(2, 2, 4\), got \[1, 2, 4\]")
    both_raise(lambda lib: (lib.nn.GRU(I, H), (lib.zeros(5, 2, I), lib.zeros(1, 5, H))), call,
               RuntimeError, r"GRU\(3, 4\): Expected hidden size \(1, 2, 4\), got \[1, 5, 4\]")
    both_raise(lambda lib: (lib.nn.RNN(I, H), (lib.zeros(1, 5, 2, I),)), call, ValueError,
               r"RNN\(3, 4\): Expected input to be 2D or 3D, got 4D")
    both_raise(lambda lib: (lib.nn.RNN(I, H), (lib.zeros(5, I), lib.zeros(1, 1, H))), call, RuntimeError,
               r"unbatched 2-D input, hx should also be 2-D")
    both_raise(lambda lib: (lib.nn.GRU(I, H), (lib.zeros(5, 2, I, dtype=lib.float64),)), call, ValueError,
               r"GRU\(3, 4\): input dtype \(float64\) does not match weight dtype \(float32\)")
    both_raise(lambda lib: (lib.nn.LSTMCell(I, H), (lib.zeros(2, I + 2),)), call, RuntimeError,
               r"LSTMCell\(3, 4\): input has inconsistent input_size: got 5 expected 3")
    both_raise(lambda lib: (lib.nn.GRUCell(I, H), (lib.zeros(2, I), lib.zeros(3, H))), call, RuntimeError,
               r"GRUCell\(3, 4\): hidden0 of shape \(3, 4\)")
    both_raise(lambda lib: (lib.nn.RNNCell(I, H), (lib.zeros(1, 2, I),)), call, ValueError,
               r"RNNCell: Expected input to be 1D or 2D, got 3D")
    for kwargs, match in ((dict(dropout=1.5), "dropout should be a number"),
                          (dict(proj_size=4), "proj_size has to be smaller than hidden_size"),
                          (dict(num_layers=0), "num_layers must be greater than zero")):
        for lib in (torch, mg):
            with pytest.raises(ValueError, match=match):
                lib.nn.LSTM(I, H, **kwargs)
    for lib in (torch, mg):
        with pytest.raises(ValueError, match="only supported for LSTM"):
            lib.nn.GRU(I, H, proj_size=2)
        with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
            lib.nn.RNN(I, H, nonlinearity="sigmoid")


# -- cells ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,kwargs", [
    ("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {}),
    ("LSTMCell", {"bias": False}), ("GRUCell", {"bias": False}),
])
@pytest.mark.parametrize("batched,with_state", [(True, True), (True, False), (False, True)])
def test_cell_matches_torch(kind, kwargs, batched, with_state):
    ours, theirs = twins(kind, input_size=I, hidden_size=H, **kwargs)
    lead = (3,) if batched else ()
    arrays = [randn(*lead, I, seed=13)] + [randn(*lead, H, seed=14), randn(*lead, H, seed=15)][
        : (2 if kind == "LSTMCell" else 1) * with_state]

    def make_input(lib, t):
        if not with_state:
            return (t[0],)
        return (t[0], (t[1], t[2]) if kind == "LSTMCell" else t[1])

    run_twins(ours, theirs, make_input, arrays)


def test_cells_unrolled_equal_the_layer():
    """An LSTMCell stepped by hand over a sequence gives the LSTM layer's outputs."""
    layer, cell = mg.nn.LSTM(I, H), mg.nn.LSTMCell(I, H)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = mg.tensor(randn(5, 2, I, seed=16))
    out, (h_n, c_n) = layer(x)
    h = c = None
    for t in range(5):
        h, c = cell(x[t], None if h is None else (h, c))
        np.testing.assert_allclose(values(h), values(out[t]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(values(c), values(c_n[0]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"])
def test_functional_cells_match_torch(name):
    chunks = {"lstm_cell": 4, "gru_cell": 3}.get(name, 1)
    arrays = [randn(3, I, seed=17), randn(3, H, seed=18), randn(3, H, seed=19), randn(chunks * H, I, seed=20),
              randn(chunks * H, H, seed=21), randn(chunks * H, seed=22), randn(chunks * H, seed=23)]
    results = {}
    for lib in (mg, torch):
        t = [lib.tensor(a, requires_grad=True) for a in arrays]
        hx = (t[1], t[2]) if name == "lstm_cell" else t[1]
        out = getattr(lib, name)(t[0], hx, *t[3:])
        outputs = list(out) if isinstance(out, tuple) else [out]
        backprop(lib, outputs)
        results[lib] = outputs, [v.grad for v in t]
    compare(results[mg][0], results[torch][0], "output")
    compare(results[mg][1], results[torch][1], "grad")
    with pytest.raises(RuntimeError, match=f"{name}: shapes do not fit"):
        getattr(mg, name)(mg.zeros(3, I), (mg.zeros(3, H),) * 2 if name == "lstm_cell" else mg.zeros(3, H),
                          mg.zeros(chunks * H, I + 1), mg.zeros(chunks * H, H))


# -- pad / pack utilities -----------------------------------------------------------------------
SEQS = [randn(3, 2, seed=30), randn(1, 2, seed=31), randn(4, 2, seed=32), randn(2, 2, seed=33)]


def run_util(fn):
    """fn(lib, U, tensors) on both libraries; compare outputs and the grads of SEQS."""
    results = {}
    for lib, U in ((mg, MU), (torch, TU)):
        t = [lib.tensor(a, requires_grad=True) for a in SEQS]
        outputs = [o for o in fn(lib, U, t) if o is not None]
        backprop(lib, [o for o in outputs if o.dtype == lib.float32])
        results[lib] = outputs, [v.grad for v in t]
    compare(results[mg][0], results[torch][0], "output")
    compare(results[mg][1], results[torch][1], "grad")
    for a, b in zip(results[mg][0], results[torch][0]):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence(batch_first, padding_side):
    run_util(lambda lib, U, t: [U.pad_sequence(t, batch_first=batch_first, padding_value=-2.0,
                                               padding_side=padding_side)])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_round_trip(batch_first, enforce_sorted):
    def fn(lib, U, t):
        seqs = sorted(t, key=lambda s: -s.shape[0]) if enforce_sorted else t
        padded = U.pad_sequence(seqs, batch_first=batch_first)
        lengths = [s.shape[0] for s in seqs]
        packed = U.pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        again, out_lengths = U.pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0,
                                                   total_length=6)
        from_list = U.pack_sequence(seqs, enforce_sorted=enforce_sorted)
        unpacked = U.unpack_sequence(from_list)
        # a clone: torch's unpad_sequence transposes a time-first input in place
        unpadded = U.unpad_sequence(again.clone(), out_lengths, batch_first=batch_first)
        return [packed.data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices, again,
                out_lengths, from_list.data, *unpacked, *unpadded]

    run_util(fn)


def test_pack_errors():
    for lib, U in ((mg, MU), (torch, TU)):
        x = lib.zeros(4, 3, 2)
        with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
            U.pack_padded_sequence(x, [2, 4, 1])
        with pytest.raises(ValueError, match="Expected total_length to be at least"):
            U.pad_packed_sequence(U.pack_padded_sequence(x, [4, 2, 1]), total_length=3)
        with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right"):
            U.pad_sequence([x[0]], padding_side="middle")
    with pytest.raises(ValueError, match=r"len\(lengths\)` to be equal to batch_size"):
        MU.pack_padded_sequence(mg.zeros(4, 3, 2), [2, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        MU.pack_padded_sequence(mg.zeros(4, 3, 2), [2, 1, 0])


def test_packed_sequence_fields():
    packed = MU.pack_sequence([mg.tensor(a) for a in SEQS], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed  # a named tuple, as in torch
    assert batch_sizes.tolist() == [4, 3, 2, 1] and sorted_indices.tolist() == [2, 0, 3, 1]
    assert unsorted_indices.tolist() == [1, 3, 0, 2]
    assert packed.double().data.dtype == mg.float64 and packed.double().batch_sizes is batch_sizes
