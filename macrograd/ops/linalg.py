"""Matrix products: matmul (batched, broadcast, 1-D operands) and einsum."""
from __future__ import annotations

import math
import string

import numpy as np

from ..autograd import Function, sum_to
from ..backend import xp
from ..tensor import Tensor
from .dtypes import to_tensor


# -- matmul -------------------------------------------------------------------------------------
def _rows(a):
    """A stack of matrices (..., n, k) as one (N, k) matrix. (Not reshape(-1, k): with a zero
    batch size and k == 0 the -1 would be ambiguous.)"""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _matmul_folded(a, b):
    """a @ b, with a stack of matrices times one matrix done as one GEMM: NumPy would loop over
    the stack calling BLAS once per matrix (e.g. a Linear layer on (batch, time, features)),
    and one tall product is ~25% faster on transformer shapes (bench W5)."""
    if a.ndim > 2 and b.ndim == 2:
        return xp.matmul(_rows(a), b).reshape(a.shape[:-1] + b.shape[-1:])
    return xp.matmul(a, b)


class MatMul(Function):
    """Y = A @ B;  dA = dY @ B^T,  dB = A^T @ dY  (batch dims broadcast, then summed back)"""

    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save(a if need_b else None, b if need_a else None)
        ctx.shapes = a.shape, b.shape
        ctx.b_transposed = b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous
        return _matmul_folded(a, b)

    def backward(ctx, dy):
        a, b = ctx.saved
        shape_a, shape_b = ctx.shapes
        # A 1-D a is a row matrix (1, k), a 1-D b a column matrix (k, 1); matmul dropped that
        # axis from the output, so put it back into dy. Then every case is (batched) matrices.
        if len(shape_a) == 1 and len(shape_b) == 1:  # a dot product: dy is 0-d
            dy = dy.reshape(1, 1)
        elif len(shape_a) == 1:
            dy = xp.expand_dims(dy, -2)
        elif len(shape_b) == 1:
            dy = xp.expand_dims(dy, -1)
        da = db = None
        if ctx.needs_input_grad[0]:
            b2 = b[:, None] if b.ndim == 1 else b
            da = _matmul_folded(dy, xp.swapaxes(b2, -1, -2))
            # sum_to undoes batch broadcasting (and the row axis of a 1-D a).
            da = sum_to(da, shape_a if len(shape_a) > 1 else (1,) + shape_a).reshape(shape_a)
        if ctx.needs_input_grad[1]:
            a2 = a[None, :] if a.ndim == 1 else a
            if ctx.b_transposed:
                # b is a transposed view (x @ W.T in a Linear layer): compute dB^T = dY^T A,
                # so that dB is that C-ordered array transposed and dW = dB^T is C-ordered
                # like W (a transposed .grad makes the optimizer's updates strided).
                db = (_rows(dy).T @ _rows(a2)).T
            elif a2.ndim > 2 and len(shape_b) == 2:
                # Batched activations times one weight matrix: fold the batch into one GEMM
                # instead of a batch of products summed afterwards.
                db = _rows(a2).T @ _rows(dy)
            else:
                db = xp.matmul(xp.swapaxes(a2, -1, -2), dy)
                db = sum_to(db, shape_b if len(shape_b) > 1 else shape_b + (1,)).reshape(shape_b)
        return da, db


class Linear(Function):
    """y = x W^T (+ b) for x (*, in), W (out, in), b (out,): the rows of x folded into one
    (N, in) matrix, one GEMM, the bias added in place;
    dx = dy W,  dW = dy^T x (over the N folded rows),  db = sum of dy over the rows.

    One graph node for what x @ W.t() + b spells as three (Permute, MatMul, Add): at batch 1
    the per-op Python overhead is most of a layer's time (bench W6), and at batch 128 one node
    saves the intermediate output and the broadcast-add's backward (bench W1)."""

    fresh_grads = True  # dx, dW, db are each a new array (GEMM outputs, a sum)

    def forward(ctx, x, weight, *bias):
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save(x if need_w else None, weight if need_x else None)
        ctx.x_shape = x.shape
        # W^T is a transposed view: BLAS reads it as is (no copy).
        if x.ndim <= 2:  # (N, in) or (in,): NumPy's matmul is the GEMM (GEMV) itself
            y = x @ weight.T
        else:
            y = (_rows(x) @ weight.T).reshape(x.shape[:-1] + weight.shape[:1])
        if bias:
            y += bias[0]  # y is fresh: add in place, no second output array
        return y

    def backward(ctx, dy):
        x, weight = ctx.saved
        needs = ctx.needs_input_grad
        shape = ctx.x_shape
        # Every case as matrices: (in,) is one row, (*, in) its rows folded.
        dy2 = dy.reshape(1, -1) if dy.ndim == 1 else _rows(dy)
        dx = dw = db = None
        if needs[0]:
            dx = (dy2 @ weight).reshape(shape)
        if needs[1]:
            x2 = x.reshape(1, -1) if x.ndim == 1 else _rows(x)
            dw = dy2.T @ x2  # (out, in), C-ordered like W: the optimizer's updates stay contiguous
        if len(needs) > 2 and needs[2]:
            # Accumulated in float64, as sum_to does for a broadcast bias: a float32 sum over
            # many rows drifts ~1e-5 relative, 10x PyTorch's error.
            if dy2.dtype.kind == "f" and dy2.dtype.itemsize < 8:
                db = dy2.sum(axis=0, dtype=np.float64).astype(dy2.dtype)
            else:
                db = dy2.sum(axis=0)
        return (dx, dw, db)[:len(needs)]


def _check_matmul(op, a: Tensor, b: Tensor):
    """PyTorch's errors for matmul: 0-d operands, different dtypes, mismatched sizes."""
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"{op}: both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"{op}: expected both operands to have the same dtype, but got {a.dtype} and {b.dtype} "
            f"(shapes {tuple(a.shape)} and {tuple(b.shape)}); convert one with .to(dtype)"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"({k_a} != {k_b} in the contracted dimension)"
        )
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    if not batch_a or not batch_b:  # at most one side has batch dims: nothing to broadcast
        return
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise RuntimeError(
            f"{op}: the batch dimensions {tuple(batch_a)} and {tuple(batch_b)} of shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)} do not broadcast"
        ) from None


def _matmul_operands(op, input, other):
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        if isinstance(input, (int, float)) or isinstance(other, (int, float)):
            raise RuntimeError(f"{op}: both arguments to matmul need to be at least 1D tensors, got a Python number")
        input, other = to_tensor(input), to_tensor(other)
    _check_matmul(op, input, other)
    return input, other


def matmul(input, other):
    """Matrix product with NumPy/PyTorch rules: 1-D operands are vectors, leading dims are
    batch dims that broadcast."""
    return MatMul.apply(*_matmul_operands("matmul", input, other))


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects 2-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return MatMul.apply(*_matmul_operands("mm", input, mat2))


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expects 3-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: batch sizes differ: shapes {tuple(input.shape)} and {tuple(mat2.shape)}"
        )
    return MatMul.apply(*_matmul_operands("bmm", input, mat2))


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expects a 2-D and a 1-D tensor, got shapes {tuple(input.shape)} and {tuple(vec.shape)}")
    return MatMul.apply(*_matmul_operands("mv", input, vec))


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expects 1-D tensors, got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return MatMul.apply(*_matmul_operands("dot", input, other))


def outer(input, vec2):
    """outer(u, v)[i, j] = u[i] v[j]"""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expects 1-D tensors, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return einsum("i,j->ij", input, vec2)


# -- einsum -------------------------------------------------------------------------------------
_LETTERS = string.ascii_letters


def _parse_term(term: str, equation: str, where: str):
    """A term's explicit letters and whether it has an ellipsis ('...')."""
    has_ellipsis = "..." in term
    if term.count("...") > 1:
        raise RuntimeError(f"einsum(): more than one ellipsis ('...') in {where} of '{equation}'")
    letters = term.replace("...", "")
    for char in letters:
        if char not in _LETTERS:
            raise RuntimeError(
                f"einsum(): invalid subscript {char!r} in '{equation}'; subscripts must be in [a-zA-Z]"
            )
    return letters, has_ellipsis


def parse_einsum(equation: str, shapes):
    """Rewrite an equation into explicit letters only: each '...' becomes reserved letters
    (right-aligned across operands, as broadcasting is) and an implicit output ('ij,jk') is
    spelled out. Returns (input terms, output term, size of each letter)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(
            f"einsum(): '{equation}' names {len(terms)} operand(s) but {len(shapes)} were given"
        )
    parsed = [_parse_term(t, equation, f"operand {k}") for k, t in enumerate(terms)]
    ellipsis_ndims = []
    for k, ((letters, has_ellipsis), shape) in enumerate(zip(parsed, shapes)):
        if (len(letters) != len(shape)) if not has_ellipsis else (len(letters) > len(shape)):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(letters)}) does not match "
                f"the number of dimensions ({len(shape)}) for operand {k}"
                + ("" if has_ellipsis else " and no ellipsis was given")
            )
        ellipsis_ndims.append(len(shape) - len(letters) if has_ellipsis else 0)
    used = set(eq)
    spare = [c for c in _LETTERS if c not in used]
    n_ellipsis = max(ellipsis_ndims, default=0)
    if n_ellipsis > len(spare):
        raise RuntimeError(f"einsum(): '{equation}' needs more subscripts than the 52 letters allow")
    reserved = "".join(spare[:n_ellipsis])
    explicit = [
        t.replace("...", reserved[n_ellipsis - n:]) if has else t
        for t, (_, has), n in zip(terms, parsed, ellipsis_ndims)
    ]
    if arrow:
        out_letters, out_ellipsis = _parse_term(rhs, equation, "the output")
        output = rhs.replace("...", reserved) if out_ellipsis else rhs
        for char in out_letters:
            if out_letters.count(char) > 1:
                raise RuntimeError(f"einsum(): output subscript {char} appears more than once in the output")
            if char not in lhs:
                raise RuntimeError(
                    f"einsum(): output subscript {char} does not appear in the equation for any input operand"
                )
    else:  # implicit output: the ellipsis dims, then every letter seen once, alphabetically
        counts = {}
        for letters, _ in parsed:
            for char in letters:
                counts[char] = counts.get(char, 0) + 1
        output = reserved + "".join(sorted(c for c, n in counts.items() if n == 1))
    sizes = {}
    for k, (term, shape) in enumerate(zip(explicit, shapes)):
        for char in set(term):
            lengths = {shape[i] for i, c in enumerate(term) if c == char}
            if len(lengths) > 1:
                raise RuntimeError(
                    f"einsum(): subscript {char} is repeated for operand {k} but the sizes "
                    f"{sorted(lengths)} don't match (shape {tuple(shape)})"
                )
        for char, n in zip(term, shape):
            seen = sizes.get(char)
            if seen is None or seen == 1:
                sizes[char] = n
            elif n != seen and n != 1:
                raise RuntimeError(
                    f"einsum(): subscript {char} has size {n} for operand {k} (shape {tuple(shape)}) "
                    f"which does not broadcast with previously seen size {seen}"
                )
    return explicit, output, sizes


def _pair(ta, a, tb, b, out):
    """einsum('ta,tb->out', a, b) as one batched matmul (BLAS), for terms without repeats.

    Letters split four ways: batch (in a, b and out), left (a and out), right (b and out),
    contracted (a and b, not out); letters in only one operand and not out are summed first."""
    only_a = [i for i, c in enumerate(ta) if c not in tb and c not in out]
    only_b = [i for i, c in enumerate(tb) if c not in ta and c not in out]
    if only_a:
        a, ta = a.sum(axis=tuple(only_a)), "".join(c for i, c in enumerate(ta) if i not in only_a)
    if only_b:
        b, tb = b.sum(axis=tuple(only_b)), "".join(c for i, c in enumerate(tb) if i not in only_b)
    size = {**dict(zip(ta, a.shape)), **dict(zip(tb, b.shape))}
    batch = [c for c in ta if c in tb and c in out]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    summed = [c for c in ta if c in tb and c not in out]

    def count(letters):
        n = 1
        for c in letters:
            n *= size[c]
        return n

    a = a.transpose([ta.index(c) for c in batch + left + summed]).reshape(count(batch), count(left), count(summed))
    b = b.transpose([tb.index(c) for c in batch + summed + right]).reshape(count(batch), count(summed), count(right))
    y = xp.matmul(a, b).reshape([size[c] for c in batch + left + right])
    order = batch + left + right
    return y.transpose([order.index(c) for c in out])


def _contract(equation, *arrays):
    """einsum on arrays, the operands taken pairwise through `_pair` (batched BLAS matmuls):
    NumPy's own einsum has no BLAS for batched contractions (optimize=True there can be 10x
    slower). Terms with a repeated letter (diagonals) go to NumPy's einsum as they are."""
    inputs, output = equation.split("->")
    terms = inputs.split(",")
    if len(arrays) == 1 or any(len(set(t)) != len(t) for t in terms):
        return xp.einsum(equation, *arrays)
    term, y = terms[0], arrays[0]
    for k in range(1, len(arrays)):
        needed = set(output).union(*terms[k + 1:])  # letters later operands or the output use
        keep = "".join(c for c in dict.fromkeys(term + terms[k]) if c in needed)
        y, term = _pair(term, y, terms[k], arrays[k], keep), keep
    return y.transpose([term.index(c) for c in output])


def _unique(term):
    return "".join(dict.fromkeys(term))


class Einsum(Function):
    """y = einsum(terms -> out, x_1, ..., x_n);
    dx_k = einsum(out, terms of the others -> term k, dy, other operands)
    (letters only x_k has are broadcast back; repeated letters write onto the diagonal)"""

    def forward(ctx, *arrays, terms, output, sizes):
        ctx.terms, ctx.output, ctx.sizes = terms, output, sizes
        ctx.shapes = [a.shape for a in arrays]
        # Stretch size-1 dims that broadcast against a longer one, so that every operand holds
        # each letter at its full size (views: nothing is copied).
        arrays = [xp.broadcast_to(a, [sizes[c] for c in t]) for a, t in zip(arrays, terms)]
        ctx.save(*arrays)
        return _contract(",".join(terms) + "->" + output, *arrays)

    def backward(ctx, dy):
        arrays, terms, output, sizes = ctx.saved, ctx.terms, ctx.output, ctx.sizes
        grads = []
        for k, term in enumerate(terms):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(terms) if j != k]
            unique = _unique(term)
            # Letters found only in x_k were summed away: dy does not depend on where along
            # them an element sat, so its gradient is broadcast along them afterwards.
            present = "".join(c for c in unique if c in output or any(c in t for t in others))
            g = _contract(",".join([output, *others]) + "->" + present,
                          dy, *[a for j, a in enumerate(arrays) if j != k])
            g = g.reshape([sizes[c] if c in present else 1 for c in unique])
            g = xp.broadcast_to(g, [sizes[c] for c in unique])
            if len(unique) != len(term):
                # A repeated letter (a diagonal, 'ii->i'): the gradient lands on the diagonal
                # of a zero array, written through a strided view that walks that diagonal.
                full = xp.zeros([sizes[c] for c in term], dy.dtype)
                strides = [sum(full.strides[i] for i, c in enumerate(term) if c == u) for u in unique]
                xp.lib.stride_tricks.as_strided(full, g.shape, strides)[...] = g
                g = full
            grads.append(sum_to(g, ctx.shapes[k]))
        return tuple(grads)


def einsum(equation, *operands):
    """Einstein summation, e.g. einsum('bij,bjk->bik', a, b); supports '...' broadcasting,
    implicit outputs ('ij,jk'), repeated subscripts (traces, diagonals) and a list of operands."""
    if not isinstance(equation, str):
        raise TypeError(
            f"einsum(): the first argument must be the equation string, got {type(equation).__name__} "
            f"(the sublist form einsum(a, [0, 1], ...) is not supported)"
        )
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [to_tensor(t) for t in operands]
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    dtypes = {t.dtype for t in operands}
    if len(dtypes) > 1:
        raise RuntimeError(
            f"einsum(): operands must have the same dtype, got {', '.join(str(t.dtype) for t in operands)}"
        )
    terms, output, sizes = parse_einsum(equation, [t.shape for t in operands])
    return Einsum.apply(*operands, terms=terms, output=output, sizes=sizes)


TENSOR_METHODS = ("matmul", "mm", "bmm", "mv", "dot", "outer")
