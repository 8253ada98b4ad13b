"""Saving and loading tokenizers as JSON: one small object with a "type" field naming the class."""
import json
from pathlib import Path


def write_json(path, kind, state):
    """Write {"type": kind, **state} to path as UTF-8 JSON (readable: non-ASCII kept as is)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": kind, **state}, f, ensure_ascii=False, indent=1)
        f.write("\n")


def read_json(path, kind):
    """Read a file written by write_json and check that it holds a `kind` tokenizer."""
    with open(Path(path), encoding="utf-8") as f:
        state = json.load(f)
    found = state.pop("type", None) if isinstance(state, dict) else None
    if found != kind:
        raise ValueError(f"{kind}.load: {str(path)!r} holds a {found!r}, not a {kind!r} tokenizer")
    return state


def as_id_list(ids, who):
    """Token ids from a list, tuple, NumPy array or Tensor-like (anything with .tolist()) as Python ints."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        ids = [ids]
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"{who}: token ids must be integers, got {type(i).__name__} {i!r}")
        out.append(i)
    return out
