"""Batches of variable-length sequences: padding and packing, with PyTorch's layout.

Padded: one (T, B, *) tensor (or (B, T, *) with batch_first), short sequences filled up.
Packed: the sequences sorted by decreasing length, then their time steps interleaved, so that
`data` holds step 0 of every sequence, then step 1 of those at least 2 long, and so on;
`batch_sizes[t]` says how many sequences are still running at step t. An RNN then runs
step t on the first batch_sizes[t] rows of its state and never sees a padding position.

    lengths [3, 1, 2] -> sorted_indices [0, 2, 1], batch_sizes [3, 2, 1]
    data rows: a0 c0 b0 | a1 c1 | a2

Every conversion is one gather of rows (an indexing op), so gradients flow through it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import ops
from ...backend import xp
from ...tensor import Tensor


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """(data (N, *), batch_sizes (T,) int64, sorted_indices, unsorted_indices), as in PyTorch.

    sorted_indices[k] is the original batch index of the k-th longest sequence (None when the
    batch came sorted); unsorted_indices is its inverse. Build it with pack_padded_sequence or
    pack_sequence rather than by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same packing with data converted (dtype); the index tensors stay int64."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                          self.unsorted_indices)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    @property
    def is_cuda(self) -> bool:
        return False


def _invert_permutation(permutation):
    if permutation is None:
        return None
    p = _index_array(permutation)
    inverse = np.empty_like(p)
    inverse[p] = np.arange(p.size, dtype=p.dtype)
    return Tensor(xp.asarray(inverse))


def _index_array(values) -> np.ndarray:
    """An int64 NumPy array from a list, an array or a Tensor (lengths, indices, batch sizes)."""
    if isinstance(values, Tensor):
        values = values.numpy()
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _gather_rows(rows, index, shape):
    """rows[index] reshaped to shape: one differentiable gather; index == len(rows) picks a
    padding row that the caller appended."""
    return rows[xp.asarray(index.reshape(-1))].reshape(shape)


def _with_padding_row(data, padding_value):
    """data (N, *) with one more row, full of padding_value, at index N."""
    pad = Tensor(xp.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    return ops.cat([data, pad], 0)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *)) whose sequence b is lengths[b] long."""
    lengths = _index_array(lengths)
    batch_dim = 0 if batch_first else 1
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected input of at least 2 dims (time and batch), "
                         f"got shape {tuple(input.shape)}")
    batch, steps = input.shape[batch_dim], input.shape[1 - batch_dim]
    if lengths.size != batch:
        raise ValueError(f"pack_padded_sequence: Expected `len(lengths)` to be equal to batch_size, but "
                         f"got {lengths.size} (batch_size={batch}, input shape {tuple(input.shape)})")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("pack_padded_sequence: Length of all samples has to be greater than 0, but "
                           f"found an element in 'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if lengths.size and lengths.max() > steps:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the "
                           f"{steps} time steps of the input of shape {tuple(input.shape)}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                f"to sidestep this requirement if you do not need ONNX exportability (lengths "
                f"{lengths.tolist()})."
            )
        order, sorted_indices = np.arange(batch), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor(xp.asarray(order))
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(1)
    # Row (t, k) of the packed data is step t of the k-th longest sequence.
    t = np.concatenate([np.full(n, i) for i, n in enumerate(batch_sizes)])
    b = np.concatenate([order[:n] for n in batch_sizes])
    flat_index = b * steps + t if batch_first else t * batch + b
    rows = input.reshape(batch * steps, *input.shape[2:])
    data = _gather_rows(rows, flat_index, (len(flat_index),) + tuple(input.shape[2:]))
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths (B,) int64), in the
    original batch order; T = total_length if given (at least the longest length)."""
    data, batch_sizes, _, unsorted_indices = sequence
    batch_sizes = _index_array(batch_sizes)
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, "
                f"but got total_length={total_length} and max sequence length being {steps}"
            )
        steps = total_length
    batch = int(batch_sizes[0]) if len(batch_sizes) else 0
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    position = np.arange(batch) if unsorted_indices is None else _index_array(unsorted_indices)
    # src[t, j]: the data row of step t of original sequence j, or the padding row N.
    t = np.arange(steps)[:, None]
    k = position[None, :]
    running = t < sorted_lengths[k]
    src = np.where(running, offsets[np.minimum(t, len(batch_sizes) - 1)] + k, data.shape[0])
    if batch_first:
        src = src.T
    padded = _gather_rows(_with_padding_row(data, padding_value), src,
                          src.shape + tuple(data.shape[1:]))
    return padded, Tensor(sorted_lengths[position].astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences (L_i, *) into (T, B, *) (or (B, T, *)), T = max L_i, filling with
    padding_value after each sequence ('right') or before it ('left')."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"pad_sequence: Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = ops.unbind(sequences, 0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(
                "pad_sequence: every sequence must have shape (L, *) with the same trailing dims, got "
                f"shapes {', '.join(str(tuple(s.shape)) for s in sequences)}"
            )
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    steps = int(lengths.max())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    t = np.arange(steps)[:, None]
    # Step t of sequence b sits at row starts[b] + t (right) or starts[b] + t - (T - L_b) (left).
    shift = t if padding_side == "right" else t - (steps - lengths)[None, :]
    running = (shift >= 0) & (shift < lengths[None, :])
    src = np.where(running, starts[None, :] + shift, total)
    if batch_first:
        src = src.T
    return _gather_rows(_with_padding_row(ops.cat(sequences, 0), padding_value), src, src.shape + trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_b, *) cut out of a padded batch."""
    lengths = _index_array(lengths)
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b, : int(n)] for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Pack a list of sequences (L_i, *); with enforce_sorted they must come longest first."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences, in their original order, that a PackedSequence holds."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]
