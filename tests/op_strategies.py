"""hypothesis strategies shared by the op tests: shapes, broadcasting partners, dims, arrays."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

sizes = st.integers(1, 4)


def shapes(min_dims=0, max_dims=4):
    return st.lists(sizes, min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcast_pair(draw, min_dims=0, max_dims=4):
    """(shape_a, shape_b) that broadcast: b drops some leading dims of a and squashes some to 1
    (and, sometimes, the roles are swapped)."""
    a = draw(shapes(min_dims, max_dims))
    lead = draw(st.integers(0, len(a)))
    b = tuple(1 if draw(st.booleans()) else n for n in a[lead:])
    return (b, a) if draw(st.booleans()) else (a, b)


@st.composite
def shape_and_dims(draw, min_dims=1, max_dims=4, allow_none=True):
    """A shape and a `dim` argument for it: None, an int or a tuple, negatives included."""
    shape = draw(shapes(min_dims, max_dims))
    n = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"] if allow_none else ["int", "tuple"]))
    if kind == "none" or n == 0:
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-n, n - 1))
    axes = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return shape, tuple(a - n if draw(st.booleans()) else a for a in axes)


def array(shape, seed, dtype=np.float32, low=None, distinct=False):
    """A random array; `low` shifts |x| away from 0; `distinct` makes every value unique (no ties)."""
    rng = np.random.default_rng(seed)
    if distinct:
        size = int(np.prod(shape))
        values = rng.permutation(size).astype(np.float64) / max(size, 1) * 4 - 2 + rng.uniform(0, 0.1)
        x = values.reshape(shape)
    else:
        x = rng.standard_normal(shape)
    if low is not None:
        x = np.sign(x + (x == 0)) * (np.abs(x) + low)
    return x.astype(dtype)
