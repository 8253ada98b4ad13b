"""Recurrent layers: RNN, LSTM, GRU over whole sequences, and the one-step RNNCell, LSTMCell,
GRUCell, with PyTorch's parameter names, shapes, gate order and init, so state_dicts interchange.

    LSTM (gates i, f, g, o):  [i f g o] = [s s tanh s](x W_ih^T + b_ih + h W_hh^T + b_hh)
                              c' = f c + i g;  h' = o tanh(c')   (h' = (o tanh(c')) W_hr^T with proj_size)
    GRU  (gates r, z, n):     r, z = s(...);  n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
                              h' = (1 - z) n + z h
    RNN:                      h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh)

How a layer runs: every input, padded or packed, is first put in packed form, a 2-D (N, I)
array of rows plus `batch_sizes` (padded input is the special case of T steps of B rows).
Per layer and direction, x W_ih^T for all N rows is one GEMM; then the loop over time (the
only Python loop) does one small matmul h W_hh^T and one fused step op (ops/recurrent.py) per
step, on the first batch_sizes[t] rows of the state: a sequence that has ended simply leaves
the batch, so padding never reaches a state, and its final state is the one at its length.
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import creation, ops
from ..backend import xp
from ..ops.recurrent import GRUStep, LSTMStep, RNNStep, SequenceGrad
from ..ops.lstm_sequence import LSTMSequence
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _zeros(batch, size, dtype):
    return Tensor(xp.zeros((batch, size), dtype=dtype))


class RNNBase(Module):
    """The parameters and the sequence loop shared by RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero "
                          "dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for arg, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type bool, got: {type(value).__name__}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name}: {arg} must be greater than zero, got {value}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size "
                             f"(got proj_size={proj_size}, hidden_size={hidden_size})")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size

        # PyTorch's registration order, which is also the state_dict order.
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, real_hidden)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for kind, shape in shapes.items():
                    setattr(self, kind + suffix, Parameter(creation.empty(*shape, dtype=dtype)))
                    names.append(kind + suffix)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch code (cuDNN's contiguous weight buffer has no NumPy analogue)."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- forward ----------------------------------------------------------------------------
    def forward(self, input, hx=None):
        directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            data, batch_sizes_tensor, sorted_indices, unsorted_indices = input
            batch_sizes = [int(n) for n in batch_sizes_tensor.tolist()]
            self._check_input(data, 2)
            batch = batch_sizes[0]
            x = data
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{self._layer_name()}: Expected input to be 2D or 3D, got "
                                 f"{input.ndim}D tensor instead (shape {tuple(input.shape)})")
            unbatched = input.ndim == 2
            if unbatched:
                input = input.unsqueeze(0 if self.batch_first else 1)
            hx = self._match_hidden_dims(hx, unbatched)
            self._check_input(input, 3)
            if self.batch_first:
                input = input.transpose(0, 1)
            steps, batch = input.shape[0], input.shape[1]
            batch_sizes = [batch] * steps
            x = input.reshape(steps * batch, self.input_size)

        expected = (self.num_layers * directions, batch, real_hidden)
        if hx is None:
            h0 = c0 = None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            suffix = ("[0]", "[1]") if is_lstm else ("", "")
            self._check_hidden(h0, expected, "hidden" + suffix[0])
            if is_lstm:
                self._check_hidden(c0, expected[:2] + (self.hidden_size,), "hidden" + suffix[1])
            if packed and sorted_indices is not None:  # the user's batch order -> sorted order
                h0 = ops.index_select(h0, 1, sorted_indices)
                c0 = ops.index_select(c0, 1, sorted_indices) if is_lstm else None

        offsets = [0]
        for n in batch_sizes[:-1]:
            offsets.append(offsets[-1] + n)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                h_init = _zeros(batch, real_hidden, x.dtype) if h0 is None else h0[k]
                c_init = None
                if is_lstm:
                    c_init = _zeros(batch, self.hidden_size, x.dtype) if c0 is None else c0[k]
                out, h_last, c_last = self._run_direction(
                    x, self.all_weights[k], h_init, c_init, batch_sizes, offsets, reverse=direction == 1)
                outputs.append(out)
                h_n.append(h_last)
                c_n.append(c_last)
            x = outputs[0] if directions == 1 else ops.cat(outputs, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)

        h_n = ops.stack(h_n, 0)
        c_n = ops.stack(c_n, 0) if is_lstm else None
        if packed:
            if unsorted_indices is not None:  # back to the user's batch order
                h_n = ops.index_select(h_n, 1, unsorted_indices)
                c_n = ops.index_select(c_n, 1, unsorted_indices) if is_lstm else None
            output = PackedSequence(x, batch_sizes_tensor, sorted_indices, unsorted_indices)
        else:
            output = x.reshape(len(batch_sizes), batch, x.shape[-1])
            if self.batch_first:
                # contiguous: a transposed view would send the next layer's matmul down
                # NumPy's slow non-BLAS loop
                output = output.transpose(0, 1).contiguous()
            if unbatched:
                output = output.squeeze(0 if self.batch_first else 1)
                h_n = h_n.squeeze(1)
                c_n = c_n.squeeze(1) if is_lstm else None
        return output, ((h_n, c_n) if is_lstm else h_n)

    def _run_direction(self, x, weights, h0, c0, batch_sizes, offsets, reverse):
        """One layer in one direction over packed rows x (N, I): (output rows (N, H), h_n, c_n)."""
        w_ih, w_hh, *rest = weights
        b_ih, b_hh = rest[:2] if self.bias else (None, None)
        w_hr = rest[-1] if self.proj_size > 0 else None
        if (self.mode == "LSTM" and w_hr is None and len(batch_sizes) > 0
                and all(n == h0.shape[0] for n in batch_sizes)):
            # Equal-length sequences: the input projection and the whole loop over time as one
            # fused node, in a transposed layout (see ops/lstm_sequence.py).
            steps = len(batch_sizes)
            bias = (b_ih + b_hh,) if self.bias else ()
            y = LSTMSequence.apply(x, w_ih, w_hh, h0, c0, *bias, reverse=reverse)
            return y[:steps].reshape(x.shape[0], -1), y[0 if reverse else steps - 1], y[steps]
        xg = x @ w_ih.T  # every time step's input projection in one GEMM
        if self.bias:
            # GRU keeps b_hh apart: its n gate multiplies (h W_hn^T + b_hn) by r.
            xg = xg + (b_ih if self.mode == "GRU" else b_ih + b_hh)
        w_hh_t = w_hh.T
        w_hr_t = w_hr.T if w_hr is not None else None
        grads = SequenceGrad(tuple(xg.shape), xg.dtype)
        steps = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
        h, c = h0, c0
        if batch_sizes[steps[0]] < h0.shape[0]:  # reverse over packed input: the longest start
            h = h0[: batch_sizes[steps[0]]]
            c = c0[: batch_sizes[steps[0]]] if c0 is not None else None
        outputs = [None] * len(batch_sizes)
        ended = []  # forward direction: (h, c) of sequences that have ended, last rows first
        for k, t in enumerate(steps):
            n, rows_now = batch_sizes[t], h.shape[0]
            if n < rows_now:  # sequences n.. ended at the previous step: keep their final state
                ended.append((h[n:], c[n:] if c is not None else None))
                h, c = h[:n], (c[:n] if c is not None else None)
            elif n > rows_now:  # (reverse) sequences rows_now..n-1 begin here, from h0
                h = ops.cat([h, h0[rows_now:n]], 0)
                c = ops.cat([c, c0[rows_now:n]], 0) if c is not None else None
            step = dict(rows=slice(offsets[t], offsets[t] + n), grads=grads, first_step=k == 0)
            hh = h @ w_hh_t
            if self.mode == "LSTM":
                hc = LSTMStep.apply(xg, hh, c, **step)
                h, c = hc[0], hc[1]
                if w_hr_t is not None:
                    h = h @ w_hr_t
            elif self.mode == "GRU":
                if b_hh is not None:
                    hh = hh + b_hh
                h = GRUStep.apply(xg, hh, h, **step)
            else:
                h = RNNStep.apply(xg, hh, nonlinearity="tanh" if self.mode == "RNN_TANH" else "relu", **step)
            outputs[t] = h
        if ended:  # rows 0.. ran to the end; the ended pieces follow in row order
            h = ops.cat([h] + [e[0] for e in reversed(ended)], 0)
            c = ops.cat([c] + [e[1] for e in reversed(ended)], 0) if c is not None else None
        return ops.cat(outputs, 0), h, c

    # -- checks -----------------------------------------------------------------------------
    def _check_input(self, input, expected_dim):
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"{self._layer_name()}: input dtype ({input.dtype}) does not match weight "
                             f"dtype ({weight.dtype}). Convert the input or the model")
        if input.ndim != expected_dim:
            raise RuntimeError(f"{self._layer_name()}: input must have {expected_dim} dimensions, got "
                               f"{input.ndim} (shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self._layer_name()}: input.size(-1) must be equal to input_size. "
                               f"Expected {self.input_size}, got {input.shape[-1]} "
                               f"(input shape {tuple(input.shape)})")

    def _check_hidden(self, hx, expected, what):
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(f"{self._layer_name()}: Expected {what} size {tuple(expected)}, "
                               f"got {list(hx.shape)}")

    def _match_hidden_dims(self, hx, unbatched):
        """Unbatched input takes 2-D states (layers * directions, H): give them a batch dim."""
        if hx is None:
            return None
        states = hx if self.mode == "LSTM" else (hx,)
        want = 2 if unbatched else 3
        if any(s.ndim != want for s in states):
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            raise RuntimeError(f"{self._layer_name()}: For {kind} input, hx should also be {want}-D but "
                               f"got shapes {[tuple(s.shape) for s in states]}")
        if unbatched:
            states = tuple(s.unsqueeze(1) for s in states)
        return states if self.mode == "LSTM" else states[0]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh or relu(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), per layer.

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False); forward(input, h_0=None) -> (output, h_n)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:  # nonlinearity is the 4th positional argument, as in PyTorch
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o (see the module docstring).

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0); forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n (see the module docstring).

    GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False); forward(input, h_0=None) -> (output, h_n)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# -- cells: one time step, the loop is the caller's ---------------------------------------------
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(creation.empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(num_chunks * hidden_size, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def _prepare(self, input, states):
        """Check dims and sizes; give 2-D input and states (zeros where absent) and whether
        the input came unbatched (1-D)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                             f"(shape {tuple(input.shape)})")
        batched = input.ndim == 2
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}({self.extra_repr()}): input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size} (input shape {tuple(input.shape)})")
        if not batched:
            input = input.unsqueeze(0)
        batch = input.shape[0]
        out = []
        for i, s in enumerate(states):
            if s is None:
                out.append(_zeros(batch, self.hidden_size, input.dtype))
                continue
            if s.ndim not in (1, 2):
                raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {s.ndim}D instead "
                                 f"(shape {tuple(s.shape)})")
            s = s if batched else s.unsqueeze(0)
            if tuple(s.shape) != (batch, self.hidden_size):
                raise RuntimeError(f"{name}({self.extra_repr()}): hidden{i} of shape {tuple(s.shape)} does "
                                   f"not match input batch size {batch} and hidden_size {self.hidden_size}")
            out.append(s)
        return input, out, batched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh); forward(input, hx=None) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (hx,), batched = self._prepare(input, (hx,))
        if self.nonlinearity == "tanh":
            cell = ops.rnn_tanh_cell
        elif self.nonlinearity == "relu":
            cell = ops.rnn_relu_cell
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h = cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step, gates i, f, g, o; forward(input, (h, c)=None) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype)

    def forward(self, input, hx=None):
        input, (h, c), batched = self._prepare(input, (None, None) if hx is None else hx)
        h, c = ops.lstm_cell(input, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step, gates r, z, n; forward(input, hx=None) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype)

    def forward(self, input, hx=None):
        input, (hx,), batched = self._prepare(input, (hx,))
        h = ops.gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
