"""Where datasets live on disk, and how they get there: lookup order, download, checksums.

A dataset named `name` (a folder name such as "mnist") is looked for in
    1. `root/name` (and torchvision's `root/<Name>/raw`, and `root` itself) when a root is given,
    2. `$MACROGRAD_DATA/name`,
    3. the user cache `~/.cache/macrograd/name` (`$MACROGRAD_CACHE` or `$XDG_CACHE_HOME` move it),
and downloaded (into root, else the cache) only when asked. Downloads stream into a temporary
file in the destination folder, are checked against a table of SHA-256 sums, and are renamed
into place only when they match, so an interrupted download never leaves a half file behind.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path


class DatasetNotFoundError(RuntimeError):
    """The dataset's files are in none of the places looked at (the message lists them)."""


class DownloadError(RuntimeError):
    """Every mirror failed (no network, HTTP error, or a checksum mismatch)."""


class CorruptFileError(RuntimeError):
    """A dataset file exists but cannot be read: truncated, corrupt, or not the expected format."""


def cache_dir() -> Path:
    """The user cache for downloaded datasets: $MACROGRAD_CACHE, else $XDG_CACHE_HOME/macrograd,
    else ~/.cache/macrograd."""
    if os.environ.get("MACROGRAD_CACHE"):
        return Path(os.environ["MACROGRAD_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "macrograd"


def search_dirs(name: str, root=None, aliases=()) -> list[Path]:
    """Every folder where dataset `name` may live, in lookup order (see the module docstring)."""
    dirs = []
    if root is not None:
        root = Path(root).expanduser()
        dirs += [root / name] + [root / alias / "raw" for alias in aliases] + [root]
    if os.environ.get("MACROGRAD_DATA"):
        dirs.append(Path(os.environ["MACROGRAD_DATA"]).expanduser() / name)
    dirs.append(cache_dir() / name)
    return dirs


def find_file(folder: Path, filename: str):
    """`folder/filename`, or its unzipped twin (torchvision keeps both); None if neither exists."""
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def sha256sum(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(urls, destination: Path, sha256s, timeout: float = 60.0) -> Path:
    """Fetch the first URL that works into `destination`, atomically, and check its SHA-256
    against the accepted sums `sha256s`; raise DownloadError listing every failure."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=destination.name + ".", suffix=".part")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() not in sha256s:
                raise DownloadError(f"checksum mismatch: got sha256 {digest.hexdigest()}")
            os.replace(tmp, destination)
            return destination
        except Exception as error:  # noqa: BLE001 - any failure moves on to the next mirror
            failures.append(f"{url}: {error}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError(f"could not download {destination.name}: " + "; ".join(failures))
