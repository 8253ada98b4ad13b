"""Reading IDX files, the format of MNIST and Fashion-MNIST (plain or gzipped).

    header: 0x00 0x00 <dtype code> <ndim>, then ndim big-endian uint32 sizes; then the data.
    magic = the first 4 bytes as one big-endian int: 2051 (0x0803) for uint8 images (3 dims),
    2049 (0x0801) for uint8 labels (1 dim).
"""
from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

from .download import CorruptFileError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, expected_magic=None) -> np.ndarray:
    """The array stored in an IDX file (read-only, native byte order). Truncated or corrupt
    files raise CorruptFileError naming the file and what is wrong."""
    path = str(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()  # gzip checks its CRC-32 and length at the end: corruption is caught
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: the file is truncated or corrupt ({error}); delete it and get it again"
        ) from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _DTYPES:
        raise CorruptFileError(f"{path}: not an IDX file (bad header {raw[:4].hex() or 'empty'})")
    magic, ndim = struct.unpack(">I", raw[:4])[0], raw[3]
    if expected_magic is not None and magic != expected_magic:
        raise CorruptFileError(
            f"{path}: IDX header mismatch: magic number {magic}, expected {expected_magic} "
            f"({IMAGES_MAGIC} = images, {LABELS_MAGIC} = labels)"
        )
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise CorruptFileError(f"{path}: IDX header is truncated ({len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise CorruptFileError(
            f"{path}: IDX header mismatch: the header says shape {dims} ({expected} bytes of data) "
            f"but the file holds {len(raw) - offset} bytes; it is truncated or corrupt"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))
