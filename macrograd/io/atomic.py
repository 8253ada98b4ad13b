"""Atomic file writes: write into a temporary file next to the target, then rename it over.

`os.replace` is atomic on one file system, so a reader (or a crash) sees either the old file or
the whole new one, never a half-written checkpoint.
"""
from __future__ import annotations

import os
import tempfile

# The process umask, read once (os.umask can only be read by setting it), so that files made by
# mkstemp (mode 0600) end up with the permissions a plain open() would have given them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path, write) -> None:
    """Call `write(tmp_path)` to fill a temporary file in path's folder, then move it to `path`.
    If `write` fails, `path` is untouched and the temporary file is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
